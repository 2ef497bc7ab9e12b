//! NumPy `.npy` arrays as the CIFAR-10-C / CIFAR-100-C releases store them: `uint8` images
//! of shape `[N, H, W, 3]` (one file per corruption) and integer labels of shape `[N]`.
//!
//! The header (format version, dtype, shape, order) is parsed by the `npyz` crate; the image
//! bytes are then read directly from the file at the row offset, so that one severity's
//! block of a 150 MB file is read without the rest.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use image::RgbImage;
use npyz::{DType, NpyFile, Order, TypeChar};

use super::DataError;

/// What a `.npy` file's header says, and where its data starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NpyInfo {
    /// The array's shape.
    pub shape: Vec<u64>,
    /// Its dtype as numpy writes it (`|u1`, `<i8`, ...).
    pub dtype: String,
    /// Byte offset of the first element.
    pub data_offset: u64,
}

fn open(path: &Path) -> Result<(NpyFile<BufReader<File>>, u64), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let npy = NpyFile::new(BufReader::new(file)).map_err(|e| {
        DataError::format(
            path,
            format!("not a readable .npy file ({})", one_line(&e.to_string())),
        )
    })?;
    Ok((npy, file_len))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shape_text(shape: &[u64]) -> String {
    format!(
        "[{}]",
        shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    )
}

/// Reads and checks the header of an image array: `uint8`, C order, shape `[N, H, W, 3]`,
/// and a file exactly as long as the header promises (a truncated download is an error
/// here, not half an evaluation later).
pub(crate) fn image_array_info(path: &Path) -> Result<NpyInfo, DataError> {
    let (npy, file_len) = open(path)?;
    let shape = npy.shape().to_vec();
    let dtype = dtype_text(&npy.dtype());
    if shape.len() != 4 || shape[3] != 3 {
        return Err(DataError::format(
            path,
            format!(
                "image array has shape {}; expected [N, height, width, 3] (N images, RGB, as released)",
                shape_text(&shape)
            ),
        ));
    }
    if !is_uint8(&npy.dtype()) {
        return Err(DataError::format(
            path,
            format!("image array has dtype {dtype}; expected uint8 (|u1)"),
        ));
    }
    if npy.order() == Order::Fortran {
        return Err(DataError::format(
            path,
            "image array is in Fortran order; expected C order (numpy's default)",
        ));
    }
    let mut reader = npy.into_inner();
    let data_offset = reader.stream_position().map_err(|e| DataError::io(path, e))?;
    let expected = data_offset + shape.iter().product::<u64>();
    if file_len != expected {
        return Err(DataError::format(
            path,
            format!(
                "file is {file_len} bytes but its header ({} uint8) needs {expected}: truncated or damaged",
                shape_text(&shape)
            ),
        ));
    }
    Ok(NpyInfo {
        shape,
        dtype,
        data_offset,
    })
}

/// Reads `count` images starting at image `start` of an array checked by
/// [`image_array_info`].
pub(crate) fn read_images(
    path: &Path,
    info: &NpyInfo,
    start: u64,
    count: u64,
) -> Result<Vec<RgbImage>, DataError> {
    let (h, w) = (info.shape[1], info.shape[2]);
    let row = h * w * 3;
    assert!(start + count <= info.shape[0], "rows within the array");
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    file.seek(SeekFrom::Start(info.data_offset + start * row))
        .map_err(|e| DataError::io(path, e))?;
    let mut bytes = vec![0u8; (count * row) as usize];
    file.read_exact(&mut bytes).map_err(|e| DataError::io(path, e))?;
    Ok(bytes
        .chunks_exact(row as usize)
        .map(|chunk| RgbImage::from_raw(w as u32, h as u32, chunk.to_vec()).expect("row has w * h * 3 bytes"))
        .collect())
}

/// Reads a label array: shape `[N]`, any integer dtype (the releases use `uint8`; `int64`
/// is what `np.save` of a Python list writes), any byte order.
pub(crate) fn read_labels(path: &Path) -> Result<Vec<i64>, DataError> {
    let (npy, _) = open(path)?;
    let shape = npy.shape().to_vec();
    let dtype = npy.dtype();
    if shape.len() != 1 {
        return Err(DataError::format(
            path,
            format!("label array has shape {}; expected [N]", shape_text(&shape)),
        ));
    }
    let DType::Plain(ty) = &dtype else {
        return Err(DataError::format(
            path,
            format!(
                "label array has dtype {}; expected an integer dtype",
                dtype_text(&dtype)
            ),
        ));
    };
    let bad = |e: std::io::Error| {
        DataError::format(path, format!("cannot read labels ({})", one_line(&e.to_string())))
    };
    let values: Vec<i64> = match (ty.type_char(), ty.size_field()) {
        (TypeChar::Uint, 1) => npy
            .into_vec::<u8>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Uint, 2) => npy
            .into_vec::<u16>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Uint, 4) => npy
            .into_vec::<u32>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Uint, 8) => npy
            .into_vec::<u64>()
            .map_err(bad)?
            .into_iter()
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
            .collect(),
        (TypeChar::Int, 1) => npy
            .into_vec::<i8>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Int, 2) => npy
            .into_vec::<i16>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Int, 4) => npy
            .into_vec::<i32>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Int, 8) => npy.into_vec::<i64>().map_err(bad)?,
        _ => {
            return Err(DataError::format(
                path,
                format!("label array has dtype {ty}; expected an integer dtype"),
            ));
        }
    };
    if values.len() as u64 != shape[0] {
        return Err(DataError::format(
            path,
            format!(
                "label array holds {} labels but its shape says {}",
                values.len(),
                shape[0]
            ),
        ));
    }
    Ok(values)
}

fn is_uint8(dtype: &DType) -> bool {
    matches!(dtype, DType::Plain(t) if t.type_char() == TypeChar::Uint && t.size_field() == 1)
}

fn dtype_text(dtype: &DType) -> String {
    match dtype {
        DType::Plain(t) => t.to_string(),
        other => format!("{:?}", other.descr()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use npyz::WriterBuilder;

    /// Writes `data` as a C-order `.npy` array of `shape` with element type `T`.
    pub(crate) fn write_npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
        path: &Path,
        shape: &[u64],
        data: &[T],
    ) {
        let file = std::io::BufWriter::new(File::create(path).unwrap());
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(file)
            .begin_nd()
            .unwrap();
        writer.extend(data.iter().copied()).unwrap();
        writer.finish().unwrap();
    }

    #[test]
    fn images_are_read_by_row_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fog.npy");
        // 4 images of 2x3 (h x w); each byte is its own index mod 256.
        let data: Vec<u8> = (0..4 * 2 * 3 * 3).map(|i| i as u8).collect();
        write_npy(&path, &[4, 2, 3, 3], &data);
        let info = image_array_info(&path).unwrap();
        assert_eq!(info.shape, [4, 2, 3, 3]);
        let images = read_images(&path, &info, 2, 2).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].dimensions(), (3, 2));
        assert_eq!(images[0].as_raw()[..], data[36..54]);
        assert_eq!(images[1].get_pixel(2, 1).0, [69, 70, 71]);

        // Wrong shape, wrong dtype, truncated file.
        write_npy(&path, &[4, 2, 9], &data);
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(
            e.contains("shape [4, 2, 9]") && e.contains("expected [N, height, width, 3]"),
            "{e}"
        );
        let floats: Vec<f32> = data.iter().map(|&v| f32::from(v)).collect();
        write_npy(&path, &[4, 2, 3, 3], &floats);
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(e.contains("dtype <f4") && e.contains("expected uint8"), "{e}");
        write_npy(&path, &[4, 2, 3, 3], &data);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        std::fs::write(&path, b"not numpy").unwrap();
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(e.contains("not a readable .npy file"), "{e}");
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn labels_of_any_integer_dtype_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.npy");
        write_npy(&path, &[3], &[7u8, 0, 9]);
        assert_eq!(read_labels(&path).unwrap(), [7, 0, 9]);
        write_npy(&path, &[3], &[7i64, 0, 9]);
        assert_eq!(read_labels(&path).unwrap(), [7, 0, 9]);
        write_npy(&path, &[3], &[7i32, -1, 9]);
        assert_eq!(read_labels(&path).unwrap(), [7, -1, 9]);
        write_npy(&path, &[3], &[1.0f64, 2.0, 3.0]);
        let e = read_labels(&path).unwrap_err().to_string();
        assert!(e.contains("expected an integer dtype"), "{e}");
        write_npy(&path, &[3, 1], &[1u8, 2, 3]);
        let e = read_labels(&path).unwrap_err().to_string();
        assert!(e.contains("shape [3, 1]"), "{e}");
    }
}

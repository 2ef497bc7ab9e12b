//! NumPy `.npy` arrays as the CIFAR-10-C / CIFAR-100-C releases store them: `uint8` images
//! of shape `[N, H, W, 3]` (one file per corruption) and integer labels of shape `[N]`.
//!
//! Written here rather than with the `npyz` crate, which was tried first: its parser of
//! Python literals pulls `pest`, whose feature choices for a shared low-level crate
//! (`memchr`) differ from the rest of the build, so adding it recompiled all of burn's
//! dependency tree (measured: about 25 minutes on the 2-core development machines, for every
//! developer and for each test profile). What is needed is small and fixed by NumPy's
//! format description (`numpy.lib.format`): a magic string, a version, a header length, and
//! a header that is a Python dict literal with three keys (`descr`, `fortran_order`,
//! `shape`). The image bytes are then read at the row offset, so that one severity's block
//! of a 150 MB file is read without the rest.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use image::RgbImage;

use super::DataError;

const MAGIC: &[u8] = b"\x93NUMPY";

/// What a `.npy` file's header says, and where its data starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NpyInfo {
    /// The array's shape.
    pub shape: Vec<u64>,
    /// Its dtype as numpy writes it (`|u1`, `<i8`, ...).
    pub dtype: String,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran: bool,
    /// Byte offset of the first element.
    pub data_offset: u64,
}

/// A dtype string split into byte order, kind and size: `<i8` is (`<`, `i`, 8).
fn dtype_parts(descr: &str) -> Option<(char, char, usize)> {
    let mut chars = descr.chars();
    let order = chars.next()?;
    let kind = chars.next()?;
    let size = chars.as_str().parse().ok()?;
    matches!(order, '<' | '>' | '|' | '=').then_some((order, kind, size))
}

/// The value after `'key':` in a header dict, as text up to the next top-level `,` or `}`.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = [format!("'{key}'"), format!("\"{key}\"")]
        .iter()
        .find_map(|k| header.find(k.as_str()).map(|i| i + k.len()))?;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

fn parse_header(header: &str) -> Result<(String, bool, Vec<u64>), String> {
    let descr = header_value(header, "descr")
        .and_then(|v| v.strip_prefix(['\'', '"'])?.strip_suffix(['\'', '"']))
        .ok_or("header has no 'descr' string (a structured dtype is not an image or label array)")?;
    let fortran = match header_value(header, "fortran_order") {
        Some("False") => false,
        Some("True") => true,
        _ => return Err("header has no 'fortran_order' True/False".into()),
    };
    let shape = header_value(header, "shape")
        .and_then(|v| v.strip_prefix('(')?.strip_suffix(')'))
        .ok_or("header has no 'shape' tuple")?;
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("header shape ({shape}) is not a tuple of whole numbers"))?;
    Ok((descr.to_string(), fortran, shape))
}

/// Reads a `.npy` header and the file's length.
fn read_info(path: &Path) -> Result<(NpyInfo, u64), DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let bad = |reason: String| DataError::format(path, format!("not a readable .npy file ({reason})"));
    let mut start = [0u8; 10];
    file.read_exact(&mut start)
        .map_err(|_| bad("shorter than a .npy header".into()))?;
    if &start[..6] != MAGIC {
        return Err(bad("no \\x93NUMPY magic at its start".into()));
    }
    let (header_len, prefix) = match start[6] {
        1 => (u64::from(u16::from_le_bytes([start[8], start[9]])), 10u64),
        2 | 3 => {
            let mut more = [0u8; 2];
            file.read_exact(&mut more)
                .map_err(|_| bad("shorter than a .npy header".into()))?;
            (
                u64::from(u32::from_le_bytes([start[8], start[9], more[0], more[1]])),
                12,
            )
        }
        v => return Err(bad(format!("format version {v}.{} is not 1, 2 or 3", start[7]))),
    };
    if prefix + header_len > file_len {
        return Err(bad("its header runs past the end of the file".into()));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| DataError::io(path, e))?;
    // Versions 1 and 2 write latin-1, version 3 UTF-8; the three keys are ASCII either way.
    let header = String::from_utf8_lossy(&header);
    let (dtype, fortran, shape) = parse_header(&header).map_err(bad)?;
    let info = NpyInfo {
        shape,
        dtype,
        fortran,
        data_offset: prefix + header_len,
    };
    Ok((info, file_len))
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
    let (info, file_len) = read_info(path)?;
    let shape = &info.shape;
    if shape.len() != 4 || shape[3] != 3 {
        return Err(DataError::format(
            path,
            format!(
                "image array has shape {}; expected [N, height, width, 3] (N images, RGB, as released)",
                shape_text(shape)
            ),
        ));
    }
    if !matches!(dtype_parts(&info.dtype), Some((_, 'u', 1))) {
        return Err(DataError::format(
            path,
            format!("image array has dtype {}; expected uint8 (|u1)", info.dtype),
        ));
    }
    if info.fortran {
        return Err(DataError::format(
            path,
            "image array is in Fortran order; expected C order (numpy's default)",
        ));
    }
    let expected = info.data_offset + shape.iter().product::<u64>();
    if file_len != expected {
        return Err(DataError::format(
            path,
            format!(
                "file is {file_len} bytes but its header ({} uint8) needs {expected}: truncated or damaged",
                shape_text(shape)
            ),
        ));
    }
    Ok(info)
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

/// Reads a label array: shape `[N]`, any integer dtype of 1, 2, 4 or 8 bytes (the releases
/// use `uint8`; `int64` is what `np.save` of a Python list writes), either byte order.
pub(crate) fn read_labels(path: &Path) -> Result<Vec<i64>, DataError> {
    let (info, file_len) = read_info(path)?;
    if info.shape.len() != 1 {
        return Err(DataError::format(
            path,
            format!("label array has shape {}; expected [N]", shape_text(&info.shape)),
        ));
    }
    let (order, kind, size) = dtype_parts(&info.dtype)
        .filter(|(_, kind, size)| matches!(kind, 'i' | 'u') && matches!(size, 1 | 2 | 4 | 8))
        .ok_or_else(|| {
            DataError::format(
                path,
                format!("label array has dtype {}; expected an integer dtype", info.dtype),
            )
        })?;
    let n = info.shape[0];
    if file_len != info.data_offset + n * size as u64 {
        return Err(DataError::format(
            path,
            format!(
                "file is {file_len} bytes but its header ({n} labels of {size} bytes) needs {}: truncated or damaged",
                info.data_offset + n * size as u64
            ),
        ));
    }
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    file.seek(SeekFrom::Start(info.data_offset))
        .map_err(|e| DataError::io(path, e))?;
    let mut bytes = vec![0u8; (n * size as u64) as usize];
    file.read_exact(&mut bytes).map_err(|e| DataError::io(path, e))?;
    let big = order == '>';
    Ok(bytes
        .chunks_exact(size)
        .map(|b| {
            let mut wide = [0u8; 8];
            // Little-endian into the low bytes; sign-extend signed kinds.
            for (i, byte) in b.iter().enumerate() {
                wide[if big { size - 1 - i } else { i }] = *byte;
            }
            let value = u64::from_le_bytes(wide);
            let shift = 64 - 8 * size as u32;
            match kind {
                'i' => ((value << shift) as i64) >> shift,
                _ => i64::try_from(value).unwrap_or(i64::MAX),
            }
        })
        .collect())
}

/// Writes a C-order `.npy` file (format 1.0) whose data is `data`: the raw bytes of an
/// array of dtype `descr` (numpy's spelling, e.g. `|u1`, `<i8`) and `shape`. For making
/// small sets in the released CIFAR-C layout (the tests do).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("labels.npy");
/// advbn::data::write_npy(&path, "|u1", &[3], &[7, 0, 9]).unwrap();
/// let bytes = std::fs::read(&path).unwrap();
/// assert_eq!(bytes.len() % 64, 3); // header padded to 64 bytes, then the data
/// assert!(advbn::data::write_npy(&path, "|u1", &[4], &[1, 2]).is_err());
/// ```
pub fn write_npy(path: &Path, descr: &str, shape: &[u64], data: &[u8]) -> std::io::Result<()> {
    let item = dtype_parts(descr).map(|p| p.2).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("dtype `{descr}` is not of the form <i8"),
        )
    })?;
    if shape.iter().product::<u64>() * item as u64 != data.len() as u64 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} bytes do not fill shape {} of {descr}",
                data.len(),
                shape_text(shape)
            ),
        ));
    }
    let dims = match shape {
        [one] => format!("({one},)"),
        more => format!(
            "({})",
            more.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = std::io::BufWriter::new(File::create(path)?);
    out.write_all(MAGIC)?;
    out.write_all(&[1, 0])?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    out.write_all(data)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` file of format `version` with exactly this header text (no padding).
    fn raw_npy(path: &Path, version: u8, header: &str, data: &[u8]) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend([version, 0]);
        match version {
            1 => bytes.extend((header.len() as u16).to_le_bytes()),
            _ => bytes.extend((header.len() as u32).to_le_bytes()),
        }
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn images_are_read_by_row_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fog.npy");
        // 4 images of 2x3 (h x w); each byte is its own index mod 256.
        let data: Vec<u8> = (0..4 * 2 * 3 * 3).map(|i| i as u8).collect();
        write_npy(&path, "|u1", &[4, 2, 3, 3], &data).unwrap();
        let info = image_array_info(&path).unwrap();
        assert_eq!(info.shape, [4, 2, 3, 3]);
        assert_eq!(info.data_offset % 64, 0);
        let images = read_images(&path, &info, 2, 2).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].dimensions(), (3, 2));
        assert_eq!(images[0].as_raw()[..], data[36..54]);
        assert_eq!(images[1].get_pixel(2, 1).0, [69, 70, 71]);

        // Wrong shape, wrong dtype, Fortran order, truncated file, not numpy at all.
        write_npy(&path, "|u1", &[4, 2, 9], &data).unwrap();
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(
            e.contains("shape [4, 2, 9]") && e.contains("expected [N, height, width, 3]"),
            "{e}"
        );
        let floats: Vec<u8> = data.iter().flat_map(|&v| f32::from(v).to_le_bytes()).collect();
        write_npy(&path, "<f4", &[4, 2, 3, 3], &floats).unwrap();
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(e.contains("dtype <f4") && e.contains("expected uint8"), "{e}");
        write_npy(&path, "|u1", &[4, 2, 3, 3], &data).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        raw_npy(
            &path,
            1,
            "{'descr': '|u1', 'fortran_order': True, 'shape': (4, 2, 3, 3), }\n",
            &data,
        );
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(e.contains("Fortran order"), "{e}");
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        std::fs::write(&path, b"not numpy").unwrap();
        let e = image_array_info(&path).unwrap_err().to_string();
        assert!(e.contains("not a readable .npy file"), "{e}");
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn labels_of_any_integer_dtype_and_byte_order_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.npy");
        write_npy(&path, "|u1", &[3], &[7, 0, 9]).unwrap();
        assert_eq!(read_labels(&path).unwrap(), [7, 0, 9]);
        let i64s: Vec<u8> = [7i64, 0, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(&path, "<i8", &[3], &i64s).unwrap();
        assert_eq!(read_labels(&path).unwrap(), [7, 0, 9]);
        let i32s: Vec<u8> = [7i32, -1, 9].iter().flat_map(|v| v.to_be_bytes()).collect();
        write_npy(&path, ">i4", &[3], &i32s).unwrap();
        assert_eq!(read_labels(&path).unwrap(), [7, -1, 9]);
        let u16s: Vec<u8> = [300u16, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(&path, "<u2", &[2], &u16s).unwrap();
        assert_eq!(read_labels(&path).unwrap(), [300, 2]);
        let f64s: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(&path, "<f8", &[2], &f64s).unwrap();
        let e = read_labels(&path).unwrap_err().to_string();
        assert!(e.contains("expected an integer dtype"), "{e}");
        write_npy(&path, "|u1", &[3, 1], &[1, 2, 3]).unwrap();
        let e = read_labels(&path).unwrap_err().to_string();
        assert!(e.contains("shape [3, 1]"), "{e}");
    }

    #[test]
    fn headers_as_numpy_writes_them_parse() {
        // Version 1.0 as `np.save` writes it, and the long-header version 2.0 layout.
        let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (50000,), }";
        assert_eq!(
            parse_header(header).unwrap(),
            ("<i8".to_string(), false, vec![50000])
        );
        let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (50000, 32, 32, 3), }";
        assert_eq!(parse_header(header).unwrap().2, [50000, 32, 32, 3]);
        assert_eq!(
            parse_header("{'descr': '<f4', 'fortran_order': True, 'shape': (), }")
                .unwrap()
                .2,
            Vec::<u64>::new()
        );
        let e =
            parse_header("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,), }").unwrap_err();
        assert!(e.contains("structured dtype"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.npy");
        raw_npy(
            &path,
            2,
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }\n",
            &[4, 5],
        );
        assert_eq!(read_labels(&path).unwrap(), [4, 5]);
    }
}

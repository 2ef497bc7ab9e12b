//! Contact sheets: a grid of samples per class, to look at a dataset.

use std::path::Path;

use image::{Rgb, RgbImage};

use super::{DataError, ImageDataset};

const GAP: u32 = 2;
const BLOCK_GAP: u32 = 12;
const GAP_COLOUR: Rgb<u8> = Rgb([255, 255, 255]);
const BLOCK_COLOUR: Rgb<u8> = Rgb([90, 90, 90]);

/// A grid of the first `per_class` images of each class, one row per class (label order),
/// one block per dataset side by side (separated by a dark band), each image magnified
/// `scale` times by pixel repetition. Cells of classes with fewer images stay white.
///
/// ```
/// use advbn::data::{contact_sheet, generate_synthetic, SyntheticConfig, SyntheticSplit};
/// let config = SyntheticConfig::default();
/// let train = generate_synthetic(&config, SyntheticSplit::Train, 40);
/// let heldout = generate_synthetic(&config, SyntheticSplit::HeldOut, 40);
/// let sheet = contact_sheet(&[&train, &heldout], 4, 2).unwrap();
/// // 2 blocks of 4 cells of 64 px with 2 px gaps, 12 px between blocks; 10 rows.
/// assert_eq!(sheet.dimensions(), (2 * (4 * 66 + 2) + 12, 10 * 66 + 2));
/// ```
pub fn contact_sheet(sets: &[&ImageDataset], per_class: usize, scale: u32) -> Result<RgbImage, DataError> {
    let first = sets
        .first()
        .ok_or_else(|| DataError::Invalid("a contact sheet needs at least one dataset".into()))?;
    if per_class == 0 || scale == 0 {
        return Err(DataError::Invalid(
            "a contact sheet needs per_class >= 1 and scale >= 1".into(),
        ));
    }
    let (w, h) = match sets.iter().find(|s| !s.is_empty()) {
        Some(set) => set.load(0)?.dimensions(),
        None => {
            return Err(DataError::Invalid(
                "a contact sheet needs at least one image".into(),
            ));
        }
    };
    let rows = sets.iter().map(|s| s.num_classes()).max().unwrap_or(0) as u32;
    let (cell_w, cell_h) = (w * scale + GAP, h * scale + GAP);
    let block_w = per_class as u32 * cell_w + GAP;
    let width = sets.len() as u32 * block_w + (sets.len() as u32 - 1) * BLOCK_GAP;
    let height = rows * cell_h + GAP;
    let mut sheet = RgbImage::from_pixel(width, height, GAP_COLOUR);
    for (b, set) in sets.iter().enumerate() {
        let x0 = b as u32 * (block_w + BLOCK_GAP);
        if b > 0 {
            for y in 0..height {
                for x in x0 - BLOCK_GAP..x0 {
                    sheet.put_pixel(x, y, BLOCK_COLOUR);
                }
            }
        }
        let mut filled = vec![0usize; set.num_classes()];
        for (index, &label) in set.labels().iter().enumerate() {
            let column = filled[label as usize];
            if column >= per_class {
                continue;
            }
            filled[label as usize] += 1;
            let image = set.load(index)?;
            if image.dimensions() != (w, h) {
                return Err(DataError::Invalid(format!(
                    "dataset `{}` has another image size than `{}`",
                    set.name(),
                    first.name()
                )));
            }
            let (cx, cy) = (x0 + GAP + column as u32 * cell_w, GAP + label * cell_h);
            for (x, y, px) in image.enumerate_pixels() {
                for dy in 0..scale {
                    for dx in 0..scale {
                        sheet.put_pixel(cx + x * scale + dx, cy + y * scale + dy, *px);
                    }
                }
            }
        }
    }
    Ok(sheet)
}

/// Writes [`contact_sheet`] as a PNG file.
///
/// ```no_run
/// use advbn::data::{load, write_contact_sheet, DataSpec, LoadOptions};
/// let splits = load(&"synthetic".parse::<DataSpec>().unwrap(), &LoadOptions::default()).unwrap();
/// let heldout = &splits.shifts[0].1;
/// write_contact_sheet("synthetic.png".as_ref(), &[&splits.train, &splits.test, heldout], 8, 3).unwrap();
/// ```
pub fn write_contact_sheet(
    path: &Path,
    sets: &[&ImageDataset],
    per_class: usize,
    scale: u32,
) -> Result<(), DataError> {
    let sheet = contact_sheet(sets, per_class, scale)?;
    sheet
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| DataError::io(path, std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_hold_the_first_images_of_each_class() {
        let colour = |i: u8| RgbImage::from_pixel(2, 2, Rgb([i, 0, 0]));
        let images = (0..5).map(colour).collect();
        let ds = ImageDataset::new("t", images, vec![1, 0, 1, 1, 0], vec!["a".into(), "b".into()]).unwrap();
        let sheet = contact_sheet(&[&ds], 2, 3).unwrap();
        let cell = |col: u32, row: u32| {
            sheet
                .get_pixel(GAP + col * (6 + GAP) + 1, GAP + row * (6 + GAP) + 4)
                .0
        };
        assert_eq!(cell(0, 0), [1, 0, 0]);
        assert_eq!(cell(1, 0), [4, 0, 0]);
        assert_eq!(cell(0, 1), [0, 0, 0]);
        assert_eq!(cell(1, 1), [2, 0, 0]);
        let err = contact_sheet(&[], 2, 3).unwrap_err().to_string();
        assert!(err.contains("at least one dataset"));
    }
}

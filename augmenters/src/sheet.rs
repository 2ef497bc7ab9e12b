//! Contact sheets: a grid of images for eyeballing augmentations.

use image::{Rgb, RgbImage};

/// Lays `rows` of images out on a grey background, each image scaled up by `scale`
/// (nearest neighbour, so pixels stay visible) and separated by `gap` pixels. Images of one
/// sheet may differ in size; each cell is as large as the largest image.
///
/// ```
/// use image::RgbImage;
/// let a = RgbImage::new(4, 4);
/// let sheet = advbn_augmenters::contact_sheet(&[vec![a.clone(), a.clone()], vec![a]], 2, 1);
/// assert_eq!(sheet.dimensions(), (2 * 8 + 3, 2 * 8 + 3));
/// ```
pub fn contact_sheet(rows: &[Vec<RgbImage>], scale: u32, gap: u32) -> RgbImage {
    let scale = scale.max(1);
    let cell_w = rows.iter().flatten().map(RgbImage::width).max().unwrap_or(0) * scale;
    let cell_h = rows.iter().flatten().map(RgbImage::height).max().unwrap_or(0) * scale;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let width = cols * cell_w + (cols + 1) * gap;
    let height = rows.len() as u32 * cell_h + (rows.len() as u32 + 1) * gap;
    let mut sheet = RgbImage::from_pixel(width.max(1), height.max(1), Rgb([96, 96, 96]));
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            let x0 = gap + c as u32 * (cell_w + gap);
            let y0 = gap + r as u32 * (cell_h + gap);
            for y in 0..img.height() * scale {
                for x in 0..img.width() * scale {
                    sheet.put_pixel(x0 + x, y0 + y, *img.get_pixel(x / scale, y / scale));
                }
            }
        }
    }
    sheet
}

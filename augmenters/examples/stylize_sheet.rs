//! A contact sheet of what each stylizer does (default configs, one sampled view per image):
//! the first row is the input, then one row per stylizer; `fourier_mix` and `color_transfer`
//! appear twice, towards the next image of the row as partner and with no partner (their
//! random targets).
//!
//! ```text
//! cargo run --release -p advbn-augmenters --example stylize_sheet -- cifar10-jpg.tar.gz OUT.png [N]
//! ```

use advbn_augmenters::{Image, ImageSize, SampleKey, StageContext, contact_sheet, stylize};
use image::RgbImage;

#[path = "support/cifar.rs"]
mod cifar;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let tar = args
        .next()
        .ok_or("usage: stylize_sheet CIFAR_TAR_GZ OUT.png [N]")?;
    let out = args
        .next()
        .ok_or("usage: stylize_sheet CIFAR_TAR_GZ OUT.png [N]")?;
    let n: usize = args.next().map(|v| v.parse()).transpose()?.unwrap_or(10);
    let images: Vec<RgbImage> = cifar::test_images(&tar, n)?;
    let mut rows = vec![images.clone()];
    for (_, stage) in stylize::default_stages() {
        let modes: &[bool] = if stage.needs_partner() {
            &[true, false]
        } else {
            &[false]
        };
        for &with_partner in modes {
            let row = images
                .iter()
                .enumerate()
                .map(|(i, img)| {
                    let partner = &images[(i + 1) % images.len()];
                    let context = if with_partner {
                        StageContext::with_partner(partner)
                    } else {
                        StageContext::default()
                    };
                    let params = stage.sample(
                        &mut SampleKey::new(1, 0, i as u64).view(1).rng(),
                        ImageSize::of(img),
                    );
                    stage
                        .apply_with(Image::Rgb8(img.clone()), &params, context)
                        .into_rgb8()
                })
                .collect();
            rows.push(row);
        }
    }
    contact_sheet(&rows, 3, 2).save(&out)?;
    println!(
        "wrote {out}: input, randconv, fourier_mix (partner, none), color_transfer (partner, none), random_net"
    );
    Ok(())
}

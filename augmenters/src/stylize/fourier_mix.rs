//! Amplitude-spectrum mixing, the FACT / APR family (Xu et al., "A Fourier-based Framework
//! for Domain Generalization", CVPR 2021; Chen et al., "Amplitude-Phase Recombination",
//! ICCV 2021): the amplitude spectrum of an image carries much of its style (colour, contrast,
//! texture energy), the phase its content, so interpolating the amplitude towards another
//! image's while keeping the phase restyles the image and keeps its shapes.
//!
//! One application, per channel: the 2D discrete Fourier transform `F = |F| e^{i phi}` of the
//! image (samples `v / 255`); the mixed amplitude
//! `A = (1 - lambda) |F| + lambda A_target` with `lambda ~ U(0, eta)`; the inverse transform
//! of `A e^{i phi}`, clamped to [0, 1]. Where the image has no amplitude (`|F| = 0`, phase
//! undefined), phase 0 is used. The DC term is mixed too, as in FACT, so the mean colour moves
//! towards the target's. `lambda = 0` is the identity; `lambda = 1` gives the target's
//! amplitude with the image's phase.
//!
//! Target amplitude:
//! - **with a partner** ([`crate::StageContext::partner`]): the partner's amplitude spectrum,
//!   channel by channel. A partner of another size is first resized to the image's size with
//!   `image::imageops::resize` and `FilterType::Triangle` (bilinear); the spectra are then on
//!   the same frequency grid.
//! - **without a partner**: a synthetic, natural-image-like spectrum. Per channel,
//!   `A_target(f) = K_c / |f|^beta` for every non-zero frequency `f = (f_x, f_y)` in cycles
//!   per pixel (`f_x = u / width`, `f_y = v / height`, signed), with `beta ~ U(beta)` (natural
//!   images have amplitude spectra close to `1 / |f|`) and `K_c` such that the target has the
//!   same AC energy as the channel itself (so the same standard deviation); its DC term is the
//!   channel's own (so the mean colour is kept). Mixing towards it re-weights the image's
//!   frequencies: `beta` above the image's own slope smooths it, below sharpens and grains it.
//!
//! The transforms are `realfft` along rows and `rustfft` along columns (of the half spectrum
//! the real transform gives), with plans and buffers cached per thread.

use std::cell::RefCell;
use std::sync::Arc;

use image::RgbImage;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use super::{applies, check_interval, check_probability, draw, fastmath};
use crate::{AugRng, Augment, ConfigError, FloatImage, ImageSize, Validate, check_range};

/// Amplitude-spectrum mixing configuration (recipe `kind = "fourier_mix"`).
///
/// ```
/// use advbn_augmenters::{Augment, SampleKey, ImageSize, StageContext, stylize::FourierMix};
/// let fm = FourierMix::default(); // eta 1, beta [0.5, 1.5]
/// let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 16, y as u8 * 16, 90]));
/// let style = image::RgbImage::from_fn(9, 20, |x, y| image::Rgb([(x * y) as u8, 30, 200]));
/// let params = fm.sample(&mut SampleKey::new(0, 0, 0).view(1).rng(), ImageSize::of(&img));
/// assert!((0.0..=1.0).contains(&params.lambda));
/// let out = fm.apply_with(&img, &params, StageContext::with_partner(&style));
/// assert_eq!(out.size(), ImageSize::of(&img));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FourierMix {
    /// Upper bound of the mixing weight: `lambda ~ U(0, eta)`, eta in [0, 1].
    #[serde(default = "default_eta")]
    pub eta: f32,
    /// Range of the spectral slope of the synthetic target (used without a partner), within
    /// [0, 4].
    #[serde(default = "default_beta")]
    pub beta: [f32; 2],
    /// Probability of applying at all (otherwise lambda 0).
    #[serde(default = "default_p")]
    pub p: f64,
}

fn default_eta() -> f32 {
    1.0
}
fn default_beta() -> [f32; 2] {
    [0.5, 1.5]
}
fn default_p() -> f64 {
    1.0
}

impl Default for FourierMix {
    fn default() -> Self {
        Self {
            eta: default_eta(),
            beta: default_beta(),
            p: default_p(),
        }
    }
}

impl Validate for FourierMix {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.eta.is_finite() {
            return Err(ConfigError::new("eta", "must be a finite number in 0.0..=1.0"));
        }
        check_range("eta", self.eta, 0.0, 1.0)?;
        check_interval("beta", self.beta, 0.0, 4.0)?;
        check_probability("p", self.p)
    }
}

/// Everything random about one amplitude mix.
///
/// ```
/// use advbn_augmenters::stylize::FourierMixParams;
/// let p = FourierMixParams { lambda: 0.4, beta: 1.2 };
/// assert_eq!(serde_json::from_str::<FourierMixParams>(&serde_json::to_string(&p).unwrap()).unwrap(), p);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FourierMixParams {
    /// Mixing weight of the target amplitude (0 = identity).
    pub lambda: f32,
    /// Spectral slope of the synthetic target (used only without a partner).
    pub beta: f32,
}

impl Augment for FourierMix {
    type Params = FourierMixParams;
    type Output = FloatImage;

    /// Draw order: applied (one f64), lambda, beta (one f32 each).
    fn sample(&self, rng: &mut AugRng, _size: ImageSize) -> FourierMixParams {
        let applied = applies(rng, self.p);
        let lambda = draw(rng, [0.0, self.eta]);
        let beta = draw(rng, self.beta);
        FourierMixParams {
            lambda: if applied { lambda } else { 0.0 },
            beta,
        }
    }

    partner_stylizer!(FourierMixParams, |params| params.lambda == 0.0);
}

impl FourierMix {
    /// Towards the partner's amplitude when there is a partner (resized to the image's size
    /// first), else the synthetic target.
    fn stylize(&self, image: &RgbImage, params: &FourierMixParams, partner: Option<&RgbImage>) -> FloatImage {
        let resized;
        let partner = match partner {
            Some(p) if p.dimensions() != image.dimensions() => {
                let (w, h) = image.dimensions();
                resized = image::imageops::resize(p, w, h, image::imageops::FilterType::Triangle);
                Some(&resized)
            }
            other => other,
        };
        FFT.with(|state| state.borrow_mut().mix(image, partner, params))
    }
}

thread_local! {
    static FFT: RefCell<FftState> = RefCell::new(FftState::default());
}

/// Per-thread FFT planners (which cache their plans) and buffers.
struct FftState {
    real: RealFftPlanner<f32>,
    complex: FftPlanner<f32>,
    /// Half spectrum of the image's current channel, column-major: `[u][v]`, `u < w/2 + 1`.
    spec: Vec<Complex32>,
    /// The partner's, same layout.
    partner: Vec<Complex32>,
    /// The synthetic target's shape `1 / |f|^beta` (0 at DC), same layout.
    synth: Vec<f32>,
    row: Vec<f32>,
    row_spec: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Default for FftState {
    fn default() -> Self {
        Self {
            real: RealFftPlanner::new(),
            complex: FftPlanner::new(),
            spec: Vec::new(),
            partner: Vec::new(),
            synth: Vec::new(),
            row: Vec::new(),
            row_spec: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

struct Plans {
    row_fwd: Arc<dyn RealToComplex<f32>>,
    row_inv: Arc<dyn ComplexToReal<f32>>,
    col_fwd: Arc<dyn Fft<f32>>,
    col_inv: Arc<dyn Fft<f32>>,
}

/// The weight of half-spectrum column `u` in sums over the full spectrum: columns other than
/// 0 and (for even widths) `w / 2` stand for themselves and their mirror image.
fn column_weight(u: usize, w: usize) -> f32 {
    if u == 0 || (w.is_multiple_of(2) && u == w / 2) {
        1.0
    } else {
        2.0
    }
}

impl FftState {
    fn plans(&mut self, w: usize, h: usize) -> Plans {
        let plans = Plans {
            row_fwd: self.real.plan_fft_forward(w),
            row_inv: self.real.plan_fft_inverse(w),
            col_fwd: self.complex.plan_fft_forward(h),
            col_inv: self.complex.plan_fft_inverse(h),
        };
        let scratch = [
            plans.row_fwd.get_scratch_len(),
            plans.row_inv.get_scratch_len(),
            plans.col_fwd.get_inplace_scratch_len(),
            plans.col_inv.get_inplace_scratch_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let cw = w / 2 + 1;
        let zero = Complex32::new(0.0, 0.0);
        self.scratch.resize(scratch, zero);
        self.spec.resize(cw * h, zero);
        self.partner.resize(cw * h, zero);
        self.synth.resize(cw * h, 0.0);
        self.row.resize(w, 0.0);
        self.row_spec.resize(cw, zero);
        plans
    }

    /// The 2D spectrum of channel `c` of `image` into `which` (true: the partner buffer).
    fn forward(&mut self, plans: &Plans, image: &RgbImage, c: usize, into_partner: bool) {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let cw = w / 2 + 1;
        let raw = image.as_raw();
        let out = if into_partner {
            &mut self.partner
        } else {
            &mut self.spec
        };
        for y in 0..h {
            for (x, r) in self.row.iter_mut().enumerate() {
                *r = f32::from(raw[3 * (y * w + x) + c]) / 255.0;
            }
            // The buffers have the plan's lengths, so this cannot fail.
            let _ = plans
                .row_fwd
                .process_with_scratch(&mut self.row, &mut self.row_spec, &mut self.scratch);
            for (u, &v) in self.row_spec.iter().enumerate() {
                out[u * h + y] = v;
            }
        }
        plans
            .col_fwd
            .process_with_scratch(&mut out[..cw * h], &mut self.scratch);
    }

    /// The inverse of `spec` into channel `c` of `data` (HWC), scaled and clamped.
    fn inverse(&mut self, plans: &Plans, w: usize, h: usize, c: usize, data: &mut [f32]) {
        let cw = w / 2 + 1;
        plans
            .col_inv
            .process_with_scratch(&mut self.spec[..cw * h], &mut self.scratch);
        let norm = 1.0 / (w * h) as f32;
        for y in 0..h {
            for u in 0..cw {
                self.row_spec[u] = self.spec[u * h + y];
            }
            // A real image's spectrum has real DC and (even widths) Nyquist columns after the
            // column transform; the mixing keeps that up to rounding, which is dropped here.
            self.row_spec[0].im = 0.0;
            if w.is_multiple_of(2) {
                self.row_spec[cw - 1].im = 0.0;
            }
            let _ = plans
                .row_inv
                .process_with_scratch(&mut self.row_spec, &mut self.row, &mut self.scratch);
            for (x, &v) in self.row.iter().enumerate() {
                data[3 * (y * w + x) + c] = (v * norm).clamp(0.0, 1.0);
            }
        }
    }

    fn mix(&mut self, image: &RgbImage, partner: Option<&RgbImage>, params: &FourierMixParams) -> FloatImage {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let cw = w / 2 + 1;
        let plans = self.plans(w, h);
        let lambda = params.lambda;
        if partner.is_none() {
            for u in 0..cw {
                let fx = u as f32 / w as f32;
                for v in 0..h {
                    let sv = if v <= h / 2 { v as f32 } else { v as f32 - h as f32 };
                    let fy = sv / h as f32;
                    let r2 = fx * fx + fy * fy;
                    self.synth[u * h + v] = if r2 > 0.0 {
                        // |f|^-beta = exp(-beta / 2 ln |f|^2)
                        fastmath::exp(-0.5 * params.beta * fastmath::ln(r2))
                    } else {
                        0.0
                    };
                }
            }
        }
        let mut data = vec![0.0f32; 3 * w * h];
        for c in 0..3 {
            self.forward(&plans, image, c, false);
            // The target amplitude of bin i is target_scale * target(i) (DC handled apart).
            let target_scale = match partner {
                Some(p) => {
                    self.forward(&plans, p, c, true);
                    1.0
                }
                None => {
                    let (mut own, mut syn) = (0.0f64, 0.0f64);
                    for u in 0..cw {
                        let wt = f64::from(column_weight(u, w));
                        for v in 0..h {
                            let i = u * h + v;
                            if i == 0 {
                                continue; // DC: kept, not part of the AC energy
                            }
                            own += wt * f64::from(self.spec[i].norm_sqr());
                            syn += wt * f64::from(self.synth[i]) * f64::from(self.synth[i]);
                        }
                    }
                    if syn > 0.0 { (own / syn).sqrt() as f32 } else { 0.0 }
                }
            };
            for i in 0..cw * h {
                let z = self.spec[i];
                let a_self = z.norm_sqr().sqrt();
                let a_target = match partner {
                    Some(_) => self.partner[i].norm_sqr().sqrt(),
                    None if i == 0 => a_self,
                    None => target_scale * self.synth[i],
                };
                let a_new = (1.0 - lambda) * a_self + lambda * a_target;
                self.spec[i] = if a_self > 0.0 {
                    z * (a_new / a_self)
                } else {
                    Complex32::new(a_new, 0.0)
                };
            }
            self.inverse(&plans, w, h, c, &mut data);
        }
        FloatImage::from_raw(ImageSize::new(w as u32, h as u32), data).expect("3 samples per pixel")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StageContext;

    /// The 2D DFT amplitude of one channel, evaluated from the definition in f64.
    fn dft_amplitude(samples: &[f64], w: usize, h: usize) -> Vec<f64> {
        let mut out = vec![0.0; w * h];
        for v in 0..h {
            for u in 0..w {
                let (mut re, mut im) = (0.0, 0.0);
                for y in 0..h {
                    for x in 0..w {
                        let t = -2.0
                            * std::f64::consts::PI
                            * ((u * x) as f64 / w as f64 + (v * y) as f64 / h as f64);
                        re += samples[y * w + x] * t.cos();
                        im += samples[y * w + x] * t.sin();
                    }
                }
                out[v * w + u] = (re * re + im * im).sqrt();
            }
        }
        out
    }

    fn channel_u8(img: &RgbImage, c: usize) -> Vec<f64> {
        img.as_raw()
            .chunks_exact(3)
            .map(|p| f64::from(p[c]) / 255.0)
            .collect()
    }

    fn channel_f32(img: &FloatImage, c: usize) -> Vec<f64> {
        img.as_slice().chunks_exact(3).map(|p| f64::from(p[c])).collect()
    }

    /// Smooth mid-tone images, so that the mixed results need no clamping.
    fn soft(w: u32, h: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let a = ((x * 3 + y * 5 + seed) % 11) as u8;
            let b = ((x * 7 + y * 2 + 2 * seed) % 13) as u8;
            image::Rgb([100 + 4 * a, 90 + 3 * b, 110 + 2 * a + b])
        })
    }

    #[test]
    fn lambda_one_gives_the_partners_amplitude_and_keeps_the_phase() {
        for &(w, h) in &[(8usize, 6usize), (7, 5), (1, 4), (5, 1)] {
            let img = soft(w as u32, h as u32, 1);
            let partner = soft(w as u32, h as u32, 4);
            let out = FourierMix::default().apply_with(
                &img,
                &FourierMixParams {
                    lambda: 1.0,
                    beta: 1.0,
                },
                StageContext::with_partner(&partner),
            );
            assert!(
                out.as_slice().iter().all(|v| *v > 0.0 && *v < 1.0),
                "clamping would spoil the test"
            );
            for c in 0..3 {
                let got = dft_amplitude(&channel_f32(&out, c), w, h);
                let want = dft_amplitude(&channel_u8(&partner, c), w, h);
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-4 * (w * h) as f64, "{w}x{h} c{c}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn a_cosine_takes_the_partners_amplitude_by_hand() {
        // Image 128 + 64 cos(pi x / 2): 192, 128, 64, 128. Partner 100 - 40 sin(pi x / 2):
        // 100, 60, 100, 140, i.e. amplitude 40 at frequency 1 with another phase.
        // lambda 1: 100 + 40 cos(pi x / 2) = 140, 100, 60, 100 (the image's phase).
        let img = RgbImage::from_fn(4, 1, |x, _| image::Rgb([[192, 128, 64, 128][x as usize]; 3]));
        let partner = RgbImage::from_fn(4, 1, |x, _| image::Rgb([[100, 60, 100, 140][x as usize]; 3]));
        let fm = FourierMix::default();
        let out = fm.apply_with(
            &img,
            &FourierMixParams {
                lambda: 1.0,
                beta: 1.0,
            },
            StageContext::with_partner(&partner),
        );
        for (x, want) in [140.0f32, 100.0, 60.0, 100.0].iter().enumerate() {
            for c in out.pixel(x as u32, 0) {
                assert!((c * 255.0 - want).abs() < 1e-3, "x {x}: {}", c * 255.0);
            }
        }
        // lambda 0.5: mean 114, amplitude 52: 166, 114, 62, 114.
        let half = fm.apply_with(
            &img,
            &FourierMixParams {
                lambda: 0.5,
                beta: 1.0,
            },
            StageContext::with_partner(&partner),
        );
        for (x, want) in [166.0f32, 114.0, 62.0, 114.0].iter().enumerate() {
            assert!((half.pixel(x as u32, 0)[0] * 255.0 - want).abs() < 1e-3);
        }
    }

    #[test]
    fn a_partner_of_another_size_is_resized_bilinearly() {
        let img = soft(6, 6, 2);
        let partner = soft(12, 9, 3);
        let resized = image::imageops::resize(&partner, 6, 6, image::imageops::FilterType::Triangle);
        let p = FourierMixParams {
            lambda: 0.7,
            beta: 1.0,
        };
        let fm = FourierMix::default();
        assert_eq!(
            fm.apply_with(&img, &p, StageContext::with_partner(&partner)),
            fm.apply_with(&img, &p, StageContext::with_partner(&resized))
        );
    }

    #[test]
    fn the_synthetic_target_keeps_mean_and_energy_and_has_the_power_law() {
        let (w, h) = (16usize, 16usize);
        // Low contrast, so that re-weighting the frequencies cannot push a pixel out of range.
        let img = RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let a = ((x * 3 + y * 5) % 7) as u8;
            image::Rgb([120 + a, 100 + ((x * 7 + y) % 5) as u8, 130 + (a + y as u8) % 4])
        });
        let out = FourierMix::default().apply(
            &img,
            &FourierMixParams {
                lambda: 1.0,
                beta: 1.0,
            },
        );
        assert!(
            out.as_slice().iter().all(|v| *v > 0.0 && *v < 1.0),
            "clamping would spoil the test"
        );
        for c in 0..3 {
            let before = channel_u8(&img, c);
            let after = channel_f32(&out, c);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let var = |v: &[f64]| {
                let m = mean(v);
                v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64
            };
            assert!((mean(&before) - mean(&after)).abs() < 1e-5);
            assert!((var(&before) - var(&after)).abs() < 1e-5 * var(&before).max(1e-3));
            // Amplitude times |f| is constant over the non-zero frequencies (beta = 1).
            let amp = dft_amplitude(&after, w, h);
            let mut ratios = Vec::new();
            for v in 0..h {
                for u in 0..w {
                    if u + v == 0 {
                        continue;
                    }
                    let su = if u <= w / 2 { u as f64 } else { u as f64 - w as f64 };
                    let sv = if v <= h / 2 { v as f64 } else { v as f64 - h as f64 };
                    let f = ((su / w as f64).powi(2) + (sv / h as f64).powi(2)).sqrt();
                    ratios.push(amp[v * w + u] * f);
                }
            }
            let (lo, hi) = ratios
                .iter()
                .fold((f64::MAX, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)));
            assert!(hi - lo < 1e-3 * hi, "c{c}: {lo}..{hi}");
        }
    }

    #[test]
    fn eta_bounds_lambda_and_validation_names_the_key() {
        let fm = FourierMix {
            eta: 0.3,
            ..FourierMix::default()
        };
        let mut rng = crate::rng_from_seed(3);
        for _ in 0..300 {
            let p = fm.sample(&mut rng, ImageSize::new(4, 4));
            assert!((0.0..=0.3).contains(&p.lambda));
            assert!((0.5..=1.5).contains(&p.beta));
        }
        for (bad, key) in [
            (
                FourierMix {
                    eta: 1.5,
                    ..fm.clone()
                },
                "eta",
            ),
            (
                FourierMix {
                    eta: f32::NAN,
                    ..fm.clone()
                },
                "eta",
            ),
            (
                FourierMix {
                    beta: [2.0, 1.0],
                    ..fm.clone()
                },
                "beta",
            ),
            (FourierMix { p: 1.1, ..fm.clone() }, "p"),
        ] {
            assert_eq!(bad.validate().unwrap_err().key, key);
        }
    }
}

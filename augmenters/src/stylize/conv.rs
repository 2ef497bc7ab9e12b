//! The planar "same" convolution shared by [`super::RandConv`] and [`super::RandomNet`], and
//! the per-thread buffers they reuse.

use std::cell::RefCell;

/// Reusable per-thread buffers (so that a batch allocates only its outputs).
#[derive(Default)]
pub(crate) struct ConvScratch {
    /// Zero-padded input planes.
    pub padded: Vec<f32>,
    /// Activations, ping.
    pub a: Vec<f32>,
    /// Activations, pong.
    pub b: Vec<f32>,
}

thread_local! {
    pub(crate) static CONV_SCRATCH: RefCell<ConvScratch> = RefCell::new(ConvScratch::default());
}

/// A 2D cross-correlation (what deep-learning frameworks call convolution) of `cin` planes of
/// `w x h` samples with `cout x cin` kernels of `k x k` (odd `k` up to 15), stride 1, zero
/// padding of `k / 2` on every side, no bias:
/// `out[o][y][x] = sum_{i, dy, dx} weights[o][i][dy][dx] * input[i][y + dy - k/2][x + dx - k/2]`.
///
/// `input` is planar (`cin` planes, row-major), `weights` is `[cout][cin][k][k]` row-major,
/// `out` receives `cout` planes. Each output sample accumulates its taps in the order
/// `i, dy, dx` with plain f32 multiply and add (no fused multiply-add), so the result is
/// bit-identical on every run, thread and machine, with or without AVX2.
///
/// # Panics
/// When `k` is even or above 15.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_same(
    input: &[f32],
    cin: usize,
    width: usize,
    height: usize,
    weights: &[f32],
    k: usize,
    cout: usize,
    out: &mut [f32],
    padded: &mut Vec<f32>,
) {
    let plane = width * height;
    debug_assert_eq!(input.len(), cin * plane);
    debug_assert_eq!(weights.len(), cout * cin * k * k);
    debug_assert_eq!(out.len(), cout * plane);
    let r = k / 2;
    let pw = width + 2 * r;
    let ph = height + 2 * r;
    padded.clear();
    padded.resize(cin * pw * ph, 0.0);
    for i in 0..cin {
        for y in 0..height {
            let src = &input[i * plane + y * width..][..width];
            padded[i * pw * ph + (y + r) * pw + r..][..width].copy_from_slice(src);
        }
    }
    out.fill(0.0);
    let shape = Shape {
        cin,
        width,
        height,
        cout,
        pw,
        ph,
    };
    match k {
        1 => conv_dispatch::<1>(padded, weights, out, shape),
        3 => conv_dispatch::<3>(padded, weights, out, shape),
        5 => conv_dispatch::<5>(padded, weights, out, shape),
        7 => conv_dispatch::<7>(padded, weights, out, shape),
        9 => conv_dispatch::<9>(padded, weights, out, shape),
        11 => conv_dispatch::<11>(padded, weights, out, shape),
        13 => conv_dispatch::<13>(padded, weights, out, shape),
        15 => conv_dispatch::<15>(padded, weights, out, shape),
        _ => panic!("kernel size {k}: odd sizes up to 15 are supported"),
    }
}

#[derive(Clone, Copy)]
struct Shape {
    cin: usize,
    width: usize,
    height: usize,
    cout: usize,
    pw: usize,
    ph: usize,
}

/// Runs [`conv_body`] compiled for AVX2 where the CPU has it (the same operations on wider
/// vectors; no FMA, so the same bits).
fn conv_dispatch<const K: usize>(padded: &[f32], weights: &[f32], out: &mut [f32], shape: Shape) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn wide<const K: usize>(padded: &[f32], weights: &[f32], out: &mut [f32], shape: Shape) {
        conv_body::<K>(padded, weights, out, shape)
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { wide::<K>(padded, weights, out, shape) };
    }
    conv_body::<K>(padded, weights, out, shape)
}

/// For each output plane, input plane and kernel row: every output row gains the `K` taps of
/// that kernel row in one pass (the tap loop unrolls, the column loop vectorizes).
#[inline(always)]
fn conv_body<const K: usize>(padded: &[f32], weights: &[f32], out: &mut [f32], s: Shape) {
    let plane = s.width * s.height;
    for o in 0..s.cout {
        let dst_plane = &mut out[o * plane..][..plane];
        for i in 0..s.cin {
            let src_plane = &padded[i * s.pw * s.ph..][..s.pw * s.ph];
            let kernel = &weights[(o * s.cin + i) * K * K..][..K * K];
            for dy in 0..K {
                let taps: [f32; K] = kernel[dy * K..][..K].try_into().expect("K taps");
                for (y, dst) in dst_plane.chunks_exact_mut(s.width).enumerate() {
                    let src = &src_plane[(y + dy) * s.pw..][..s.width + K - 1];
                    for (d, window) in dst.iter_mut().zip(src.windows(K)) {
                        let mut acc = *d;
                        for t in 0..K {
                            acc += taps[t] * window[t];
                        }
                        *d = acc;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, evaluated naively with bounds checks instead of padding.
    fn naive(
        input: &[f32],
        cin: usize,
        w: usize,
        h: usize,
        weights: &[f32],
        k: usize,
        cout: usize,
    ) -> Vec<f32> {
        let r = k as i64 / 2;
        let mut out = vec![0.0; cout * w * h];
        for o in 0..cout {
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let mut acc = 0.0f64;
                    for i in 0..cin {
                        for dy in 0..k as i64 {
                            for dx in 0..k as i64 {
                                let (sy, sx) = (y + dy - r, x + dx - r);
                                if (0..h as i64).contains(&sy) && (0..w as i64).contains(&sx) {
                                    let wt = weights[((o * cin + i) * k + dy as usize) * k + dx as usize];
                                    acc += f64::from(wt)
                                        * f64::from(input[i * w * h + sy as usize * w + sx as usize]);
                                }
                            }
                        }
                    }
                    out[o * w * h + y as usize * w + x as usize] = acc as f32;
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_on_odd_shapes() {
        let mut state = 1u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for &(cin, cout, w, h, k) in &[(3, 3, 5, 4, 3), (2, 4, 1, 1, 5), (3, 2, 7, 3, 7), (1, 1, 2, 9, 1)] {
            let input: Vec<f32> = (0..cin * w * h).map(|_| next()).collect();
            let weights: Vec<f32> = (0..cout * cin * k * k).map(|_| next()).collect();
            let mut out = vec![9.0; cout * w * h];
            conv_same(&input, cin, w, h, &weights, k, cout, &mut out, &mut Vec::new());
            let reference = naive(&input, cin, w, h, &weights, k, cout);
            for (a, b) in out.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b} for {cin}->{cout} {w}x{h} k{k}");
            }
        }
    }

    #[test]
    fn a_centre_tap_is_the_identity_and_padding_is_zero() {
        // 3x3 kernel with only the right neighbour: shifts left, zero at the right edge.
        let input = vec![1.0, 2.0, 3.0];
        let mut weights = vec![0.0; 9];
        weights[5] = 1.0;
        let mut out = vec![0.0; 3];
        conv_same(&input, 1, 3, 1, &weights, 3, 1, &mut out, &mut Vec::new());
        assert_eq!(out, vec![2.0, 3.0, 0.0]);
    }
}

//! scikit-image's `rgb2hsv` / `hsv2rgb` (the formulas of `skimage.color.colorconv`), on one
//! pixel in f64 so brightness and saturate reproduce the reference to the last bit that
//! survives the final truncation to u8.

/// RGB in [0, 1] to HSV in [0, 1]. Hue ties resolve as scikit-image's masks overwrite:
/// blue beats green beats red.
pub(crate) fn rgb2hsv(rgb: [f64; 3]) -> [f64; 3] {
    let [r, g, b] = rgb;
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    let s = if delta == 0.0 { 0.0 } else { delta / v };
    let h = if delta == 0.0 {
        0.0
    } else {
        let raw = if b == v {
            4.0 + (r - g) / delta
        } else if g == v {
            2.0 + (b - r) / delta
        } else {
            (g - b) / delta
        };
        (raw / 6.0).rem_euclid(1.0)
    };
    [h, s, v]
}

/// HSV in [0, 1] to RGB: sector `floor(6 h) mod 6` and the usual p, q, t.
pub(crate) fn hsv2rgb(hsv: [f64; 3]) -> [f64; 3] {
    let [h, s, v] = hsv;
    let hi = (h * 6.0).floor();
    let f = h * 6.0 - hi;
    let p = v * (1.0 - s);
    let q = v * (1.0 - f * s);
    let t = v * (1.0 - (1.0 - f) * s);
    match (hi as i64).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_known_values() {
        assert_eq!(rgb2hsv([1.0, 0.0, 0.0]), [0.0, 1.0, 1.0]);
        let hsv = rgb2hsv([0.0, 0.0, 1.0]);
        assert!((hsv[0] - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(rgb2hsv([0.5, 0.5, 0.5]), [0.0, 0.0, 0.5]);
        for rgb in [[0.2, 0.7, 0.4], [0.9, 0.1, 0.3], [0.3, 0.3, 0.8]] {
            let back = hsv2rgb(rgb2hsv(rgb));
            for c in 0..3 {
                assert!((back[c] - rgb[c]).abs() < 1e-12, "{rgb:?} -> {back:?}");
            }
        }
    }
}

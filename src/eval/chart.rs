//! PNG charts for the study report: grouped bar charts (error per corruption per recipe) and
//! labelled scatter plots (clean error against mean corruption error).
//!
//! Everything is drawn pixel by pixel on an [`RgbImage`] with a 5x9 bitmap font defined in this
//! file, so a report renders identically on every machine, needs no font files or system
//! libraries, and can be checked by tests that read the pixels back.
//!
//! ```
//! use advbn::eval::chart::{BarChart, render_bar_chart};
//!
//! let chart = BarChart {
//!     title: "Error per corruption".into(),
//!     y_label: "error (%)".into(),
//!     categories: vec!["gaussian_noise".into(), "fog".into()],
//!     series: vec![("baseline".into(), vec![48.0, 12.5]), ("augmix".into(), vec![21.0, 9.0])],
//! };
//! let image = render_bar_chart(&chart);
//! # let path = std::env::temp_dir().join("advbn-chart-doc.png");
//! image.save(&path).unwrap();
//! ```

use image::{Rgb, RgbImage};

// ---------------------------------------------------------------------------------------------
// Bitmap font
// ---------------------------------------------------------------------------------------------

/// Pixel columns of one glyph.
const GLYPH_W: u32 = 5;
/// Pixel rows of one glyph: 7 above the baseline, 2 for descenders (g, j, p, q, y, comma).
const GLYPH_H: u32 = 9;
/// Horizontal distance between consecutive glyphs: the glyph plus one blank column.
const ADVANCE: u32 = GLYPH_W + 1;
/// Printable ASCII, 32 (space) ..= 126 (tilde).
const GLYPH_COUNT: usize = 95;
const FIRST_GLYPH: u32 = 32;

/// Drawn for characters outside printable ASCII, so that missing glyphs stay visible instead of
/// silently shortening a label.
const BOX_GLYPH: [u8; GLYPH_H as usize] = [
    0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111, 0, 0,
];

// The glyphs, drawn as pictures so they can be reviewed and edited by eye: six bands of 16
// characters (the last has 15), nine rows each. A row line starts with '|'; within it each
// glyph is five cells ('#' on, '.' off) followed by one separating space. Lines not starting
// with '|' name the characters of the band below and are ignored by the parser. The table is
// parsed at compile time, so a malformed picture is a build error, not a runtime panic.
const GLYPH_ART: &str = r#"
 sp    !     "     #     $     %     &     '     (     )     *     +     ,     -     .     /
|..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... ..... ..... ..... ..... ....#
|..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..... ..... ....#
|..... ..#.. .#.#. ##### #.#.. ...#. #.#.. .#... .#... ...#. #.#.# ..#.. ..... ..... ..... ...#.
|..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. ##### ..... ##### ..... ..#..
|..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#.. ..... ..... ..... .#...
|..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#.. ..... ..... .##.. #....
|..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... ..... ..##. ..... .##.. #....
|..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..#.. ..... ..... .....
|..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... ..... ..... .....
 0     1     2     3     4     5     6     7     8     9     :     ;     <     =     >     ?
|.###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###. ..... ..... ...#. ..... .#... .###.
|#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...# ..... ..... ..#.. ..... ..#.. #...#
|#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...# .##.. .##.. .#... ##### ...#. ....#
|#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .#### .##.. .##.. #.... ..... ....# ...#.
|##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....# ..... ..... .#... ##### ...#. ..#..
|#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#. .##.. .##.. ..#.. ..... ..#.. .....
|.###. .###. ##### .###. ...#. .###. .###. .#... .###. .##.. .##.. .##.. ...#. ..... .#... ..#..
|..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..#.. ..... ..... ..... .....
|..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... ..... ..... ..... .....
 @     A     B     C     D     E     F     G     H     I     J     K     L     M     N     O
|.###. .###. ####. .###. ###.. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.
|#...# #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## #...# #...#
|#.### #...# #...# #.... #...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#
|#.#.# ##### ####. #.... #...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#
|#.### #...# #...# #.... #...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#
|#.... #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#
|.#### #...# ####. .###. ###.. ##### #.... .#### #...# .###. .##.. #...# ##### #...# #...# .###.
|..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
|..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
 P     Q     R     S     T     U     V     W     X     Y     Z     [     \     ]     ^     _
|####. .###. ####. .#### ##### #...# #...# #...# #...# #...# ##### .###. #.... .###. ..#.. .....
|#...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....# .#... #.... ...#. .#.#. .....
|#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#... .#... ...#. #...# .....
|####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#... ..#.. ...#. ..... .....
|#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#... ...#. ...#. ..... .....
|#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #.... .#... ....# ...#. ..... .....
|#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. ##### .###. ....# .###. ..... .....
|..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... #####
|..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
 `     a     b     c     d     e     f     g     h     i     j     k     l     m     n     o
|.#... ..... #.... ..... ....# ..... ..##. ..... #.... ..#.. ...#. #.... .##.. ..... ..... .....
|..#.. ..... #.... ..... ....# ..... .#..# ..... #.... ..... ..... #.... ..#.. ..... ..... .....
|...#. .###. #.##. .###. .##.# .###. .#... .#### #.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.
|..... ....# ##..# #.... #..## #...# ###.. #...# ##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#
|..... .#### #...# #.... #...# ##### .#... #...# #...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#
|..... #...# #...# #...# #...# #.... .#... .#### #...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...#
|..... .#### ####. .###. .#### .###. .#... ....# #...# .###. ...#. #..#. .###. #.#.# #...# .###.
|..... ..... ..... ..... ..... ..... ..... #...# ..... ..... #..#. ..... ..... ..... ..... .....
|..... ..... ..... ..... ..... ..... ..... .###. ..... ..... .##.. ..... ..... ..... ..... .....
 p     q     r     s     t     u     v     w     x     y     z     {     |     }     ~
|..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ...## ..#.. ##... .....
|..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. .....
|####. .#### #.##. .#### ###.. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#...
|#...# #...# ##..# #.... .#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.#
|#...# #...# #.... .###. .#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#.
|####. .#### #.... ....# .#..# #..## .#.#. #.#.# .#.#. .#### .#... ..#.. ..#.. ..#.. .....
|#.... ....# #.... ####. ..##. .##.# ..#.. .#.#. #...# ....# ##### ...## ..#.. ##... .....
|#.... ....# ..... ..... ..... ..... ..... ..... ..... #...# ..... ..... ..... ..... .....
|#.... ....# ..... ..... ..... ..... ..... ..... ..... .###. ..... ..... ..... ..... .....

"#;

static GLYPHS: [[u8; GLYPH_H as usize]; GLYPH_COUNT] = parse_glyph_art(GLYPH_ART);

const fn parse_glyph_art(art: &str) -> [[u8; GLYPH_H as usize]; GLYPH_COUNT] {
    const PER_BAND: usize = 16;
    const ROWS: usize = GLYPH_H as usize;
    const CELL: usize = ADVANCE as usize;
    let bytes = art.as_bytes();
    let mut glyphs = [[0u8; ROWS]; GLYPH_COUNT];
    let mut row = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b'\n' {
            i += 1;
        }
        let end = i;
        i += 1;
        if start == end || bytes[start] != b'|' {
            continue;
        }
        let band = row / ROWS;
        let r = row % ROWS;
        assert!(
            band * PER_BAND < GLYPH_COUNT,
            "glyph art has more rows than glyphs"
        );
        // Every band holds 16 glyphs except the last.
        let cells = if GLYPH_COUNT - band * PER_BAND < PER_BAND {
            GLYPH_COUNT - band * PER_BAND
        } else {
            PER_BAND
        };
        assert!(
            end - start - 1 == cells * CELL - 1,
            "glyph art row has the wrong length"
        );
        let mut col = 0usize;
        while start + 1 + col < end {
            let b = bytes[start + 1 + col];
            let within = col % CELL;
            if within == CELL - 1 {
                assert!(b == b' ', "glyph art cells are separated by one space");
            } else if b == b'#' {
                glyphs[band * PER_BAND + col / CELL][r] |= 1u8 << (GLYPH_W as usize - 1 - within);
            } else {
                assert!(b == b'.', "glyph art pixels are '#' or '.'");
            }
            col += 1;
        }
        row += 1;
    }
    assert!(
        row == GLYPH_COUNT.div_ceil(PER_BAND) * ROWS,
        "glyph art has the wrong number of rows"
    );
    glyphs
}

fn glyph(c: char) -> &'static [u8; GLYPH_H as usize] {
    let code = c as u32;
    if (FIRST_GLYPH..FIRST_GLYPH + GLYPH_COUNT as u32).contains(&code) {
        &GLYPHS[(code - FIRST_GLYPH) as usize]
    } else {
        &BOX_GLYPH
    }
}

/// Width in pixels that [`draw_text`] covers for `text` at `scale`: one glyph cell per `char`
/// (unknown characters included), without the blank column after the last glyph.
///
/// ```
/// use advbn::eval::chart::text_width;
/// assert_eq!(text_width("", 2), 0);
/// assert_eq!(text_width("ab", 1), 11);
/// assert_eq!(text_width("ab", 2), 22);
/// ```
pub fn text_width(text: &str, scale: u32) -> u32 {
    let chars = text.chars().count() as u64;
    if chars == 0 {
        return 0;
    }
    ((chars * u64::from(ADVANCE) - 1) * u64::from(scale)).min(u64::from(u32::MAX)) as u32
}

/// Height in pixels that [`draw_text`] covers at `scale`, descenders included.
///
/// ```
/// assert_eq!(advbn::eval::chart::text_height(2), 18);
/// ```
pub fn text_height(scale: u32) -> u32 {
    GLYPH_H.saturating_mul(scale)
}

/// Calls `f(column, row)` in font units (one unit = one unscaled pixel) for every set pixel of
/// `text` laid out left to right.
fn for_each_text_pixel(text: &str, mut f: impl FnMut(i64, i64)) {
    for (k, c) in text.chars().enumerate() {
        let rows = glyph(c);
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (1 << (GLYPH_W - 1 - col)) != 0 {
                    f(k as i64 * i64::from(ADVANCE) + i64::from(col), r as i64);
                }
            }
        }
    }
}

/// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale` x `scale`
/// square. Pixels outside the image are clipped; characters outside printable ASCII are drawn
/// as a box.
///
/// ```
/// use advbn::eval::chart::{draw_text, text_height, text_width};
/// use image::{Rgb, RgbImage};
///
/// let mut img = RgbImage::from_pixel(80, 30, Rgb([255, 255, 255]));
/// draw_text(&mut img, 4, 4, "mCE 12.5%", Rgb([0, 0, 0]), 1);
/// assert!(text_width("mCE 12.5%", 1) <= 76 && text_height(1) <= 26);
/// ```
pub fn draw_text(img: &mut RgbImage, x: i32, y: i32, text: &str, color: Rgb<u8>, scale: u32) {
    let s = i64::from(scale);
    if s == 0 {
        return;
    }
    let (x, y) = (i64::from(x), i64::from(y));
    for_each_text_pixel(text, |gx, gy| fill_rect(img, x + gx * s, y + gy * s, s, s, color));
}

/// Draws `text` rotated 90 degrees counter-clockwise (reading bottom to top, as y-axis labels
/// do), with the top-left corner of its bounding box at (`x`, `y`). The box is
/// [`text_height`] wide and [`text_width`] tall; the first character is at the bottom.
///
/// ```
/// use advbn::eval::chart::draw_text_vertical;
/// use image::{Rgb, RgbImage};
///
/// let mut img = RgbImage::from_pixel(30, 120, Rgb([255, 255, 255]));
/// draw_text_vertical(&mut img, 4, 4, "error (%)", Rgb([0, 0, 0]), 2);
/// ```
pub fn draw_text_vertical(img: &mut RgbImage, x: i32, y: i32, text: &str, color: Rgb<u8>, scale: u32) {
    let s = i64::from(scale);
    if s == 0 {
        return;
    }
    let (x, y) = (i64::from(x), i64::from(y));
    let height = i64::from(text_width(text, scale));
    for_each_text_pixel(text, |gx, gy| {
        fill_rect(img, x + gy * s, y + height - (gx + 1) * s, s, s, color)
    });
}

// ---------------------------------------------------------------------------------------------
// Pixel primitives (all clip, so layout arithmetic never has to)
// ---------------------------------------------------------------------------------------------

fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, color: Rgb<u8>) {
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = x.saturating_add(w).min(i64::from(img.width()));
    let y1 = y.saturating_add(h).min(i64::from(img.height()));
    for py in y0..y1 {
        for px in x0..x1 {
            img.put_pixel(px as u32, py as u32, color);
        }
    }
}

fn fill_circle(img: &mut RgbImage, cx: i64, cy: i64, radius: i64, color: Rgb<u8>) {
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            if dx * dx + dy * dy <= radius * radius + radius {
                fill_rect(img, cx + dx, cy + dy, 1, 1, color);
            }
        }
    }
}

fn text_w(text: &str) -> i64 {
    i64::from(text_width(text, TEXT_SCALE))
}

fn text_h() -> i64 {
    i64::from(text_height(TEXT_SCALE))
}

fn draw(img: &mut RgbImage, x: i64, y: i64, text: &str, color: Rgb<u8>) {
    draw_text(img, clamp_i32(x), clamp_i32(y), text, color, TEXT_SCALE);
}

fn draw_vertical(img: &mut RgbImage, x: i64, y: i64, text: &str, color: Rgb<u8>) {
    draw_text_vertical(img, clamp_i32(x), clamp_i32(y), text, color, TEXT_SCALE);
}

/// Titles are drawn twice, one pixel apart, as a bold face without a second font.
fn draw_bold(img: &mut RgbImage, x: i64, y: i64, text: &str, color: Rgb<u8>) {
    draw(img, x, y, text, color);
    draw(img, x + 1, y, text, color);
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

// ---------------------------------------------------------------------------------------------
// Style
// ---------------------------------------------------------------------------------------------

/// Scale of all chart text: 10x18-pixel glyphs stay legible when the PNG is shown shrunk in a
/// Markdown viewer.
const TEXT_SCALE: u32 = 2;
const PAD: i64 = 24;
const TICK: i64 = 6;
const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const TEXT: Rgb<u8> = Rgb([30, 30, 30]);
const AXIS: Rgb<u8> = Rgb([70, 70, 70]);
const GRID: Rgb<u8> = Rgb([228, 228, 228]);
const LEADER: Rgb<u8> = Rgb([150, 150, 150]);
/// Names longer than this are cut with "...": a pathological recipe name must not make a
/// chart tens of thousands of pixels wide.
const MAX_NAME_CHARS: usize = 40;
const MAX_TITLE_CHARS: usize = 120;

/// Series colours, in order: the Okabe-Ito palette (distinguishable under the common forms of
/// colour blindness) without its black, which would read as an axis, then dark grey and two
/// of Paul Tol's muted colours. Yellow comes late because it has the least contrast on white.
pub const PALETTE: [Rgb<u8>; 10] = [
    Rgb([0, 114, 178]),   // blue
    Rgb([230, 159, 0]),   // orange
    Rgb([0, 158, 115]),   // bluish green
    Rgb([213, 94, 0]),    // vermillion
    Rgb([204, 121, 167]), // reddish purple
    Rgb([86, 180, 233]),  // sky blue
    Rgb([240, 228, 66]),  // yellow
    Rgb([102, 102, 102]), // dark grey
    Rgb([136, 34, 85]),   // wine
    Rgb([153, 153, 51]),  // olive
];

/// Colour of series (or scatter point) `index`: [`PALETTE`] in order, then the palette again,
/// darker on each further round, so that up to 40 series stay distinguishable.
///
/// ```
/// use advbn::eval::chart::{PALETTE, series_color};
/// assert_eq!(series_color(1), PALETTE[1]);
/// assert_ne!(series_color(PALETTE.len()), PALETTE[0]);
/// ```
pub fn series_color(index: usize) -> Rgb<u8> {
    let base = PALETTE[index % PALETTE.len()];
    let round = (index / PALETTE.len()).min(3) as u32;
    Rgb(base.0.map(|c| (u32::from(c) * (10 - 2 * round) / 10) as u8))
}

fn clip_name(name: &str, max_chars: usize) -> String {
    if name.chars().count() <= max_chars {
        name.to_string()
    } else {
        let mut cut: String = name.chars().take(max_chars.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

// ---------------------------------------------------------------------------------------------
// Axes
// ---------------------------------------------------------------------------------------------

/// Values beyond this are clamped for the axis, so range arithmetic stays finite.
const VALUE_LIMIT: f64 = 1e300;

/// A linear axis from `lo` to `hi` whose ends are ticks at multiples of a "nice" step (1, 2,
/// 2.5 or 5 times a power of ten).
#[derive(Clone, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    labels: Vec<String>,
}

impl Axis {
    /// The smallest nice axis containing [`lo`, `hi`] with 4 to 6 ticks where one exists (at
    /// worst 2 to 6). Non-finite or empty ranges fall back to something drawable.
    fn nice(lo: f64, hi: f64) -> Axis {
        let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
            (
                lo.clamp(-VALUE_LIMIT, VALUE_LIMIT),
                hi.clamp(-VALUE_LIMIT, VALUE_LIMIT),
            )
        } else {
            (0.0, 1.0)
        };
        if hi < lo {
            std::mem::swap(&mut lo, &mut hi);
        }
        if hi - lo <= hi.abs().max(lo.abs()) * 1e-12 || hi - lo < f64::MIN_POSITIVE {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            if lo >= 0.0 && lo - pad < 0.0 {
                hi = lo + pad;
            } else {
                lo -= pad;
                hi += pad;
            }
            if lo == 0.0 && hi == 0.0 {
                hi = 1.0;
            }
        }
        let range = hi - lo;
        let e0 = (range / 5.0).log10().floor() as i32;
        let mut fallback = None;
        for e in (e0 - 1)..=(e0 + 2) {
            for m in [1.0, 2.0, 2.5, 5.0] {
                let step = m * 10f64.powi(e);
                if !(step.is_finite() && step > 0.0) {
                    continue;
                }
                // The tolerance keeps float noise (0.30000000000000004) from adding an interval.
                let a = (lo / step + 1e-9).floor();
                let b = (hi / step - 1e-9).ceil();
                let intervals = b - a;
                if !(1.0..=5.0).contains(&intervals) {
                    continue;
                }
                if intervals >= 3.0 {
                    return Axis::from_ticks(a, b, step, e, m);
                }
                if fallback.is_none() {
                    fallback = Some((a, b, step, e, m));
                }
            }
        }
        match fallback {
            Some((a, b, step, e, m)) => Axis::from_ticks(a, b, step, e, m),
            None => Axis {
                lo,
                hi,
                ticks: vec![lo, hi],
                labels: vec![format!("{lo:e}"), format!("{hi:e}")],
            },
        }
    }

    fn from_ticks(a: f64, b: f64, step: f64, exponent: i32, mantissa: f64) -> Axis {
        // `+ 0.0` turns -0.0 into 0.0 so no label reads "-0".
        let ticks: Vec<f64> = (0..=(b - a) as i64)
            .map(|k| (a + k as f64) * step + 0.0)
            .collect();
        let extra = i32::from(mantissa == 2.5);
        let max_abs = ticks.iter().fold(0.0f64, |acc, t| acc.max(t.abs()));
        let labels = if max_abs >= 1e6 || exponent < -4 {
            let lead = max_abs.log10().floor() as i32;
            let digits = (lead - exponent + extra).clamp(0, 15) as usize;
            ticks
                .iter()
                .map(|&t| {
                    if t == 0.0 {
                        "0".to_string()
                    } else {
                        format!("{t:.digits$e}")
                    }
                })
                .collect()
        } else {
            let decimals = (extra - exponent).max(0) as usize;
            ticks.iter().map(|&t| format!("{t:.decimals$}")).collect()
        };
        Axis {
            lo: ticks[0],
            hi: ticks[ticks.len() - 1],
            ticks,
            labels,
        }
    }

    /// Position of `v` along the axis, 0 at `lo` and 1 at `hi`, clamped.
    fn frac(&self, v: f64) -> f64 {
        let f = (v.clamp(-VALUE_LIMIT, VALUE_LIMIT) - self.lo) / (self.hi - self.lo);
        if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 }
    }

    fn widest_label(&self) -> i64 {
        self.labels.iter().map(|l| text_w(l)).max().unwrap_or(0)
    }
}

fn finite_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-VALUE_LIMIT, VALUE_LIMIT))
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
}

/// Draws the y axis of `plot`: grid lines across it, tick marks and right-aligned tick labels
/// left of it, and the rotated axis label centred along it, starting at column `label_x`.
fn draw_y_axis(img: &mut RgbImage, axis: &Axis, plot: Rect, label: &str, label_x: i64) {
    let Rect {
        x: left,
        y: top,
        w: width,
        h: height,
    } = plot;
    let bottom = top + height;
    for (tick, text) in axis.ticks.iter().zip(&axis.labels) {
        let y = bottom - (axis.frac(*tick) * height as f64).round() as i64;
        fill_rect(img, left, y, width, 1, GRID);
        fill_rect(img, left - 1 - TICK, y, TICK, 1, AXIS);
        draw(
            img,
            left - 1 - TICK - 6 - text_w(text),
            y - text_h() / 2,
            text,
            TEXT,
        );
    }
    let label = fit_chars(label, height);
    draw_vertical(img, label_x, top + (height - text_w(&label)) / 2, &label, TEXT);
}

/// `text` cut (with "...") to at most `max_width` pixels.
fn fit_chars(text: &str, max_width: i64) -> String {
    if text_w(text) <= max_width {
        return text.to_string();
    }
    let chars = ((max_width + 1) / i64::from(ADVANCE * TEXT_SCALE)).max(0) as usize;
    clip_name(text, chars.max(4))
}

// ---------------------------------------------------------------------------------------------
// Legend
// ---------------------------------------------------------------------------------------------

const SWATCH: i64 = 16;
const LEGEND_GAP: i64 = 28;

fn legend_entry_width(name: &str) -> i64 {
    SWATCH + 8 + text_w(name)
}

/// Lays out legend entries in rows no wider than `max_width`; returns each entry's (x, row)
/// offset and the number of rows.
fn layout_legend(names: &[String], max_width: i64) -> (Vec<(i64, i64)>, i64) {
    let mut places = Vec::with_capacity(names.len());
    let (mut x, mut row) = (0, 0);
    for name in names {
        let w = legend_entry_width(name);
        if x > 0 && x + w > max_width {
            x = 0;
            row += 1;
        }
        places.push((x, row));
        x += w + LEGEND_GAP;
    }
    let rows = if names.is_empty() { 0 } else { row + 1 };
    (places, rows)
}

fn legend_row_height() -> i64 {
    text_h() + 8
}

fn draw_legend(img: &mut RgbImage, names: &[String], places: &[(i64, i64)], x: i64, y: i64) {
    for (i, (name, (dx, row))) in names.iter().zip(places).enumerate() {
        let top = y + row * legend_row_height();
        fill_rect(
            img,
            x + dx,
            top + (text_h() - SWATCH) / 2 - 2,
            SWATCH,
            SWATCH,
            series_color(i),
        );
        draw(img, x + dx + SWATCH + 8, top, name, TEXT);
    }
}

// ---------------------------------------------------------------------------------------------
// Bar chart
// ---------------------------------------------------------------------------------------------

/// A grouped vertical bar chart: one group per category, one bar per series, in the unit the
/// values are given in (the chart does not rescale them).
///
/// Non-finite values are not drawn; a series shorter than the categories simply has no bars
/// in the remaining groups.
///
/// ```
/// use advbn::eval::chart::{BarChart, render_bar_chart};
///
/// let chart = BarChart {
///     title: "Corruption error".into(),
///     y_label: "error (%)".into(),
///     categories: vec!["snow".into(), "elastic_transform".into()],
///     series: vec![("baseline".into(), vec![25.0, 18.0]), ("augmix+advbn".into(), vec![12.0, f64::NAN])],
/// };
/// let image = render_bar_chart(&chart);
/// assert!(image.width() > 0 && image.height() > 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BarChart {
    /// Drawn bold above the chart.
    pub title: String,
    /// Drawn rotated along the y axis.
    pub y_label: String,
    /// Group labels along the x axis, drawn rotated when they do not fit under their group.
    pub categories: Vec<String>,
    /// (name, one value per category); series `i` is drawn in [`series_color`]`(i)`.
    pub series: Vec<(String, Vec<f64>)>,
}

const BAR_PLOT_H: i64 = 420;
const MIN_PLOT_W: i64 = 240;
const GROUP_GAP: i64 = 18;

/// Renders `chart` on a white background. The image grows in width with the number of
/// categories and series and in height with the length of the category labels; it never
/// panics, whatever the values (empty, NaN, infinite, negative, all zero).
///
/// ```
/// use advbn::eval::chart::{BarChart, render_bar_chart};
///
/// let image = render_bar_chart(&BarChart::default());
/// assert!(image.width() > 0);
/// ```
pub fn render_bar_chart(chart: &BarChart) -> RgbImage {
    let series_names: Vec<String> = chart
        .series
        .iter()
        .map(|(n, _)| clip_name(n, MAX_NAME_CHARS))
        .collect();
    let categories: Vec<String> = chart
        .categories
        .iter()
        .map(|c| clip_name(c, MAX_NAME_CHARS))
        .collect();
    let groups = chart
        .series
        .iter()
        .map(|(_, v)| v.len())
        .fold(categories.len(), usize::max);
    let n_series = chart.series.len() as i64;

    let data = finite_range(chart.series.iter().flat_map(|(_, v)| v.iter().copied()));
    let (dmin, dmax) = data.unwrap_or((0.0, 0.0));
    let axis = Axis::nice(dmin.min(0.0), dmax.max(0.0));

    // Narrower bars when there are many series, so a group stays readable as one unit.
    let bar_w = if n_series == 0 {
        0
    } else {
        (108 / n_series).clamp(6, 18)
    };
    // With few groups the spare width of the minimum plot goes to the groups, so that short
    // category names can stay horizontal.
    let group_w = (n_series * bar_w + GROUP_GAP)
        .max(text_h() + 8)
        .max(MIN_PLOT_W / (groups.max(1) as i64));
    let bars_w = groups as i64 * group_w;
    let plot_w = bars_w.max(MIN_PLOT_W);

    let horizontal_labels = categories.iter().all(|c| text_w(c) + 8 <= group_w);
    let label_extent = if categories.is_empty() {
        0
    } else if horizontal_labels {
        text_h()
    } else {
        categories.iter().map(|c| text_w(c)).max().unwrap_or(0)
    };

    let title = clip_name(&chart.title, MAX_TITLE_CHARS);
    let plot_left = PAD + text_h() + 14 + axis.widest_label() + 6 + TICK + 1;
    let widest_entry = series_names
        .iter()
        .map(|n| legend_entry_width(n))
        .max()
        .unwrap_or(0);
    let width = (plot_left + plot_w + PAD)
        .max(2 * PAD + text_w(&title) + 1)
        .max(plot_left + widest_entry + PAD);

    let (places, legend_rows) = layout_legend(&series_names, width - PAD - plot_left);
    let title_bottom = if title.is_empty() {
        PAD
    } else {
        PAD + text_h() + 16
    };
    let legend_bottom = title_bottom + legend_rows * legend_row_height();
    let plot_top = legend_bottom + 16;
    let plot_bottom = plot_top + BAR_PLOT_H;
    let labels_top = plot_bottom + TICK + 8;
    let height = labels_top + label_extent + PAD;

    let mut img = RgbImage::from_pixel(width as u32, height as u32, BACKGROUND);
    let plot = Rect {
        x: plot_left,
        y: plot_top,
        w: plot_w,
        h: BAR_PLOT_H,
    };
    draw_y_axis(&mut img, &axis, plot, &chart.y_label, PAD);

    let y_of = |v: f64| plot_bottom - (axis.frac(v) * BAR_PLOT_H as f64).round() as i64;
    let zero = y_of(0.0);
    let first_group = plot_left + (plot_w - bars_w) / 2;
    // A white column between neighbouring bars keeps similar colours apart.
    let bar_fill = if bar_w >= 8 { bar_w - 1 } else { bar_w };
    for (s, (_, values)) in chart.series.iter().enumerate() {
        for (g, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            let x = first_group + g as i64 * group_w + (group_w - n_series * bar_w) / 2 + s as i64 * bar_w;
            let y = y_of(v);
            if y < zero {
                fill_rect(&mut img, x, y, bar_fill, zero - y, series_color(s));
            } else if y > zero {
                fill_rect(&mut img, x, zero + 1, bar_fill, y - zero, series_color(s));
            }
        }
    }

    // Axes last, over the bars' feet. With negative values the zero line is the baseline and
    // the frame moves one row down, so that it does not eat the last row of the lowest bar.
    let frame_bottom = if zero == plot_bottom {
        plot_bottom
    } else {
        plot_bottom + 1
    };
    fill_rect(
        &mut img,
        plot_left - 1,
        plot_top,
        1,
        frame_bottom - plot_top + 1,
        AXIS,
    );
    fill_rect(&mut img, plot_left - 1, frame_bottom, plot_w + 1, 1, AXIS);
    fill_rect(&mut img, plot_left - 1, zero, plot_w + 1, 1, AXIS);

    for (g, name) in categories.iter().enumerate() {
        let centre = first_group + g as i64 * group_w + group_w / 2;
        fill_rect(&mut img, centre, frame_bottom + 1, 1, TICK, AXIS);
        if horizontal_labels {
            draw(&mut img, centre - text_w(name) / 2, labels_top, name, TEXT);
        } else {
            // Rotated labels end at the axis, so long and short names line up under their group.
            draw_vertical(&mut img, centre - text_h() / 2, labels_top, name, TEXT);
        }
    }

    draw_legend(&mut img, &series_names, &places, plot_left, title_bottom);
    draw_bold(&mut img, (width - text_w(&title)) / 2, PAD, &title, TEXT);
    img
}

// ---------------------------------------------------------------------------------------------
// Scatter chart
// ---------------------------------------------------------------------------------------------

/// A scatter plot of named points, e.g. one point per recipe at (clean error, mean corruption
/// error). Point `i` is drawn in [`series_color`]`(i)`, so the points match the bars of a
/// [`BarChart`] whose series come in the same order. Points with a non-finite coordinate are
/// not drawn.
///
/// ```
/// use advbn::eval::chart::{ScatterChart, render_scatter};
///
/// let chart = ScatterChart {
///     title: "Clean vs corruption error".into(),
///     x_label: "clean error (%)".into(),
///     y_label: "mean corruption error (%)".into(),
///     points: vec![("baseline".into(), 5.1, 26.0), ("augmix".into(), 4.9, 11.2)],
/// };
/// let image = render_scatter(&chart);
/// assert!(image.width() > 0 && image.height() > 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScatterChart {
    /// Drawn bold above the chart.
    pub title: String,
    /// Drawn below the x axis.
    pub x_label: String,
    /// Drawn rotated along the y axis.
    pub y_label: String,
    /// (label, x, y) per point.
    pub points: Vec<(String, f64, f64)>,
}

const SCATTER_PLOT_W: i64 = 640;
const SCATTER_PLOT_H: i64 = 440;
const MARKER_RADIUS: i64 = 6;

/// Axis for scatter data: the data range plus a margin, so that no marker sits on an axis line.
fn scatter_axis(range: Option<(f64, f64)>) -> Axis {
    match range {
        None => Axis::nice(0.0, 1.0),
        Some((lo, hi)) if hi > lo => {
            let margin = (hi - lo) * 0.08;
            Axis::nice(lo - margin, hi + margin)
        }
        Some((v, _)) => {
            let margin = if v == 0.0 { 1.0 } else { v.abs() * 0.1 };
            Axis::nice(v - margin, v + margin)
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

impl Rect {
    fn contains(&self, x: i64, y: i64) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }

    fn overlap(&self, other: &Rect) -> i64 {
        let w = (self.x + self.w).min(other.x + other.w) - self.x.max(other.x);
        let h = (self.y + self.h).min(other.y + other.h) - self.y.max(other.y);
        if w > 0 && h > 0 { w * h } else { 0 }
    }
}

/// A label's top-left corner and whether it sits far enough from its marker to need a leader
/// line.
#[derive(Clone, Copy, Debug)]
struct LabelPlace {
    x: i64,
    y: i64,
    leader: bool,
}

/// Rings of candidate positions tried around a marker before giving up on a clean spot.
const LABEL_RINGS: i64 = 6;

/// Greedy label placement, one marker after another: among eight directions (right, left,
/// above, below, then the diagonals) on rings of growing distance, take the first position
/// that covers no marker, no earlier label and nothing outside the plot; where every position
/// collides, take the least-covering one. Labels on an outer ring get a leader line so that a
/// crowded cluster stays attributable.
fn place_labels(centres: &[(i64, i64)], sizes: &[(i64, i64)], plot: Rect) -> Vec<LabelPlace> {
    let keep_clear = MARKER_RADIUS + 3;
    let markers: Vec<Rect> = centres
        .iter()
        .map(|&(x, y)| Rect {
            x: x - keep_clear,
            y: y - keep_clear,
            w: 2 * keep_clear + 1,
            h: 2 * keep_clear + 1,
        })
        .collect();
    let mut placed: Vec<Rect> = Vec::with_capacity(centres.len());
    let mut places = Vec::with_capacity(centres.len());
    for (&(cx, cy), &(w, h)) in centres.iter().zip(sizes) {
        let mut best: Option<(i64, LabelPlace)> = None;
        'rings: for ring in 0..LABEL_RINGS {
            let d = MARKER_RADIUS + 6 + ring * (h + 6);
            // Diagonal positions touch the marker's bounding square at a corner, so they can sit
            // closer than the straight ones.
            let e = (d * 3 / 4).max(MARKER_RADIUS + 2);
            let candidates = [
                (cx + d, cy - h / 2),
                (cx - d - w, cy - h / 2),
                (cx - w / 2, cy - d - h),
                (cx - w / 2, cy + d),
                (cx + e, cy - e - h),
                (cx + e, cy + e),
                (cx - e - w, cy - e - h),
                (cx - e - w, cy + e),
            ];
            for (x, y) in candidates {
                let r = Rect {
                    x: x - 2,
                    y: y - 2,
                    w: w + 4,
                    h: h + 4,
                };
                let on_markers: i64 = markers.iter().map(|m| m.overlap(&r)).sum();
                let on_labels: i64 = placed.iter().map(|p| p.overlap(&r)).sum();
                let outside = r.w * r.h - plot.overlap(&r);
                // A leader line through another marker or label would be read as pointing there.
                let crossed = if ring == 0 {
                    0
                } else {
                    let end = leader_end((cx, cy), (x, y), (w, h));
                    markers
                        .iter()
                        .chain(&placed)
                        .filter(|m| !m.contains(cx, cy) && segment_hits(m, (cx, cy), end))
                        .count() as i64
                };
                // Hiding a data point is worst; overlapping text or leaving the plot (where the
                // tick labels are) is almost as bad.
                let cost = on_markers
                    .saturating_mul(4)
                    .saturating_add(on_labels)
                    .saturating_add(outside)
                    .saturating_add(crossed * 1000);
                if best.is_none_or(|(c, _)| cost < c) {
                    best = Some((
                        cost,
                        LabelPlace {
                            x,
                            y,
                            leader: ring > 0,
                        },
                    ));
                }
                if cost == 0 {
                    break 'rings;
                }
            }
        }
        // `centres` and `sizes` have the same length, so each marker had candidates.
        let place = best.map_or(
            LabelPlace {
                x: cx,
                y: cy,
                leader: false,
            },
            |(_, p)| p,
        );
        placed.push(Rect {
            x: place.x - 2,
            y: place.y - 2,
            w: w + 4,
            h: h + 4,
        });
        places.push(place);
    }
    places
}

/// Where a leader line from a marker at `centre` meets the halo of a label at `corner` of
/// `size`: the point of the halo nearest to the marker.
fn leader_end(centre: (i64, i64), corner: (i64, i64), size: (i64, i64)) -> (i64, i64) {
    (
        centre.0.clamp(corner.0 - 3, corner.0 + size.0 + 2),
        centre.1.clamp(corner.1 - 3, corner.1 + size.1 + 2),
    )
}

/// Whether the segment from `a` to `b` passes through `rect`, checked at every pixel step along
/// the segment (exact enough for leader lines a few hundred pixels long).
fn segment_hits(rect: &Rect, a: (i64, i64), b: (i64, i64)) -> bool {
    let bounds = Rect {
        x: a.0.min(b.0),
        y: a.1.min(b.1),
        w: (a.0 - b.0).abs() + 1,
        h: (a.1 - b.1).abs() + 1,
    };
    if rect.overlap(&bounds) == 0 {
        return false;
    }
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
    (0..=steps).any(|k| rect.contains(a.0 + (b.0 - a.0) * k / steps, a.1 + (b.1 - a.1) * k / steps))
}

/// A one-pixel line from (x0, y0) to (x1, y1) (Bresenham).
fn draw_line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), color: Rgb<u8>) {
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let (mut x, mut y, mut err) = (x0, y0, dx + dy);
    loop {
        fill_rect(img, x, y, 1, 1, color);
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// Renders `chart` on a white background: markers with their labels beside them, nice ticks on
/// both axes, grid lines, axis labels and the title. Never panics, whatever the points.
///
/// ```
/// use advbn::eval::chart::{ScatterChart, render_scatter};
///
/// let image = render_scatter(&ScatterChart::default());
/// assert!(image.width() > 0);
/// ```
pub fn render_scatter(chart: &ScatterChart) -> RgbImage {
    let points: Vec<(usize, String, f64, f64)> = chart
        .points
        .iter()
        .enumerate()
        .filter(|(_, (_, x, y))| x.is_finite() && y.is_finite())
        .map(|(i, (name, x, y))| {
            (
                i,
                clip_name(name, MAX_NAME_CHARS),
                x.clamp(-VALUE_LIMIT, VALUE_LIMIT),
                y.clamp(-VALUE_LIMIT, VALUE_LIMIT),
            )
        })
        .collect();
    let x_axis = scatter_axis(finite_range(points.iter().map(|p| p.2)));
    let y_axis = scatter_axis(finite_range(points.iter().map(|p| p.3)));

    let title = clip_name(&chart.title, MAX_TITLE_CHARS);
    let x_label = clip_name(&chart.x_label, MAX_TITLE_CHARS);
    let plot_left = PAD + text_h() + 14 + y_axis.widest_label() + 6 + TICK + 1;
    let plot_top = if title.is_empty() {
        PAD + text_h() / 2
    } else {
        PAD + text_h() + 24
    };
    let plot_bottom = plot_top + SCATTER_PLOT_H;
    // The last x tick label is centred on the plot's right edge and sticks out by half.
    let overhang = x_axis.labels.last().map(|l| text_w(l) / 2).unwrap_or(0);
    let width = (plot_left + SCATTER_PLOT_W + overhang.max(PAD) + PAD)
        .max(2 * PAD + text_w(&title) + 1)
        .max(plot_left + text_w(&x_label) + PAD);
    let tick_labels_top = plot_bottom + TICK + 8;
    let x_label_top = tick_labels_top + text_h() + 14;
    let height = x_label_top + text_h() + PAD;

    let mut img = RgbImage::from_pixel(width as u32, height as u32, BACKGROUND);
    let plot = Rect {
        x: plot_left,
        y: plot_top,
        w: SCATTER_PLOT_W,
        h: SCATTER_PLOT_H,
    };
    draw_y_axis(&mut img, &y_axis, plot, &chart.y_label, PAD);
    for (tick, text) in x_axis.ticks.iter().zip(&x_axis.labels) {
        let x = plot_left + (x_axis.frac(*tick) * SCATTER_PLOT_W as f64).round() as i64;
        fill_rect(&mut img, x, plot_top, 1, SCATTER_PLOT_H, GRID);
        fill_rect(&mut img, x, plot_bottom + 1, 1, TICK, AXIS);
        draw(&mut img, x - text_w(text) / 2, tick_labels_top, text, TEXT);
    }
    draw(
        &mut img,
        plot_left + (SCATTER_PLOT_W - text_w(&x_label)) / 2,
        x_label_top,
        &x_label,
        TEXT,
    );
    draw_bold(&mut img, (width - text_w(&title)) / 2, PAD, &title, TEXT);

    let centres: Vec<(i64, i64)> = points
        .iter()
        .map(|&(_, _, x, y)| {
            (
                plot_left + (x_axis.frac(x) * SCATTER_PLOT_W as f64).round() as i64,
                plot_bottom - (y_axis.frac(y) * SCATTER_PLOT_H as f64).round() as i64,
            )
        })
        .collect();
    let sizes: Vec<(i64, i64)> = points.iter().map(|p| (text_w(&p.1), text_h())).collect();
    let places = place_labels(&centres, &sizes, plot);
    for (&(cx, cy), (place, &(w, h))) in centres.iter().zip(places.iter().zip(&sizes)) {
        if place.leader {
            draw_line(
                &mut img,
                (cx, cy),
                leader_end((cx, cy), (place.x, place.y), (w, h)),
                LEADER,
            );
        }
    }
    // Labels on a white halo that interrupts grid and leader lines; markers last, so that no
    // label can hide a data point.
    for ((_, name, _, _), place) in points.iter().zip(&places) {
        fill_rect(
            &mut img,
            place.x - 2,
            place.y - 2,
            text_w(name) + 4,
            text_h() + 4,
            BACKGROUND,
        );
        draw(&mut img, place.x, place.y, name, TEXT);
    }
    fill_rect(&mut img, plot_left - 1, plot_top, 1, SCATTER_PLOT_H + 1, AXIS);
    fill_rect(&mut img, plot_left - 1, plot_bottom, SCATTER_PLOT_W + 1, 1, AXIS);
    for (&(i, _, _, _), &(cx, cy)) in points.iter().zip(&centres) {
        fill_circle(&mut img, cx, cy, MARKER_RADIUS + 1, BACKGROUND);
        fill_circle(&mut img, cx, cy, MARKER_RADIUS, series_color(i));
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
    const INK: Rgb<u8> = Rgb([0, 0, 0]);

    fn render_text(text: &str, scale: u32) -> RgbImage {
        let mut img = RgbImage::from_pixel(text_width(text, scale).max(1), text_height(scale), WHITE);
        draw_text(&mut img, 0, 0, text, INK, scale);
        img
    }

    /// (min x, min y, max x, max y) of the pixels that are not white.
    fn ink_bbox(img: &RgbImage) -> Option<(u32, u32, u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, _, p)| **p != WHITE)
            .fold(None, |acc, (x, y, _)| match acc {
                None => Some((x, y, x, y)),
                Some((x0, y0, x1, y1)) => Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y))),
            })
    }

    fn count(img: &RgbImage, color: Rgb<u8>) -> usize {
        img.pixels().filter(|p| **p == color).count()
    }

    fn centroid(img: &RgbImage, color: Rgb<u8>) -> (f64, f64) {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for (x, y, p) in img.enumerate_pixels() {
            if *p == color {
                sx += f64::from(x);
                sy += f64::from(y);
                n += 1.0;
            }
        }
        assert!(n > 0.0, "colour {color:?} not found");
        (sx / n, sy / n)
    }

    #[test]
    fn every_printable_glyph_renders_distinctly() {
        let mut seen = HashSet::new();
        for code in 32u8..=126 {
            let c = char::from(code);
            let img = render_text(&c.to_string(), 1);
            assert_eq!(img.dimensions(), (5, 9));
            let inked = count(&img, INK);
            if c == ' ' {
                assert_eq!(inked, 0, "space must be blank");
            } else {
                assert!(inked > 0, "{c:?} draws nothing");
            }
            assert!(seen.insert(img.into_raw()), "{c:?} looks like an earlier glyph");
        }
        let unknown = render_text("\u{e9}", 1).into_raw();
        assert!(
            !seen.contains(&unknown),
            "the box for unknown characters looks like an ASCII glyph"
        );
    }

    #[test]
    fn unknown_characters_draw_the_same_box() {
        let accent = render_text("\u{e9}", 1);
        assert_eq!(accent, render_text("\u{2603}", 1));
        assert_eq!(text_width("\u{e9}\u{2603}", 1), text_width("ab", 1));
        for (x, y, p) in accent.enumerate_pixels() {
            let on_border = y < 7 && (x == 0 || x == 4 || y == 0 || y == 6);
            assert_eq!(*p == INK, on_border, "pixel ({x}, {y})");
        }
    }

    #[test]
    fn text_width_and_height_match_what_draw_text_covers() {
        // Each string starts with a glyph using its left column and ends with one using its
        // right column, so the drawn extent must equal the computed width exactly.
        let exact = ["HM", "Wide label #42", "elastic_transform", "M", "\u{e9}x", "Hg"];
        for scale in 1..=3 {
            for text in exact {
                let mut img = RgbImage::from_pixel(400, 60, WHITE);
                draw_text(&mut img, 7, 5, text, INK, scale);
                let (x0, y0, x1, y1) = ink_bbox(&img).unwrap();
                assert_eq!(
                    (x0, x1 + 1 - x0),
                    (7, text_width(text, scale)),
                    "{text:?} at scale {scale}"
                );
                assert!(
                    y0 >= 5 && y1 < 5 + text_height(scale),
                    "{text:?} at scale {scale}"
                );
            }
            // Descenders reach the last row, capitals the first.
            let mut img = RgbImage::from_pixel(60, 60, WHITE);
            draw_text(&mut img, 0, 3, "Hg", INK, scale);
            let (_, y0, _, y1) = ink_bbox(&img).unwrap();
            assert_eq!(y1 + 1 - y0, text_height(scale));
        }
        // Other strings stay inside the computed box.
        for text in [".", "i1", "(x)", " a ", "~_"] {
            let mut img = RgbImage::from_pixel(200, 40, WHITE);
            draw_text(&mut img, 3, 2, text, INK, 2);
            let (x0, y0, x1, y1) = ink_bbox(&img).unwrap();
            assert!(x0 >= 3 && x1 < 3 + text_width(text, 2), "{text:?}");
            assert!(y0 >= 2 && y1 < 2 + text_height(2), "{text:?}");
        }
        assert_eq!(text_width("", 3), 0);
        assert_eq!(text_width("abc", 0), 0);
    }

    #[test]
    fn vertical_text_is_horizontal_text_turned_counter_clockwise() {
        let text = "Ag_1 %";
        let (w, h) = (text_width(text, 2), text_height(2));
        let horizontal = render_text(text, 2);
        let mut vertical = RgbImage::from_pixel(h, w, WHITE);
        draw_text_vertical(&mut vertical, 0, 0, text, INK, 2);
        for (x, y, p) in horizontal.enumerate_pixels() {
            assert_eq!(p, vertical.get_pixel(y, w - 1 - x), "horizontal pixel ({x}, {y})");
        }
        assert_eq!(count(&horizontal, INK), count(&vertical, INK));
    }

    #[test]
    fn text_is_clipped_at_the_image_border() {
        let mut img = RgbImage::from_pixel(8, 8, WHITE);
        // "H" two pixels left of the image: its right stem lands on column 2, its bar on row 3.
        draw_text(&mut img, -2, 0, "H", INK, 1);
        assert_eq!(*img.get_pixel(2, 0), INK);
        assert_eq!(*img.get_pixel(0, 3), INK);
        assert_eq!(*img.get_pixel(1, 0), WHITE);
        let before = img.clone();
        draw_text(&mut img, i32::MAX, i32::MIN, "far away", INK, 1000);
        draw_text_vertical(&mut img, i32::MIN, i32::MAX, "far away", INK, u32::MAX);
        draw_text(&mut img, 0, 0, "H", INK, 0);
        assert_eq!(img, before);
    }

    #[test]
    fn axes_from_zero_have_four_to_six_round_ticks() {
        let mut hi = 1e-7;
        while hi < 1e12 {
            let axis = Axis::nice(0.0, hi);
            let n = axis.ticks.len();
            assert!((4..=6).contains(&n), "{n} ticks for 0..{hi}: {:?}", axis.labels);
            assert_eq!(axis.ticks[0], 0.0);
            assert!(
                axis.hi >= hi * (1.0 - 1e-9) && axis.hi < 1.5 * hi,
                "0..{hi} -> {:?}",
                axis.ticks
            );
            let labels: HashSet<&String> = axis.labels.iter().collect();
            assert_eq!(labels.len(), n, "repeated labels for 0..{hi}: {:?}", axis.labels);
            hi *= 1.07;
        }
        assert_eq!(Axis::nice(0.0, 37.2).labels, ["0", "10", "20", "30", "40"]);
        assert_eq!(
            Axis::nice(0.0, 2.2).labels,
            ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"]
        );
        assert_eq!(
            Axis::nice(0.0, 0.093).labels,
            ["0.00", "0.02", "0.04", "0.06", "0.08", "0.10"]
        );
        assert_eq!(Axis::nice(-3.2, 8.0).labels, ["-5", "0", "5", "10"]);
        assert_eq!(Axis::nice(0.0, 3.4e7).labels, ["0", "1e7", "2e7", "3e7", "4e7"]);
        assert_eq!(
            Axis::nice(0.0, 0.0).labels,
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
    }

    #[test]
    fn degenerate_axes_stay_drawable() {
        for (lo, hi) in [
            (f64::NAN, 1.0),
            (0.0, f64::INFINITY),
            (5.0, 5.0),
            (-2.0, -2.0),
            (1e300, 1e300),
            (3.0, -1.0),
        ] {
            let axis = Axis::nice(lo, hi);
            assert!(
                axis.lo.is_finite() && axis.hi.is_finite() && axis.lo < axis.hi,
                "{lo}..{hi}: {axis:?}"
            );
            assert!(
                axis.ticks.len() >= 2 && axis.ticks.len() == axis.labels.len(),
                "{lo}..{hi}: {axis:?}"
            );
            if lo.is_finite() && hi.is_finite() {
                assert!(
                    axis.lo <= lo.min(hi) && axis.hi >= hi.max(lo),
                    "{lo}..{hi}: {axis:?}"
                );
            }
        }
    }

    /// Vertical bars of `color`: for each column the longest run of that colour, with adjacent
    /// columns of identical runs merged. Returns (first column, last column, top row, rows).
    fn bars(img: &RgbImage, color: Rgb<u8>) -> Vec<(u32, u32, u32, u32)> {
        let mut found: Vec<(u32, u32, u32, u32)> = Vec::new();
        for x in 0..img.width() {
            let (mut best, mut run) = (None::<(u32, u32)>, None::<(u32, u32)>);
            for y in 0..img.height() {
                if *img.get_pixel(x, y) == color {
                    run = Some(run.map_or((y, 1), |(top, n)| (top, n + 1)));
                    if best.is_none_or(|b| run.unwrap().1 > b.1) {
                        best = run;
                    }
                } else {
                    run = None;
                }
            }
            if let Some((top, rows)) = best {
                match found.last_mut() {
                    Some(last) if last.1 + 1 == x && last.2 == top && last.3 == rows => last.1 = x,
                    _ => found.push((x, x, top, rows)),
                }
            }
        }
        found
    }

    /// The bars standing on the plot's baseline (the legend swatch does not).
    fn plot_bars(img: &RgbImage, color: Rgb<u8>) -> Vec<(u32, u32, u32, u32)> {
        let all = bars(img, color);
        let baseline = all.iter().map(|b| b.2 + b.3).max().unwrap();
        all.into_iter().filter(|b| b.2 + b.3 == baseline).collect()
    }

    fn three_by_two() -> BarChart {
        BarChart {
            title: "t".into(),
            y_label: "error (%)".into(),
            categories: vec!["a".into(), "b".into(), "c".into()],
            series: vec![
                ("s0".into(), vec![10.0, 20.0, 40.0]),
                ("s1".into(), vec![40.0, 10.0, 20.0]),
            ],
        }
    }

    #[test]
    fn bars_have_proportional_heights_and_series_colours() {
        let img = render_bar_chart(&three_by_two());
        let s0 = plot_bars(&img, series_color(0));
        let s1 = plot_bars(&img, series_color(1));
        assert_eq!((s0.len(), s1.len()), (3, 3), "{s0:?} {s1:?}");
        let h0: Vec<f64> = s0.iter().map(|b| f64::from(b.3)).collect();
        let h1: Vec<f64> = s1.iter().map(|b| f64::from(b.3)).collect();
        let unit = h0[0];
        assert!(unit > 50.0, "bars too short to measure: {h0:?}");
        for (h, v) in h0
            .iter()
            .zip([1.0, 2.0, 4.0])
            .chain(h1.iter().zip([4.0, 1.0, 2.0]))
        {
            assert!((h - v * unit).abs() <= 1.0, "{h0:?} {h1:?}");
        }
        // Same baseline, and within every group series 0 stands left of series 1.
        assert_eq!(s0[0].2 + s0[0].3, s1[0].2 + s1[0].3);
        for g in 0..3 {
            assert!(
                s0[g].1 < s1[g].0 && s1[g].0 - s0[g].1 <= 3,
                "group {g}: {s0:?} {s1:?}"
            );
            if g > 0 {
                assert!(
                    s0[g].0 > s1[g - 1].1 + 8,
                    "groups must be separated: {s0:?} {s1:?}"
                );
            }
        }
    }

    #[test]
    fn negative_values_hang_below_the_zero_line() {
        let chart = BarChart {
            series: vec![("s".into(), vec![-10.0, 20.0])],
            categories: vec!["neg".into(), "pos".into()],
            ..Default::default()
        };
        let img = render_bar_chart(&chart);
        let mut found: Vec<_> = bars(&img, series_color(0))
            .into_iter()
            .filter(|b| b.3 > SWATCH as u32)
            .collect();
        found.sort_by_key(|b| b.0);
        assert_eq!(found.len(), 2, "{found:?}");
        let (neg, pos) = (found[0], found[1]);
        assert!(neg.0 < pos.0, "{found:?}");
        assert!(
            neg.2 > pos.2 + pos.3,
            "the negative bar must start below the positive one's foot: {found:?}"
        );
        assert!(
            (f64::from(pos.3) - 2.0 * f64::from(neg.3)).abs() <= 1.0,
            "{found:?}"
        );
    }

    #[test]
    fn legend_shows_every_series_colour() {
        // No drawable value, so any series colour in the image comes from the legend.
        let chart = BarChart {
            categories: vec!["x".into()],
            series: (0..5).map(|i| (format!("recipe {i}"), vec![f64::NAN])).collect(),
            ..Default::default()
        };
        let img = render_bar_chart(&chart);
        for i in 0..5 {
            assert_eq!(
                count(&img, series_color(i)),
                (SWATCH * SWATCH) as usize,
                "series {i}"
            );
        }
        assert_eq!(count(&img, series_color(5)), 0);
    }

    #[test]
    fn palette_colours_are_distinct_and_not_chart_ink() {
        let mut seen: HashSet<[u8; 3]> = [BACKGROUND.0, TEXT.0, AXIS.0, GRID.0, LEADER.0].into();
        for i in 0..40 {
            assert!(seen.insert(series_color(i).0), "series {i}");
        }
    }

    fn assert_sensible(img: &RgbImage, what: &str) {
        let (w, h) = img.dimensions();
        assert!(
            (200..=6000).contains(&w) && (200..=2000).contains(&h),
            "{what}: {w}x{h}"
        );
    }

    #[test]
    fn degenerate_bar_charts_render_with_sensible_sizes() {
        let long = "elastic_transform_".repeat(500);
        let cases = vec![
            ("default", BarChart::default()),
            (
                "categories only",
                BarChart {
                    categories: vec!["a".into(), "b".into()],
                    ..Default::default()
                },
            ),
            (
                "empty series",
                BarChart {
                    series: vec![("s".into(), vec![])],
                    ..Default::default()
                },
            ),
            (
                "single",
                BarChart {
                    series: vec![("s".into(), vec![3.5])],
                    ..Default::default()
                },
            ),
            (
                "zeros",
                BarChart {
                    series: vec![("s".into(), vec![0.0; 4])],
                    ..Default::default()
                },
            ),
            (
                "non-finite",
                BarChart {
                    series: vec![("s".into(), vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.0])],
                    ..Default::default()
                },
            ),
            (
                "negative only",
                BarChart {
                    series: vec![("s".into(), vec![-1.0, -30.0])],
                    ..Default::default()
                },
            ),
            (
                "huge",
                BarChart {
                    series: vec![("s".into(), vec![f64::MAX, -f64::MAX, 1.0])],
                    ..Default::default()
                },
            ),
            (
                "long names",
                BarChart {
                    title: long.clone(),
                    y_label: long.clone(),
                    categories: vec![long.clone(); 3],
                    series: vec![(long.clone(), vec![1.0, 2.0, 3.0]), (long.clone(), vec![3.0])],
                },
            ),
        ];
        for (what, chart) in cases {
            assert_sensible(&render_bar_chart(&chart), what);
        }
        // All zeros: nothing to draw but the legend swatch.
        let zeros = BarChart {
            series: vec![("s".into(), vec![0.0; 4])],
            ..Default::default()
        };
        assert_eq!(
            count(&render_bar_chart(&zeros), series_color(0)),
            (SWATCH * SWATCH) as usize
        );
    }

    #[test]
    fn width_grows_with_the_number_of_categories() {
        let chart = |n: usize| BarChart {
            categories: (0..n).map(|i| format!("corruption_{i}")).collect(),
            series: (0..4).map(|s| (format!("r{s}"), vec![1.0; n])).collect(),
            ..Default::default()
        };
        let (five, nineteen) = (render_bar_chart(&chart(5)), render_bar_chart(&chart(19)));
        assert!(
            nineteen.width() > five.width() + 14 * 4 * 6,
            "{} vs {}",
            nineteen.width(),
            five.width()
        );
    }

    fn scatter(points: Vec<(&str, f64, f64)>) -> ScatterChart {
        ScatterChart {
            title: "clean vs corrupted".into(),
            x_label: "clean error (%)".into(),
            y_label: "mean corruption error (%)".into(),
            points: points
                .into_iter()
                .map(|(n, x, y)| (n.to_string(), x, y))
                .collect(),
        }
    }

    #[test]
    fn scatter_puts_larger_values_right_and_up() {
        let img = render_scatter(&scatter(vec![("small", 1.0, 5.0), ("large", 3.0, 9.0)]));
        let (small, large) = (centroid(&img, series_color(0)), centroid(&img, series_color(1)));
        assert!(large.0 > small.0 + 100.0, "{small:?} {large:?}");
        assert!(large.1 < small.1 - 100.0, "{small:?} {large:?}");
    }

    #[test]
    fn scatter_labels_sit_next_to_their_markers_without_covering_any() {
        let points = vec![
            ("baseline", 5.0, 26.0),
            ("augmix", 5.2, 25.5),
            ("advbn", 5.4, 26.2),
            ("augmix+advbn", 5.1, 25.0),
            ("stylized", 5.3, 24.8),
            ("far away", 9.0, 12.0),
        ];
        let n = points.len();
        let img = render_scatter(&scatter(points));
        let centres: Vec<(f64, f64)> = (0..n).map(|i| centroid(&img, series_color(i))).collect();
        let clear = (MARKER_RADIUS + 2) as f64;
        for (x, y, p) in img.enumerate_pixels() {
            if *p == TEXT {
                for (i, c) in centres.iter().enumerate() {
                    let d = ((f64::from(x) - c.0).powi(2) + (f64::from(y) - c.1).powi(2)).sqrt();
                    assert!(d > clear, "text pixel ({x}, {y}) on marker {i} at {c:?}");
                }
            }
        }
        // The isolated point's label is right beside it.
        let far = centres[n - 1];
        let nearest = img
            .enumerate_pixels()
            .filter(|(_, _, p)| **p == TEXT)
            .map(|(x, y, _)| ((f64::from(x) - far.0).powi(2) + (f64::from(y) - far.1).powi(2)).sqrt())
            .fold(f64::INFINITY, f64::min);
        assert!(
            nearest < 3.0 * clear,
            "nearest text {nearest} px from the isolated marker"
        );
    }

    #[test]
    fn degenerate_scatters_render_with_sensible_sizes() {
        let long = "x".repeat(10_000);
        let cases = vec![
            ("empty", scatter(vec![])),
            ("single", scatter(vec![("one", 3.0, 4.0)])),
            ("zero", scatter(vec![("zero", 0.0, 0.0)])),
            ("same", scatter(vec![("a", 2.0, 2.0), ("b", 2.0, 2.0)])),
            (
                "non-finite",
                scatter(vec![
                    ("nan", f64::NAN, 1.0),
                    ("inf", 1.0, f64::INFINITY),
                    ("ok", 1.0, 1.0),
                ]),
            ),
            ("negative", scatter(vec![("a", -5.0, -1.0), ("b", -1.0, -7.0)])),
            (
                "huge",
                scatter(vec![("a", f64::MAX, -f64::MAX), ("b", -1e300, 1e300)]),
            ),
            (
                "long",
                ScatterChart {
                    title: long.clone(),
                    x_label: long.clone(),
                    y_label: long.clone(),
                    points: vec![(long.clone(), 1.0, 2.0)],
                },
            ),
            (
                "many",
                scatter(
                    (0..300)
                        .map(|i| ("p", f64::from(i % 17), f64::from(i % 13)))
                        .collect(),
                ),
            ),
        ];
        for (what, chart) in cases {
            assert_sensible(&render_scatter(&chart), what);
        }
        // A skipped point keeps its colour slot: the third point is drawn in the third colour.
        let img = render_scatter(&scatter(vec![
            ("nan", f64::NAN, 1.0),
            ("inf", 1.0, f64::INFINITY),
            ("ok", 1.0, 1.0),
        ]));
        assert_eq!(
            (count(&img, series_color(0)), count(&img, series_color(1))),
            (0, 0)
        );
        assert!(count(&img, series_color(2)) > 0);
    }
}

//! Drawing primitives: filled rectangles, outlines, lines and a 3×5 pixel font.

use image::{Rgb, RgbImage};

use crate::FRAME;

pub(crate) fn fill(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, c: [u8; 3]) {
    for yy in y.max(0)..(y + h).min(img.height() as i64) {
        for xx in x.max(0)..(x + w).min(img.width() as i64) {
            img.put_pixel(xx as u32, yy as u32, Rgb(c));
        }
    }
}

pub(crate) fn frame(img: &mut RgbImage) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    rect_outline(img, 0, 0, w, h);
}

pub(crate) fn rect_outline(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64) {
    fill(img, x, y, w, 1, FRAME.0);
    fill(img, x, y + h - 1, w, 1, FRAME.0);
    fill(img, x, y, 1, h, FRAME.0);
    fill(img, x + w - 1, y, 1, h, FRAME.0);
}

/// The part of the segment `a`–`b` inside the box `(x0, y0, x1, y1)`, if any (Liang–Barsky); `None` for
/// non-finite ends.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, y0, x1, y1): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
        return None;
    }
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// A 2-pixel-wide line from `a` to `b`, clipped to `clip` = (x0, y0, x1, y1). Only the part inside
/// `clip` is walked, so a point far off the picture (a loss spike) costs no more than one across it.
pub(crate) fn line(
    img: &mut RgbImage,
    a: (f64, f64),
    b: (f64, f64),
    c: [u8; 3],
    clip: (i64, i64, i64, i64),
) {
    let bounds = (
        clip.0 as f64 - 1.0,
        clip.1 as f64 - 1.0,
        clip.2 as f64,
        clip.3 as f64,
    );
    let Some((a, b)) = clip_segment(a, b, bounds) else {
        return;
    };
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (
            (a.0 + (b.0 - a.0) * t).round() as i64,
            (a.1 + (b.1 - a.1) * t).round() as i64,
        );
        if x >= clip.0 && x < clip.2 - 1 && y >= clip.1 && y < clip.3 - 1 {
            fill(img, x, y, 2, 2, c);
        }
    }
}

/// Numbers as short strings: 4 significant digits, plain notation.
pub(crate) fn format_num(v: f64) -> String {
    if v.abs() >= 1000.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// 3×5 glyphs, rows top to bottom, 3 bits each (MSB left), drawn 2× (6×10 pixels). Letters
/// are drawn as capitals.
fn glyph(ch: char) -> Option<[u8; 5]> {
    Some(match ch.to_ascii_uppercase() {
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '/' => [1, 1, 2, 4, 4],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        ':' => [0, 2, 0, 2, 0],
        '=' => [0, 7, 0, 7, 0],
        ',' => [0, 0, 0, 2, 4],
        '+' => [0, 2, 7, 2, 0],
        '%' => [5, 1, 2, 4, 5],
        ' ' => [0, 0, 0, 0, 0],
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        _ => return None,
    })
}

pub(crate) fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, c: [u8; 3]) {
    for (i, ch) in s.chars().enumerate() {
        let Some(rows) = glyph(ch) else { continue };
        let ox = x + 8 * i as i64;
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    fill(img, ox + 2 * col, y + 2 * r as i64, 2, 2, c);
                }
            }
        }
    }
}

/// Width in pixels of `s` drawn by [`text`].
pub(crate) fn text_width(s: &str) -> i64 {
    8 * s.chars().count() as i64
}

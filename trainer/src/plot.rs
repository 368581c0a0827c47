//! Pictures drawn with the `image` crate: sample grids, 2-D scatter plots, loss curves.
//!
//! Deliberately small: filled rectangles, lines and a 3×5 pixel font (digits, capitals and a
//! few signs), enough for a curve's range, axis labels and a legend without a plotting
//! dependency.

use std::path::Path;

use candle_core::{DType, Tensor};
use image::{ImageFormat, Rgb, RgbImage};

use crate::{Result, TrainError};

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const FRAME: Rgb<u8> = Rgb([90, 90, 90]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
/// Colours for series and scatter panels, in order.
pub const PALETTE: [[u8; 3]; 4] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]];

/// Tiles images `x` `[N, C, H, W]` (pixel units; C = 1 or 3) into a grid of `cols` columns, each
/// pixel `floor(clamp(x, 0, 255))` and enlarged `scale` times, 2-pixel dark gaps between tiles.
pub fn image_grid(x: &Tensor, cols: usize, scale: u32) -> Result<RgbImage> {
    let (n, c, h, w) = x.dims4()?;
    if c != 1 && c != 3 {
        return Err(TrainError::Invalid(format!(
            "cannot draw {c}-channel images"
        )));
    }
    let v = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let (gap, s) = (2u32, scale.max(1));
    let (tw, th) = (w as u32 * s, h as u32 * s);
    let mut img = RgbImage::from_pixel(
        cols as u32 * (tw + gap) + gap,
        rows as u32 * (th + gap) + gap,
        Rgb([40, 40, 40]),
    );
    let px = |f: f32| f.clamp(0.0, 255.0).floor() as u8; // NaN clamps to NaN: as u8 gives 0
    for k in 0..n {
        let (ox, oy) = (
            gap + (k % cols) as u32 * (tw + gap),
            gap + (k / cols) as u32 * (th + gap),
        );
        for yy in 0..h {
            for xx in 0..w {
                let at = |ch: usize| v[((k * c + ch) * h + yy) * w + xx];
                let rgb = if c == 1 {
                    let g = px(at(0));
                    [g, g, g]
                } else {
                    [px(at(0)), px(at(1)), px(at(2))]
                };
                for dy in 0..s {
                    for dx in 0..s {
                        img.put_pixel(ox + xx as u32 * s + dx, oy + yy as u32 * s + dy, Rgb(rgb));
                    }
                }
            }
        }
    }
    Ok(img)
}

/// Places images side by side, top-aligned, with a white gap of `gap` pixels.
pub fn hstack(images: &[RgbImage], gap: u32) -> RgbImage {
    let w =
        images.iter().map(|i| i.width()).sum::<u32>() + gap * images.len().saturating_sub(1) as u32;
    let h = images.iter().map(|i| i.height()).max().unwrap_or(1);
    let mut out = RgbImage::from_pixel(w.max(1), h, BACKGROUND);
    let mut x = 0;
    for i in images {
        image::imageops::overlay(&mut out, i, x as i64, 0);
        x += i.width() + gap;
    }
    out
}

/// One `size × size` scatter panel per point set, side by side, all on the axis range of the
/// first set (its 0.5–99.5 % quantiles, padded), so data and samples are directly comparable.
/// Points are `[x, y]` pairs; each set gets the matching [`PALETTE`] colour.
pub fn scatter_panels(sets: &[&[[f32; 2]]], size: u32) -> RgbImage {
    let bounds = |i: usize| {
        let mut v: Vec<f32> = sets
            .first()
            .map(|s| s.iter().map(|p| p[i]).filter(|x| x.is_finite()).collect())
            .unwrap_or_default();
        v.sort_by(f32::total_cmp);
        if v.is_empty() {
            return (-1.0, 1.0);
        }
        let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize];
        let (lo, hi) = (q(0.005), q(0.995));
        let pad = ((hi - lo) * 0.15).max(1e-3);
        (lo - pad, hi + pad)
    };
    let ((x0, x1), (y0, y1)) = (bounds(0), bounds(1));
    let panels: Vec<RgbImage> = sets
        .iter()
        .enumerate()
        .map(|(k, pts)| {
            let mut img = RgbImage::from_pixel(size, size, BACKGROUND);
            let colour = PALETTE[k % PALETTE.len()];
            for p in pts.iter() {
                let fx = (p[0] - x0) / (x1 - x0) * (size - 1) as f32;
                let fy = (1.0 - (p[1] - y0) / (y1 - y0)) * (size - 1) as f32;
                if !(fx.is_finite() && fy.is_finite()) {
                    continue;
                }
                fill(&mut img, fx as i64 - 1, fy as i64 - 1, 3, 3, colour);
            }
            frame(&mut img);
            img
        })
        .collect();
    hstack(&panels, 8)
}

/// What the axes of a [`line_plot`] measure, with units, e.g. `"step"`, `"bits/dim"`.
#[derive(Debug, Clone, Copy)]
pub struct Axes<'a> {
    /// Written under the x axis.
    pub x: &'a str,
    /// Written above the y axis.
    pub y: &'a str,
}

/// A named series of `(x, y)` points for [`line_plot`].
pub struct Series<'a> {
    /// The points, in x order; non-finite ones are skipped.
    pub points: &'a [(f64, f64)],
    /// RGB colour.
    pub colour: [u8; 3],
    /// Its name in the legend.
    pub label: &'a str,
}

/// Line plot of `series` on shared axes, `width × height` pixels. The y range runs from the
/// smallest value to the 98th percentile (so a large loss at step 0 does not flatten the rest);
/// the y range's ends and the x range's are written in small digits, the axes' names next to
/// them, and a legend of the series in the top right corner.
pub fn line_plot(series: &[Series], axes: Axes, width: u32, height: u32) -> RgbImage {
    let (left, right, top, bottom) = (54i64, 12i64, 24i64, 40i64);
    let mut img = RgbImage::from_pixel(width, height, BACKGROUND);
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (pw, ph) = (width as i64 - left - right, height as i64 - top - bottom);
    if all.is_empty() || pw < 10 || ph < 10 {
        return img;
    }
    let mut ys: Vec<f64> = all.iter().map(|p| p.1).collect();
    ys.sort_by(f64::total_cmp);
    let (mut y0, mut y1) = (ys[0], ys[((ys.len() - 1) as f64 * 0.98) as usize]);
    if y1 - y0 < 1e-9 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let pad = (y1 - y0) * 0.05;
    (y0, y1) = (y0 - pad, y1 + pad);
    let x0 = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let mut x1 = all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let to_px = |(x, y): (f64, f64)| {
        let px = left as f64 + (x - x0) / (x1 - x0) * (pw - 1) as f64;
        let py = top as f64 + (1.0 - (y - y0) / (y1 - y0)) * (ph - 1) as f64;
        (px, py)
    };
    for i in 0..=4 {
        let y = top + (ph - 1) * i / 4;
        fill(&mut img, left, y, pw, 1, GRID.0);
    }
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(to_px)
            .collect();
        for w in pts.windows(2) {
            line(
                &mut img,
                w[0],
                w[1],
                s.colour,
                (left, top, left + pw, top + ph),
            );
        }
        if pts.len() == 1 {
            fill(
                &mut img,
                pts[0].0 as i64 - 1,
                pts[0].1 as i64 - 1,
                3,
                3,
                s.colour,
            );
        }
    }
    rect_outline(&mut img, left - 1, top - 1, pw + 2, ph + 2);
    text(&mut img, 2, top, &format_num(y1), FRAME.0);
    text(&mut img, 2, top + ph - 10, &format_num(y0), FRAME.0);
    let xl = format_num(x1);
    text(
        &mut img,
        left + pw - 8 * xl.len() as i64,
        top + ph + 6,
        &xl,
        FRAME.0,
    );
    text(&mut img, left, top + ph + 6, &format_num(x0), FRAME.0);
    let xw = text_width(axes.x);
    text(
        &mut img,
        left + (pw - xw) / 2,
        top + ph + 24,
        axes.x,
        FRAME.0,
    );
    text(&mut img, 2, 6, axes.y, FRAME.0);
    legend(&mut img, series, left + pw - 6, top + 6);
    img
}

/// Swatches and labels of `series`, one per line, right-aligned at `right`.
fn legend(img: &mut RgbImage, series: &[Series], right: i64, top: i64) {
    let widest = series
        .iter()
        .map(|s| text_width(s.label))
        .max()
        .unwrap_or(0);
    let x = right - widest - 22;
    fill(
        img,
        x - 6,
        top - 4,
        widest + 34,
        16 * series.len() as i64 + 4,
        BACKGROUND.0,
    );
    for (i, s) in series.iter().enumerate() {
        let y = top + 16 * i as i64;
        fill(img, x, y + 4, 14, 3, s.colour);
        text(img, x + 20, y, s.label, FRAME.0);
    }
}

/// Width in pixels of `s` drawn by [`text`].
fn text_width(s: &str) -> i64 {
    8 * s.chars().count() as i64
}

/// Writes `img` as PNG atomically (temporary file, then rename).
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    }
    realnvp_bundle::files::write_atomic_with(path, |tmp| {
        img.save_with_format(tmp, ImageFormat::Png)
            .map_err(|source| TrainError::Image {
                path: path.into(),
                source,
            })
    })
}

fn fill(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, c: [u8; 3]) {
    for yy in y.max(0)..(y + h).min(img.height() as i64) {
        for xx in x.max(0)..(x + w).min(img.width() as i64) {
            img.put_pixel(xx as u32, yy as u32, Rgb(c));
        }
    }
}

fn frame(img: &mut RgbImage) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    rect_outline(img, 0, 0, w, h);
}

fn rect_outline(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64) {
    fill(img, x, y, w, 1, FRAME.0);
    fill(img, x, y + h - 1, w, 1, FRAME.0);
    fill(img, x, y, 1, h, FRAME.0);
    fill(img, x + w - 1, y, 1, h, FRAME.0);
}

/// A 2-pixel-wide line from `a` to `b`, clipped to `clip` = (x0, y0, x1, y1).
fn line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), c: [u8; 3], clip: (i64, i64, i64, i64)) {
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
fn format_num(v: f64) -> String {
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

fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, c: [u8; 3]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn grid_floors_and_clamps_pixels() -> Result<()> {
        let x = Tensor::new(
            &[
                [[[-3.0f32, 0.9], [254.99, 300.0]]],
                [[[7.5, 8.0], [9.0, 10.0]]],
            ],
            &Device::Cpu,
        )?;
        let img = image_grid(&x, 2, 1)?;
        assert_eq!((img.width(), img.height()), (2 * 4 + 2, 6));
        assert_eq!(img.get_pixel(2, 2).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(3, 2).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(2, 3).0, [254, 254, 254]);
        assert_eq!(img.get_pixel(3, 3).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(6, 2).0, [7, 7, 7]);
        Ok(())
    }

    #[test]
    fn plots_draw_something_in_the_series_colour() {
        let pts: Vec<(f64, f64)> = (0..50)
            .map(|i| (i as f64, 1.0 / (1.0 + i as f64)))
            .collect();
        let axes = Axes {
            x: "step",
            y: "bits/dim",
        };
        let plain = line_plot(
            &[Series {
                points: &pts,
                colour: PALETTE[0],
                label: "",
            }],
            axes,
            300,
            200,
        );
        assert!(plain.pixels().filter(|p| p.0 == PALETTE[0]).count() > 100);
        // The legend draws a swatch in the series' colour and its label in the frame colour.
        let labelled = line_plot(
            &[Series {
                points: &pts,
                colour: PALETTE[0],
                label: "train (random u)",
            }],
            axes,
            300,
            200,
        );
        let ink = |img: &RgbImage| img.pixels().filter(|p| p.0 == FRAME.0).count();
        assert!(ink(&labelled) > ink(&plain) + 100);
        let no_names = line_plot(
            &[Series {
                points: &pts,
                colour: PALETTE[0],
                label: "",
            }],
            Axes { x: "", y: "" },
            300,
            200,
        );
        assert!(ink(&plain) > ink(&no_names) + 50, "axis names not drawn");
        let a = [[0.0f32, 0.0], [1.0, 1.0], [0.5, 0.2]];
        let s = scatter_panels(&[&a, &a], 100);
        assert_eq!(s.width(), 208);
        assert!(s.pixels().any(|p| p.0 == PALETTE[1]));
    }
}

//! Line plots with labelled axes and a legend (training curves).

use image::RgbImage;

use crate::draw::{fill, format_num, line, rect_outline, text, text_width};
use crate::{BACKGROUND, FRAME, GRID};

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

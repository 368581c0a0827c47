//! Scatter plots of 2-D points (vector models' data and samples).

use image::{Rgb, RgbImage};

use crate::draw::{fill, frame};
use crate::{BACKGROUND, PALETTE, hstack};

/// Grey of the axes through 0.
const AXIS: Rgb<u8> = Rgb([200, 200, 200]);

/// The axis range of a 2-D panel: `((x0, x1), (y0, y1))`.
pub type PanelRange = ((f32, f32), (f32, f32));

/// The range [`scatter_panels`] draws `points` on: per axis the 0.5–99.5 % quantiles of the finite
/// values, padded by 15 % (`±1` when there are none).
pub fn panel_range(points: &[[f32; 2]]) -> PanelRange {
    let bounds = |i: usize| {
        let mut v: Vec<f32> = points
            .iter()
            .map(|p| p[i])
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f32::total_cmp);
        if v.is_empty() {
            return (-1.0, 1.0);
        }
        let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize];
        let (lo, hi) = (q(0.005), q(0.995));
        let pad = ((hi - lo) * 0.15).max(1e-3);
        (lo - pad, hi + pad)
    };
    (bounds(0), bounds(1))
}

/// The centres of a `size × size` panel's pixels over `range`, row by row from the top: where a
/// [`heat_map`] of the same size takes its values.
pub fn panel_grid(range: PanelRange, size: u32) -> Vec<[f32; 2]> {
    let ((x0, x1), (y0, y1)) = range;
    let at = |lo: f32, hi: f32, i: u32| lo + (hi - lo) * (i as f32 + 0.5) / size as f32;
    (0..size)
        .flat_map(|row| {
            let y = at(y1, y0, row);
            (0..size).map(move |col| [at(x0, x1, col), y])
        })
        .collect()
}

/// A `size × size` picture of `values` (one per pixel, row by row from the top, as [`panel_grid`]
/// lays them out), each shown as `exp(v - max)`: a log-density becomes the density relative to its peak,
/// from dark blue (0) through green to yellow (the peak). Non-finite values are drawn as 0.
pub fn heat_map(values: &[f32], size: u32) -> RgbImage {
    let peak = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    const STOPS: [[f32; 3]; 4] = [
        [68.0, 1.0, 84.0],
        [49.0, 104.0, 142.0],
        [53.0, 183.0, 121.0],
        [253.0, 231.0, 37.0],
    ];
    let colour = |v: f32| {
        let t = if v.is_finite() && peak.is_finite() {
            (v - peak).exp().clamp(0.0, 1.0)
        } else {
            0.0
        };
        let f = t * (STOPS.len() - 1) as f32;
        let i = (f.floor() as usize).min(STOPS.len() - 2);
        let w = f - i as f32;
        let mix = |c: usize| (STOPS[i][c] * (1.0 - w) + STOPS[i + 1][c] * w).round() as u8;
        Rgb([mix(0), mix(1), mix(2)])
    };
    let mut img = RgbImage::new(size, size);
    for (i, p) in img.pixels_mut().enumerate() {
        *p = colour(values.get(i).copied().unwrap_or(f32::NAN));
    }
    frame(&mut img);
    img
}

/// One `size × size` scatter panel per point set, side by side, all on the axis range of the
/// first set ([`panel_range`]), so data and samples are directly comparable. Points are `[x, y]`
/// pairs (non-finite ones are skipped); each set gets the matching [`PALETTE`] colour; the axes
/// through 0 are drawn in grey where they are in view.
pub fn scatter_panels(sets: &[&[[f32; 2]]], size: u32) -> RgbImage {
    let ((x0, x1), (y0, y1)) = panel_range(sets.first().copied().unwrap_or(&[]));
    let panels: Vec<RgbImage> = sets
        .iter()
        .enumerate()
        .map(|(k, pts)| {
            let mut img = RgbImage::from_pixel(size, size, BACKGROUND);
            let colour = PALETTE[k % PALETTE.len()];
            // The axes through 0, where they are in view.
            let (ox, oy) = (
                (0.0 - x0) / (x1 - x0) * (size - 1) as f32,
                (1.0 - (0.0 - y0) / (y1 - y0)) * (size - 1) as f32,
            );
            for i in 0..size {
                if (0.0..size as f32).contains(&ox) {
                    img.put_pixel(ox as u32, i, AXIS);
                }
                if (0.0..size as f32).contains(&oy) {
                    img.put_pixel(i, oy as u32, AXIS);
                }
            }
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

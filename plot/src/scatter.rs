//! Scatter plots of 2-D points (vector models' data and samples) and density maps on the same axes.

use image::{Rgb, RgbImage};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::backend::Backend;
use crate::chart::{DrawError, draw_on, font, rgb, tick_formatter};
use crate::{BACKGROUND, FRAME, PALETTE, hstack};

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

/// Colour stops of [`heat_map`], dark blue through green to yellow (viridis).
const STOPS: [[f32; 3]; 4] = [
    [68.0, 1.0, 84.0],
    [49.0, 104.0, 142.0],
    [53.0, 183.0, 121.0],
    [253.0, 231.0, 37.0],
];

/// Labelled ticks asked for on each axis of a panel.
const PANEL_TICKS: usize = 8;
/// Panels smaller than this have no room for tick labels: a frame and the points only.
const MIN_LABELLED: u32 = 160;

/// The data → pixel mapping of a panel.
type Coords = Cartesian2d<RangedCoordf64, RangedCoordf64>;

/// The colour of each of `values` as [`heat_map`] draws it: `exp(v - max)` from dark blue (0) to
/// yellow (the peak); non-finite values are drawn as 0.
fn heat_colours(values: &[f32]) -> impl Fn(usize) -> Rgb<u8> + '_ {
    let peak = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    move |i| {
        let v = values.get(i).copied().unwrap_or(f32::NAN);
        let t = if v.is_finite() && peak.is_finite() {
            (v - peak).exp().clamp(0.0, 1.0)
        } else {
            0.0
        };
        let f = t * (STOPS.len() - 1) as f32;
        let k = (f.floor() as usize).min(STOPS.len() - 2);
        let w = f - k as f32;
        let mix = |c: usize| (STOPS[k][c] * (1.0 - w) + STOPS[k + 1][c] * w).round() as u8;
        Rgb([mix(0), mix(1), mix(2)])
    }
}

/// A `size × size` picture of `values` (one per pixel, row by row from the top, as [`panel_grid`]
/// lays them out), each shown as `exp(v - max)`: a log-density becomes the density relative to its peak,
/// from dark blue (0) through green to yellow (the peak). Non-finite values are drawn as 0. No axes:
/// [`density_panel`] draws the same colours on a scatter panel's axes.
pub fn heat_map(values: &[f32], size: u32) -> RgbImage {
    let colour = heat_colours(values);
    let mut img = RgbImage::new(size, size);
    for (i, p) in img.pixels_mut().enumerate() {
        *p = colour(i);
    }
    frame(&mut img);
    img
}

/// A one-pixel frame around `img`'s edge.
fn frame(img: &mut RgbImage) {
    let (w, h) = img.dimensions();
    for (x, y) in (0..w)
        .flat_map(|x| [(x, 0), (x, h.saturating_sub(1))])
        .chain((0..h).flat_map(|y| [(0, y), (w.saturating_sub(1), y)]))
    {
        img.put_pixel(x, y, FRAME);
    }
}

/// A `size × size` panel of a density: `values` are taken at the `grid × grid` points of
/// [`panel_grid`]`(range, grid)` and each is drawn as the block of the plot around its point, in
/// [`heat_map`]'s colours, on the axes a [`scatter_panels`] panel of the same size and range has
/// (ticks and labels included), so the two line up side by side.
pub fn density_panel(values: &[f32], grid: u32, range: PanelRange, size: u32) -> RgbImage {
    let colour = heat_colours(values);
    let ((x0, x1), (y0, y1)) = range;
    let (x0, x1, y0, y1) = (x0 as f64, x1 as f64, y0 as f64, y1 as f64);
    let cells = grid as usize;
    panel(range, size, |chart| {
        let at = |lo: f64, hi: f64, k: usize| lo + (hi - lo) * k as f64 / cells as f64;
        // Rectangles fill both corners' pixels, so neighbouring cells meet without a gap.
        chart.draw_series((0..cells * cells).map(|i| {
            let (row, col) = (i / cells, i % cells);
            Rectangle::new(
                [
                    (at(x0, x1, col), at(y1, y0, row)),
                    (at(x0, x1, col + 1), at(y1, y0, row + 1)),
                ],
                rgb(colour(i).0).filled(),
            )
        }))?;
        Ok(())
    })
}

/// The first two coordinates of each row of `dim ≥ 2` values in `x`, as [`scatter_panels`]' points (none when
/// `dim < 2`; a short last row is left out).
pub fn first_two(x: &[f32], dim: usize) -> Vec<[f32; 2]> {
    if dim < 2 {
        return Vec::new();
    }
    x.chunks_exact(dim).map(|r| [r[0], r[1]]).collect()
}

/// One `size × size` scatter panel per point set, side by side, all on the axis range of the
/// first set ([`panel_range`]), so data and samples are directly comparable. Points are `[x, y]`
/// pairs (non-finite ones and ones outside the range are skipped), drawn as 3×3 dots; each set gets
/// the matching [`PALETTE`] colour; the axes through 0 are drawn in grey where they are in view.
/// Panels of at least 160 pixels have ticks with labels (DejaVu Sans) below and left of the plot.
pub fn scatter_panels(sets: &[&[[f32; 2]]], size: u32) -> RgbImage {
    let range = panel_range(sets.first().copied().unwrap_or(&[]));
    let ((x0, x1), (y0, y1)) = range;
    let (x0, x1, y0, y1) = (x0 as f64, x1 as f64, y0 as f64, y1 as f64);
    let panels: Vec<RgbImage> = sets
        .iter()
        .enumerate()
        .map(|(k, pts)| {
            let colour = rgb(PALETTE[k % PALETTE.len()]);
            panel(range, size, |chart| {
                let axis = rgb(AXIS.0);
                if (x0..=x1).contains(&0.0) {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(0.0, y0), (0.0, y1)],
                        axis,
                    )))?;
                }
                if (y0..=y1).contains(&0.0) {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x0, 0.0), (x1, 0.0)],
                        axis,
                    )))?;
                }
                chart.draw_series(
                    pts.iter()
                        .map(|p| (p[0] as f64, p[1] as f64))
                        .filter(|(x, y)| (x0..=x1).contains(x) && (y0..=y1).contains(y))
                        .map(|p| {
                            EmptyElement::at(p)
                                + Rectangle::new([(-1, -1), (2, 2)], colour.filled())
                        }),
                )?;
                Ok(())
            })
        })
        .collect();
    hstack(&panels, 8)
}

/// A white `size × size` panel over `range` with a frame, ticks and labels (when it is large
/// enough), with `plot` drawing the data on its chart before the frame goes on top.
fn panel(
    range: PanelRange,
    size: u32,
    plot: impl FnOnce(&mut ChartContext<Backend, Coords>) -> Result<(), DrawError>,
) -> RgbImage {
    let mut img = RgbImage::from_pixel(size, size, BACKGROUND);
    let drawn = draw_panel(&mut img, range, plot);
    // Only a missing font makes drawing fail, and the font is embedded and tested: keep what was drawn.
    debug_assert!(drawn.is_ok(), "panel: {:?}", drawn.err());
    img
}

fn draw_panel(
    img: &mut RgbImage,
    ((x0, x1), (y0, y1)): PanelRange,
    plot: impl FnOnce(&mut ChartContext<Backend, Coords>) -> Result<(), DrawError>,
) -> Result<Coords, DrawError> {
    let labelled = img.width() >= MIN_LABELLED;
    let (x0, x1, y0, y1) = (x0 as f64, x1 as f64, y0 as f64, y1 as f64);
    draw_on(img, |root| {
        let mut builder = ChartBuilder::on(root);
        if labelled {
            builder
                .margin_top(8)
                .margin_right(14)
                .x_label_area_size(26)
                .y_label_area_size(44);
        } else {
            builder.margin(1);
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        if labelled {
            let (fx, fy) = (
                tick_formatter(x0, x1, PANEL_TICKS),
                tick_formatter(y0, y1, PANEL_TICKS),
            );
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(PANEL_TICKS)
                .y_labels(PANEL_TICKS)
                .x_label_formatter(&fx)
                .y_label_formatter(&fy)
                .axis_style(rgb(FRAME.0))
                .label_style(font(12, FRAME.0))
                .draw()?;
        }
        plot(&mut chart)?;
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        root.draw(&Rectangle::new(
            [(xs.start - 1, ys.start - 1), (xs.end, ys.end)],
            rgb(FRAME.0),
        ))?;
        Ok(chart.as_coord_spec().clone())
    })
}

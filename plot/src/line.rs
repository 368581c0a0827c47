//! Line plots with ticked axes, axis names and a legend (training curves).

use image::RgbImage;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::chart::{DrawError, draw_on, font, rgb, tick_formatter};
use crate::{BACKGROUND, FRAME, GRID};

/// What the axes of a [`line_plot`] measure, with units, e.g. `"step"`, `"bits/dim"`.
#[derive(Debug, Clone, Copy)]
pub struct Axes<'a> {
    /// Written under the x axis.
    pub x: &'a str,
    /// Written along the y axis.
    pub y: &'a str,
}

/// A named series of `(x, y)` points for [`line_plot`].
pub struct Series<'a> {
    /// The points, in x order; non-finite ones are skipped.
    pub points: &'a [(f64, f64)],
    /// RGB colour.
    pub colour: [u8; 3],
    /// Its name in the legend (none for an empty name).
    pub label: &'a str,
}

/// Labelled ticks asked for on the x and the y axis (plotters picks round values, at most these).
const X_TICKS: usize = 8;
const Y_TICKS: usize = 7;
/// Below this size there is no room for tick labels: only the frame and the lines are drawn.
const MIN_LABELLED: (u32, u32) = (200, 120);

/// The data → pixel mapping of a drawn plot.
type Coords = Cartesian2d<RangedCoordf64, RangedCoordf64>;

/// Line plot of `series` on shared axes, `width × height` pixels, in DejaVu Sans: round-valued
/// ticks with labels along both axes and light grid lines at them, the axes' names beside them,
/// and a legend of the labelled series in the top right corner. The y range runs from the
/// smallest value to the 98th percentile (so a large loss at step 0 does not flatten the rest);
/// lines leaving it are cut at its edge. With no finite point the picture is blank (white).
pub fn line_plot(series: &[Series], axes: Axes, width: u32, height: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(width, height, BACKGROUND);
    if let Some(range) = data_range(series) {
        let drawn = draw_line_plot(&mut img, series, axes, range);
        // Drawing into a bitmap only fails without the font, which is embedded and tested; a
        // failure keeps what was drawn rather than losing a training run's curve over a label.
        debug_assert!(drawn.is_ok(), "line_plot: {:?}", drawn.err());
    }
    img
}

/// `((x0, x1), (y0, y1))` that [`line_plot`] shows, `None` without a finite point.
fn data_range(series: &[Series]) -> Option<((f64, f64), (f64, f64))> {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| finite(s.points)).collect();
    if all.is_empty() {
        return None;
    }
    let mut ys: Vec<f64> = all.iter().map(|p| p.1).collect();
    ys.sort_by(f64::total_cmp);
    let (mut y0, mut y1) = (ys[0], ys[((ys.len() - 1) as f64 * 0.98) as usize]);
    if y1 - y0 < 1e-9 * y0.abs().max(1.0) {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let pad = (y1 - y0) * 0.05;
    let x0 = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let mut x1 = all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    if x1 - x0 < 1e-9 * x0.abs().max(1.0) {
        x1 = x0 + 1.0;
    }
    Some(((x0, x1), (y0 - pad, y1 + pad)))
}

fn finite(points: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
    points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
}

/// Draws the plot into `img`, giving the data → pixel mapping it used (for the tests).
fn draw_line_plot(
    img: &mut RgbImage,
    series: &[Series],
    axes: Axes,
    ((x0, x1), (y0, y1)): ((f64, f64), (f64, f64)),
) -> Result<Coords, DrawError> {
    let labelled = img.width() >= MIN_LABELLED.0 && img.height() >= MIN_LABELLED.1;
    draw_on(img, |root| {
        let mut builder = ChartBuilder::on(root);
        if labelled {
            builder
                .margin_top(12)
                .margin_right(24)
                .margin_left(6)
                .x_label_area_size(48)
                .y_label_area_size(72);
        } else {
            builder.margin(1);
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        if labelled {
            let (fx, fy) = (
                tick_formatter(x0, x1, X_TICKS),
                tick_formatter(y0, y1, Y_TICKS),
            );
            chart
                .configure_mesh()
                .x_labels(X_TICKS)
                .y_labels(Y_TICKS)
                .x_label_formatter(&fx)
                .y_label_formatter(&fy)
                .bold_line_style(rgb(GRID.0))
                .light_line_style(TRANSPARENT)
                .axis_style(rgb(FRAME.0))
                .label_style(font(16, FRAME.0))
                .axis_desc_style(font(17, FRAME.0))
                .x_desc(axes.x)
                .y_desc(axes.y)
                .draw()?;
        }
        let mut legend = false;
        for s in series {
            let style = rgb(s.colour).stroke_width(2);
            let points: Vec<(f64, f64)> = finite(s.points).collect();
            if let [only] = points[..] {
                // One point makes no line: a dot, so the series is still seen.
                chart.draw_series(std::iter::once(
                    EmptyElement::at(only) + Rectangle::new([(-2, -2), (2, 2)], style.filled()),
                ))?;
            }
            for (i, part) in visible_parts(&points, ((x0, x1), (y0, y1)))
                .into_iter()
                .enumerate()
            {
                let drawn = chart.draw_series(LineSeries::new(part, style))?;
                // One legend entry per series, on its first visible part.
                if i == 0 && !s.label.is_empty() {
                    legend = true;
                    drawn
                        .label(s.label)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                }
            }
        }
        if legend {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(rgb(BACKGROUND.0))
                .border_style(rgb(GRID.0))
                .label_font(font(16, FRAME.0))
                .draw()?;
        }
        let frame = chart.plotting_area().get_pixel_range();
        root.draw(&Rectangle::new(
            [
                (frame.0.start - 1, frame.1.start - 1),
                (frame.0.end, frame.1.end),
            ],
            rgb(FRAME.0),
        ))?;
        Ok(chart.as_coord_spec().clone())
    })
}

/// The polylines of `points` inside the box `((x0, x1), (y0, y1))`: each segment clipped to it, a
/// polyline broken where the line leaves the box. Clipping in data space keeps a point far off the
/// plot (a loss of 1e22) from turning into a line of billions of pixels, and keeps lines off the
/// tick labels.
fn visible_parts(
    points: &[(f64, f64)],
    ((x0, x1), (y0, y1)): ((f64, f64), (f64, f64)),
) -> Vec<Vec<(f64, f64)>> {
    let mut parts: Vec<Vec<(f64, f64)>> = Vec::new();
    for w in points.windows(2) {
        let Some((a, b)) = clip_segment(w[0], w[1], (x0, y0, x1, y1)) else {
            continue;
        };
        match parts.last_mut() {
            Some(part) if part.last() == Some(&a) => part.push(b),
            _ => parts.push(vec![a, b]),
        }
    }
    parts
}

/// The part of the segment `a`–`b` inside the box `(x0, y0, x1, y1)`, if any (Liang–Barsky); an end
/// inside the box is returned unchanged (bit for bit), so consecutive segments still join.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, y0, x1, y1): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
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
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    (t0 <= t1).then(|| {
        (
            if t0 == 0.0 { a } else { at(t0) },
            if t1 == 1.0 { b } else { at(t1) },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::coord::CoordTranslate;

    fn curve(points: &[(f64, f64)], colour: [u8; 3]) -> Series<'_> {
        Series {
            points,
            colour,
            label: "train",
        }
    }

    /// A point of the data lands on the pixel plotters' mapping gives it, in the series colour, and
    /// the mapping is the one the picture was drawn with.
    #[test]
    fn data_points_land_where_the_mapping_puts_them() -> Result<(), DrawError> {
        let pts: Vec<(f64, f64)> = (0..=40).map(|i| (25.0 * i as f64, 3.0)).collect();
        let mut slope: Vec<(f64, f64)> = (0..=40)
            .map(|i| (25.0 * i as f64, 2.0 + i as f64 / 40.0))
            .collect();
        slope[10].1 = f64::NAN;
        let series = [curve(&pts, [200, 0, 0]), curve(&slope, [0, 0, 200])];
        let mut img = RgbImage::from_pixel(720, 440, BACKGROUND);
        let range = data_range(&series).ok_or("no range")?;
        let coords = draw_line_plot(&mut img, &series, Axes { x: "x", y: "y" }, range)?;
        for (x, y, colour) in [
            (500.0, 3.0, [200, 0, 0]),
            (250.0, 2.25, [0, 0, 200]),
            (700.0, 2.7, [0, 0, 200]),
        ] {
            let (px, py) = coords.translate(&(x, y));
            let near = (-1..=1).any(|d| {
                img.get_pixel_checked((px + d) as u32, (py) as u32)
                    .is_some_and(|p| p.0 == colour)
            });
            assert!(near, "({x}, {y}) → ({px}, {py}) is not {colour:?}");
        }
        // The x range starts at the first x, on the frame's left edge (past the y label area).
        let (left, _) = coords.translate(&(0.0, 3.0));
        assert!((70..=80).contains(&left), "left edge at {left}");
        Ok(())
    }

    #[test]
    fn clipping_keeps_inner_ends_and_breaks_lines_leaving_the_box() {
        let pts = [(0.0, 0.5), (1.0, 0.5), (2.0, 1e22), (3.0, 0.5), (4.0, 0.25)];
        let parts = visible_parts(&pts, ((0.0, 4.0), (0.0, 1.0)));
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert_eq!(parts[0][..2], [(0.0, 0.5), (1.0, 0.5)]);
        assert_eq!(parts[1].last(), Some(&(4.0, 0.25)));
        assert!(parts.iter().flatten().all(|p| p.1 <= 1.0));
    }
}

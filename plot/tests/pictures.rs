//! What the pictures show: pixels where the data put them, in the documented colours.

use image::RgbImage;
use realnvp_bundle::DataShape;
use realnvp_plot::{
    Axes, PALETTE, PlotError, Series, density_panel, image_grid, line_plot, panel_grid,
    panel_range, scatter_panels,
};

#[test]
fn grid_pixels_are_quantized_as_the_format_says() -> Result<(), PlotError> {
    // Two grey 2×2 items: values below 0, within a bin, at the top and above 255.
    let x = [-3.0f32, 0.9, 254.99, 300.0, 7.5, 8.0, 9.0, 10.0];
    let shape = DataShape::Image {
        channels: 1,
        height: 2,
        width: 2,
    };
    let img = image_grid(&x, 2, shape, Some(2), 1)?.to_luma8();
    assert_eq!(img.dimensions(), (2 * 3 + 1, 3 + 1));
    let px = |x, y| img.get_pixel(x, y).0[0];
    assert_eq!([px(1, 1), px(2, 1), px(1, 2), px(2, 2)], [0, 0, 254, 255]);
    assert_eq!(px(4, 1), 7, "second item");
    assert!(matches!(
        image_grid(&x, 3, shape, None, 1),
        Err(PlotError::Length { .. })
    ));
    let vector = DataShape::Vector { dim: 4 };
    assert!(matches!(
        image_grid(&x, 2, vector, None, 1),
        Err(PlotError::Shape(_))
    ));
    Ok(())
}

/// Grey of frames and text.
const FRAME: [u8; 3] = [90, 90, 90];

fn decay(n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| (25.0 * (i + 1) as f64, 3.0 + 1.0 / (1.0 + i as f64)))
        .collect()
}

fn curve(points: &[(f64, f64)], label: &'static str, axes: Axes) -> RgbImage {
    line_plot(
        &[Series {
            points,
            colour: PALETTE[0],
            label,
        }],
        axes,
        720,
        440,
    )
}

const NAMED: Axes = Axes {
    x: "step",
    y: "bits/dim",
};

/// Text: grey pixels darker than the grid lines (antialiased glyphs in the frame colour).
fn is_ink(p: &image::Rgb<u8>) -> bool {
    let [r, g, b] = p.0;
    r == g && g == b && r < 200
}

/// The plot's frame: `(left, top, right, bottom)` pixel columns and rows of the longest lines in
/// the frame colour (a frame side spans at least half the picture).
fn frame(img: &RgbImage) -> (u32, u32, u32, u32) {
    let (w, h) = img.dimensions();
    let cols: Vec<u32> = (0..w)
        .filter(|&x| (0..h).filter(|&y| img.get_pixel(x, y).0 == FRAME).count() > h as usize / 2)
        .collect();
    let rows: Vec<u32> = (0..h)
        .filter(|&y| (0..w).filter(|&x| img.get_pixel(x, y).0 == FRAME).count() > w as usize / 2)
        .collect();
    assert!(!cols.is_empty() && !rows.is_empty(), "no frame");
    (
        cols[0],
        rows[0],
        *cols.last().unwrap(),
        *rows.last().unwrap(),
    )
}

/// Runs of positions (gaps of more than 6 pixels between runs) where `has_ink` holds: separate
/// labels along an axis.
fn runs(positions: impl Iterator<Item = u32>, has_ink: impl Fn(u32) -> bool) -> usize {
    let (mut count, mut last) = (0, None::<u32>);
    for p in positions.filter(|&p| has_ink(p)) {
        if last.is_none_or(|l| p > l + 6) {
            count += 1;
        }
        last = Some(p);
    }
    count
}

/// The labels of the x ticks (in the band under the frame) and of the y ticks (in the band left of it).
fn tick_labels(img: &RgbImage) -> (usize, usize) {
    let (left, top, right, bottom) = frame(img);
    let x_band = bottom + 4..(bottom + 24).min(img.height());
    let x = runs(
        left.saturating_sub(20)..(right + 20).min(img.width()),
        |c| x_band.clone().any(|r| is_ink(img.get_pixel(c, r))),
    );
    let y_band = left.saturating_sub(40)..left.saturating_sub(3);
    let y = runs(top.saturating_sub(8)..bottom + 8, |r| {
        y_band.clone().any(|c| is_ink(img.get_pixel(c, r)))
    });
    (x, y)
}

/// Issue 28: a curve had one label at each end of each axis. Now several ticks are labelled along
/// both axes of a training curve, a scatter panel and a density panel.
#[test]
fn curves_and_panels_have_labelled_ticks_on_both_axes() {
    let pts = decay(640);
    let (x, y) = tick_labels(&curve(&pts, "train", NAMED));
    assert!(x >= 5 && y >= 4, "{x} x tick labels, {y} y tick labels");
    let circle: Vec<[f32; 2]> = (0..200)
        .map(|i| {
            let t = i as f32 * std::f32::consts::TAU / 200.0;
            [3.0 * t.cos(), t.sin()]
        })
        .collect();
    let scatter = scatter_panels(&[&circle], 400);
    assert_eq!(scatter.dimensions(), (400, 400));
    let (x, y) = tick_labels(&scatter);
    assert!(
        x >= 4 && y >= 4,
        "scatter: {x} x tick labels, {y} y tick labels"
    );
    let range = panel_range(&circle);
    let density = density_panel(&vec![0.0; 400], 20, range, 400);
    assert_eq!(tick_labels(&density), tick_labels(&scatter), "same axes");
}

#[test]
fn plots_draw_the_series_legend_and_axis_names() {
    let pts = decay(50);
    let plain = curve(&pts, "", NAMED);
    assert!(plain.pixels().filter(|p| p.0 == PALETTE[0]).count() > 100);
    // Ink in a box of the top right corner, where the legend goes.
    let (_, top, right, _) = frame(&plain);
    let legend_ink = |img: &RgbImage| {
        (right - 260..right)
            .flat_map(|x| (top..top + 60).map(move |y| (x, y)))
            .filter(|&(x, y)| is_ink(img.get_pixel(x, y)))
            .count()
    };
    let labelled = curve(&pts, "train (random u)", NAMED);
    assert!(
        legend_ink(&labelled) > legend_ink(&plain) + 100,
        "legend: {} ink pixels, {} without a label",
        legend_ink(&labelled),
        legend_ink(&plain)
    );
    // Axis names: ink under the x tick labels and left of the y tick labels.
    let names_ink = |img: &RgbImage| {
        let (left, _, _, bottom) = frame(img);
        img.enumerate_pixels()
            .filter(|(x, y, p)| (*y > bottom + 26 || *x + 45 < left) && is_ink(p))
            .count()
    };
    let unnamed = curve(&pts, "", Axes { x: "", y: "" });
    assert!(
        names_ink(&plain) > names_ink(&unnamed) + 100,
        "axis names: {} ink pixels, {} without names",
        names_ink(&plain),
        names_ink(&unnamed)
    );
    let a = [[0.0f32, 0.0], [1.0, 1.0], [0.5, 0.2]];
    let s = scatter_panels(&[&a, &a], 100);
    assert_eq!(s.width(), 208);
    assert!(s.pixels().any(|p| p.0 == PALETTE[1]));
}

/// Non-finite values are skipped, never drawn or panicked on; with nothing finite (or nothing at
/// all) the picture is blank, at the size asked for; pictures too small for labels still draw.
#[test]
fn nan_empty_and_tiny_plots_are_valid_pictures() {
    let mut pts = decay(100);
    pts[10].1 = f64::NAN;
    pts[20] = (f64::INFINITY, 3.0);
    pts[30].1 = f64::NEG_INFINITY;
    let img = curve(&pts, "train", NAMED);
    assert!(img.pixels().filter(|p| p.0 == PALETTE[0]).count() > 100);
    let white = |img: &RgbImage| img.pixels().all(|p| p.0 == [255, 255, 255]);
    let nan = [(1.0, f64::NAN), (f64::NAN, 2.0)];
    for blank in [
        curve(&nan, "train", NAMED),
        curve(&[], "train", NAMED),
        line_plot(&[], NAMED, 720, 440),
    ] {
        assert_eq!(blank.dimensions(), (720, 440));
        assert!(white(&blank));
    }
    let one = [(5.0, 1.0)];
    assert!(
        curve(&one, "a", NAMED).pixels().any(|p| p.0 == PALETTE[0]),
        "one point: a dot"
    );
    for (w, h) in [(0, 0), (1, 1), (3, 200), (60, 40), (200, 120)] {
        let img = line_plot(
            &[Series {
                points: &pts,
                colour: PALETTE[0],
                label: "train",
            }],
            NAMED,
            w,
            h,
        );
        assert_eq!(img.dimensions(), (w, h));
    }
    let odd = [[f32::NAN, 1.0], [f32::INFINITY, 0.0], [1.0, 2.0]];
    for size in [0, 1, 16, 159, 160] {
        assert_eq!(scatter_panels(&[&odd, &[]], size).height(), size);
        let values = [f32::NAN, f32::NEG_INFINITY, 0.0, 1.0];
        assert_eq!(
            density_panel(&values, 2, panel_range(&odd), size).width(),
            size
        );
    }
    assert_eq!(scatter_panels(&[], 100).dimensions(), (1, 1));
}

/// The density panel is drawn on the scatter panels' axes: a density peaked at a point is
/// brightest where a scatter panel of the same size and range draws that point.
#[test]
fn density_panel_lines_up_with_the_scatter_panels() {
    let data: Vec<[f32; 2]> = (0..400)
        .map(|i| [(i % 20) as f32 * 0.3 - 2.0, (i / 20) as f32 * 0.1 + 1.0])
        .collect();
    let p = [1.1f32, 2.3];
    let size = 400;
    let scatter = scatter_panels(&[&data, &[p]], size);
    let dot: Vec<(u32, u32)> = scatter
        .enumerate_pixels()
        .filter(|(x, _, px)| *x > size && px.0 == PALETTE[1])
        .map(|(x, y, _)| (x - size - 8, y))
        .collect();
    assert_eq!(dot.len(), 9, "one 3×3 dot");
    let (dx, dy) = dot[4];
    let range = panel_range(&data);
    let grid = 80;
    let lp: Vec<f32> = panel_grid(range, grid)
        .iter()
        .map(|g| -((g[0] - p[0]).powi(2) + (g[1] - p[1]).powi(2)) * 50.0)
        .collect();
    let density = density_panel(&lp, grid, range, size);
    // The brightest colour of the map (white and greys are the background, frame and labels).
    let (bx, by, _) = density
        .enumerate_pixels()
        .filter(|(_, _, px)| !(px.0[0] == px.0[1] && px.0[1] == px.0[2]))
        .max_by_key(|(_, _, px)| px.0.iter().map(|&c| u32::from(c)).sum::<u32>())
        .unwrap();
    // Within a cell (400 pixels over 80 cells: 5 pixels) of the dot.
    assert!(
        bx.abs_diff(dx) <= 5 && by.abs_diff(dy) <= 5,
        "density peak at ({bx}, {by}), dot at ({dx}, {dy})"
    );
}

#[test]
fn scatter_draws_the_axes_through_zero_in_view() {
    // Points on a circle around 0: both axes are in view, a vertical and a horizontal line.
    let a: Vec<[f32; 2]> = (0..100)
        .map(|i| {
            let t = i as f32 * std::f32::consts::TAU / 100.0;
            [t.cos(), t.sin()]
        })
        .collect();
    let s = scatter_panels(&[&a], 64);
    assert!(s.pixels().filter(|p| p.0 == [200, 200, 200]).count() > 100);
    let away = [[5.0f32, 5.0], [6.0, 6.0]];
    let s = scatter_panels(&[&away], 64);
    assert_eq!(s.pixels().filter(|p| p.0 == [200, 200, 200]).count(), 0);
}

#[test]
fn heat_map_is_brightest_where_the_density_peaks_and_matches_the_panel_grid() {
    let range = ((-2.0f32, 2.0f32), (-1.0f32, 1.0f32));
    let grid = realnvp_plot::panel_grid(range, 20);
    assert_eq!(grid.len(), 400);
    assert!(
        grid[0][0] < grid[19][0] && grid[0][1] > grid[380][1],
        "rows from the top, left to right"
    );
    // A log-density peaked at the centre of the pixel in row 4, column 14: the brightest pixel.
    let peak = grid[4 * 20 + 14];
    let lp: Vec<f32> = grid
        .iter()
        .map(|p| -((p[0] - peak[0]).powi(2) + (p[1] - peak[1]).powi(2)) * 4.0)
        .collect();
    let img = realnvp_plot::heat_map(&lp, 20);
    let brightness = |i: usize| {
        let p = img.get_pixel(i as u32 % 20, i as u32 / 20).0;
        p.iter().map(|&c| u32::from(c)).sum::<u32>()
    };
    let brightest = (1..19)
        .flat_map(|r| (1..19).map(move |c| r * 20 + c))
        .max_by_key(|&i| brightness(i))
        .unwrap();
    assert_eq!(brightest, 4 * 20 + 14);
    assert!(brightness(brightest) > brightness(15 * 20 + 5) + 200);
}

/// A curve with a point far off the picture (a diverging loss: 1e22 among values near 1) is drawn
/// at once, the visible part in the series' colour: only the part of a segment inside the plot is
/// walked (walking all of it took forever and hung `trainer fit`).
#[test]
fn a_point_far_off_the_plot_is_drawn_at_once() -> Result<(), Box<dyn std::error::Error>> {
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut points: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64, 1.0 + 0.01 * i as f64))
            .collect();
        points[50].1 = 1e22;
        let img = line_plot(
            &[Series {
                points: &points,
                colour: PALETTE[0],
                label: "train",
            }],
            Axes {
                x: "step",
                y: "bits/dim",
            },
            300,
            200,
        );
        let _ = done.send(img.pixels().filter(|p| p.0 == PALETTE[0]).count());
    });
    let coloured = wait
        .recv_timeout(std::time::Duration::from_secs(20))
        .map_err(|_| "line_plot did not return within 20 s")?;
    assert!(coloured > 100, "{coloured} pixels in the series colour");
    Ok(())
}

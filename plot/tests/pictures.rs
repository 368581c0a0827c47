//! What the pictures show: pixels where the data put them, in the documented colours.

use image::RgbImage;
use realnvp_bundle::DataShape;
use realnvp_plot::{Axes, PALETTE, PlotError, Series, image_grid, line_plot, scatter_panels};

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
    let ink = |img: &RgbImage| img.pixels().filter(|p| p.0 == [90, 90, 90]).count();
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

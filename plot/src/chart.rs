//! What the charts share: the embedded font, colours as plotters styles, tick labels, and the RGB
//! buffer plotters draws into.

use std::sync::OnceLock;

use image::RgbImage;
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::backend::Backend;

/// DejaVu Sans (Bitstream Vera licence, `fonts/LICENSE-DejaVu`), compiled into the crate so that
/// drawing text needs no font installed on the machine and no system font lookup.
pub(crate) static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// The family plotters' own defaults (legend, mesh labels) ask for, so every text lands on [`FONT`].
pub(crate) const FAMILY: &str = "sans-serif";

/// Error of a plotters drawing call; the only one the bitmap backend gives in practice is a font
/// that cannot be found, which [`register_font`] rules out.
pub(crate) type DrawError = Box<dyn std::error::Error>;

/// Registers [`FONT`] as [`FAMILY`] with plotters, once per process; `false` if the font does not
/// parse (a broken build, caught by the tests).
pub(crate) fn register_font() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok())
}

/// The text style of `px`-pixel text in `colour`.
pub(crate) fn font(px: u32, colour: [u8; 3]) -> TextStyle<'static> {
    (FAMILY, px).into_font().color(&rgb(colour))
}

pub(crate) fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Runs `draw` on a plotters drawing area over `img`'s pixels (RGB, row by row, as the image crate
/// stores them), so the result stays an [`RgbImage`] and PNG encoding stays with the image crate.
pub(crate) fn draw_on<T>(
    img: &mut RgbImage,
    draw: impl FnOnce(&DrawingArea<Backend, plotters::coord::Shift>) -> Result<T, DrawError>,
) -> Result<T, DrawError> {
    // plotters measures some text itself (not through the backend): it needs the font too.
    if !register_font() {
        return Err("the embedded font does not parse".into());
    }
    let size = img.dimensions();
    let root = Backend(BitMapBackend::with_buffer(img.as_mut(), size)).into_drawing_area();
    let out = draw(&root)?;
    root.present()?;
    Ok(out)
}

/// Labels for the ticks plotters puts on `lo..hi` when asked for `n` of them: every label with the
/// decimals the step between ticks needs (0.2 → one decimal, 5 → none), so neighbouring labels differ
/// and none has a long tail of float noise (0.30000000000000004).
pub(crate) fn tick_formatter(lo: f64, hi: f64, n: usize) -> impl Fn(&f64) -> String {
    let ticks = RangedCoordf64::from(lo..hi).key_points(n);
    // The fewest decimals that write every tick exactly (to a millionth of the step): 0.2 steps get
    // one, 0.25 steps two, 1000 steps none.
    let step = ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let exact = |d: usize| {
        ticks.iter().all(|&t| {
            let back: f64 = format!("{t:.d$}").parse().unwrap_or(f64::NAN);
            (back - t).abs() <= step * 1e-6
        })
    };
    let decimals = if step.is_finite() && step > 0.0 {
        (0..=12).find(|&d| exact(d)).unwrap_or(12)
    } else {
        3
    };
    move |v: &f64| format_tick(*v, decimals)
}

/// `v` with `decimals` decimals, without the sign of a negative zero (`-0.0` rounds to "-0").
pub(crate) fn format_tick(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_registers() {
        assert!(register_font());
    }

    #[test]
    fn tick_labels_have_the_decimals_of_their_step() {
        let f = tick_formatter(2.83, 3.82, 6);
        assert_eq!(f(&3.0000000000000004), "3.0");
        assert_eq!(f(&3.2), "3.2");
        let f = tick_formatter(25.0, 16000.0, 8);
        assert_eq!(f(&4000.0), "4000");
        let quarters = tick_formatter(0.0, 1.0, 5);
        assert!(["0.25", "0.50", "0.2", "0.5"].contains(&quarters(&0.5).as_str()));
        let f = tick_formatter(-0.013, 0.011, 5);
        assert_eq!(f(&-0.0), "0.000");
        assert_eq!(f(&0.005), "0.005");
        assert_eq!(format_tick(-0.0001, 2), "0.00");
        assert_eq!(format_tick(-1.5, 1), "-1.5");
    }
}

//! The project's pictures, used by both the trainer and the runtime: grids of image samples,
//! scatter plots and density maps of 2-D data, line plots (training curves), PNG files written
//! atomically.
//!
//! Charts (line plots, scatter and density panels) are drawn with [plotters] into an RGB buffer:
//! plotters picks round tick values and lays out the axes, ticks, labels and legend. Text is set
//! in DejaVu Sans, compiled into the crate (`fonts/DejaVuSans.ttf`, Bitstream Vera licence in
//! `fonts/LICENSE-DejaVu`) and rasterized by ab_glyph, so no font has to be installed and no system
//! font lookup (fontconfig) happens at build or run time. Image grids are plain pixel copies with
//! the `image` crate, which also encodes the PNG files.

#![warn(missing_docs)]

mod backend;
mod chart;
mod grid;
mod line;
mod scatter;

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use realnvp_bundle::DataShape;

pub use grid::{DEFAULT_GRID_SCALE, MAX_GRID_SCALE, image_grid, to_images};
pub use line::{Axes, Series, line_plot};
pub use scatter::{
    PanelRange, density_panel, first_two, heat_map, panel_grid, panel_range, scatter_panels,
};

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const FRAME: Rgb<u8> = Rgb([90, 90, 90]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);

/// Colours for series and scatter panels, in order.
pub const PALETTE: [[u8; 3]; 4] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]];

/// Why a picture could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// Only images with 1 (grey) or 3 (RGB) channels can be drawn as pictures.
    #[error("cannot draw data of shape {0} as images: 1 (grey) or 3 (RGB) channels are needed")]
    Shape(DataShape),
    /// Nothing to draw.
    #[error("no items to draw")]
    Empty,
    /// The data do not hold the stated number of items.
    #[error("{got} values do not make the stated items ({expected} values expected)")]
    Length {
        /// Values given.
        got: usize,
        /// Values the items need.
        expected: usize,
    },
    /// A picture too large for a PNG (more than `u32::MAX` pixels a side).
    #[error(
        "a picture of {width}×{height} pixels is too large: draw fewer items, or at a smaller scale"
    )]
    TooLarge {
        /// Pixels across.
        width: u64,
        /// Pixels down.
        height: u64,
    },
    /// An enlargement outside `1..=MAX_GRID_SCALE`.
    #[error("grid scale {0}: use 1 (one screen pixel per image pixel) to {MAX_GRID_SCALE}")]
    Scale(u32),
    /// Encoding the PNG failed.
    #[error("encoding a PNG: {0}")]
    Encode(#[from] image::ImageError),
    /// Writing the file failed (an earlier file at the path is intact).
    #[error(transparent)]
    Write(#[from] realnvp_bundle::BundleError),
}

/// Result with [`PlotError`].
pub type Result<T, E = PlotError> = std::result::Result<T, E>;

/// Encodes `image` as PNG and writes it atomically (temporary file in the same directory, then
/// rename), creating missing parent directories.
pub fn write_png(path: impl AsRef<Path>, image: &DynamicImage) -> Result<()> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)?;
    Ok(realnvp_bundle::files::write_atomic(path, &bytes)?)
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

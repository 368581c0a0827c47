//! Image data as pictures: one 8-bit image per item, and grids of items.

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, RgbImage};
use realnvp_bundle::{DataShape, pixels};

use crate::{PlotError, Result};

/// Grey level of the border lines in [`image_grid`].
const BORDER: u8 = 128;

/// The largest enlargement [`image_grid`] accepts.
pub const MAX_GRID_SCALE: u32 = 16;

/// The enlargement for a person to look at: 28×28 tiles at 84 pixels.
pub const DEFAULT_GRID_SCALE: u32 = 3;

/// `(channels, width, height)` of an image shape with 1 or 3 channels.
fn split(shape: DataShape) -> Result<(usize, u32, u32)> {
    match shape {
        DataShape::Image {
            channels: c @ (1 | 3),
            height,
            width,
        } => Ok((c, width as u32, height as u32)),
        other => Err(PlotError::Shape(other)),
    }
}

/// Checks that `x` holds `n ≥ 1` items of `shape`.
fn check(x: &[f32], n: usize, shape: DataShape) -> Result<()> {
    let expected = n.saturating_mul(shape.numel());
    if n == 0 {
        return Err(PlotError::Empty);
    }
    if x.len() != expected {
        return Err(PlotError::Length {
            got: x.len(),
            expected,
        });
    }
    Ok(())
}

/// Turns `n` items of pixel-unit data (`[C, H, W]` planar, C = 1 or 3) into 8-bit images, each value
/// quantized as the bundle format says ([`pixels::quantize`]).
pub fn to_images(x: &[f32], n: usize, shape: DataShape) -> Result<Vec<DynamicImage>> {
    let (channels, width, height) = split(shape)?;
    check(x, n, shape)?;
    let hw = (width * height) as usize;
    Ok(x.chunks(channels * hw)
        .map(|item| {
            // Planar (C, H, W) to the interleaved (H, W, C) the image crate stores.
            let interleaved: Vec<u8> = (0..hw)
                .flat_map(|p| (0..channels).map(move |c| pixels::quantize(item[c * hw + p])))
                .collect();
            if channels == 1 {
                DynamicImage::ImageLuma8(
                    GrayImage::from_raw(width, height, interleaved).unwrap_or_default(),
                )
            } else {
                DynamicImage::ImageRgb8(
                    RgbImage::from_raw(width, height, interleaved).unwrap_or_default(),
                )
            }
        })
        .collect())
}

/// Tiles `n` items into one image, `cols` per row (default: a near-square grid), with 1-pixel grey
/// borders, then enlarges it `scale` times (each pixel becomes a `scale × scale` block), so that a
/// 28×28 tile is readable on a screen at `scale` 3 (84 pixels). Grey items give a grey image.
pub fn image_grid(
    x: &[f32],
    n: usize,
    shape: DataShape,
    cols: Option<usize>,
    scale: u32,
) -> Result<DynamicImage> {
    if !(1..=MAX_GRID_SCALE).contains(&scale) {
        return Err(PlotError::Scale(scale));
    }
    let images = to_images(x, n, shape)?;
    let (channels, width, height) = split(shape)?;
    let cols = cols
        .unwrap_or_else(|| (n as f64).sqrt().ceil() as usize)
        .clamp(1, n) as u32;
    let rows = (n as u32).div_ceil(cols);
    let (gw, gh) = (cols * (width + 1) + 1, rows * (height + 1) + 1);
    let mut grid = RgbImage::from_pixel(gw, gh, image::Rgb([BORDER; 3]));
    for (k, item) in images.iter().enumerate() {
        let (gx, gy) = (
            (k as u32 % cols) * (width + 1) + 1,
            (k as u32 / cols) * (height + 1) + 1,
        );
        for (px, py, p) in item.to_rgb8().enumerate_pixels() {
            grid.put_pixel(gx + px, gy + py, *p);
        }
    }
    let grid = image::imageops::resize(&grid, gw * scale, gh * scale, FilterType::Nearest);
    Ok(if channels == 1 {
        DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(grid).to_luma8())
    } else {
        DynamicImage::ImageRgb8(grid)
    })
}

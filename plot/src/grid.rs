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

/// `(channels, width, height)` of an image shape with 1 or 3 channels whose sides fit the image
/// crate's `u32` (checked, not cast: a wrapped side would draw a wrong picture or none).
fn split(shape: DataShape) -> Result<(usize, u32, u32)> {
    match shape {
        DataShape::Image {
            channels: c @ (1 | 3),
            height,
            width,
        } => match (u32::try_from(width), u32::try_from(height)) {
            (Ok(w), Ok(h)) => Ok((c, w, h)),
            _ => Err(PlotError::TooLarge {
                width: width as u64,
                height: height as u64,
            }),
        },
        other => Err(PlotError::Shape(other)),
    }
}

/// The grid of `n` tiles of `width × height` in `cols` columns, each tile with a one-pixel border:
/// `(rows, grid width, grid height)` before the `scale`-fold enlargement, which must fit `u32`
/// too.
fn grid_dimensions(
    n: usize,
    cols: usize,
    (width, height): (u32, u32),
    scale: u32,
) -> Result<(usize, u32, u32)> {
    let rows = n.div_ceil(cols.max(1));
    let side = |count: usize, len: u32| count as u64 * (len as u64 + 1) + 1;
    let (gw, gh) = (side(cols, width), side(rows, height));
    let fits = |v: u64| {
        v.checked_mul(scale as u64)
            .is_some_and(|v| v <= u32::MAX as u64)
    };
    match (fits(gw), fits(gh)) {
        (true, true) => Ok((rows, gw as u32, gh as u32)),
        _ => Err(PlotError::TooLarge {
            width: gw.saturating_mul(scale as u64),
            height: gh.saturating_mul(scale as u64),
        }),
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
    let hw = width as usize * height as usize;
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
    let (channels, width, height) = split(shape)?;
    let cols = cols
        .unwrap_or_else(|| (n as f64).sqrt().ceil() as usize)
        .clamp(1, n.max(1));
    let (_, gw, gh) = grid_dimensions(n, cols, (width, height), scale)?;
    let images = to_images(x, n, shape)?;
    let mut grid = RgbImage::from_pixel(gw, gh, image::Rgb([BORDER; 3]));
    for (k, item) in images.iter().enumerate() {
        // Inside the grid, whose sides fit u32 (checked above).
        let (gx, gy) = (
            ((k % cols) * (width as usize + 1) + 1) as u32,
            ((k / cols) * (height as usize + 1) + 1) as u32,
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

#[cfg(test)]
mod tests {
    use super::{grid_dimensions, split};
    use crate::PlotError;
    use realnvp_bundle::DataShape;

    #[test]
    fn grids_and_sides_beyond_u32_are_errors_not_wrapped() {
        assert_eq!(grid_dimensions(7, 3, (28, 28), 1).ok(), Some((3, 88, 88)));
        // 3 columns of 28-pixel tiles at 16×: 88·16 = 1408 pixels wide.
        assert!(grid_dimensions(7, 3, (28, 28), 16).is_ok());
        for (n, cols, side, scale) in [
            (100_000, 100_000, 50_000, 1),
            (1, 1, u32::MAX, 1),
            (4, 2, 200_000_000, 16),
        ] {
            let err = grid_dimensions(n, cols, (side, side), scale);
            assert!(
                matches!(err, Err(PlotError::TooLarge { .. })),
                "{n} {cols} {side} {scale}: {err:?}"
            );
        }
        let wide = DataShape::Image {
            channels: 1,
            height: 1,
            width: 5_000_000_000,
        };
        assert!(matches!(split(wide), Err(PlotError::TooLarge { .. })));
    }
}

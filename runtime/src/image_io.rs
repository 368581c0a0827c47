//! Images in and out: u8 image files ↔ flat `f32` pixel-unit data in `C, H, W` order.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ColorType, DynamicImage, ImageReader};

use realnvp_bundle::{DataShape, pixels};

use crate::error::{Result, RuntimeError};

/// `(C, W, H)` of an image shape that image files can hold: 1 or 3 channels, sides that fit in `u32`.
fn split_shape(shape: DataShape, path: &Path) -> Result<(usize, u32, u32)> {
    if let DataShape::Image {
        channels: c @ (1 | 3),
        height,
        width,
    } = shape
        && let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height))
    {
        return Ok((c, w, h));
    }
    Err(RuntimeError::ImageChannels {
        path: path.to_path_buf(),
        expected: "1 (grey) or 3 (RGB) channels".into(),
        found: format!("a model data shape {shape} that image files cannot hold"),
    })
}

fn describe(color: ColorType) -> &'static str {
    match color {
        ColorType::L8 => "1 channel (8-bit grey)",
        ColorType::La8 => "2 channels (grey + alpha)",
        ColorType::Rgb8 => "3 channels (8-bit RGB)",
        ColorType::Rgba8 => "4 channels (RGBA)",
        ColorType::L16 => "16-bit grey",
        ColorType::La16 => "16-bit grey + alpha",
        ColorType::Rgb16 => "16-bit RGB",
        ColorType::Rgba16 => "16-bit RGBA",
        _ => "an unsupported pixel format",
    }
}

/// Reads a PNG or JPEG file (format sniffed from the content) as one data item of `shape = [C, H, W]`.
///
/// The image must be 8-bit with exactly `C` channels (1 = grey, 3 = RGB) and exactly `W × H` pixels: it is never
/// converted or resized silently. Pixels are returned at their bin centres, `p + 0.5` ([`pixels::dequantize`]),
/// in `C, H, W` order.
///
/// ```no_run
/// use realnvp_runtime::DataShape;
/// let shape = DataShape::Image { channels: 1, height: 28, width: 28 };
/// let x = realnvp_runtime::image_io::load_image("digit.png", shape)?;
/// assert_eq!(x.len(), 784);
/// # Ok::<(), realnvp_runtime::RuntimeError>(())
/// ```
pub fn load_image(path: impl AsRef<Path>, shape: DataShape) -> Result<Vec<f32>> {
    let path = path.as_ref();
    split_shape(shape, path)?;
    let bytes = std::fs::read(path).map_err(|e| RuntimeError::io(path, e))?;
    image_from_bytes(&bytes, shape, path)
}

/// Decodes the bytes of a PNG or JPEG file as [`load_image`] does: one data item of `shape = [C, H, W]`, with the
/// same rules and errors. `path` only names the file in errors.
///
/// ```
/// use realnvp_runtime::{DataShape, RuntimeError, image_io};
/// let shape = DataShape::Image { channels: 1, height: 28, width: 28 };
/// let err = image_io::image_from_bytes(b"not an image", shape, "upload.png".as_ref());
/// assert!(matches!(err, Err(RuntimeError::ImageDecode { .. })));
/// ```
pub fn image_from_bytes(bytes: &[u8], shape: DataShape, path: &Path) -> Result<Vec<f32>> {
    let (channels, width, height) = split_shape(shape, path)?;
    let decode_error = |reason: String| RuntimeError::ImageDecode {
        path: path.to_path_buf(),
        reason,
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(e.to_string()))?;
    if reader.format().is_none() {
        return Err(decode_error("not a PNG or JPEG file".into()));
    }
    let image = reader
        .decode()
        .map_err(|e| decode_error(format!("{e} (truncated or corrupt file?)")))?;

    let found = image.color();
    let ok = matches!((channels, found), (1, ColorType::L8) | (3, ColorType::Rgb8));
    if !ok {
        return Err(RuntimeError::ImageChannels {
            path: path.to_path_buf(),
            expected: if channels == 1 {
                "1 channel (8-bit grey)".into()
            } else {
                "3 channels (8-bit RGB)".into()
            },
            found: describe(found).into(),
        });
    }
    if image.width() != width || image.height() != height {
        return Err(RuntimeError::ImageSize {
            path: path.to_path_buf(),
            expected_w: width,
            expected_h: height,
            found_w: image.width(),
            found_h: image.height(),
        });
    }

    let hw = width as usize * height as usize;
    let raw = image.as_bytes();
    let mut x = vec![0f32; channels * hw];
    // The decoder's bytes are interleaved (H, W, C); the model wants planar (C, H, W).
    for (i, &p) in raw.iter().enumerate() {
        let (pixel, c) = (i / channels, i % channels);
        x[c * hw + pixel] = pixels::dequantize(p);
    }
    Ok(x)
}

/// Pixel-unit data to `u8` pixels ([`pixels::quantize`]: `floor(clamp(x, 0, 255))`, NaN becomes 0).
pub fn to_u8(x: &[f32]) -> Vec<u8> {
    x.iter().map(|&v| pixels::quantize(v)).collect()
}

/// A picture error in the runtime's words: the checks of items and shapes live in `realnvp-plot` (one home for
/// both programs); the runtime names them as it names its inputs.
fn from_plot(e: realnvp_plot::PlotError, n: usize, shape: DataShape) -> RuntimeError {
    match e {
        realnvp_plot::PlotError::Empty => RuntimeError::EmptyBatch,
        realnvp_plot::PlotError::Length { got, expected } => RuntimeError::InputLength {
            what: "x",
            got,
            expected,
            n,
            per_item: shape.numel(),
            shape: shape.dims(),
        },
        realnvp_plot::PlotError::Shape(_) => RuntimeError::ImageChannels {
            path: PathBuf::from("<output>"),
            expected: "1 (grey) or 3 (RGB) channels".into(),
            found: format!("a model data shape {shape} that image files cannot hold"),
        },
        other => other.into(),
    }
}

/// Turns `n` items of pixel-unit data (`[C, H, W]`, C = 1 or 3) into 8-bit images.
pub fn to_images(x: &[f32], n: usize, shape: DataShape) -> Result<Vec<DynamicImage>> {
    realnvp_plot::to_images(x, n, shape).map_err(|e| from_plot(e, n, shape))
}

/// Tiles `n` items into one image, `cols` per row (default: a near-square grid), with 1-pixel grey
/// borders, then enlarges it `scale` times (each pixel becomes a `scale × scale` block), so that a
/// 28×28 tile is readable on a screen at `scale` 3 (84 pixels) ([`realnvp_plot::image_grid`]).
pub fn grid_image(
    x: &[f32],
    n: usize,
    shape: DataShape,
    cols: Option<usize>,
    scale: u32,
) -> Result<DynamicImage> {
    realnvp_plot::image_grid(x, n, shape, cols, scale).map_err(|e| from_plot(e, n, shape))
}

/// Encodes `image` as PNG and writes it atomically (temporary file in the same directory, then rename).
pub fn write_png(path: impl AsRef<Path>, image: &DynamicImage) -> Result<()> {
    Ok(realnvp_plot::write_png(path, image)?)
}

pub use realnvp_plot::{DEFAULT_GRID_SCALE, MAX_GRID_SCALE};

/// Writes `n` items as a PNG grid (see [`grid_image`]).
///
/// ```no_run
/// # use realnvp_runtime::{Flow, LoadOptions, image_io};
/// # fn main() -> Result<(), realnvp_runtime::RuntimeError> {
/// let flow = Flow::load("out/model", &LoadOptions::default())?;
/// let x = flow.sample(64, 0.7, 1)?;
/// image_io::write_grid_png("grid.png", &x, 64, flow.data_shape(), None, 3)?;
/// # Ok(())
/// # }
/// ```
pub fn write_grid_png(
    path: impl AsRef<Path>,
    x: &[f32],
    n: usize,
    shape: DataShape,
    cols: Option<usize>,
    scale: u32,
) -> Result<()> {
    write_png(path, &grid_image(x, n, shape, cols, scale)?)
}

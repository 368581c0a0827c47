//! A folder of PNG/JPEG images, and conversion of pixels to a requested channel count and size.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, RgbImage};

use super::{DataError, ImageSplits, gather, split_indices};

const HINT: &str = "pass images:DIR, a folder (searched recursively) of .png/.jpg/.jpeg files";

/// Every image under `dir` by the data sets' one folder rule ([`realnvp_bundle::data::image_files`]).
fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    realnvp_bundle::data::image_files(dir).map_err(|e| DataError::io(dir, e))
}

fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_bytes(&bytes, path)
}

/// Decodes an image file's bytes; the format comes from the content, else from `path`'s extension.
fn decode_bytes(bytes: &[u8], path: &Path) -> Result<DynamicImage, DataError> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes));
    if let Ok(format) = image::ImageFormat::from_path(path) {
        reader.set_format(format);
    }
    let reader = reader
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    reader.decode().map_err(|source| DataError::Image {
        path: path.into(),
        source,
    })
}

/// Decodes the bytes of one PNG or JPEG file as `images:DIR` does: returns `((c, h, w), pixels)`,
/// the pixels `[C, H, W]`, exactly `c · h · w` of them.
///
/// With `shape = Some((c, h, w))` the image is converted to `c` channels (1 or 3) and resized to
/// `h × w` (Triangle filter) where its size differs; with `None` it keeps its size, with 1 channel
/// when it is grey and 3 otherwise. `path` names the file in errors (and its extension is the
/// format's fallback when the content does not say): an undecodable file is a [`DataError::Image`],
/// a bad `shape` [`DataError::Invalid`].
// `((c, h, w), pixels)`, as the other image sources give their shape.
#[allow(clippy::type_complexity)]
pub fn parse_image(
    bytes: &[u8],
    path: &Path,
    shape: Option<(usize, usize, usize)>,
) -> Result<((usize, usize, usize), Vec<u8>), DataError> {
    if let Some((c, h, w)) = shape {
        check_channels(c, &path.display().to_string())?;
        if h == 0 || w == 0 || u32::try_from(h).is_err() || u32::try_from(w).is_err() {
            return Err(DataError::Invalid(format!(
                "{}: cannot convert an image to {h}x{w} pixels",
                path.display()
            )));
        }
    }
    let img = decode_bytes(bytes, path)?;
    let shape = shape.unwrap_or_else(|| own_shape(&img));
    Ok((shape, to_planar(img, shape)))
}

/// `(c, h, w)` of `img` as it is: 1 channel when it is grey, else 3.
fn own_shape(img: &DynamicImage) -> (usize, usize, usize) {
    let c = if img.color().has_color() { 3 } else { 1 };
    (c, img.height() as usize, img.width() as usize)
}

/// Converts one image to `c` channels and `h x w`, returning `[C, H, W]` pixels.
fn to_planar(img: DynamicImage, (c, h, w): (usize, usize, usize)) -> Vec<u8> {
    let img = if (img.width() as usize, img.height() as usize) == (w, h) {
        img
    } else {
        img.resize_exact(w as u32, h as u32, FilterType::Triangle)
    };
    if c == 1 {
        return img.to_luma8().into_raw();
    }
    let rgb = img.to_rgb8().into_raw();
    let mut out = vec![0u8; 3 * h * w];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for ch in 0..3 {
            out[ch * h * w + i] = px[ch];
        }
    }
    out
}

fn check_channels(c: usize, what: &str) -> Result<(), DataError> {
    if c == 1 || c == 3 {
        Ok(())
    } else {
        Err(DataError::Invalid(format!(
            "{what}: images can have 1 or 3 channels, not {c}"
        )))
    }
}

/// Loads every image under `dir`: `((c, h, w), train, test)`, the test split a fixed
/// `test_fraction` of the files. Without `shape`, the first file fixes it (1 channel when it is
/// grey, else 3). Logs once when images are resized.
pub(crate) fn load_dir(
    dir: &Path,
    shape: Option<(usize, usize, usize)>,
    test_fraction: f64,
) -> Result<ImageSplits, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.into(),
            hint: HINT.into(),
        });
    }
    let files = list_images(dir)?;
    let Some(first) = files.first() else {
        return Err(DataError::Empty {
            path: dir.into(),
            what: "PNG or JPEG files".into(),
            hint: HINT.into(),
        });
    };
    // Without a shape the first image sets it; it is decoded once and reused below.
    let mut first_image = None;
    let shape = match shape {
        Some(s) => s,
        None => {
            let img = decode(first)?;
            let s = own_shape(&img);
            first_image = Some(img);
            s
        }
    };
    check_channels(shape.0, &dir.display().to_string())?;
    let dim = shape.0 * shape.1 * shape.2;
    let mut pixels = Vec::with_capacity(files.len() * dim);
    let mut resized = 0usize;
    for path in &files {
        let img = match first_image.take() {
            Some(img) => img,
            None => decode(path)?,
        };
        if (img.height() as usize, img.width() as usize) != (shape.1, shape.2) {
            resized += 1;
        }
        pixels.extend(to_planar(img, shape));
    }
    if resized > 0 {
        tracing::info!(
            "{}: resized {resized} of {} images to {}x{} (Triangle filter)",
            dir.display(),
            files.len(),
            shape.1,
            shape.2
        );
    }
    let (train, test) = split_indices(files.len(), test_fraction, &dir.display().to_string())?;
    Ok((
        shape,
        gather(&pixels, dim, &train),
        gather(&pixels, dim, &test),
    ))
}

/// Converts `[N, from]` planar pixels to `[N, to]` (channels 1 <-> 3, size by Triangle filter).
/// `what` names the source in errors.
pub(crate) fn conform(
    pixels: Vec<u8>,
    from: (usize, usize, usize),
    to: (usize, usize, usize),
    what: &str,
) -> Result<Vec<u8>, DataError> {
    check_channels(from.0, what)?;
    check_channels(to.0, what)?;
    if from == to {
        return Ok(pixels);
    }
    let (c, h, w) = from;
    let dim = c * h * w;
    let bad = || DataError::Invalid(format!("{what}: pixel buffer does not match {c}x{h}x{w}"));
    let mut out = Vec::with_capacity(pixels.len() / dim.max(1) * to.0 * to.1 * to.2);
    for one in pixels.chunks_exact(dim) {
        let img = if c == 1 {
            DynamicImage::ImageLuma8(
                GrayImage::from_raw(w as u32, h as u32, one.to_vec()).ok_or_else(bad)?,
            )
        } else {
            let plane = h * w;
            let hwc = (0..plane)
                .flat_map(|i| [one[i], one[plane + i], one[2 * plane + i]])
                .collect();
            DynamicImage::ImageRgb8(RgbImage::from_raw(w as u32, h as u32, hwc).ok_or_else(bad)?)
        };
        out.extend(to_planar(img, to));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// Writes `n` RGB PNGs named `img{k:02}.png`; pixel (x, y) of image k = (k, x, y).
    fn write_pngs(dir: &Path, n: usize, w: u32, h: u32) -> image::ImageResult<()> {
        for k in 0..n {
            let img = RgbImage::from_fn(w, h, |x, y| Rgb([k as u8, x as u8, y as u8]));
            img.save(dir.join(format!("img{k:02}.png")))?;
        }
        Ok(())
    }

    #[test]
    fn loads_rgb_pngs_planar_and_split() -> TestResult {
        let dir = tempfile::tempdir()?;
        write_pngs(dir.path(), 20, 4, 3)?;
        std::fs::write(dir.path().join("notes.txt"), "ignored")?;
        let ((c, h, w), train, test) = load_dir(dir.path(), None, 0.1)?;
        assert_eq!((c, h, w), (3, 3, 4));
        let dim = 36;
        assert_eq!((train.len() / dim, test.len() / dim), (18, 2));
        // Every image comes back once, with its own k in channel 0 and x, y in channels 1, 2.
        let mut ks: Vec<u8> = train
            .chunks(dim)
            .chain(test.chunks(dim))
            .map(|i| i[0])
            .collect();
        ks.sort_unstable();
        assert_eq!(ks, (0..20).collect::<Vec<u8>>());
        let img = &train[..dim];
        assert_eq!(img[12 + 4 + 2], 2, "G plane at (x=2, y=1) holds x");
        assert_eq!(img[24 + 8 + 3], 2, "B plane at (x=3, y=2) holds y");
        assert_eq!(load_dir(dir.path(), None, 0.1)?, ((c, h, w), train, test));
        Ok(())
    }

    #[test]
    fn converts_to_grey_and_resizes() -> TestResult {
        let dir = tempfile::tempdir()?;
        for k in 0..4u8 {
            GrayImage::from_pixel(8, 8, Luma([k * 50]))
                .save(dir.path().join(format!("{k}.png")))?;
        }
        let ((c, h, w), train, test) = load_dir(dir.path(), Some((3, 4, 4)), 0.25)?;
        assert_eq!((c, h, w, train.len(), test.len()), (3, 4, 4, 3 * 48, 48));
        // A flat grey image stays flat through resize and maps to equal R, G, B.
        for img in train.chunks(48).chain(test.chunks(48)) {
            assert!(img.iter().all(|&p| p == img[0]), "{img:?}");
        }
        let grey = conform(vec![10, 20, 30, 40], (1, 2, 2), (1, 1, 1), "t")?;
        assert_eq!(grey, [25]);
        let rgb = conform(vec![10, 20, 30, 40], (1, 2, 2), (3, 2, 2), "t")?;
        assert_eq!(rgb, [10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40]);
        Ok(())
    }

    #[test]
    fn rejects_empty_folder_and_unreadable_image_naming_them() -> TestResult {
        let dir = tempfile::tempdir()?;
        let msg = load_dir(dir.path(), None, 0.1)
            .err()
            .ok_or("accepted empty")?
            .to_string();
        assert!(
            msg.contains(&dir.path().display().to_string()) && msg.contains("no PNG"),
            "{msg}"
        );
        write_pngs(dir.path(), 3, 2, 2)?;
        let bad = dir.path().join("img01.png");
        std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not a png")?;
        let msg = load_dir(dir.path(), None, 0.1)
            .err()
            .ok_or("accepted bad png")?
            .to_string();
        assert!(msg.contains(&bad.display().to_string()), "{msg}");
        let missing = dir.path().join("nope");
        let msg = load_dir(&missing, None, 0.1)
            .err()
            .ok_or("accepted missing")?
            .to_string();
        assert!(msg.contains("nope") && msg.contains("images:DIR"), "{msg}");
        Ok(())
    }
}

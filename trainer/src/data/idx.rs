//! IDX files (the MNIST / Fashion-MNIST format), gzip'd or not.
//!
//! Layout: magic `[0, 0, type, ndim]` (type `0x08` = unsigned byte), `ndim` big-endian `u32`
//! dims, then the values. Image files are `ndim = 3`: `[N, H, W]`.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, ImageSplits};

/// How to get Fashion-MNIST when it is missing.
pub(crate) const FMNIST_HINT: &str = "install the Debian package dataset-fashion-mnist \
    (apt-get install dataset-fashion-mnist) or pass fmnist:DIR, a folder with \
    train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz]";

/// How to point at MNIST IDX files.
pub(crate) const MNIST_HINT: &str = "pass mnist-idx:DIR, a folder with \
    train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz]";

/// The most a gzip'd data file may decompress to (4 GiB, about 70 times Fashion-MNIST's training images), so that
/// a small "gzip bomb" cannot exhaust memory.
const MAX_DECOMPRESSED: u64 = 4 << 30;

/// Decompresses `bytes` when they start with the gzip magic, else borrows them.
pub(crate) fn maybe_gunzip<'a>(bytes: &'a [u8], path: &Path) -> Result<Cow<'a, [u8]>, DataError> {
    gunzip_at_most(bytes, path, MAX_DECOMPRESSED)
}

/// [`maybe_gunzip`] with the size limit `limit`.
fn gunzip_at_most<'a>(
    bytes: &'a [u8],
    path: &Path,
    limit: u64,
) -> Result<Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| DataError::malformed(path, format!("corrupt gzip data: {e}")))?;
    if out.len() as u64 > limit {
        return Err(DataError::malformed(
            path,
            format!(
                "decompresses to more than {limit} bytes, the limit for a data file; decompress it yourself and \
                 pass the plain file if that is intended"
            ),
        ));
    }
    Ok(Cow::Owned(out))
}

/// Parses the bytes of an IDX3 image file (gzip'd or not): returns `(n, h, w, pixels)`, the
/// pixels `[N, H, W]` row-major, exactly `n · h · w` of them with `n`, `h`, `w` > 0.
///
/// `path` only names the file in errors. Anything else (a bad magic, element type or rank, a header
/// whose sizes disagree with the data, corrupt gzip) is a [`DataError::Malformed`].
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let bytes = maybe_gunzip(bytes, path)?;
    let bad = |reason: String| DataError::malformed(path, reason);
    if bytes.len() < 4 {
        return Err(bad(format!(
            "{} bytes: too short for an IDX header",
            bytes.len()
        )));
    }
    let (zero, ty, ndim) = (&bytes[..2], bytes[2], bytes[3] as usize);
    if zero != [0, 0] {
        return Err(bad(format!(
            "bad IDX magic {:02x?} (expected 00 00 08 03): not an IDX file",
            &bytes[..4]
        )));
    }
    if ty != 0x08 {
        return Err(bad(format!(
            "IDX element type 0x{ty:02x} is not unsigned byte (0x08)"
        )));
    }
    if ndim != 3 {
        return Err(bad(format!(
            "IDX file has {ndim} dims, expected 3 ([N, H, W]): is this a labels file?"
        )));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(bad(format!("truncated header ({} bytes)", bytes.len())));
    }
    let dim = |i: usize| {
        let b = &bytes[4 + 4 * i..8 + 4 * i];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
    };
    let (n, h, w) = (dim(0), dim(1), dim(2));
    let expected = n
        .checked_mul(h)
        .and_then(|v| v.checked_mul(w))
        .ok_or_else(|| bad(format!("dims {n}x{h}x{w} overflow")))?;
    let found = bytes.len() - header;
    if found != expected {
        let what = if found < expected {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(bad(format!(
            "{what}: header says {n}x{h}x{w} = {expected} pixels, file holds {found}"
        )));
    }
    if n == 0 || h == 0 || w == 0 {
        return Err(bad(format!("empty IDX file ({n}x{h}x{w})")));
    }
    // A decompressed file is already ours: drop its header in place; a borrowed one (a plain
    // file, the embedded slice) is copied once, without its header.
    let pixels = match bytes {
        Cow::Owned(mut v) => {
            v.drain(..header);
            v
        }
        Cow::Borrowed(b) => b[header..].to_vec(),
    };
    Ok((n, h, w, pixels))
}

/// Finds `{stem}-images-idx3-ubyte` (or `{stem}-images.idx3-ubyte`), gzip'd or not, in `dir`.
fn find(dir: &Path, stem: &str, hint: &str) -> Result<PathBuf, DataError> {
    for name in [
        format!("{stem}-images-idx3-ubyte"),
        format!("{stem}-images.idx3-ubyte"),
    ] {
        for suffix in [".gz", ""] {
            let p = dir.join(format!("{name}{suffix}"));
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(DataError::NotFound {
        path: dir.join(format!("{stem}-images-idx3-ubyte.gz")),
        hint: hint.into(),
    })
}

fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_idx(&bytes, path)
}

/// Loads `train-images` and `t10k-images` from `dir`: `((1, H, W), train, test)`.
pub(crate) fn load_dir(dir: &Path, hint: &str) -> Result<ImageSplits, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.into(),
            hint: hint.into(),
        });
    }
    let train_path = find(dir, "train", hint)?;
    let test_path = find(dir, "t10k", hint)?;
    let (_, h, w, train) = read_images(&train_path)?;
    let (_, th, tw, test) = read_images(&test_path)?;
    if (th, tw) != (h, w) {
        return Err(DataError::malformed(
            &test_path,
            format!(
                "images are {th}x{tw} but {} has {h}x{w}",
                train_path.display()
            ),
        ));
    }
    Ok(((1, h, w), train, test))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Real IDX3 bytes for `n` images of `h x w`, pixel `(k, i)` = `(k * 7 + i) % 256`.
    pub(crate) fn idx_bytes(n: usize, h: usize, w: usize) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, h, w] {
            b.extend_from_slice(&(d as u32).to_be_bytes());
        }
        for k in 0..n {
            b.extend((0..h * w).map(|i| ((k * 7 + i) % 256) as u8));
        }
        b
    }

    pub(crate) fn gz(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes)?;
        e.finish()
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn gzip_output_is_capped() -> TestResult {
        // 1 MiB of zeros compresses to about a kilobyte: a small bomb.
        let bomb = gz(&vec![0u8; 1 << 20])?;
        assert!(bomb.len() < 8 << 10);
        let path = Path::new("bomb.gz");
        let err = gunzip_at_most(&bomb, path, 1 << 19)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("decompresses to more than 524288 bytes"),
            "{err}"
        );
        assert_eq!(gunzip_at_most(&bomb, path, 1 << 20)?.len(), 1 << 20);
        Ok(())
    }

    #[test]
    fn loads_plain_and_gzip_files_with_right_pixels() -> TestResult {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("train-images-idx3-ubyte.gz"),
            gz(&idx_bytes(5, 3, 4))?,
        )?;
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            idx_bytes(2, 3, 4),
        )?;
        let (shape, train, test) = load_dir(dir.path(), MNIST_HINT)?;
        assert_eq!(shape, (1, 3, 4));
        assert_eq!((train.len(), test.len()), (60, 24));
        assert_eq!(train[12 * 4 + 5], 4 * 7 + 5);
        assert_eq!(&test[12..15], &[7, 8, 9]);
        Ok(())
    }

    #[test]
    fn rejects_malformed_files_naming_them() -> TestResult {
        let dir = tempfile::tempdir()?;
        let good = idx_bytes(2, 3, 3);
        let mut bad_magic = good.clone();
        bad_magic[2] = 0x0d;
        let mut labels = good.clone();
        labels[3] = 1;
        let cases: [(&str, Vec<u8>, &str); 5] = [
            ("truncated", good[..good.len() - 1].to_vec(), "truncated"),
            ("magic", bad_magic, "not unsigned byte"),
            ("labels", labels, "labels file"),
            ("gzip", vec![0x1f, 0x8b, 1, 2, 3], "gzip"),
            ("text", b"hello world".to_vec(), "magic"),
        ];
        for (name, bytes, expect) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, &bytes)?;
            let msg = read_images(&p)
                .err()
                .ok_or("accepted a bad file")?
                .to_string();
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains(expect), "{name}: {msg}");
        }
        Ok(())
    }

    #[test]
    fn missing_folder_or_file_says_how_to_fix() -> TestResult {
        let dir = tempfile::tempdir()?;
        let msg = load_dir(&dir.path().join("nope"), FMNIST_HINT)
            .err()
            .ok_or("accepted a missing dir")?
            .to_string();
        assert!(
            msg.contains("nope") && msg.contains("dataset-fashion-mnist"),
            "{msg}"
        );
        std::fs::write(
            dir.path().join("train-images-idx3-ubyte"),
            idx_bytes(1, 2, 2),
        )?;
        let msg = load_dir(dir.path(), MNIST_HINT)
            .err()
            .ok_or("accepted a missing test file")?
            .to_string();
        assert!(msg.contains("t10k-images-idx3-ubyte"), "{msg}");
        Ok(())
    }

    #[test]
    fn real_fashion_mnist_from_the_debian_package() -> TestResult {
        let dir = Path::new(super::super::DEFAULT_FMNIST_DIR);
        let (shape, train, test) = load_dir(dir, FMNIST_HINT).map_err(|e| {
            format!(
                "Fashion-MNIST is needed for this test: {e} (apt-get install dataset-fashion-mnist)"
            )
        })?;
        assert_eq!(shape, (1, 28, 28));
        assert_eq!((train.len() / 784, test.len() / 784), (60_000, 10_000));
        // Mean pixel of Fashion-MNIST train is 72.94 (0.2860 * 255), a well-known constant.
        let mean = train.iter().map(|&p| p as f64).sum::<f64>() / train.len() as f64;
        assert!((mean - 72.94).abs() < 0.05, "mean pixel {mean}");
        Ok(())
    }
}

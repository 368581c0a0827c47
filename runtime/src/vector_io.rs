//! Vector data in and out: CSV files and a scatter PNG for 2-D models.

use std::path::Path;

use crate::error::{Result, RuntimeError};
use realnvp_bundle::files::write_atomic;

/// Reads rows of `dim` comma-separated numbers. A first line that does not parse is taken as a header; empty
/// lines and lines starting with `#` are skipped. Returns the flat data and the number of rows.
///
/// Every other malformed line, and any NaN or ±Inf, is an error naming the line.
pub fn read_csv(path: impl AsRef<Path>, dim: usize) -> Result<(Vec<f32>, usize)> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| RuntimeError::io(path, e))?;
    parse_csv(&text, dim, path)
}

/// Parses the text of a CSV file as [`read_csv`] does: `(data, rows)`, `rows × dim` finite values. `path` only
/// names the file in errors.
///
/// ```
/// let (x, rows) = realnvp_runtime::vector_io::parse_csv("a,b\n1,2\n3,4\n", 2, "t.csv".as_ref())?;
/// assert_eq!((x, rows), (vec![1.0, 2.0, 3.0, 4.0], 2));
/// # Ok::<(), realnvp_runtime::RuntimeError>(())
/// ```
pub fn parse_csv(text: &str, dim: usize, path: &Path) -> Result<(Vec<f32>, usize)> {
    let error = |line: usize, reason: String| RuntimeError::Csv {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut data = Vec::new();
    let mut rows = 0;
    let mut first = true;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed: std::result::Result<Vec<f32>, _> =
            line.split(',').map(|f| f.trim().parse::<f32>()).collect();
        let is_header = first;
        first = false;
        let values = match parsed {
            Ok(values) => values,
            Err(_) if is_header => continue,
            Err(e) => {
                return Err(error(
                    index + 1,
                    format!("`{line}` is not {dim} numbers: {e}"),
                ));
            }
        };
        if values.len() != dim {
            return Err(error(
                index + 1,
                format!("{} values, the model takes {dim} per row", values.len()),
            ));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(error(index + 1, format!("non-finite value {v}")));
        }
        data.extend(values);
        rows += 1;
    }
    if rows == 0 {
        return Err(error(
            0,
            format!(
                "no data rows; write one item per line as {dim} comma-separated numbers (a header line is optional)"
            ),
        ));
    }
    Ok((data, rows))
}

/// Writes rows of `dim` values as CSV (atomically).
pub fn write_csv(path: impl AsRef<Path>, x: &[f32], dim: usize) -> Result<()> {
    Ok(write_atomic(
        path,
        realnvp_bundle::data::vectors_csv(x, dim).as_bytes(),
    )?)
}

/// Draws the first two coordinates of each row of `dim` values as dots on a white `size × size` PNG
/// ([`realnvp_plot::scatter_panels`]: framed to the data's 0.5–99.5 % range plus a margin, the axes through 0
/// in grey when they are in view).
pub fn write_scatter_png(path: impl AsRef<Path>, x: &[f32], dim: usize, size: u32) -> Result<()> {
    if dim < 2 {
        return Err(RuntimeError::WrongDataKind {
            operation: "a scatter plot",
            expected: "at least 2-D vector",
            found: "1-D vector",
        });
    }
    if x.is_empty() {
        return Err(RuntimeError::EmptyBatch);
    }
    let points: Vec<[f32; 2]> = x
        .chunks(dim)
        .filter(|r| r.len() == dim)
        .map(|r| [r[0], r[1]])
        .collect();
    let picture = realnvp_plot::scatter_panels(&[&points], size.max(16));
    realnvp_plot::write_png(path, &image::DynamicImage::ImageRgb8(picture))?;
    Ok(())
}

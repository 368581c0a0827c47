//! Vector data in and out: CSV files and a scatter PNG for 2-D models.

use std::path::Path;

use crate::error::{Result, RuntimeError};
use realnvp_bundle::data::{csv_lines, csv_number, is_csv_header};
use realnvp_bundle::files::write_atomic;

/// Reads rows of `dim` comma-separated numbers, the lines and cells as `trainer fit --data csv:FILE` reads
/// them ([`realnvp_bundle::data::csv_lines`]: cells trimmed of spaces and double quotes, blank lines and lines
/// starting with `#` skipped, a first line with a cell that is not a number taken as a header). Returns the
/// flat data and the number of rows.
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
    let mut lines = csv_lines(text).peekable();
    lines.next_if(|(_, cells)| is_csv_header(cells));
    let mut data = Vec::new();
    let mut rows = 0;
    for (line, cells) in lines {
        if cells.len() != dim {
            return Err(error(
                line,
                format!("{} values, the model takes {dim} per row", cells.len()),
            ));
        }
        // Each cell parsed once; a cell that is not a number is named before any non-finite one.
        let values: Vec<Option<f32>> = cells.iter().map(|c| csv_number(c)).collect();
        if let Some(column) = values.iter().position(Option::is_none) {
            let what = match cells[column].is_empty() {
                true => "is empty".to_string(),
                false => format!("`{}` is not a number", cells[column]),
            };
            return Err(error(line, format!("column {}: {what}", column + 1)));
        }
        let values: Vec<f32> = values.into_iter().flatten().collect();
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(error(line, format!("non-finite value {v}")));
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
    let picture = realnvp_plot::scatter_panels(&[&realnvp_plot::first_two(x, dim)], size.max(16));
    realnvp_plot::write_png(path, &image::DynamicImage::ImageRgb8(picture))?;
    Ok(())
}

//! Numeric CSV tables (vector data), gzip'd or not.
//!
//! The lines and cells as `runtime score` reads them ([`realnvp_bundle::data::csv_lines`]: comma-separated,
//! cells trimmed of spaces and double quotes, blank and `#` lines skipped, the first line a header when any of
//! its cells is not a number). Every other cell must be a finite number. The held-out split is a fixed hash of the row
//! index (see `split_indices`), independent of the training seed.

use std::path::Path;

use realnvp_bundle::data::{csv_lines, csv_number, is_csv_header};

use super::{DataError, gather, idx::maybe_gunzip, split_indices};

/// Loads `file`: `(d, train [N_train, D], test [N_test, D])`, leaving out the `drop` columns
/// (header names or 1-based numbers).
pub(crate) fn load(
    file: &Path,
    test_fraction: f64,
    drop: &[String],
) -> Result<(usize, Vec<f32>, Vec<f32>), DataError> {
    if !file.is_file() {
        return Err(DataError::NotFound {
            path: file.into(),
            hint: "pass csv:FILE, a comma-separated table with numeric columns".into(),
        });
    }
    let bytes = std::fs::read(file).map_err(|e| DataError::io(file, e))?;
    let (d, values) = parse_csv(&bytes, file, drop)?;
    let rows = values.len() / d;
    let (train, test) = split_indices(rows, test_fraction, &file.display().to_string())?;
    Ok((d, gather(&values, d, &train), gather(&values, d, &test)))
}

/// Parses the bytes of a CSV table, gzip'd or not: returns `(d, values)`, the rows of the `d > 0`
/// kept columns (all but the `drop` columns, header names or 1-based numbers), row-major, all finite.
///
/// Lines and cells as [`realnvp_bundle::data::csv_lines`] gives them (the first line a header when
/// [`realnvp_bundle::data::is_csv_header`]); every row has the first line's width. A header with no
/// rows gives no values.
///
/// `file` only names the file in errors: a ragged row or a bad cell is a [`DataError::Csv`] with its
/// line and column, a bad `drop` column [`DataError::Invalid`], no line with cells (only blank or `#` lines)
/// [`DataError::Empty`].
pub fn parse_csv(
    bytes: &[u8],
    file: &Path,
    drop: &[String],
) -> Result<(usize, Vec<f32>), DataError> {
    let bytes = maybe_gunzip(bytes, file)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| DataError::malformed(file, format!("not UTF-8 text: {e}")))?;
    let mut lines = csv_lines(text).peekable();
    let Some((_, first)) = lines.peek() else {
        return Err(DataError::Empty {
            path: file.into(),
            what: "rows".into(),
            hint: "write a header line and numeric rows".into(),
        });
    };
    let width = first.len();
    let header: Option<Vec<String>> = lines
        .next_if(|(_, first)| is_csv_header(first))
        .map(|(_, cells)| cells.iter().map(|c| c.to_string()).collect());
    let name_of = |col: usize| match &header {
        Some(h) => format!("{} (`{}`)", col + 1, h[col]),
        None => (col + 1).to_string(),
    };
    let mut keep = vec![true; width];
    for d in drop {
        let col = match (d.parse::<usize>(), &header) {
            (Ok(n), _) if (1..=width).contains(&n) => n - 1,
            (_, Some(h)) if h.contains(d) => h.iter().position(|c| c == d).unwrap_or(0),
            _ => {
                return Err(DataError::Invalid(format!(
                    "{}: no column `{d}` to drop (columns: {})",
                    file.display(),
                    (0..width).map(name_of).collect::<Vec<_>>().join(", ")
                )));
            }
        };
        keep[col] = false;
    }
    let d = keep.iter().filter(|&&k| k).count();
    if d == 0 {
        return Err(DataError::Invalid(format!(
            "{}: every column is dropped",
            file.display()
        )));
    }
    let mut values = Vec::new();
    for (line, row) in lines {
        if row.len() != width {
            return Err(DataError::Csv {
                path: file.into(),
                line,
                column: (row.len().min(width) + 1).to_string(),
                reason: format!("row has {} cells, expected {width}", row.len()),
            });
        }
        for (col, cell) in row.iter().enumerate() {
            let v = csv_number(cell)
                .filter(|v| v.is_finite())
                .ok_or_else(|| DataError::Csv {
                    path: file.into(),
                    line,
                    column: name_of(col),
                    reason: format!("`{cell}` is not a finite number"),
                })?;
            if keep[col] {
                values.push(v);
            }
        }
    }
    Ok((d, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn loads_header_rows_and_drops_columns() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("t.csv");
        let mut text = String::from("\"a\",b,label\n");
        for i in 0..20 {
            text.push_str(&format!("{i}, {}.5 ,{}\r\n", 2 * i, i % 3));
        }
        text.push('\n');
        std::fs::write(&file, &text)?;
        let (d, train, test) = load(&file, 0.1, &["label".into()])?;
        assert_eq!((d, train.len() / 2, test.len() / 2), (2, 18, 2));
        // Each row i comes back once as (i, 2i + 0.5), the label column dropped.
        let mut rows: Vec<(f32, f32)> = train
            .chunks(2)
            .chain(test.chunks(2))
            .map(|r| (r[0], r[1]))
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (i, (a, b)) in rows.into_iter().enumerate() {
            assert_eq!((a, b), (i as f32, 2.0 * i as f32 + 0.5));
        }
        let (d3, ..) = load(&file, 0.1, &["3".into(), "a".into()])?;
        assert_eq!(d3, 1);
        Ok(())
    }

    #[test]
    fn header_is_optional_and_gzip_works() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("digits.csv.gz");
        let rows: String = (0..10).map(|i| format!("{i},{}\n", i * 2)).collect();
        std::fs::write(&file, crate::data::idx::tests::gz(rows.as_bytes())?)?;
        let (d, train, test) = load(&file, 0.2, &[])?;
        assert_eq!((d, train.len(), test.len()), (2, 16, 4));
        let sum: f32 = train.iter().chain(&test).sum();
        assert_eq!(sum, 45.0 * 3.0);
        Ok(())
    }

    #[test]
    fn rejects_bad_cells_naming_file_line_and_column() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("bad.csv");
        std::fs::write(&file, "x,y\n1,2\n3,oops\n")?;
        let msg = load(&file, 0.1, &[]).err().ok_or("accepted")?.to_string();
        assert!(
            msg.contains("bad.csv, line 3, column 2 (`y`)") && msg.contains("oops"),
            "{msg}"
        );
        std::fs::write(&file, "x,y\n1,2\n3\n")?;
        let msg = load(&file, 0.1, &[]).err().ok_or("accepted")?.to_string();
        assert!(msg.contains("line 3") && msg.contains("1 cells"), "{msg}");
        std::fs::write(&file, "x,y\n1,NaN\n")?;
        let msg = load(&file, 0.1, &[]).err().ok_or("accepted")?.to_string();
        assert!(msg.contains("line 2") && msg.contains("finite"), "{msg}");
        let msg = load(&dir.path().join("none.csv"), 0.1, &[])
            .err()
            .ok_or("accepted")?
            .to_string();
        assert!(msg.contains("none.csv"), "{msg}");
        std::fs::write(&file, "x,y\n1,2\n3,4\n")?;
        let msg = load(&file, 0.1, &["z".into()])
            .err()
            .ok_or("accepted")?
            .to_string();
        assert!(msg.contains("bad.csv") && msg.contains("`z`"), "{msg}");
        Ok(())
    }
}

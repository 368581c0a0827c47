//! Vector data in and out: CSV files and a scatter PNG for 2-D models.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use crate::error::{Result, RuntimeError};
use realnvp_bundle::files::write_atomic;

/// Reads rows of `dim` comma-separated numbers. A first line that does not parse is taken as a header; empty
/// lines and lines starting with `#` are skipped. Returns the flat data and the number of rows.
///
/// Every other malformed line, and any NaN or ±Inf, is an error naming the line.
pub fn read_csv(path: impl AsRef<Path>, dim: usize) -> Result<(Vec<f32>, usize)> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| RuntimeError::io(path, e))?;
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
        return Err(error(0, "no data rows".into()));
    }
    Ok((data, rows))
}

/// Formats rows of `dim` values as CSV with a header `x0,x1,…`.
pub fn csv_string(x: &[f32], dim: usize) -> String {
    let mut out = (0..dim)
        .map(|i| format!("x{i}"))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in x.chunks(dim.max(1)) {
        let fields: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        let _ = writeln!(out, "{}", fields.join(","));
    }
    out
}

/// Writes rows of `dim` values as CSV (atomically).
pub fn write_csv(path: impl AsRef<Path>, x: &[f32], dim: usize) -> Result<()> {
    Ok(write_atomic(path, csv_string(x, dim).as_bytes())?)
}

/// Draws the first two coordinates of each row of `dim` values as dots on a white `size × size` PNG, framed to
/// the data's range plus a 5% margin, with the axes through 0 in grey when they are in view.
pub fn write_scatter_png(path: impl AsRef<Path>, x: &[f32], dim: usize, size: u32) -> Result<()> {
    let path = path.as_ref();
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
    let size = size.max(16);
    let points: Vec<(f32, f32)> = x
        .chunks(dim)
        .filter(|r| r.len() == dim)
        .map(|r| (r[0], r[1]))
        .collect();
    let finite = points
        .iter()
        .filter(|(a, b)| a.is_finite() && b.is_finite());
    let (mut lo_x, mut hi_x, mut lo_y, mut hi_y) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &(a, b) in finite {
        lo_x = lo_x.min(a);
        hi_x = hi_x.max(a);
        lo_y = lo_y.min(b);
        hi_y = hi_y.max(b);
    }
    if lo_x > hi_x {
        return Err(RuntimeError::NonFiniteOutput {
            graph: "inverse",
            output: "x",
            item: 0,
        });
    }
    let pad = |lo: f32, hi: f32| {
        let m = ((hi - lo) * 0.05).max(1e-3);
        (lo - m, hi + m)
    };
    let ((lo_x, hi_x), (lo_y, hi_y)) = (pad(lo_x, hi_x), pad(lo_y, hi_y));
    let last = (size - 1) as f32;
    let to_px = |a: f32, b: f32| {
        let px = ((a - lo_x) / (hi_x - lo_x) * last).round();
        let py = (last - (b - lo_y) / (hi_y - lo_y) * last).round();
        (px as i64, py as i64)
    };
    let mut img = RgbImage::from_pixel(size, size, Rgb([255, 255, 255]));
    let (ox, oy) = to_px(0.0, 0.0);
    for i in 0..size {
        if (0..size as i64).contains(&ox) {
            img.put_pixel(ox as u32, i, Rgb([200, 200, 200]));
        }
        if (0..size as i64).contains(&oy) {
            img.put_pixel(i, oy as u32, Rgb([200, 200, 200]));
        }
    }
    for &(a, b) in &points {
        let (px, py) = to_px(a, b);
        for (dx, dy) in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)] {
            let (qx, qy) = (px + dx, py + dy);
            if (0..size as i64).contains(&qx) && (0..size as i64).contains(&qy) {
                img.put_pixel(qx as u32, qy as u32, Rgb([20, 60, 160]));
            }
        }
    }
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|e| RuntimeError::io(path, std::io::Error::other(e)))?;
    Ok(write_atomic(path, &bytes)?)
}

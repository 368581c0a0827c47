//! `metrics.csv`: one row per logging interval, kept consistent across resume and rollback.

use std::io::Write;
use std::path::Path;

use crate::{Result, TrainError};

/// The header of `metrics.csv`.
pub const HEADER: &str =
    "step,epoch,train_loss,train_bpd,test_bpd,test_nll_nats,examples_per_s,wall_s,lr";

/// One row. Test columns are empty (`None`) except at evaluation steps; train columns average
/// the good steps since the previous row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Steps done.
    pub step: u64,
    /// Epoch of the next batch.
    pub epoch: u64,
    /// Mean training loss (bits/dim + L2 term).
    pub train_loss: Option<f64>,
    /// Mean training bits/dim (random dequantization noise).
    pub train_bpd: Option<f64>,
    /// Test bits/dim with u = 0.5.
    pub test_bpd: Option<f64>,
    /// Test NLL in nats per example with u = 0.5.
    pub test_nll: Option<f64>,
    /// Training throughput over the interval.
    pub examples_per_s: Option<f64>,
    /// Cumulative wall time, seconds.
    pub wall_s: f64,
    /// Learning rate.
    pub lr: f64,
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.6}")).unwrap_or_default()
}

impl Row {
    fn to_csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{:.3},{}",
            self.step,
            self.epoch,
            opt(self.train_loss),
            opt(self.train_bpd),
            opt(self.test_bpd),
            opt(self.test_nll),
            self.examples_per_s
                .map(|v| format!("{v:.1}"))
                .unwrap_or_default(),
            self.wall_s,
            self.lr
        )
    }

    fn parse(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 9 {
            return None;
        }
        let o = |s: &str| s.parse::<f64>().ok();
        Some(Row {
            step: f[0].parse().ok()?,
            epoch: f[1].parse().ok()?,
            train_loss: o(f[2]),
            train_bpd: o(f[3]),
            test_bpd: o(f[4]),
            test_nll: o(f[5]),
            examples_per_s: o(f[6]),
            wall_s: o(f[7])?,
            lr: o(f[8])?,
        })
    }
}

/// Reads the rows of `path` (a missing file has none; unparsable lines are skipped).
pub fn read(path: &Path) -> Result<Vec<Row>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().skip(1).filter_map(Row::parse).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(TrainError::io(path, e)),
    }
}

/// Rewrites `path` atomically with the header and `rows`.
pub fn rewrite(path: &Path, rows: &[Row]) -> Result<()> {
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(&r.to_csv());
        text.push('\n');
    }
    Ok(realnvp_bundle::files::write_atomic(path, text.as_bytes())?)
}

/// Keeps only rows up to `step` (those after it belong to steps a resume or rollback redoes)
/// and returns them.
pub fn truncate_after(path: &Path, step: u64) -> Result<Vec<Row>> {
    let rows: Vec<Row> = read(path)?.into_iter().filter(|r| r.step <= step).collect();
    rewrite(path, &rows)?;
    Ok(rows)
}

/// Appends one row (the file must exist with its header).
pub fn append(path: &Path, row: &Row) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, e))?;
    // One write of the whole line: a process killed meanwhile leaves at most one torn last line,
    // which `read` skips and a resume drops.
    f.write_all(format!("{}\n", row.to_csv()).as_bytes())
        .map_err(|e| TrainError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_truncate() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| TrainError::io("tmp", e))?;
        let p = dir.path().join("m.csv");
        let row = |step| Row {
            step,
            epoch: 0,
            train_loss: Some(1.5),
            train_bpd: Some(1.25),
            test_bpd: (step % 2 == 0).then_some(1.0),
            test_nll: None,
            examples_per_s: Some(100.0),
            wall_s: step as f64,
            lr: 1e-3,
        };
        rewrite(&p, &[])?;
        for s in 1..=4 {
            append(&p, &row(s))?;
        }
        assert_eq!(read(&p)?, (1..=4).map(row).collect::<Vec<_>>());
        assert_eq!(truncate_after(&p, 2)?.len(), 2);
        assert_eq!(read(&p)?.last().map(|r| r.step), Some(2));
        Ok(())
    }
}

//! Timing and memory helpers shared by the benchmark examples (included with `#[path]`, since
//! they live in crates that must not depend on each other).

// Each example includes this file and uses only some of it.
#![allow(dead_code)]

use std::time::Instant;

use anyhow::{Context, Result};

/// Median seconds of `f` over `runs` runs, after one warm-up run.
pub fn median_secs<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    std::hint::black_box(f()?);
    let mut t = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        std::hint::black_box(f()?);
        t.push(start.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// This process's peak resident memory (VmHWM), MiB.
pub fn peak_rss_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .context("no VmHWM in /proc/self/status")?
        .parse()?;
    Ok(kib / 1024.0)
}

//! Export time of a preset: `export_bundle` (emit both graphs, verify them with candle-onnx
//! against candle on 32 examples, write the bundle) on a model with random weights (a benchmark,
//! not a test).
//!
//! ```text
//! cargo run --release -p realnvp-e2e --example bench_export -- PRESET OUT_DIR [RUNS]
//! ```
//! Times RUNS exports (default 3) into `OUT_DIR` (the bundle left there is the last one, for
//! `bench_runtime`) and prints one line: `export PRESET median_seconds peak_rss_mib`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use candle_core::{DType, Device};
use realnvp_e2e::examples;
use realnvp_models::testing::randomize;
use realnvp_models::{FlowConfig, RealNvp};
use realnvp_trainer::export::{Tolerances, TrainingSummary, export_bundle};

#[path = "../../benches/bench_util.rs"]
mod bench_util;
use bench_util::peak_rss_mib;

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any other thread starts.
    unsafe { realnvp_models::limit_candle_spinning() };
    realnvp_models::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [preset, out, rest @ ..] = args.as_slice() else {
        bail!("usage: bench_export PRESET OUT_DIR [RUNS]");
    };
    let runs: usize = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let out = PathBuf::from(out);
    let config = FlowConfig::preset(preset)?;
    let (model, varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
    randomize(&varmap, 1)?;
    // The same number of verification examples as `trainer export` (its --examples default).
    let verify = examples(&config.data, 32, 3);
    let mut secs = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        export_bundle(
            &model,
            &verify,
            &TrainingSummary::default(),
            &out,
            &Tolerances::default(),
            &|_| {},
        )?;
        secs.push(start.elapsed().as_secs_f64());
    }
    secs.sort_by(f64::total_cmp);
    println!(
        "export {preset} {:.3} {:.0}",
        secs[secs.len() / 2],
        peak_rss_mib()?
    );
    Ok(())
}

//! Scoring and sampling throughput of an exported bundle under ONNX Runtime, through this crate's
//! API (a benchmark, not a test). The process holds only ONNX Runtime (no candle), so the peak
//! memory it reports is the runtime's.
//!
//! ```text
//! cargo run --release -p realnvp-runtime --example bench_runtime -- BUNDLE_DIR BATCH [RUNS] [THREADS]
//! ```
//! Times `Flow::log_prob` on `BATCH` images of uniform random pixels and `Flow::decode` on
//! `BATCH` latents at temperature 0.7, each the median of `RUNS` (default 5) calls after one
//! warm-up, with `THREADS` intra-op threads (default 2). Prints one line:
//! `runtime BATCH score_img_s sample_img_s peak_rss_mib`.

use anyhow::{Result, bail};
use realnvp_runtime::{Device, Flow, LoadOptions};

#[path = "../../benches/bench_util.rs"]
mod bench_util;
use bench_util::{median_secs, peak_rss_mib};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bundle, batch, rest @ ..] = args.as_slice() else {
        bail!("usage: bench_runtime BUNDLE_DIR BATCH [RUNS] [THREADS]");
    };
    let batch: usize = batch.parse()?;
    let runs: usize = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let threads: usize = rest.get(1).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let flow = Flow::load(
        bundle,
        &LoadOptions {
            device: Device::Cpu,
            threads: Some(threads),
            ..Default::default()
        },
    )?;
    let per_item = flow.latent_dim();
    // Uniform pixels in [0, 256) from a fixed LCG: no extra dependency, same input every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let x: Vec<f32> = (0..batch * per_item)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 * 256.0
        })
        .collect();
    let score = median_secs(runs, || Ok(flow.log_prob(&x, batch)?))?;
    let z = flow.sample_latent(batch, 0.7, 1)?;
    let sample = median_secs(runs, || Ok(flow.decode(&z, batch)?))?;
    println!(
        "runtime {batch} {:.1} {:.1} {:.0}",
        batch as f64 / score,
        batch as f64 / sample,
        peak_rss_mib()?
    );
    Ok(())
}

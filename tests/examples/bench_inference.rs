//! Scoring and sampling throughput of candle vs ONNX Runtime on the same model (a benchmark,
//! not a test). One engine per process, so the peak memory it reports is that engine's.
//!
//! ```text
//! cargo run --release -p realnvp-e2e --example bench_inference -- ENGINE PRESET BATCH [RUNS]
//! ```
//! `ENGINE` is `candle` or `runtime`. The model has random weights (speed does not depend on
//! them); the bundle is exported to a temporary directory first. Prints one line:
//! `engine preset batch score_img_s sample_img_s peak_rss_mib`, medians over `RUNS` (default 5).

use anyhow::{Result, bail};
use candle_core::{DType, Device, Tensor};
use realnvp_e2e::examples;
use realnvp_models::testing::randomize;
use realnvp_models::{FlowConfig, Mode, RealNvp};
use realnvp_runtime::{Flow, LoadOptions};
use realnvp_trainer::export::{Tolerances, TrainingSummary, export_bundle};

#[path = "../../benches/bench_util.rs"]
mod bench_util;
use bench_util::{median_secs, peak_rss_mib};

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any other thread starts.
    unsafe { realnvp_models::limit_candle_spinning() };
    realnvp_models::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [engine, preset, batch, rest @ ..] = args.as_slice() else {
        bail!("usage: bench_inference candle|runtime PRESET BATCH [RUNS]");
    };
    let batch: usize = batch.parse()?;
    let runs: usize = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let config = FlowConfig::preset(preset)?;
    let (model, varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
    randomize(&varmap, 1)?;
    let x = examples(&config.data, batch, 2);
    let (score_s, sample_s) = match engine.as_str() {
        "candle" => {
            let score = median_secs(runs, || Ok(model.log_prob(&x, Mode::Eval)?))?;
            let z = Tensor::randn(0f32, 0.7, (batch, config.data.numel()), &Device::Cpu)?;
            let sample = median_secs(runs, || Ok(model.inverse(&z)?))?;
            (score, sample)
        }
        "runtime" => {
            let dir = tempfile::tempdir()?;
            let bundle = dir.path().join("bundle");
            let verify = examples(&config.data, 4, 3);
            export_bundle(
                &model,
                &verify,
                &TrainingSummary::default(),
                &bundle,
                &Tolerances::default(),
                &|_| {},
            )?;
            drop((model, varmap));
            let flow = Flow::load(
                &bundle,
                &LoadOptions {
                    device: realnvp_runtime::Device::Cpu,
                    ..Default::default()
                },
            )?;
            let xs = x.flatten_all()?.to_vec1::<f32>()?;
            let score = median_secs(runs, || Ok(flow.log_prob(&xs, batch)?))?;
            let z = flow.sample_latent(batch, 0.7, 1)?;
            let sample = median_secs(runs, || Ok(flow.decode(&z, batch)?))?;
            (score, sample)
        }
        other => bail!("unknown engine {other}; use candle or runtime"),
    };
    println!(
        "{engine} {preset} {batch} {:.1} {:.1} {:.0}",
        batch as f64 / score_s,
        batch as f64 / sample_s,
        peak_rss_mib()?
    );
    Ok(())
}

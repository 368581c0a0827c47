//! Forward + backward time per batch for a preset on CPU (a benchmark, not a test).
//!
//! `cargo run --release -p realnvp-models --example bench_step -- [PRESET] [BATCH] [RUNS]`
//! (defaults: fmnist-small 64 7). Prints every run (and its forward part) and the medians.
//! `REALNVP_CONV=direct` runs the 3×3 convolutions without Winograd.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use realnvp_models::{FlowConfig, RealNvp, Result};

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any other thread starts.
    unsafe { realnvp_models::limit_candle_spinning() };
    realnvp_models::keep_freed_memory();
    realnvp_models::conv_algorithm_from_env().map_err(candle_core::Error::wrap)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map(String::as_str).unwrap_or("fmnist-small");
    let batch: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(7);
    let config = FlowConfig::preset(preset)?;
    let (model, _varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
    let mut shape = vec![batch];
    shape.extend(config.data.dims());
    let x = (Tensor::rand(0f32, 1f32, shape, &Device::Cpu)? * 255.0)?;
    let mut times = Vec::with_capacity(runs);
    let mut forward_times = Vec::with_capacity(runs);
    for run in 0..=runs {
        let start = Instant::now();
        let (loss, _) = model.loss(&x)?;
        let forward_ms = start.elapsed().as_secs_f64() * 1e3;
        let grads = loss.backward()?;
        std::hint::black_box(&grads);
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if run == 0 {
            println!("warm-up: {ms:.1} ms");
        } else {
            println!("run {run}: {ms:.1} ms (forward {forward_ms:.1} ms)");
            times.push(ms);
            forward_times.push(forward_ms);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (median, forward) = (median(&mut times), median(&mut forward_times));
    println!(
        "forward median {forward:.1} ms, backward {:.1} ms",
        median - forward
    );
    println!(
        "{preset} batch {batch}: forward+backward median {median:.1} ms ({:.1} images/s) over {runs} runs, {} threads",
        batch as f64 / median * 1e3,
        candle_core::utils::get_num_threads()
    );
    Ok(())
}

//! Training throughput on CPU: images/s of full training steps (forward, backward, Adam) for a
//! preset on the embedded Fashion-MNIST slice.
//!
//! `cargo run --release -p realnvp-trainer --example bench_train -- [PRESET] [BATCH] [STEPS] [RUNS]`
//! (defaults: fmnist-small 64 5 5). Each run times STEPS steps after one warm-up step; prints
//! every run and the median. `REALNVP_CONV=direct` runs the 3×3 convolutions without Winograd.

use std::time::Instant;

use candle_core::Device;
use realnvp_models::FlowConfig;
use realnvp_trainer::data::Batcher;
use realnvp_trainer::init::seeded_init;
use realnvp_trainer::optim::{Adam, AdamConfig};
use realnvp_trainer::run::load_data;
use realnvp_trainer::train::trainable;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: first thing in main, before any other thread starts.
    unsafe { realnvp_models::limit_candle_spinning() };
    realnvp_models::keep_freed_memory();
    realnvp_models::conv_algorithm_from_env()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("fmnist-small", String::as_str);
    let batch: usize = args.get(1).map_or(Ok(64), |s| s.parse())?;
    let steps: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let runs: usize = args.get(3).map_or(Ok(5), |s| s.parse())?;
    let device = Device::Cpu;
    let config = FlowConfig::preset(preset)?;
    let data = load_data("embedded", &config, 0)?;
    let (model, varmap) = seeded_init(&config, 0, &device)?;
    let mut adam = Adam::new(trainable(&model, &varmap), AdamConfig::with_lr(1e-3))?;
    let mut batcher = Batcher::new(&data, batch, 0, false)?;
    let mut step = |b: &mut Batcher| -> Result<(), Box<dyn std::error::Error>> {
        let x = b.next_batch(&device)?;
        let (loss, _) = model.loss(&x)?;
        adam.step(&loss.backward()?)?;
        Ok(())
    };
    step(&mut batcher)?;
    let mut rates = Vec::new();
    for r in 0..runs {
        let t = Instant::now();
        for _ in 0..steps {
            step(&mut batcher)?;
        }
        let rate = (steps * batch) as f64 / t.elapsed().as_secs_f64();
        println!("run {r}: {rate:.1} images/s");
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{preset}, batch {batch}, {} threads: median {:.1} images/s over {runs} runs of {steps} steps",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rates[runs / 2]
    );
    Ok(())
}

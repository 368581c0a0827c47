//! The machine's f32 matmul peak on the cores the benchmarks use (a benchmark, not a test).
//!
//! `cargo run --release -p realnvp-models --example bench_matmul -- [RUNS]` (default 15).
//! Times candle's CPU matmul (the gemm crate underneath, rayon threads: `RAYON_NUM_THREADS` or
//! every core) on square f32 matrices of 1024 and 2048 after two warm-ups, and prints
//! machine-readable lines: `matmul N GFLOP/s` (median of RUNS, `2·N³` FLOPs per product) and
//! `matmul_peak GFLOP/s`, the larger of the two, which `scripts/bench.sh` takes as the limit.

use std::time::Instant;

use candle_core::{Device, Result, Tensor};

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map_or(15, |s| s.parse().expect("RUNS must be a number"));
    let dev = Device::Cpu;
    let mut peak = 0f64;
    for n in [1024usize, 2048] {
        let a = Tensor::randn(0f32, 1.0, (n, n), &dev)?;
        let b = Tensor::randn(0f32, 1.0, (n, n), &dev)?;
        for _ in 0..2 {
            std::hint::black_box(a.matmul(&b)?);
        }
        let mut secs = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            std::hint::black_box(a.matmul(&b)?);
            secs.push(start.elapsed().as_secs_f64());
        }
        secs.sort_by(f64::total_cmp);
        let gflops = 2.0 * (n as f64).powi(3) / secs[runs / 2] / 1e9;
        println!("matmul {n} {gflops:.1}");
        peak = peak.max(gflops);
    }
    println!(
        "matmul_peak {peak:.1} threads {}",
        candle_core::utils::get_num_threads()
    );
    Ok(())
}

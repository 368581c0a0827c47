//! Times the im2col + gemm convolution against candle's own, pass by pass, on the s/t-net shapes
//! (3×3, same padding, batch 64), with a 1024³ matmul as the machine's reference peak.
//!
//! `cargo run --release -p realnvp-models --example bench_conv [runs]`: medians of `runs`
//! (default 9) after two warm-up runs, on rayon's default thread count.

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};
use realnvp_models::nets::{fast_conv2d, fast_conv2d_backward_input, fast_conv2d_backward_weight};

/// Median wall time of `f` in milliseconds.
fn median_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..2 {
        f()?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[runs / 2])
}

fn main() -> Result<()> {
    let runs = std::env::args()
        .nth(1)
        .map_or(9, |s| s.parse().expect("runs must be a number"));
    let dev = Device::Cpu;
    println!(
        "{} rayon threads, medians of {runs} runs (ms, GFLOP/s)",
        rayon::current_num_threads()
    );

    let a = Tensor::randn(0f32, 1.0, (1024, 1024), &dev)?;
    let mm = median_ms(runs, || a.matmul(&a).map(drop))?;
    println!(
        "matmul 1024³ (candle/gemm): {mm:.2} ms, {:.0} GFLOP/s\n",
        2.0 * 1024f64.powi(3) / mm / 1e6
    );

    println!(
        "{:<14} {:<12} {:>9} {:>7} {:>10} {:>7} {:>8}",
        "conv", "pass", "ours ms", "GFLOP/s", "candle ms", "GFLOP/s", "speedup"
    );
    for (n, c, hw) in [(64, 32, 28), (64, 64, 14)] {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (n, c, hw, hw), &dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.06, (c, c, 3, 3), &dev)?)?;
        let dy = Tensor::randn(0f32, 1.0, (n, c, hw, hw), &dev)?;
        let gflop = 2.0 * (n * c * c * 9 * hw * hw) as f64 / 1e9;
        let label = format!("{c}->{c} {hw}x{hw}");

        type Pass<'a> = Box<dyn Fn() -> Result<()> + 'a>;
        let passes: [(&str, f64, Pass, Pass); 4] = [
            (
                "forward",
                gflop,
                Box::new(|| fast_conv2d(&x, &w, 1).map(drop)),
                Box::new(|| x.conv2d(&w, 1, 1, 1, 1).map(drop)),
            ),
            (
                "bwd-input",
                gflop,
                Box::new(|| fast_conv2d_backward_input(&dy, &w, 1).map(drop)),
                // What candle's backprop runs for a conv2d's input gradient.
                Box::new(|| dy.conv_transpose2d(&w, 1, 0, 1, 1).map(drop)),
            ),
            (
                "bwd-weight",
                gflop,
                Box::new(|| fast_conv2d_backward_weight(&x, &dy, 1).map(drop)),
                // What candle's backprop runs for a conv2d's kernel gradient.
                Box::new(|| {
                    x.transpose(0, 1)?
                        .conv2d(&dy.transpose(0, 1)?, 1, 1, 1, 1)?
                        .transpose(0, 1)
                        .map(drop)
                }),
            ),
            (
                "fwd+bwd",
                3.0 * gflop,
                Box::new(|| fast_conv2d(&x, &w, 1)?.backward().map(drop)),
                Box::new(|| x.conv2d(&w, 1, 1, 1, 1)?.backward().map(drop)),
            ),
        ];
        for (pass, gflop, ours, theirs) in passes {
            let ours = median_ms(runs, ours)?;
            let theirs = median_ms(runs, theirs)?;
            println!(
                "{label:<14} {pass:<12} {ours:>9.2} {:>7.0} {theirs:>10.2} {:>7.0} {:>7.1}x",
                gflop / ours * 1e3,
                gflop / theirs * 1e3,
                theirs / ours
            );
        }
    }
    Ok(())
}

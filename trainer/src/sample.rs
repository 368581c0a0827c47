//! Sampling in candle with latents drawn from a seeded Rust generator, so a seed gives the same
//! samples on every run and device (candle's own CPU generator cannot be seeded).

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use realnvp_models::RealNvp;

use crate::Result;

/// `z ~ N(0, T²I)`, `[n, dim]` f32, from `StdRng::seed_from_u64(seed)` in row-major order.
pub fn draw_latent(
    n: usize,
    dim: usize,
    temperature: f64,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let z: Vec<f32> = (0..n * dim)
        .map(|_| {
            let v: f64 = StandardNormal.sample(&mut rng);
            (v * temperature) as f32
        })
        .collect();
    Ok(Tensor::from_vec(z, (n, dim), device)?)
}

/// `n` samples at `temperature`: `[n, C, H, W]` (pixel units) or `[n, D]`.
pub fn sample(
    model: &RealNvp,
    n: usize,
    temperature: f64,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let z = draw_latent(n, model.config().data.numel(), temperature, seed, device)?;
    Ok(model.inverse(&z)?)
}

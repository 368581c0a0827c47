//! Sampling in candle with latents drawn from a seeded Rust generator, so a seed gives the same
//! samples on every run and device (candle's own CPU generator cannot be seeded).

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use realnvp_models::RealNvp;

use crate::{Result, TrainError};

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

pub use realnvp_bundle::MAX_SAMPLE_VALUES;

/// Checks a sample request: `n` from 1 to [`MAX_SAMPLE_VALUES`] / `dim` and a finite temperature > 0.
pub fn check_request(n: usize, dim: usize, temperature: f64) -> Result<()> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(TrainError::Invalid(format!(
            "--temperature must be a finite number > 0, got {temperature}; 1.0 samples the model as trained, 0.7 is typical"
        )));
    }
    let most = MAX_SAMPLE_VALUES / dim.max(1);
    if n == 0 || n > most {
        return Err(TrainError::Invalid(format!(
            "--n {n}: draw from 1 to {most} samples at a time with this model ({dim} values each, at most \
             {MAX_SAMPLE_VALUES} values per call); for more, run several times with different --seed"
        )));
    }
    Ok(())
}

/// `n` samples at `temperature`: `[n, C, H, W]` (pixel units) or `[n, D]`. Refuses (see
/// [`check_request`]) no samples, more than [`MAX_SAMPLE_VALUES`] values and a temperature that is
/// not a finite number > 0.
pub fn sample(
    model: &RealNvp,
    n: usize,
    temperature: f64,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let dim = model.config().data.numel();
    check_request(n, dim, temperature)?;
    let z = draw_latent(n, dim, temperature, seed, device)?;
    Ok(model.inverse(&z)?)
}

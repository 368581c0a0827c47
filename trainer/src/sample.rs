//! Sampling in candle with latents drawn from a seeded Rust generator, so a seed gives the same
//! samples on every run and device (candle's own CPU generator cannot be seeded).

use std::path::Path;

use candle_core::{Device, Tensor};
use realnvp_bundle::sampling::{self, SCATTER_SIZE, SampleOutput, SampleRequestError};
use realnvp_models::RealNvp;

use crate::flags;
use crate::{Result, TrainError};

/// `z ~ N(0, T²I)`, `[n, dim]` f32: [`realnvp_bundle::sampling::draw_latent`], the draw `runtime sample` makes
/// too, so the same seed gives the same latents in both programs.
pub fn draw_latent(
    n: usize,
    dim: usize,
    temperature: f64,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let z = sampling::draw_latent(n, dim, temperature as f32, seed);
    Ok(Tensor::from_vec(z, (n, dim), device)?)
}

pub use realnvp_bundle::MAX_SAMPLE_VALUES;

/// Checks a sample request ([`realnvp_bundle::sampling::check_request`]: `n` from 1 to
/// [`MAX_SAMPLE_VALUES`] / `dim`, a finite temperature > 0), in the command line's words.
pub fn check_request(n: usize, dim: usize, temperature: f64) -> Result<()> {
    sampling::check_request(n, dim, temperature).map_err(|e| match e {
        SampleRequestError::Temperature { .. } => TrainError::Invalid(format!(
            "{} must be a finite number > 0, got {temperature}; 1.0 samples the model as trained, 0.7 is typical",
            flags::TEMPERATURE
        )),
        SampleRequestError::Empty | SampleRequestError::TooMany { .. } => {
            let most = sampling::max_samples(dim);
            TrainError::Invalid(format!(
                "{} {n}: draw from 1 to {most} samples at a time with this model ({dim} values each, at most \
                 {MAX_SAMPLE_VALUES} values per call); for more, run several times with different {}",
                flags::N,
                flags::SEED
            ))
        }
    })
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

/// Draws `n` samples ([`sample`]) and writes them to `out` as [`SampleOutput::for_path`] decides: an image
/// grid enlarged `scale` times, a scatter plot, or CSV (atomically).
pub fn write_samples(
    model: &RealNvp,
    n: usize,
    temperature: f64,
    seed: u64,
    out: &Path,
    scale: u32,
    device: &Device,
) -> Result<()> {
    let shape = model.config().data;
    let output = SampleOutput::for_path(out, shape.kind())?;
    let x = sample(model, n, temperature, seed, device)?;
    match output {
        SampleOutput::Grid => {
            let v = x.flatten_all()?.to_vec1::<f32>()?;
            let grid = realnvp_plot::image_grid(&v, n, shape, None, scale)?;
            realnvp_plot::write_png(out, &grid)?;
        }
        SampleOutput::Scatter => {
            let v = x.flatten_all()?.to_vec1::<f32>()?;
            let points = realnvp_plot::first_two(&v, shape.numel());
            let picture = realnvp_plot::scatter_panels(&[&points], SCATTER_SIZE);
            realnvp_plot::write_png(out, &image::DynamicImage::ImageRgb8(picture))?;
        }
        SampleOutput::Csv => {
            let v = x.flatten_all()?.to_vec1::<f32>()?;
            let csv = realnvp_bundle::data::vectors_csv(&v, shape.numel());
            realnvp_bundle::files::write_atomic(out, csv.as_bytes())?;
        }
    }
    Ok(())
}

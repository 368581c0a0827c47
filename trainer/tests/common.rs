//! Shared helpers for the trainer's integration tests (included with `mod common;`; the `trainer` command's
//! tests in `trainer/cli/tests` include them too).
#![allow(dead_code)]

use candle_core::Device;
use realnvp_models::{Architecture, FlowConfig};
use realnvp_trainer::run::FitOptions;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The `moons` preset with narrower s/t networks (`hidden` units instead of 256), for tests
/// that check mechanics rather than quality.
pub fn small_moons(hidden: usize) -> Result<FlowConfig, Box<dyn std::error::Error>> {
    let mut c = FlowConfig::preset("moons")?;
    if let Architecture::Mlp(m) = &mut c.architecture {
        m.hidden = hidden;
    }
    Ok(c)
}

/// Options for short moons runs: 2,000 training points, frequent checkpoints, no pictures
/// but the final ones.
pub fn moons_options(steps: u64) -> FitOptions {
    FitOptions {
        data: "toy:moons?n=2000&n_test=500".into(),
        seed: 7,
        batch_size: 64,
        lr: 2e-3,
        steps,
        eval_every: 1000,
        sample_every: 0,
        checkpoint_every: 5,
        log_every: 5,
        eval_examples: 0,
        ..FitOptions::default()
    }
}

pub fn cpu() -> Device {
    Device::Cpu
}

/// Every tensor of a checkpoint as `(name, values)`, sorted by name, for exact comparisons.
pub fn checkpoint_values(
    ck: &realnvp_trainer::checkpoint::Checkpoint,
) -> Result<Vec<(String, Vec<f32>)>, candle_core::Error> {
    let mut w: Vec<_> = ck
        .tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.flatten_all()?.to_vec1::<f32>()?)))
        .collect::<Result<_, candle_core::Error>>()?;
    w.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(w)
}

/// A path as a command-line argument.
pub fn s(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// [`small_moons`]`(hidden)` written as the config file `dir/name`.
pub fn config_file(
    dir: &std::path::Path,
    name: &str,
    hidden: usize,
) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(&small_moons(hidden)?)?)?;
    Ok(path)
}

/// Continues the run in `dir` up to `steps` the way `trainer fit --resume --steps N` does (the library's one
/// resume path).
pub fn resume(
    dir: &std::path::Path,
    steps: u64,
) -> Result<realnvp_trainer::train::FitReport, realnvp_trainer::TrainError> {
    let request = realnvp_trainer::request::FitRequest {
        resume: true,
        steps: Some(steps),
        ..Default::default()
    };
    realnvp_trainer::request::fit_or_resume(
        dir,
        &request,
        &cpu(),
        &mut realnvp_trainer::train::Silent,
    )
}

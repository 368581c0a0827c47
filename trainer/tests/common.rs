//! Shared helpers for the trainer's integration tests (included with `mod common;`).
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

/// Runs the `trainer` binary; its stdout and stderr on success, both in the error otherwise.
pub fn trainer(args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    trainer_within(args, std::time::Duration::from_secs(600))
}

/// [`trainer`], failing after `limit` instead of hanging.
pub fn trainer_within<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(
    args: &[S],
    limit: std::time::Duration,
) -> Result<String, Box<dyn std::error::Error>> {
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > limit {
            child.kill()?;
            child.wait()?;
            return Err(format!("trainer {args:?} did not finish within {limit:?}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("trainer {args:?} failed ({}):\n{text}", out.status).into());
    }
    Ok(text)
}

/// `trainer fit` of the `moons` preset for 5 steps on 500 toy points into the run directory `out`:
/// a run to export, in about a second.
pub fn fit_moons(out: &str) -> Result<String, Box<dyn std::error::Error>> {
    trainer(&[
        "fit",
        "--preset",
        "moons",
        "--data",
        "toy:moons?n=500&n_test=100",
        "--out",
        out,
        "--steps",
        "5",
        "--batch-size",
        "50",
        "--device",
        "cpu",
    ])
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

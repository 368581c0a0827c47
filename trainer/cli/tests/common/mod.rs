//! The trainer library's test helpers (`trainer/tests/common.rs`), and the `trainer` command run with them.
#![allow(dead_code)]

#[path = "../../../tests/common.rs"]
mod helpers;
pub use helpers::*;

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

//! Checkpoints: atomic writes, refusal of NaN, and clear errors for damaged files.

mod common;
use candle_core::Tensor;
use common::*;
use realnvp_bundle::files::write_atomic_with;
use realnvp_trainer::TrainError;
use realnvp_trainer::checkpoint::{self, CHECKPOINT_FILE, TrainState};
use realnvp_trainer::optim::{Adam, AdamConfig};
use realnvp_trainer::run::FitOptions;
use realnvp_trainer::train::{self, Silent, trainable};

#[test]
fn interrupted_write_leaves_the_previous_checkpoint_loadable() -> TestResult {
    let dir = tempfile::tempdir()?;
    train::fit(
        dir.path(),
        &small_moons(16)?,
        &moons_options(5),
        &cpu(),
        &mut Silent,
    )?;
    let path = dir.path().join(CHECKPOINT_FILE);
    let before = checkpoint::load(&path, &cpu())?;
    assert_eq!(before.state.step, 5);

    // A write that dies half-way: the new file is written in full to the temporary path, then
    // cut in half (as a crash would leave it), then the writer fails before the rename.
    let loaded = realnvp_trainer::run::load_run(dir.path(), &cpu())?;
    let adam = Adam::new(
        trainable(&loaded.model, &loaded.varmap),
        AdamConfig::with_lr(1e-3),
    )?;
    let tensors = checkpoint::collect_tensors(&loaded.varmap, &adam, None);
    let mut state = TrainState::new(1e-3);
    state.step = 99;
    let result = write_atomic_with(&path, |tmp| {
        checkpoint::write_file(tmp, &tensors, &state, &before.config)?;
        let io = |e| TrainError::Io {
            path: tmp.into(),
            source: e,
        };
        let len = std::fs::metadata(tmp).map_err(io)?.len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(tmp)
            .map_err(io)?;
        f.set_len(len / 2).map_err(io)?;
        Err(io(std::io::Error::other(
            "simulated crash during the write",
        )))
    });
    assert!(result.is_err());
    let after = checkpoint::load(&path, &cpu())?;
    assert_eq!(after.state, before.state);
    assert_eq!(
        common::checkpoint_values(&after)?,
        common::checkpoint_values(&before)?
    );

    // A torn temporary file left by a killed process does not disturb loading or resuming.
    std::fs::write(
        dir.path().join(".checkpoint.safetensors.12345.tmp"),
        b"\x10\x00garbage",
    )?;
    let resumed = common::resume(dir.path(), 8)?;
    assert_eq!(resumed.state.step, 8);
    assert_eq!(checkpoint::load(&path, &cpu())?.state.step, 8);

    // Had the file itself been torn, loading says so and names the file.
    let torn = dir.path().join("torn.safetensors");
    let bytes = std::fs::read(&path)?;
    std::fs::write(&torn, &bytes[..bytes.len() / 2])?;
    let err = checkpoint::load(&torn, &cpu()).expect_err("torn file");
    assert!(err.to_string().contains("torn.safetensors"), "{err}");
    Ok(())
}

#[test]
fn a_checkpoint_with_nan_is_never_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    train::fit(
        dir.path(),
        &small_moons(16)?,
        &moons_options(5),
        &cpu(),
        &mut Silent,
    )?;
    let path = dir.path().join(CHECKPOINT_FILE);
    let before = std::fs::read(&path)?;
    let loaded = realnvp_trainer::run::load_run(dir.path(), &cpu())?;
    let adam = Adam::new(
        trainable(&loaded.model, &loaded.varmap),
        AdamConfig::with_lr(1e-3),
    )?;
    {
        let data = loaded.varmap.data().lock().map_err(|e| e.to_string())?;
        let (name, var) = data
            .iter()
            .find(|(k, _)| k.ends_with("weight"))
            .ok_or("no weight")?;
        let poisoned = (var.as_tensor() * f64::NAN)?;
        var.set(&poisoned)?;
        println!("poisoned {name}");
    }
    let err = checkpoint::save(
        &path,
        &loaded.varmap,
        &adam,
        None,
        &TrainState::new(1e-3),
        loaded.model.config(),
    )
    .expect_err("NaN refused");
    assert!(err.to_string().contains("NaN"), "{err}");
    assert_eq!(
        std::fs::read(&path)?,
        before,
        "the old checkpoint is untouched"
    );
    let t = Tensor::new(&[1.0f32, f32::INFINITY], &cpu())?;
    assert_eq!(
        checkpoint::first_non_finite(&[("x".into(), t)])?,
        Some("x".to_string())
    );
    Ok(())
}

/// `--time-limit` ends the session after the step that reaches it, with the usual final
/// checkpoint, and the run resumes from there.
#[test]
fn a_time_limit_ends_the_session_with_a_checkpoint_that_resumes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let options = FitOptions {
        time_limit_s: Some(0.3),
        ..moons_options(1_000_000)
    };
    let report = train::fit(dir.path(), &small_moons(16)?, &options, &cpu(), &mut Silent)?;
    let stopped = report.state.step;
    assert!(stopped > 0 && stopped < 1_000_000, "stopped at {stopped}");
    let ck = checkpoint::load(&dir.path().join(CHECKPOINT_FILE), &cpu())?;
    assert_eq!(ck.state.step, stopped);
    let resumed = common::resume(dir.path(), stopped + 5)?;
    assert_eq!(resumed.state.step, stopped + 5);
    let bad = FitOptions {
        time_limit_s: Some(-1.0),
        ..moons_options(10)
    };
    let err = train::fit(
        &dir.path().join("other"),
        &small_moons(16)?,
        &bad,
        &cpu(),
        &mut Silent,
    )
    .expect_err("refused");
    assert!(err.to_string().contains("--time-limit"), "{err}");
    Ok(())
}

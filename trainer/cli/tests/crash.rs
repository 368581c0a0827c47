//! Crash safety of the `trainer` binary: SIGKILL at random points and the same command with
//! `--resume`, two exports racing for one bundle directory, and a learning rate that diverges.

#[path = "../../../tests/support/catalogue.rs"]
mod catalogue;
mod common;
use catalogue::temporaries;
use common::{TestResult, s};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use realnvp_trainer::checkpoint::{self, CHECKPOINT_FILE};
use realnvp_trainer::metrics;

/// `trainer fit` is killed with SIGKILL at five random (seeded) moments and each time restarted with
/// the same command plus `--resume`; then it runs to the end. After every kill the checkpoint loads,
/// its step is a checkpoint step, and the metrics on disk run at most one checkpoint interval past
/// it (what the kill lost). At the end the run equals an uninterrupted one: every step's loss is
/// the same and logged once, in order, the checkpoint is at the last step with one Adam update per
/// step, the weights are the same, a temporary left by a killed writer is gone, and running the
/// same command again changes nothing.
#[test]
fn sigkill_at_random_points_and_the_same_command_resumes() -> TestResult {
    const STEPS: u64 = 1000;
    const EVERY: u64 = 25;
    let tmp = tempfile::tempdir()?;
    let config = common::config_file(tmp.path(), "small.json", 16)?;
    let command = |out: &Path| -> Vec<String> {
        [
            "fit",
            "--config",
            &s(&config),
            "--data",
            "toy:moons?n=2000&n_test=200",
            "--out",
            &s(out),
            "--steps",
            &STEPS.to_string(),
            "--batch-size",
            "32",
            "--lr",
            "0.002",
            "--seed",
            "3",
            "--checkpoint-every",
            &EVERY.to_string(),
            "--log-every",
            "1",
            "--eval-every",
            "1000000",
            "--sample-every",
            "0",
            "--device",
            "cpu",
        ]
        .map(String::from)
        .to_vec()
    };
    let reference = tmp.path().join("reference");
    common::trainer_within(&command(&reference), Duration::from_secs(120))?;

    let run = tmp.path().join("run");
    let mut resume = command(&run);
    resume.push("--resume".into());
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_240_607);
    let mut kills = 0;
    let logged = |run: &Path| -> u64 {
        metrics::read(&run.join("metrics.csv"))
            .ok()
            .and_then(|rows| rows.last().map(|r| r.step))
            .unwrap_or(0)
    };
    for round in 0..6 {
        let args = if round == 0 {
            command(&run)
        } else {
            resume.clone()
        };
        // The first kill lands during start-up (data, model, the step-0 checkpoint), the others once
        // training has passed a random step, wherever the process then is (a step, a metrics row, a
        // checkpoint being written).
        let start_up = Duration::from_secs_f64(rng.random_range(0.0..0.15));
        let target = rng.random_range((logged(&run) + 1).min(STEPS - 51)..STEPS - 50);
        let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let spawned = Instant::now();
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            let due = if round == 0 {
                spawned.elapsed() >= start_up
            } else {
                logged(&run) >= target
            };
            if due {
                break;
            }
            if spawned.elapsed() > Duration::from_secs(60) {
                child.kill()?;
                return Err(format!("round {round}: step {target} not reached in 60 s").into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait()?.is_some() {
            // It finished (or failed) before the kill: the final checks below still apply.
            continue;
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        kills += 1;
        let path = run.join(CHECKPOINT_FILE);
        if !path.exists() {
            eprintln!("round {round}: killed before the first checkpoint");
            continue; // the next command starts afresh
        }
        let ck = checkpoint::load(&path, &common::cpu())?;
        let step = ck.state.step;
        assert!(
            step.is_multiple_of(EVERY) || step == STEPS,
            "checkpoint at step {step}"
        );
        let last = logged(&run);
        eprintln!("round {round}: killed with the checkpoint at step {step}, metrics at {last}");
        assert!(
            last <= step + EVERY,
            "metrics reach step {last}, the checkpoint {step}: more than one interval would be lost"
        );
    }
    assert!(kills >= 5, "only {kills} of 6 sessions were killed");
    // A temporary that a writer killed mid-write leaves behind (a process id that cannot run).
    let dead_pid = std::fs::read_to_string("/proc/sys/kernel/pid_max")?
        .trim()
        .to_string();
    let stale = run.join(format!(".{CHECKPOINT_FILE}.tmp-{dead_pid}-0"));
    if run.is_dir() {
        std::fs::write(&stale, b"half a checkpoint")?;
    }
    let out = common::trainer_within(&resume, Duration::from_secs(120))?;
    assert!(out.contains(&format!("done: {STEPS} steps")), "{out}");
    assert!(
        !stale.exists(),
        "the killed writer's temporary is still there"
    );
    assert_eq!(temporaries(&run), Vec::<PathBuf>::new());

    let ck = checkpoint::load(&run.join(CHECKPOINT_FILE), &common::cpu())?;
    assert_eq!(ck.state.step, STEPS);
    assert_eq!(ck.state.adam_step, STEPS, "one Adam update per step");
    assert_eq!(ck.state.skipped_steps, 0);
    let reference_ck = checkpoint::load(&reference.join(CHECKPOINT_FILE), &common::cpu())?;
    assert_eq!(
        common::checkpoint_values(&ck)?,
        common::checkpoint_values(&reference_ck)?,
        "the resumed run's weights differ from the uninterrupted run's"
    );
    let rows = metrics::read(&run.join("metrics.csv"))?;
    let steps: Vec<u64> = rows.iter().map(|r| r.step).collect();
    assert_eq!(
        steps,
        (1..=STEPS).collect::<Vec<_>>(),
        "each step logged once, in order"
    );
    let losses = |rows: &[metrics::Row]| rows.iter().map(|r| r.train_loss).collect::<Vec<_>>();
    let reference_rows = metrics::read(&reference.join("metrics.csv"))?;
    assert_eq!(losses(&rows), losses(&reference_rows));
    // The same command, once more: the run is complete and stays as it is.
    let before = std::fs::read(run.join("metrics.csv"))?;
    let out = common::trainer_within(&resume, Duration::from_secs(60))?;
    assert!(out.contains(&format!("done: {STEPS} steps")), "{out}");
    assert_eq!(std::fs::read(run.join("metrics.csv"))?, before);
    Ok(())
}

/// The pair id stored in a graph's metadata.
fn pair_id(graph: &Path) -> Result<String, Box<dyn std::error::Error>> {
    use prost::Message;
    let model = candle_onnx::onnx::ModelProto::decode(std::fs::read(graph)?.as_slice())?;
    let key = realnvp_bundle::Key::PairId.prop();
    model
        .metadata_props
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.clone())
        .ok_or_else(|| format!("{} has no {key}", graph.display()).into())
}

/// Two `trainer export` processes writing the same `--out` at once, six times: both succeed, and
/// the directory holds one complete bundle whose two graphs and model.json carry the pair id one of
/// them printed (never a mix of the two exports), with no temporary directory left beside it.
#[test]
fn racing_exports_leave_one_complete_bundle() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let config = common::config_file(tmp.path(), "small.json", 16)?;
    let run = tmp.path().join("run");
    let fit: Vec<String> = [
        "fit",
        "--config",
        &s(&config),
        "--data",
        "toy:moons?n=400&n_test=100",
        "--out",
        &s(&run),
        "--steps",
        "4",
        "--batch-size",
        "50",
        "--device",
        "cpu",
    ]
    .map(String::from)
    .to_vec();
    common::trainer_within(&fit, Duration::from_secs(60))?;
    let models = tmp.path().join("models");
    std::fs::create_dir(&models)?;
    let out = models.join("bundle");
    for round in 0..6 {
        let children = (0..2)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_trainer"))
                    .args(["export", "--run", &s(&run), "--out", &s(&out)])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut printed = Vec::new();
        for child in children {
            let o = child.wait_with_output()?;
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(
                o.status.success(),
                "round {round}: {text}{}",
                String::from_utf8_lossy(&o.stderr)
            );
            let id = text
                .split("(pair id ")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .ok_or("no pair id printed")?;
            printed.push(id.to_string());
        }
        assert_ne!(printed[0], printed[1], "two exports, two pair ids");
        let mut names: Vec<String> = std::fs::read_dir(&out)?
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        let mut expected: Vec<String> = realnvp_bundle::BUNDLE_FILES.map(String::from).to_vec();
        expected.sort();
        assert_eq!(names, expected, "round {round}");
        let forward = pair_id(&out.join("forward.onnx"))?;
        let inverse = pair_id(&out.join("inverse.onnx"))?;
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("model.json"))?)?;
        assert_eq!(forward, inverse, "round {round}: a mix of two exports");
        assert_eq!(card["pair_id"], forward.as_str(), "round {round}");
        assert!(printed.contains(&forward), "{forward} not in {printed:?}");
        assert_eq!(temporaries(&models), Vec::<PathBuf>::new(), "round {round}");
    }
    Ok(())
}

/// A learning rate of 10 makes the moons flow overflow within a few steps. The run does not fail
/// and never saves a non-finite value: it skips the bad steps, rolls back to the last checkpoint
/// with the learning rate halved (saying so in the log) until training is finite, and finishes;
/// the checkpoint keeps the lowered rate, and the run exports (no NaN graph).
#[test]
fn a_diverging_learning_rate_is_rolled_back_and_halved() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let config = common::config_file(tmp.path(), "small.json", 16)?;
    let run = tmp.path().join("run");
    let args: Vec<String> = [
        "fit",
        "--config",
        &s(&config),
        "--data",
        "toy:moons?n=2000&n_test=200",
        "--out",
        &s(&run),
        "--steps",
        "200",
        "--batch-size",
        "32",
        "--lr",
        "10",
        "--seed",
        "3",
        "--checkpoint-every",
        "20",
        "--log-every",
        "10",
        "--eval-every",
        "1000000",
        "--sample-every",
        "0",
        "--device",
        "cpu",
    ]
    .map(String::from)
    .to_vec();
    let log = common::trainer_within(&args, Duration::from_secs(120))?;
    assert!(log.contains("non-finite loss or gradient"), "{log}");
    assert!(
        log.contains("rolled back to the checkpoint of step 0 with the learning rate halved to 5 (rollback 1)"),
        "{log}"
    );
    assert!(log.contains("done: 200 steps"), "{log}");
    let ck = checkpoint::load(&run.join(CHECKPOINT_FILE), &common::cpu())?;
    assert!(ck.state.rollbacks >= 1);
    assert_eq!(ck.state.lr, 10.0 / 2f64.powi(ck.state.rollbacks as i32));
    let tensors: Vec<_> = ck.tensors.into_iter().collect();
    assert_eq!(checkpoint::first_non_finite(&tensors)?, None);
    let rows = metrics::read(&run.join("metrics.csv"))?;
    for row in &rows {
        assert!(
            row.lr <= 5.0,
            "a row at the diverging rate survived: {row:?}"
        );
        // What survives in the log is training that was finite: every logged loss is a number.
        assert!(
            row.train_loss.is_some_and(f64::is_finite),
            "a logged loss is missing or not finite: {row:?}"
        );
    }
    // One row per 10 steps, up to the last: the run did finish all 200 steps after its rollbacks.
    assert_eq!(
        rows.iter().map(|r| r.step).collect::<Vec<_>>(),
        (1..=20).map(|k| 10 * k).collect::<Vec<u64>>()
    );
    // The model is finite but far from healthy. With the default tolerances the export either refuses it after
    // verification with a clear message, writing nothing (not even a temporary), or writes a complete bundle;
    // with tolerances loose enough to accept it, it must write a complete one: both graphs and model.json from
    // one export, every weight of both graphs finite.
    let bundle = tmp.path().join("bundle");
    let export = |extra: &[&str]| {
        let mut a = vec!["export", "--run", &s(&run), "--out", &s(&bundle)]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        a.extend(extra.iter().map(|x| x.to_string()));
        common::trainer_within(&a, Duration::from_secs(60))
    };
    if let Err(e) = export(&[]) {
        assert!(e.to_string().contains("Nothing was written"), "{e}");
        assert!(!bundle.exists());
        assert_eq!(temporaries(tmp.path()), Vec::<PathBuf>::new());
    }
    export(&[
        "--tolerance-z",
        "1e30",
        "--tolerance-log-prob",
        "1e30",
        "--tolerance-roundtrip",
        "1e30",
    ])?;
    let (forward, inverse) = (bundle.join("forward.onnx"), bundle.join("inverse.onnx"));
    let id = pair_id(&forward)?;
    assert_eq!(
        pair_id(&inverse)?,
        id,
        "the two graphs come from two exports"
    );
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("model.json"))?)?;
    assert_eq!(card["pair_id"], id.as_str());
    for graph in [&forward, &inverse] {
        assert_eq!(
            first_non_finite_weight(graph)?,
            None,
            "{} holds a non-finite weight",
            graph.display()
        );
    }
    Ok(())
}

/// The name of the first float initializer of `graph` that holds a NaN or ±Inf, if any.
fn first_non_finite_weight(graph: &Path) -> Result<Option<String>, Box<dyn std::error::Error>> {
    use prost::Message;
    let model = candle_onnx::onnx::ModelProto::decode(std::fs::read(graph)?.as_slice())?;
    let initializers = model.graph.iter().flat_map(|g| &g.initializer);
    Ok(initializers
        .filter(|t| t.data_type == 1)
        .find(|t| {
            let raw = t
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            t.float_data
                .iter()
                .copied()
                .chain(raw)
                .any(|v| !v.is_finite())
        })
        .map(|t| t.name.clone()))
}

//! The `trainer` rows of the error catalogue (docs/errors.md): every bad input is refused with a
//! non-zero exit and a one-line message that names the problem, never a panic, and leaves nothing
//! behind (no run directory, bundle or output file, no temporary file). Each case's message must also
//! be the one docs/errors.md lists for its id, so the catalogue cannot drift from the program.

#[path = "../../../tests/support/catalogue.rs"]
mod catalogue;
mod common;
use catalogue::{Case, temporaries};
use common::{TestResult, s};

use std::path::Path;
use std::process::Command;

/// Copies the run directory `from` to `to` (files and one level of folders).
fn copy_run(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            copy_run(&entry.path(), &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// An IDX image file of `n` images of `h × w` whose header claims `claim` images.
fn idx(n: u32, claim: u32, h: u32, w: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [claim, h, w] {
        b.extend(d.to_be_bytes());
    }
    b.extend(std::iter::repeat_n(7u8, (n * h * w) as usize));
    b
}

/// Rewrites the checkpoint at `path` with every value of its first model weight set to NaN (the
/// trainer never writes such a file; a damaged disk or another program can).
fn poison_checkpoint(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)?;
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let target = names
        .iter()
        .find(|n| !n.starts_with("adam.") && n.ends_with("weight"))
        .ok_or("no weight in the checkpoint")?
        .clone();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = names
        .iter()
        .map(|n| {
            let v = st.tensor(n)?;
            let data = if *n == target {
                f32::NAN.to_le_bytes().repeat(v.data().len() / 4)
            } else {
                v.data().to_vec()
            };
            Ok((n.clone(), v.shape().to_vec(), data))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, shape, data)| {
            Ok((
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)?,
            ))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    safetensors::serialize_to_file(views, header.metadata().clone(), path)?;
    Ok(())
}

#[test]
fn trainer_error_catalogue() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let p = |name: &str| dir.join(name);
    // A small trained run (a narrow moons flow: fractions of a second) and the inputs of the cases.
    let config = common::config_file(dir, "small.json", 16)?;
    let other_config = common::config_file(dir, "other.json", 8)?;
    let run = p("run");
    common::trainer(&[
        "fit",
        "--config",
        &s(&config),
        "--out",
        &s(&run),
        "--data",
        "toy:moons?n=400&n_test=100",
        "--steps",
        "4",
        "--batch-size",
        "50",
        "--device",
        "cpu",
    ])?;
    for (name, text) in [
        ("nan.csv", "a,b\n1,2\nnan,3\n4,5\n"),
        ("inf.csv", "a,b\n1,2\n3,-inf\n4,5\n"),
        ("empty.csv", ""),
        ("one-row.csv", "a,b\n1,2\n"),
        ("ragged.csv", "a,b\n1,2\n3\n"),
    ] {
        std::fs::write(p(name), text)?;
    }
    std::fs::create_dir(p("no-images"))?;
    std::fs::write(p("no-images/readme.txt"), "no pictures here")?;
    std::fs::create_dir(p("one-image"))?;
    image::GrayImage::new(28, 28).save(p("one-image/a.png"))?;
    std::fs::create_dir(p("not-an-image"))?;
    image::GrayImage::new(28, 28).save(p("not-an-image/a.png"))?;
    std::fs::write(p("not-an-image/b.png"), "text, not a PNG")?;
    for (folder, train) in [
        ("idx-truncated", idx(5, 10, 28, 28)),
        ("idx-corrupt", b"PK\x03\x04 a zip file, not IDX".to_vec()),
    ] {
        std::fs::create_dir(p(folder))?;
        std::fs::write(p(folder).join("train-images-idx3-ubyte"), train)?;
        std::fs::write(p(folder).join("t10k-images-idx3-ubyte"), idx(4, 4, 28, 28))?;
    }
    // Damaged copies of the run.
    for copy in ["corrupt", "truncated", "other-config", "nan"] {
        copy_run(&run, &p(copy))?;
    }
    let checkpoint = |name: &str| p(name).join("checkpoint.safetensors");
    std::fs::write(checkpoint("corrupt"), b"not a safetensors file")?;
    let bytes = std::fs::read(checkpoint("truncated"))?;
    std::fs::write(checkpoint("truncated"), &bytes[..bytes.len() / 2])?;
    std::fs::copy(&other_config, p("other-config/config.json"))?;
    poison_checkpoint(&checkpoint("nan"))?;
    let foreign = p("foreign");
    std::fs::create_dir(&foreign)?;
    std::fs::write(foreign.join("notes.txt"), "the user's own file")?;
    let a_file = p("a-file");
    std::fs::write(&a_file, "a plain file")?;

    let out = p("new-run");
    let bundle = p("bundle");
    let fit_with = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["fit", "--config", &s(&config), "--out", &s(&out)]
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.extend(["--steps", "2"].map(String::from));
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let data = |spec: String| fit_with(&["--data", &spec, "--batch-size", "2", "--device", "cpu"]);
    let args = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let run_s = s(&run);
    let csv = |name: &str| format!("csv:{}", s(&p(name)));
    let cases = vec![
        Case {
            id: "T01",
            args: args(&["fit", "--preset", "huge", "--out", &s(&out)]),
            message: "invalid value 'huge' for '--preset <PRESET>'",
            absent: vec![out.clone()],
        },
        Case {
            id: "T02",
            args: args(&["fit", "--config", &s(&p("nan.csv")), "--out", &s(&out)]),
            message: "not a valid flow config: expected value at line 1 column 1",
            absent: vec![out.clone()],
        },
        Case {
            id: "T03",
            args: args(&["fit", "--config", &s(&p("absent.json")), "--out", &s(&out)]),
            message: "absent.json: No such file or directory",
            absent: vec![out.clone()],
        },
        Case {
            id: "T04",
            args: fit_with(&["--data", "toy:spiral"]),
            message: "invalid data spec `toy:spiral`",
            absent: vec![out.clone()],
        },
        Case {
            id: "T05",
            args: data(csv("nan.csv")),
            message: "line 3, column 1 (`a`): `nan` is not a finite number",
            absent: vec![out.clone()],
        },
        Case {
            id: "T06",
            args: data(csv("inf.csv")),
            message: "line 3, column 2 (`b`): `-inf` is not a finite number",
            absent: vec![out.clone()],
        },
        Case {
            id: "T07",
            args: data(csv("empty.csv")),
            message: "empty.csv holds no rows",
            absent: vec![out.clone()],
        },
        Case {
            id: "T08",
            args: data(csv("one-row.csv")),
            message: "has 1 examples: too few to hold out 1 for the test split",
            absent: vec![out.clone()],
        },
        Case {
            id: "T09",
            args: data(csv("ragged.csv")),
            message: "line 3, column 2: row has 1 cells, expected 2",
            absent: vec![out.clone()],
        },
        Case {
            id: "T10",
            args: data(format!("images:{}", s(&p("no-images")))),
            message: "holds no PNG or JPEG files",
            absent: vec![out.clone()],
        },
        Case {
            id: "T11",
            args: data(format!("images:{}", s(&p("one-image")))),
            message: "has 1 examples: too few to hold out 1 for the test split",
            absent: vec![out.clone()],
        },
        Case {
            id: "T12",
            args: data(format!("images:{}", s(&p("not-an-image")))),
            message: "cannot decode image",
            absent: vec![out.clone()],
        },
        Case {
            id: "T13",
            args: data(format!("mnist-idx:{}", s(&p("idx-truncated")))),
            message: "truncated: header says 10x28x28 = 7840 pixels, file holds 3920",
            absent: vec![out.clone()],
        },
        Case {
            id: "T14",
            args: data(format!("mnist-idx:{}", s(&p("idx-corrupt")))),
            message: "not an IDX file",
            absent: vec![out.clone()],
        },
        Case {
            id: "T15",
            args: data(format!("mnist-idx:{}", s(&p("absent")))),
            message: "not found",
            absent: vec![out.clone()],
        },
        Case {
            id: "T16",
            args: fit_with(&["--data", "toy:moons?n=10&n_test=5", "--batch-size", "64"]),
            message: "batch size 64 must be between 1 and the 10 training examples",
            absent: vec![out.clone()],
        },
        Case {
            id: "T17",
            args: fit_with(&["--data", "embedded"]),
            message: "but the model expects",
            absent: vec![out.clone()],
        },
        Case {
            id: "T18",
            args: fit_with(&["--lr", "nan"]),
            message: "--lr must be a positive number",
            absent: vec![out.clone()],
        },
        Case {
            id: "T19",
            args: fit_with(&["--lr=-0.001"]),
            message: "--lr must be a positive number",
            absent: vec![out.clone()],
        },
        Case {
            id: "T20",
            args: fit_with(&["--batch-size", "0"]),
            message: "batch sizes must be at least 1",
            absent: vec![out.clone()],
        },
        Case {
            id: "T21",
            args: fit_with(&["--ema-decay", "1.5"]),
            message: "--ema-decay must be in [0, 1)",
            absent: vec![out.clone()],
        },
        Case {
            id: "T22",
            args: fit_with(&["--time-limit", "nan"]),
            message: "--time-limit must be a positive number of seconds",
            absent: vec![out.clone()],
        },
        Case {
            id: "T23",
            args: fit_with(&["--device", "cuda"]),
            message: "--features cuda",
            absent: vec![out.clone()],
        },
        Case {
            id: "T24",
            args: args(&[
                "fit",
                "--config",
                &s(&config),
                "--data",
                "toy:moons?n=400&n_test=100",
                "--out",
                &s(&a_file.join("run")),
                "--steps",
                "2",
                "--device",
                "cpu",
            ]),
            message: "cannot create the run directory",
            absent: vec![],
        },
        Case {
            id: "T25",
            args: args(&[
                "fit",
                "--config",
                &s(&config),
                "--out",
                &run_s,
                "--data",
                "toy:moons?n=400&n_test=100",
            ]),
            message: "already holds a run (checkpoint.safetensors); pass --resume",
            absent: vec![],
        },
        Case {
            id: "T26",
            args: args(&["fit", "--out", &run_s, "--resume", "--lr", "0.5"]),
            message: "--lr 0.5 differs from the run's 0.001",
            absent: vec![],
        },
        Case {
            id: "T27",
            args: args(&["fit", "--preset", "tiny"]),
            message: "--out RUN_DIR is required",
            absent: vec![],
        },
        Case {
            id: "T28",
            args: args(&["eval", "--run", &s(&p("corrupt")), "--device", "cpu"]),
            message: "not a readable trainer checkpoint",
            absent: vec![],
        },
        Case {
            id: "T29",
            args: args(&["export", "--run", &s(&p("truncated")), "--out", &s(&bundle)]),
            message: "not a readable trainer checkpoint",
            absent: vec![bundle.clone()],
        },
        Case {
            id: "T30",
            args: args(&[
                "export",
                "--run",
                &s(&p("other-config")),
                "--out",
                &s(&bundle),
            ]),
            message: "its config differs from",
            absent: vec![bundle.clone()],
        },
        Case {
            id: "T31",
            args: args(&["export", "--run", &s(&p("nan")), "--out", &s(&bundle)]),
            message: "the weights are not finite (a diverged or damaged checkpoint)",
            absent: vec![bundle.clone()],
        },
        Case {
            id: "T32",
            args: args(&["eval", "--run", &s(&p("absent")), "--device", "cpu"]),
            message: "is not a run directory (no checkpoint.safetensors)",
            absent: vec![p("absent")],
        },
        Case {
            id: "T33",
            args: args(&["export", "--run", &run_s, "--out", &s(&foreign)]),
            message: "replacing the directory would lose it",
            absent: vec![],
        },
        Case {
            id: "T34",
            args: args(&[
                "export",
                "--run",
                &run_s,
                "--out",
                &s(&a_file.join("bundle")),
            ]),
            message: "cannot create the output directory",
            absent: vec![],
        },
        Case {
            id: "T35",
            args: args(&[
                "sample",
                "--run",
                &run_s,
                "--n",
                "0",
                "--out",
                &s(&p("s.csv")),
            ]),
            message: "--n 0: draw from 1 to",
            absent: vec![p("s.csv")],
        },
        Case {
            id: "T36",
            args: args(&[
                "sample",
                "--run",
                &run_s,
                "--n",
                "100000000000",
                "--out",
                &s(&p("s.csv")),
            ]),
            message: "--n 100000000000: draw from 1 to 134217728 samples at a time",
            absent: vec![p("s.csv")],
        },
        Case {
            id: "T37",
            args: args(&[
                "sample",
                "--run",
                &run_s,
                "--temperature",
                "-1",
                "--out",
                &s(&p("s.csv")),
            ]),
            message: "--temperature must be a finite number > 0, got -1",
            absent: vec![p("s.csv")],
        },
        Case {
            id: "T38",
            args: args(&[
                "sample",
                "--run",
                &run_s,
                "--temperature",
                "nan",
                "--out",
                &s(&p("s.csv")),
            ]),
            message: "--temperature must be a finite number > 0, got NaN",
            absent: vec![p("s.csv")],
        },
        Case {
            id: "T39",
            args: args(&["sample", "--run", &run_s, "--out", &s(&p("s.txt"))]),
            message: "must end in .csv or .png for a vector model",
            absent: vec![p("s.txt")],
        },
        Case {
            id: "T40",
            args: args(&[
                "sample",
                "--run",
                &run_s,
                "--out",
                &s(&a_file.join("s.csv")),
            ]),
            message: "cannot create the output directory",
            absent: vec![],
        },
    ];
    let failures = catalogue::failures(
        "trainer",
        || Command::new(env!("CARGO_BIN_EXE_trainer")),
        &cases,
        dir,
    )?;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// `export_bundle` refuses a model with a NaN weight before writing anything, with the typed
/// `NonFinite` error naming the graph and the weight (not a vague verification failure).
#[test]
fn export_refuses_a_model_with_non_finite_weights_and_writes_nothing() -> TestResult {
    use realnvp_trainer::export::{ExportError, Tolerances, TrainingSummary, export_bundle};
    let device = common::cpu();
    let (model, varmap) =
        realnvp_trainer::init::seeded_init(&common::small_moons(16)?, 3, &device)?;
    let batch = candle_core::Tensor::new(&[[0.5f32, -0.25], [1.0, 0.0], [-0.5, 0.75]], &device)?;
    let tmp = tempfile::tempdir()?;
    let out = tmp.path().join("bundle");
    // The healthy model exports; the same model with one NaN weight does not.
    export_bundle(
        &model,
        &batch,
        &TrainingSummary::default(),
        &out,
        &Tolerances::default(),
        &|_| {},
    )?;
    // The healthy forward graph's float initializers, name -> element count: the same model
    // exports the same initializer names, so the refusal must name one of these.
    let healthy: std::collections::HashMap<String, usize> = {
        use prost::Message;
        let bytes = std::fs::read(out.join("forward.onnx"))?;
        let graph = candle_onnx::onnx::ModelProto::decode(bytes.as_slice())?
            .graph
            .ok_or("forward.onnx has no graph")?;
        graph
            .initializer
            .iter()
            .filter(|t| t.data_type == 1)
            .map(|t| (t.name.clone(), t.float_data.len() + t.raw_data.len() / 4))
            .collect()
    };
    std::fs::remove_dir_all(&out)?;
    for value in [f32::NAN, f32::INFINITY] {
        let (poisoned_name, poisoned_len) = {
            let vars = varmap.data().lock().map_err(|_| "varmap lock")?;
            let (name, var) = vars
                .iter()
                .filter(|(n, _)| n.contains("weight"))
                .min_by_key(|(n, _)| n.as_str())
                .ok_or("no weight")?;
            let poisoned = (var.as_tensor().ones_like()? * f64::from(value))?;
            var.set(&poisoned)?;
            (name.clone(), poisoned.elem_count())
        };
        match export_bundle(
            &model,
            &batch,
            &TrainingSummary::default(),
            &out,
            &Tolerances::default(),
            &|_| {},
        ) {
            Err(ExportError::NonFinite {
                graph,
                name,
                value: v,
            }) => {
                assert_eq!(graph, "forward");
                // The named initializer is one of the healthy graph's, of the poisoned weight's size.
                assert_eq!(
                    healthy.get(&name),
                    Some(&poisoned_len),
                    "{value}: the refusal names `{name}`, not the initializer of the poisoned \
                     weight {poisoned_name} ({poisoned_len} values)"
                );
                assert!(v.is_nan() == value.is_nan() && !v.is_finite(), "{v}");
            }
            other => return Err(format!("{value}: expected NonFinite, got {other:?}").into()),
        }
        assert!(!out.exists(), "a refused export wrote {}", out.display());
        assert!(temporaries(tmp.path()).is_empty());
    }
    Ok(())
}

/// Sample requests are checked before anything is drawn: no samples, more values than one call
/// may allocate, and a temperature that is not a finite number > 0 are typed errors.
#[test]
fn sample_refuses_bad_counts_and_temperatures() -> TestResult {
    use realnvp_trainer::sample::{MAX_SAMPLE_VALUES, sample};
    let device = common::cpu();
    let (model, _) = realnvp_trainer::init::seeded_init(&common::small_moons(16)?, 3, &device)?;
    assert_eq!(sample(&model, 5, 0.7, 1, &device)?.dims(), &[5, 2]);
    for (n, t) in [
        (0, 1.0),
        (MAX_SAMPLE_VALUES / 2 + 1, 1.0),
        (usize::MAX, 1.0),
        (4, 0.0),
        (4, -1.0),
        (4, f64::NAN),
        (4, f64::INFINITY),
    ] {
        match sample(&model, n, t, 1, &device) {
            Err(realnvp_trainer::TrainError::Invalid(m)) => {
                assert!(m.contains("--n") || m.contains("--temperature"), "{m}")
            }
            other => return Err(format!("n {n}, T {t}: {other:?}").into()),
        }
    }
    Ok(())
}

/// T41: an unknown `REALNVP_CONV` stops every command before it does anything.
#[test]
fn unknown_conv_algorithm_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .env("REALNVP_CONV", "fast")
        .args([
            "fit", "--preset", "moons", "--data", "moons", "--steps", "1", "--out",
        ])
        .arg(&run)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("REALNVP_CONV") && stderr.contains("use \"winograd\" or \"direct\""),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!run.exists(), "a refused fit created {}", run.display());
    Ok(())
}

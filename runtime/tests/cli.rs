//! The `runtime` binary end to end on fixture bundles.

mod common;

use std::process::{Command, Output};

fn runtime(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runtime"))
        .env(realnvp_runtime::ORT_DYLIB_ENV, common::ort_library())
        .args(["--device", "cpu"])
        .args(args)
        .output()
        .expect("run runtime")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sample_grid_is_deterministic_and_rescores() {
    let model = common::bundle(&[]);
    let model = model.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a.png"),
        tmp.path().join("b.png"),
        tmp.path().join("c.png"),
    );
    for (out, seed) in [(&a, "1"), (&b, "1"), (&c, "2")] {
        let o = runtime(&[
            "sample",
            "--model",
            model,
            "--n",
            "9",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    // 3 columns of 4-pixel tiles with 1-pixel borders, enlarged 3× by default.
    assert_eq!(image::open(&a).unwrap().width(), (3 * 5 + 1) * 3);

    let dir = tmp.path().join("each");
    let o = runtime(&[
        "sample",
        "--model",
        model,
        "--n",
        "3",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = runtime(&[
        "score",
        "--model",
        model,
        "--format",
        "json",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["bits_per_dim"].as_f64().is_some_and(f64::is_finite))
    );
    assert!(text(&o.stderr).contains("scored 3 items"));
}

#[test]
fn score_reports_unreadable_inputs_and_still_scores_the_rest() {
    let model = common::bundle(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.png");
    image::GrayImage::from_pixel(4, 4, image::Luma([17]))
        .save(&good)
        .unwrap();
    let bad = tmp.path().join("bad.png");
    std::fs::write(&bad, b"nope").unwrap();
    let o = runtime(&[
        "score",
        "--model",
        model.to_str().unwrap(),
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let stdout = text(&o.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("path,log_prob,bits_per_dim"));
    let row = lines.next().unwrap();
    assert!(row.starts_with(good.to_str().unwrap()), "{row}");
    let lp: f64 = row.split(',').nth(1).unwrap().parse().unwrap();
    let (_, expected) = common::closed_form(&[17.5; 16], true);
    assert!(
        (lp - expected).abs() / expected.abs() < 1e-5,
        "{lp} vs {expected}"
    );
    assert!(lines.next().is_none());
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("bad.png") && stderr.contains("1 unreadable"),
        "{stderr}"
    );
}

#[test]
fn vector_sample_csv_scores_back() {
    let model = common::bundle(&["--kind", "vector"]);
    let model = model.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("x.csv");
    let o = runtime(&[
        "sample",
        "--model",
        model,
        "--n",
        "20",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let png = tmp.path().join("x.png");
    assert!(
        runtime(&[
            "sample",
            "--model",
            model,
            "--n",
            "20",
            "--out",
            png.to_str().unwrap()
        ])
        .status
        .success()
    );
    assert!(image::open(&png).is_ok());
    let o = runtime(&["score", "--model", model, csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 21);
}

#[test]
fn info_and_check() {
    let model = common::bundle(&[]);
    let o = runtime(&["info", "--model", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let info = text(&o.stdout);
    assert!(
        info.contains("provider:        CPU") && info.contains("latent dim:      16"),
        "{info}"
    );
    let o = runtime(&["check", "--model", model.to_str().unwrap(), "--n", "8"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stdout).contains("z -> x -> z"));
}

#[test]
fn bad_bundle_and_bad_options_fail_with_a_message() {
    let model = common::bundle(&["--pair-mismatch"]);
    let o = runtime(&["info", "--model", model.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("different exports"),
        "{}",
        text(&o.stderr)
    );
    let good = common::bundle(&[]);
    let o = runtime(&[
        "sample",
        "--model",
        good.to_str().unwrap(),
        "--temperature",
        "0",
        "--out",
        "/tmp/never.png",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("temperature"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn without_ort_dylib_path_the_library_is_found_on_the_loader_path() {
    let model = common::bundle(&[]);
    let lib_dir = common::ort_library().parent().unwrap().to_path_buf();
    let run = |ld_path: Option<&std::path::Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runtime"));
        cmd.env_remove(realnvp_runtime::ORT_DYLIB_ENV)
            .env_remove("LD_LIBRARY_PATH")
            .args([
                "--device",
                "cpu",
                "info",
                "--model",
                model.to_str().unwrap(),
            ])
            .current_dir(std::env::temp_dir());
        if let Some(dir) = ld_path {
            cmd.env("LD_LIBRARY_PATH", dir);
        }
        cmd.output().expect("run runtime")
    };
    let found = run(Some(&lib_dir));
    assert!(found.status.success(), "{}", text(&found.stderr));
    assert!(
        text(&found.stdout).contains("onnxruntime lib: libonnxruntime.so"),
        "{}",
        text(&found.stdout)
    );
    // Without it the error lists what was tried and how to install the library.
    let missing = run(None);
    if !missing.status.success() {
        let err = text(&missing.stderr);
        assert!(
            err.contains("system search `libonnxruntime.so`") && err.contains("pip install"),
            "{err}"
        );
    }
}

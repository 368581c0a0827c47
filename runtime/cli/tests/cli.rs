//! The `runtime` binary end to end on fixture bundles.

mod common;
use common::{runtime, text};

use std::process::Command;

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

/// Writes `n` distinct 4×4 grey PNGs (the fixture's image shape) and returns their paths.
fn tiny_pngs(dir: &std::path::Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|k| {
            let path = dir.join(format!("img{k}.png"));
            let bytes: Vec<u8> = (0..16).map(|i| (i * 13 + k * 60) as u8).collect();
            image::GrayImage::from_raw(4, 4, bytes)
                .unwrap()
                .save(&path)
                .unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn reconstruct_shows_originals_above_their_reconstructions() {
    let model = common::bundle(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let files = tiny_pngs(tmp.path(), 3);
    let out = tmp.path().join("recon.png");
    let mut args = vec![
        "reconstruct",
        "--model",
        model.to_str().unwrap(),
        "--scale",
        "1",
    ];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--out", out.to_str().unwrap()]);
    let o = runtime(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let grid = image::open(&out).unwrap().to_luma8();
    // 3 columns × 2 rows of 4×4 tiles with 1-pixel borders.
    assert_eq!(grid.dimensions(), (3 * 5 + 1, 2 * 5 + 1));
    for col in 0..3u32 {
        for (dx, dy) in [(0, 0), (1, 2), (3, 3)] {
            let (x, y) = (1 + col * 5 + dx, 1 + dy);
            assert_eq!(
                grid.get_pixel(x, y),
                grid.get_pixel(x, y + 5),
                "column {col}: the fixture flow reconstructs exactly"
            );
        }
    }
}

#[test]
fn interpolate_rows_run_from_the_first_image_to_the_second() {
    let model = common::bundle(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let files = tiny_pngs(tmp.path(), 2);
    let out = tmp.path().join("strip.png");
    let model = model.to_str().unwrap();
    let o = runtime(&[
        "interpolate",
        "--model",
        model,
        &files[0],
        &files[1],
        "--steps",
        "5",
        "--scale",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let strip = image::open(&out).unwrap().to_luma8();
    assert_eq!(strip.dimensions(), (5 * 5 + 1, 5 + 1));
    let (a, b) = (
        image::open(&files[0]).unwrap().to_luma8(),
        image::open(&files[1]).unwrap().to_luma8(),
    );
    for (x, y, p) in a.enumerate_pixels() {
        assert_eq!(
            strip.get_pixel(1 + x, 1 + y),
            p,
            "left end is the first image"
        );
        assert_eq!(
            strip.get_pixel(1 + 4 * 5 + x, 1 + y),
            b.get_pixel(x, y),
            "right end is the second image"
        );
    }
    // An odd number of images, or fewer than 2 steps, is refused with a message.
    let o = runtime(&[
        "interpolate",
        "--model",
        model,
        &files[0],
        &files[1],
        &files[0],
        "--out",
        "/tmp/x.png",
    ]);
    assert!(
        !o.status.success() && text(&o.stderr).contains("pairs"),
        "{}",
        text(&o.stderr)
    );
    let o = runtime(&[
        "interpolate",
        "--model",
        model,
        &files[0],
        &files[1],
        "--steps",
        "1",
        "--out",
        "/tmp/x.png",
    ]);
    assert!(
        !o.status.success() && text(&o.stderr).contains("at least 2"),
        "{}",
        text(&o.stderr)
    );
}

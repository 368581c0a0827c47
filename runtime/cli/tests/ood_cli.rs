//! `runtime calibrate` and `runtime score --ood` end to end on PNG files, with the pretrained Fashion-MNIST
//! bundle, and their refusals.

mod common;
use common::{runtime, text};

use std::path::{Path, PathBuf};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn pretrained() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pretrained")
}

/// The pretrained bundle's three files in `dir` (no calibration).
fn copy_bundle(dir: &Path) -> std::io::Result<PathBuf> {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle)?;
    for file in realnvp_bundle::BUNDLE_FILES {
        std::fs::copy(pretrained().join("fmnist").join(file), bundle.join(file))?;
    }
    Ok(bundle)
}

/// The 8 Fashion-MNIST test images shipped in pretrained/examples, sorted.
fn examples() -> std::io::Result<Vec<String>> {
    let mut files: Vec<String> = std::fs::read_dir(pretrained().join("examples"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    Ok(files)
}

#[test]
fn calibrate_then_score_flags_what_the_calibration_rejects() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let bundle = copy_bundle(tmp.path())?;
    let model = bundle.to_str().unwrap();
    let images = examples()?;
    assert_eq!(images.len(), 8);

    // Without a calibration, --ood says how to make one.
    let o = runtime(&["score", "--model", model, "--ood", &images[0]]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("runtime calibrate"),
        "{}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty());

    // Six images at a 25% rate (at least 3 are needed).
    let mut args = vec![
        "calibrate",
        "--model",
        model,
        "--false-positive-rate",
        "0.25",
    ];
    args.extend(images[..6].iter().map(String::as_str));
    let o = runtime(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let cal_path = bundle.join(realnvp_bundle::CALIBRATION_FILE);
    let cal: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cal_path)?)?;
    assert_eq!(cal["statistic"], "complexity_corrected");
    assert_eq!(cal["items"], 6);
    let threshold = cal["threshold"].as_f64().unwrap();

    // A black image: far more likely than clothing under the model, yet flagged.
    let blank = tmp.path().join("blank.png");
    image::GrayImage::new(28, 28).save(&blank)?;
    let o = runtime(&[
        "score",
        "--model",
        model,
        "--ood",
        "--format",
        "json",
        &images[6],
        &images[7],
        blank.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let items: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout)?;
    assert_eq!(items.len(), 3);
    for item in &items {
        for field in [
            "path",
            "log_prob",
            "bits_per_dim",
            "complexity_bits_per_dim",
            "complexity_corrected",
            "typicality",
            "ood_score",
            "ood",
        ] {
            assert!(!item[field].is_null(), "{field} missing in {item}");
        }
        let score = item["ood_score"].as_f64().unwrap();
        assert_eq!(item["ood_score"], item["complexity_corrected"]);
        assert_eq!(item["ood"].as_bool().unwrap(), score > threshold, "{item}");
        let s = item["bits_per_dim"].as_f64().unwrap()
            - item["complexity_bits_per_dim"].as_f64().unwrap();
        assert!((s - score).abs() < 1e-5, "{item}");
    }
    let black = &items[2];
    assert!(black["bits_per_dim"].as_f64().unwrap() < items[0]["bits_per_dim"].as_f64().unwrap());
    assert_eq!(black["ood"], true, "{black}");

    // CSV carries the same columns.
    let o = runtime(&["score", "--model", model, "--ood", &images[6]]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let header = text(&o.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        header,
        "path,log_prob,bits_per_dim,complexity_bits_per_dim,complexity_corrected,typicality,ood_score,ood"
    );
    Ok(())
}

#[test]
fn calibrate_refuses_and_writes_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let bundle = copy_bundle(tmp.path())?;
    let model = bundle.to_str().unwrap();
    let images = examples()?;
    let out = tmp.path().join("cal.json");
    let out_s = out.to_str().unwrap();
    let refused = |args: &[&str], says: &str| {
        let o = runtime(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = text(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    };
    // Too few items for the rate.
    refused(
        &[
            "calibrate",
            "--model",
            model,
            "--out",
            out_s,
            &images[0],
            &images[1],
        ],
        "at least 19",
    );
    // A rate outside (0, 1).
    refused(
        &[
            "calibrate",
            "--model",
            model,
            "--out",
            out_s,
            "--false-positive-rate",
            "1.5",
            &images[0],
        ],
        "false_positive_rate",
    );
    // One unreadable image among good ones: nothing is fitted on a subset.
    let bad = tmp.path().join("bad.png");
    std::fs::write(&bad, b"not a png")?;
    let mut args = vec![
        "calibrate",
        "--model",
        model,
        "--out",
        out_s,
        "--false-positive-rate",
        "0.5",
    ];
    args.extend(images.iter().map(String::as_str));
    args.push(bad.to_str().unwrap());
    refused(&args, "nothing was written");
    // An unknown statistic names the known ones.
    refused(
        &[
            "calibrate",
            "--model",
            model,
            "--out",
            out_s,
            "--statistic",
            "nll",
            &images[0],
        ],
        "complexity_corrected, typicality",
    );
    // --calibration without --ood.
    let o = runtime(&[
        "score",
        "--model",
        model,
        "--calibration",
        out_s,
        &images[0],
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("add --ood"), "{}", text(&o.stderr));

    // A calibration fitted for another export is refused.
    let mut args = vec![
        "calibrate",
        "--model",
        model,
        "--out",
        out_s,
        "--false-positive-rate",
        "0.5",
    ];
    args.extend(images.iter().map(String::as_str));
    assert!(runtime(&args).status.success());
    let mut cal: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    cal["pair_id"] = "0123456789abcdef0123456789abcdef".into();
    std::fs::write(&out, cal.to_string())?;
    let o = runtime(&[
        "score",
        "--model",
        model,
        "--ood",
        "--calibration",
        out_s,
        &images[0],
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("pair id"), "{}", text(&o.stderr));
    Ok(())
}

#[test]
fn vector_bundles_without_test_scores_have_no_typicality() -> TestResult {
    let model = common::bundle(&["--kind", "vector"]);
    let tmp = tempfile::tempdir()?;
    let csv = tmp.path().join("x.csv");
    std::fs::write(&csv, "a,b\n0.1,0.2\n0.3,-0.4\n")?;
    let o = runtime(&[
        "calibrate",
        "--model",
        model.to_str().unwrap(),
        csv.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("typicality") && err.contains("re-export"),
        "{err}"
    );
    assert!(!model.join(realnvp_bundle::CALIBRATION_FILE).exists());
    Ok(())
}

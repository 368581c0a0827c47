//! `trainer export` records the test split's bits/dim statistics (the runtime's typicality reference) and
//! drops an old export's out-of-distribution calibration.

mod common;
use common::*;

use realnvp_trainer::data::Split;
use realnvp_trainer::{eval, run};

fn card(bundle: &std::path::Path) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(
        bundle.join(realnvp_bundle::CARD_FILE),
    )?)?)
}

#[test]
fn export_records_test_scores_and_drops_a_stale_calibration() -> TestResult {
    let dir = tempfile::tempdir()?;
    let run_dir = dir.path().join("run");
    let run_s = run_dir.to_str().ok_or("path")?;
    common::fit_moons(run_s)?;
    let bundle = dir.path().join("bundle");
    let bundle_s = bundle.to_str().ok_or("path")?;

    // The first 40 test examples, scored here through the library's own evaluation.
    let out = trainer(&[
        "export",
        "--run",
        run_s,
        "--out",
        bundle_s,
        "--score-examples",
        "40",
    ])?;
    assert!(out.contains("typicality reference"), "{out}");
    let stats = &card(&bundle)?["training"]["test_scores"];
    assert_eq!(stats["count"], 40);
    let loaded = run::load_run(&run_dir, &cpu())?;
    let data = run::load_data(
        &loaded.options.data,
        loaded.model.config(),
        loaded.options.seed,
    )?;
    let expected = eval::score(&loaded.model, &data, Split::Test, 16, Some(40), &cpu())?;
    let mean = stats["mean"].as_f64().ok_or("mean")?;
    assert!(
        (mean - expected.bits_per_dim).abs() < 1e-6,
        "{mean} vs {}",
        expected.bits_per_dim
    );
    let (std, min, max) = (
        stats["std"].as_f64().ok_or("std")?,
        stats["min"].as_f64().ok_or("min")?,
        stats["max"].as_f64().ok_or("max")?,
    );
    assert!(std > 0.0 && min < mean && mean < max, "{stats}");

    // Every test example by default; none with 0.
    trainer(&["export", "--run", run_s, "--out", bundle_s])?;
    assert_eq!(card(&bundle)?["training"]["test_scores"]["count"], 100);
    trainer(&[
        "export",
        "--run",
        run_s,
        "--out",
        bundle_s,
        "--score-examples",
        "0",
    ])?;
    assert!(card(&bundle)?["training"].get("test_scores").is_none());

    // A calibration belongs to the export it was fitted for: the next export removes it.
    let calibration = bundle.join(realnvp_bundle::CALIBRATION_FILE);
    std::fs::write(&calibration, "{}")?;
    trainer(&["export", "--run", run_s, "--out", bundle_s])?;
    assert!(!calibration.exists());
    Ok(())
}

//! Quality: the `tiny` image preset improves on the embedded Fashion-MNIST slice.

mod common;
use common::*;
use realnvp_models::FlowConfig;
use realnvp_trainer::data::Split;
use realnvp_trainer::eval;
use realnvp_trainer::run::{FitOptions, load_data, load_run};
use realnvp_trainer::train::{self, Silent};

#[test]
fn tiny_lowers_test_bits_per_dim() -> TestResult {
    let dir = tempfile::tempdir()?;
    let steps = 30;
    let options = FitOptions {
        data: "embedded".into(),
        seed: 1,
        batch_size: 16,
        lr: 3e-3,
        steps,
        eval_every: steps,
        sample_every: 0,
        checkpoint_every: steps,
        log_every: 10,
        eval_examples: 100,
        eval_batch_size: 100,
        ..FitOptions::default()
    };
    let config = FlowConfig::preset("tiny")?;
    // The score of the untrained model (the step-0 checkpoint, identity couplings).
    let data = load_data("embedded", &config, 1)?;
    let (m0, _) = realnvp_trainer::init::seeded_init(&config, 1, &cpu())?;
    let before = eval::score(&m0, &data, Split::Test, 100, Some(100), &cpu())?;
    let report = train::fit(dir.path(), &config, &options, &cpu(), &mut Silent)?;
    let after = report.final_test;
    println!(
        "tiny: test bits/dim (u = 0.5, first 100) {:.3} -> {:.3} in {steps} steps",
        before.bits_per_dim, after.bits_per_dim
    );
    assert!(
        after.bits_per_dim < before.bits_per_dim - 0.5,
        "{} -> {}",
        before.bits_per_dim,
        after.bits_per_dim
    );
    // The saved run scores the same as the model at the end of training.
    let loaded = load_run(dir.path(), &cpu())?;
    let again = eval::score(&loaded.model, &data, Split::Test, 100, Some(100), &cpu())?;
    assert!((again.bits_per_dim - after.bits_per_dim).abs() < 1e-5);
    assert!(
        dir.path()
            .join(format!("samples/step-{steps}.png"))
            .exists()
    );
    Ok(())
}

//! Non-finite steps: skipped, then rolled back with the learning rate halved; no NaN ever
//! reaches a checkpoint.

mod common;
use common::*;
use realnvp_trainer::checkpoint::{self, CHECKPOINT_FILE};
use realnvp_trainer::run::FitOptions;
use realnvp_trainer::train::{self, Silent};

#[test]
fn forced_nan_is_skipped_then_rolled_back() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = small_moons(32)?;
    // Step 3: one NaN, skipped. Steps 12..=16: five in a row -> rollback to the step-10
    // checkpoint with lr halved, then steps 11.. are replayed (injection fires once per step).
    let options = FitOptions {
        inject_nan_at: vec![3, 12, 13, 14, 15, 16],
        ..moons_options(30)
    };
    let report = train::fit(dir.path(), &config, &options, &cpu(), &mut Silent)?;
    let s = &report.state;
    assert_eq!(s.rollbacks, 1);
    assert_eq!(s.skipped_steps, 6);
    assert!((s.lr - options.lr / 2.0).abs() < 1e-12, "lr {}", s.lr);
    assert_eq!(s.step, 30);
    // Adam took one update per good step: 30 - 1 skipped before the rollback point, and the
    // steps 11..=16 that were undone do not count.
    assert_eq!(s.adam_step, 29);
    let steps: Vec<u64> = report.losses.iter().map(|l| l.0).collect();
    assert_eq!(&steps[10..17], &[11, 12, 13, 14, 15, 16, 11]);
    assert!(report.losses[2].1.is_nan());
    assert!(report.losses.last().is_some_and(|l| l.1.is_finite()));
    // Everything saved is finite, and the checkpoint remembers the halved rate.
    let ck = checkpoint::load(&dir.path().join(CHECKPOINT_FILE), &cpu())?;
    assert_eq!(ck.state.lr, s.lr);
    let tensors: Vec<_> = ck.tensors.into_iter().collect();
    assert_eq!(checkpoint::first_non_finite(&tensors)?, None);
    assert!(report.final_test.nll_nats.is_finite());
    Ok(())
}

/// A learning rate so large that every step after the first overflows: rollbacks halve it,
/// which cannot help within two rollbacks, so the run stops with an error (and never saves a
/// non-finite checkpoint on the way).
#[test]
fn hopeless_divergence_gives_up_with_a_clear_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let options = FitOptions {
        lr: 1e12,
        max_rollbacks: 2,
        ..moons_options(40)
    };
    let err = train::fit(dir.path(), &small_moons(16)?, &options, &cpu(), &mut Silent)
        .expect_err("cannot succeed");
    assert!(err.to_string().contains("diverged"), "{err}");
    let ck = checkpoint::load(&dir.path().join(CHECKPOINT_FILE), &cpu())?;
    let tensors: Vec<_> = ck.tensors.into_iter().collect();
    assert_eq!(checkpoint::first_non_finite(&tensors)?, None);
    Ok(())
}

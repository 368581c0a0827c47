//! Divergence: rollbacks halve the learning rate, a hopeless run stops with an error, and no NaN
//! ever reaches a checkpoint. (Forced NaN steps are tested in `train.rs`'s unit tests.)

mod common;
use common::*;
use realnvp_trainer::checkpoint::{self, CHECKPOINT_FILE};
use realnvp_trainer::run::FitOptions;
use realnvp_trainer::train::{self, Silent};

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

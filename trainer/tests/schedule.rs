//! The learning-rate schedule and the moving average of the weights, seen from a run.

mod common;
use common::*;
use realnvp_trainer::checkpoint::{self, CHECKPOINT_FILE};
use realnvp_trainer::data::Split;
use realnvp_trainer::ema::PREFIX;
use realnvp_trainer::optim::{LrDecay, lr_factor};
use realnvp_trainer::run::{self, FitOptions};
use realnvp_trainer::train::{self, Silent};
use realnvp_trainer::{eval, metrics};

#[test]
fn warm_up_is_linear_and_cosine_ends_at_zero() {
    let (until, warmup) = (110, 10);
    let cosine = LrDecay::Cosine { until };
    for done in 0..warmup {
        let f = lr_factor(done, warmup, cosine);
        assert!(
            (f - (done + 1) as f64 / warmup as f64).abs() < 1e-12,
            "{done}: {f}"
        );
    }
    let at = |done| lr_factor(done, warmup, cosine);
    assert!((at(warmup) - 1.0).abs() < 1e-12);
    assert!((at(warmup + 50) - 0.5).abs() < 1e-12);
    assert!(at(until - 1) < 1e-3 && at(until) == 0.0 && at(until + 5) == 0.0);
    let mut prev = f64::INFINITY;
    for done in warmup..=until {
        assert!(at(done) <= prev, "cosine rises at {done}");
        prev = at(done);
    }
    for done in warmup..=until {
        assert_eq!(lr_factor(done, warmup, LrDecay::Constant), 1.0);
    }
}

#[test]
fn decay_names_parse_and_bad_ones_say_what_is_accepted() {
    assert_eq!("constant".parse::<LrDecay>().ok(), Some(LrDecay::Constant));
    assert_eq!(
        "cosine".parse::<LrDecay>().ok(),
        Some(LrDecay::Cosine { until: 0 })
    );
    assert_eq!(
        "cosine:900".parse::<LrDecay>().ok(),
        Some(LrDecay::Cosine { until: 900 })
    );
    for bad in ["linear", "cosine:", "cosine:0", "cosine:x", "constant:5"] {
        let err = bad.parse::<LrDecay>().expect_err(bad).to_string();
        assert!(err.contains("cosine:STEP"), "{bad}: {err}");
    }
}

/// The optimizer runs with the scheduled rate: each metrics row records the rate of the
/// update just taken.
#[test]
fn logged_learning_rate_follows_the_schedule() -> TestResult {
    let dir = tempfile::tempdir()?;
    let options = FitOptions {
        steps: 30,
        log_every: 1,
        warmup_steps: 8,
        lr_decay: LrDecay::Cosine { until: 30 },
        ..moons_options(30)
    };
    train::fit(dir.path(), &small_moons(16)?, &options, &cpu(), &mut Silent)?;
    let rows = metrics::read(&dir.path().join(run::METRICS_FILE))?;
    assert_eq!(rows.len(), 30);
    for r in &rows {
        let want = options.lr_at(options.lr, r.step - 1);
        assert!(
            (r.lr - want).abs() <= 1e-12 * want.max(1.0),
            "step {}: lr {} but the schedule says {want}",
            r.step,
            r.lr
        );
    }
    Ok(())
}

/// With `ema_decay`, the checkpoint keeps the averages beside the live weights, the run's
/// test curve scores the averages, and loading the run (what eval, sample and export do)
/// gives the averages.
#[test]
fn averaged_weights_are_what_the_run_scores_and_loads() -> TestResult {
    let dir = tempfile::tempdir()?;
    let options = FitOptions {
        ema_decay: Some(0.95),
        ..moons_options(25)
    };
    let report = train::fit(dir.path(), &small_moons(16)?, &options, &cpu(), &mut Silent)?;
    let ck = checkpoint::load(&dir.path().join(CHECKPOINT_FILE), &cpu())?;
    let loaded = run::load_run(dir.path(), &cpu())?;
    let mut differ = 0;
    for (name, var) in train::trainable(&loaded.model, &loaded.varmap) {
        let got = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let average = ck.tensors[&format!("{PREFIX}{name}")]
            .flatten_all()?
            .to_vec1::<f32>()?;
        let live = ck.tensors[&name].flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(got, average, "{name}: loaded weights are not the average");
        differ += (average != live) as usize;
    }
    assert!(
        differ > 0,
        "the averages equal the live weights: nothing was averaged"
    );
    let data = run::load_data(&options.data, loaded.model.config(), options.seed)?;
    let rescored = eval::score(&loaded.model, &data, Split::Test, 250, None, &cpu())?;
    assert!(
        (rescored.nll_nats - report.final_test.nll_nats).abs() < 1e-4,
        "test curve {} vs the loaded averages {}",
        report.final_test.nll_nats,
        rescored.nll_nats
    );
    Ok(())
}

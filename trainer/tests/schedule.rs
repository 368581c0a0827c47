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
/// update just taken. The expected rates are worked out by hand here, not asked of the
/// schedule, so a wrong formula in the trainer fails.
#[test]
fn logged_learning_rate_follows_the_schedule() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Base rate 2e-3 (moons_options), 8 warm-up steps, cosine to zero at 32 updates, 33 steps
    // so that the last update is the one at the end of the cosine.
    let options = FitOptions {
        steps: 33,
        log_every: 1,
        warmup_steps: 8,
        lr_decay: LrDecay::Cosine { until: 32 },
        ..moons_options(33)
    };
    assert_eq!(options.lr, 2e-3);
    train::fit(dir.path(), &small_moons(16)?, &options, &cpu(), &mut Silent)?;
    let rows = metrics::read(&dir.path().join(run::METRICS_FILE))?;
    assert_eq!(rows.len(), 33);
    // Row `step` holds the rate of the update after `done = step - 1` updates.
    // Warm-up (done < 8): 2e-3 · (done + 1)/8 = 2.5e-4 · step.
    // Cosine (done ≥ 8): 2e-3 · 0.5 · (1 + cos(π · (done - 8)/24)), 24 = 32 - 8 updates.
    let by_hand: [(u64, f64); 12] = [
        (1, 2.5e-4), // done 0: 2e-3 · 1/8
        (2, 5e-4),   // done 1: 2e-3 · 2/8
        (4, 1e-3),   // done 3: 2e-3 · 4/8
        (8, 2e-3),   // done 7: 2e-3 · 8/8, the end of the warm-up
        (9, 2e-3),   // done 8: cos(0) = 1, factor 1
        // done 14: t/T = 6/24 = 1/4, cos(π/4) = √2/2, factor 0.5 + √2/4 = 0.853553390593...
        (15, 1.707_106_781_186_55e-3),
        (17, 1.5e-3), // done 16: t/T = 1/3, cos(π/3) = 1/2, factor 0.75
        (21, 1e-3),   // done 20: t/T = 1/2, cos(π/2) = 0, factor 0.5
        (25, 5e-4),   // done 24: t/T = 2/3, cos(2π/3) = -1/2, factor 0.25
        // done 30: t/T = 22/24 = 11/12, cos(11π/12) = -(√6 + √2)/4 = -0.965925826289...,
        // factor 0.0170370868554...
        (31, 3.407_417_371_093_18e-5),
        // done 31: t/T = 23/24, cos(23π/24) = -0.991444861373..., factor 0.00427756931309...
        (32, 8.555_138_626_189_6e-6),
        (33, 0.0), // done 32: t/T = 1, cos(π) = -1, factor 0
    ];
    for (step, want) in by_hand {
        let row = rows
            .iter()
            .find(|r| r.step == step)
            .ok_or(format!("no metrics row for step {step}"))?;
        assert!(
            (row.lr - want).abs() <= 1e-12,
            "step {step}: lr {} but by hand {want}",
            row.lr
        );
    }
    // Every warm-up row, and the cosine rows strictly falling from 2e-3 to 0.
    for r in rows.iter().filter(|r| r.step <= 8) {
        let want = 2.5e-4 * r.step as f64;
        assert!((r.lr - want).abs() <= 1e-12, "step {}: lr {}", r.step, r.lr);
    }
    for pair in rows[8..].windows(2) {
        assert!(
            pair[1].lr < pair[0].lr,
            "the rate rises or stalls from step {} ({}) to step {} ({})",
            pair[0].step,
            pair[0].lr,
            pair[1].step,
            pair[1].lr
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

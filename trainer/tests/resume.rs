//! Exact resume: stopping and resuming replays the uninterrupted run.

mod common;
use common::*;
use realnvp_models::{Architecture, FlowConfig, MultiScaleConfig};
use realnvp_trainer::checkpoint;
use realnvp_trainer::run::FitOptions;
use realnvp_trainer::train::{self, Silent};

type Named = Vec<(String, Vec<f32>)>;

fn weights(dir: &std::path::Path) -> Result<Named, Box<dyn std::error::Error>> {
    let ck = checkpoint::load(&dir.join(checkpoint::CHECKPOINT_FILE), &cpu())?;
    Ok(common::checkpoint_values(&ck)?)
}

/// Runs `n` steps straight and `n/2 + n/2` with a resume; compares losses, weights, Adam state
/// and counters.
fn check(config: &FlowConfig, options: FitOptions, n: u64) -> TestResult {
    let (full, split) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let straight = train::fit(
        full.path(),
        config,
        &FitOptions {
            steps: n,
            ..options.clone()
        },
        &cpu(),
        &mut Silent,
    )?;
    let first = train::fit(
        split.path(),
        config,
        &FitOptions {
            steps: n / 2,
            ..options
        },
        &cpu(),
        &mut Silent,
    )?;
    let second = common::resume(split.path(), n)?;
    let resumed: Vec<(u64, f32)> = first.losses.iter().chain(&second.losses).copied().collect();
    assert_eq!(resumed.len(), straight.losses.len());
    for ((s1, a), (s2, b)) in straight.losses.iter().zip(&resumed) {
        assert_eq!(s1, s2);
        assert!(
            (a - b).abs() <= 1e-5 * a.abs().max(1.0),
            "step {s1}: {a} vs {b}"
        );
    }
    // The losses move, so equal sequences mean something.
    assert!(straight.losses[0].1 != straight.losses[n as usize - 1].1);
    let (wa, wb) = (weights(full.path())?, weights(split.path())?);
    assert_eq!(wa.len(), wb.len());
    for ((na, a), (nb, b)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let d = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(d <= 1e-5, "{na}: max difference {d}");
    }
    assert_eq!(straight.state.adam_step, second.state.adam_step);
    assert_eq!(straight.state.step, n);
    // metrics.csv holds each logged step once.
    let rows = realnvp_trainer::metrics::read(&split.path().join("metrics.csv"))?;
    let steps: Vec<u64> = rows.iter().map(|r| r.step).collect();
    let mut dedup = steps.clone();
    dedup.dedup();
    assert_eq!(steps, dedup);
    assert_eq!(steps.last(), Some(&n));
    Ok(())
}

#[test]
fn resume_equals_uninterrupted_vectors() -> TestResult {
    check(&small_moons(32)?, moons_options(0), 20)
}

/// Images exercise batch-norm running statistics and seeded dequantization noise. A 28×28
/// model with 4-channel, 1-block s/t nets keeps it quick.
#[test]
fn resume_equals_uninterrupted_images() -> TestResult {
    let mut config = FlowConfig::preset("tiny")?;
    if let Architecture::MultiScale(MultiScaleConfig {
        hidden_channels, ..
    }) = &mut config.architecture
    {
        *hidden_channels = 4;
    }
    let options = FitOptions {
        data: "embedded".into(),
        seed: 3,
        batch_size: 8,
        lr: 2e-3,
        eval_every: 1000,
        sample_every: 0,
        checkpoint_every: 1000,
        log_every: 2,
        eval_examples: 16,
        eval_batch_size: 16,
        flip: true,
        ..FitOptions::default()
    };
    check(&config, options, 6)
}

/// The learning-rate schedule and the weight average are part of the replayed state: the
/// resumed run crosses the end of the warm-up and continues the cosine, and the checkpoint's
/// `ema.*` tensors are compared with the rest.
#[test]
fn resume_equals_uninterrupted_with_schedule_and_average() -> TestResult {
    let options = FitOptions {
        warmup_steps: 7,
        lr_decay: realnvp_trainer::optim::LrDecay::Cosine { until: 20 },
        ema_decay: Some(0.9),
        ..moons_options(0)
    };
    check(&small_moons(32)?, options, 20)
}

//! Out-of-distribution scoring on the committed pretrained Fashion-MNIST bundle (docs/ood.md): each score
//! follows its definition on real test images, the bundle's typicality reference is its run's test figure, a
//! calibrated flag keeps its false-positive rate on held-out in-distribution images, and the shipped
//! calibration flags the inputs raw likelihood prefers.

use candle_core::Device;
use realnvp_bundle::pixels;
use realnvp_runtime::ood::png_complexity;
use realnvp_runtime::{Flow, OodStatistic};
use realnvp_trainer::data::{EvalNoise, Split};
use realnvp_trainer::run;

type Result<T> = anyhow::Result<T>;

fn bundle_dir() -> std::path::PathBuf {
    realnvp_e2e::workspace_root().join("pretrained/fmnist")
}

/// The first `n` embedded Fashion-MNIST test images at their bin centres (what `load_image` gives for a PNG).
fn test_images(flow: &Flow, n: usize) -> Result<Vec<f32>> {
    let run_dir = realnvp_e2e::workspace_root().join("pretrained/runs/fmnist");
    let config: realnvp_models::FlowConfig =
        serde_json::from_value(flow.metadata().config.clone())?;
    let data = run::load_data("embedded", &config, 0)?;
    anyhow::ensure!(
        data.len_test() >= n,
        "the embedded slice has {} test images, the test needs {n} ({})",
        data.len_test(),
        run_dir.display()
    );
    let x = data.eval_batch(Split::Test, 0, n, EvalNoise::Midpoint, &Device::Cpu)?;
    Ok(x.flatten_all()?.to_vec1::<f32>()?)
}

#[test]
fn scores_follow_their_definitions() -> Result<()> {
    let flow = Flow::load(bundle_dir(), &realnvp_e2e::cpu())?;
    let n = 64;
    let x = test_images(&flow, n)?;
    let scores = flow.ood_scores(&x, n)?;
    let bits = flow.bits_per_dim(&x, n)?;

    // The typicality reference is read here from model.json itself, and must be the run's own test figure
    // (trainer eval --save, u = 0.5, the full test set).
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle_dir().join("model.json"))?)?;
    let mean = card["training"]["test_scores"]["mean"]
        .as_f64()
        .expect("model.json records training.test_scores.mean");
    let eval_bpd = card["training"]["evaluation"]["bits_per_dim_u_half"]
        .as_f64()
        .expect("model.json records the run's evaluation");
    assert!(
        (mean - eval_bpd).abs() < 1e-4,
        "test_scores.mean {mean} is not the run's test bits/dim {eval_bpd}"
    );
    assert_eq!(card["training"]["test_scores"]["count"], 10_000);

    for (i, s) in scores.iter().enumerate() {
        assert_eq!(s.bits_per_dim, bits[i]);
        let item = realnvp_runtime::image_io::to_u8(&x[i * 784..(i + 1) * 784]);
        let complexity = png_complexity(&item, flow.data_shape())?;
        assert_eq!(s.complexity_bits_per_dim, Some(complexity));
        assert_eq!(s.complexity_corrected, Some(bits[i] - complexity));
        assert_eq!(
            s.get(OodStatistic::ComplexityCorrected),
            s.complexity_corrected
        );
        let typicality = s.typicality.expect("the bundle records test scores");
        assert!((f64::from(typicality) - (f64::from(bits[i]) - mean).abs()).abs() < 1e-5);
        // A Fashion-MNIST image compresses to between 1 and 8 bits per pixel.
        assert!((1.0..8.0).contains(&complexity), "{complexity}");
    }
    Ok(())
}

#[test]
fn calibrated_flag_keeps_its_false_positive_rate_on_held_out_images() -> Result<()> {
    let flow = Flow::load(bundle_dir(), &realnvp_e2e::cpu())?;
    let (fit, held_out) = (500, 500);
    let x = test_images(&flow, fit + held_out)?;
    let (x_fit, x_held) = x.split_at(fit * 784);
    let held_scores = flow.ood_scores(x_held, held_out)?;
    let alpha = 0.1;
    // The held-out rate of a threshold fitted on `fit` exchangeable items is about alpha; its binomial sd is
    // sqrt(0.1 · 0.9 / 500) = 0.013, so 0.045 is 3.4 standard deviations.
    for statistic in OodStatistic::ALL {
        let calibration = flow.calibrate(x_fit, fit, statistic, alpha)?;
        assert!(calibration.fitted_rate <= alpha && calibration.fitted_rate > alpha - 0.01);
        let flagged = held_scores
            .iter()
            .filter(|s| calibration.flags(f64::from(s.get(statistic).unwrap())))
            .count();
        let rate = flagged as f64 / held_out as f64;
        assert!(
            (rate - alpha).abs() < 0.045,
            "{statistic}: {rate} of held-out in-distribution images flagged at a {alpha} rate"
        );
    }
    Ok(())
}

#[test]
fn calibration_uses_only_the_items_it_is_given() -> Result<()> {
    let flow = Flow::load(bundle_dir(), &realnvp_e2e::cpu())?;
    let n = 100;
    let x = test_images(&flow, n)?;
    let statistic = OodStatistic::ComplexityCorrected;
    let calibration = flow.calibrate(&x, n, statistic, 0.05)?;
    // The threshold is one of the given items' scores ...
    let scores: Vec<f64> = flow
        .ood_scores(&x, n)?
        .iter()
        .map(|s| f64::from(s.get(statistic).unwrap()))
        .collect();
    assert!(scores.contains(&calibration.threshold));
    // ... and the same items in another order give the same calibration.
    let reversed: Vec<f32> = x.chunks(784).rev().flatten().copied().collect();
    assert_eq!(flow.calibrate(&reversed, n, statistic, 0.05)?, calibration);
    assert_eq!(calibration.pair_id, flow.metadata().pair_id);
    assert_eq!(calibration.items, n);
    Ok(())
}

#[test]
fn shipped_calibration_flags_what_raw_likelihood_prefers() -> Result<()> {
    let flow = Flow::load(bundle_dir(), &realnvp_e2e::cpu())?;
    let calibration = flow.load_calibration(&flow.default_calibration_path())?;
    assert_eq!(calibration.statistic, OodStatistic::ComplexityCorrected);
    let mean = flow.test_scores().expect("test scores").mean as f32;
    // Blank images (black, mid-grey, white) are all flagged once their complexity is taken into account ...
    let blanks: Vec<f32> = [0u8, 128, 255]
        .iter()
        .flat_map(|&p| std::iter::repeat_n(pixels::dequantize(p), 784))
        .collect();
    let scores = flow.ood_scores(&blanks, 3)?;
    for s in &scores {
        assert!(
            calibration.flags(f64::from(s.complexity_corrected.unwrap())),
            "{s:?} passes"
        );
    }
    // ... although raw likelihood rates the black one far more likely than the model's own test images.
    assert!(
        scores[0].bits_per_dim < mean / 2.0,
        "a black image scores {} bits/dim, the test mean is {mean}",
        scores[0].bits_per_dim
    );
    // Most held-in test images pass.
    let n = 200;
    let x = test_images(&flow, n)?;
    let flagged = flow
        .ood_scores(&x, n)?
        .iter()
        .filter(|s| calibration.flags(f64::from(s.complexity_corrected.unwrap())))
        .count();
    assert!(flagged <= n / 10, "{flagged} of {n} test images flagged");
    Ok(())
}

/// A vector model (two moons) through the library: the exporter's test statistics make typicality available,
/// a threshold fitted on held-out moons keeps its rate on other moons, and points far from both moons are
/// flagged.
#[test]
fn typicality_flags_vectors_far_from_the_training_data() -> Result<()> {
    use realnvp_trainer::export::{Tolerances, TrainingSummary, export_bundle};
    use realnvp_trainer::run::FitOptions;
    use realnvp_trainer::train::{self, Silent};

    let dir = tempfile::tempdir()?;
    let run_dir = dir.path().join("run");
    let options = FitOptions {
        data: "toy:moons?n=2000&n_test=1000".into(),
        steps: 300,
        batch_size: 128,
        lr: 3e-3,
        eval_every: 300,
        sample_every: 0,
        checkpoint_every: 300,
        eval_examples: 0,
        seed: 3,
        ..FitOptions::default()
    };
    let mut config = realnvp_models::FlowConfig::preset("moons")?;
    if let realnvp_models::Architecture::Mlp(m) = &mut config.architecture {
        m.hidden = 32;
    }
    train::fit(&run_dir, &config, &options, &Device::Cpu, &mut Silent)?;
    let loaded = run::load_run(&run_dir, &Device::Cpu)?;
    let data = run::load_data(&options.data, loaded.model.config(), options.seed)?;
    let stats = realnvp_trainer::eval::bits_per_dim_stats(
        &loaded.model,
        &data,
        Split::Test,
        256,
        Some(500),
        &Device::Cpu,
    )?;
    let summary = TrainingSummary {
        dataset: options.data.clone(),
        test_scores: stats,
        ..Default::default()
    };
    let batch = data.eval_batch(Split::Test, 0, 32, EvalNoise::Midpoint, &Device::Cpu)?;
    let bundle = dir.path().join("bundle");
    export_bundle(
        &loaded.model,
        &batch,
        &summary,
        &bundle,
        &Tolerances::default(),
        &|_| {},
    )?;

    let flow = Flow::load(&bundle, &realnvp_e2e::cpu())?;
    assert_eq!(flow.test_scores(), stats);
    assert!(
        flow.check_statistic(OodStatistic::ComplexityCorrected)
            .is_err()
    );
    // Test points 500..749 calibrate, 750..999 are held out (the statistics used 0..499).
    let points = data.eval_batch(Split::Test, 0, 1000, EvalNoise::Midpoint, &Device::Cpu)?;
    let points = points.flatten_all()?.to_vec1::<f32>()?;
    let (fit, held) = (&points[1000..1500], &points[1500..2000]);
    let alpha = 0.1;
    let calibration = flow.calibrate(fit, 250, OodStatistic::Typicality, alpha)?;
    let flagged = flow
        .ood_scores(held, 250)?
        .iter()
        .filter(|s| calibration.flags(f64::from(s.typicality.unwrap())))
        .count();
    let rate = flagged as f64 / 250.0;
    // Binomial sd sqrt(0.1 · 0.9 / 250) = 0.019: within 3.4 sd.
    assert!(
        (rate - alpha).abs() < 0.065,
        "{rate} of held-out moons flagged"
    );
    let far = [6.0f32, 6.0, -6.0, 5.0, 0.0, -8.0];
    for s in flow.ood_scores(&far, 3)? {
        assert!(s.complexity_bits_per_dim.is_none());
        assert!(calibration.flags(f64::from(s.typicality.unwrap())), "{s:?}");
    }
    Ok(())
}

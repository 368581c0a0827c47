//! The whole chain on real data: fit a model with the trainer, export it, score and sample it
//! with ONNX Runtime, and compare with candle.

use candle_core::Device;
use realnvp_bundle::pixels;
use realnvp_models::{FlowConfig, Mode};
use realnvp_runtime::{DataKind, Flow};
use realnvp_trainer::data::{EvalNoise, Split};
use realnvp_trainer::export::{Tolerances, TrainingSummary, export_bundle};
use realnvp_trainer::run::{self, FitOptions};
use realnvp_trainer::train::{self, Silent};

type Result<T> = anyhow::Result<T>;

fn fit_and_export(
    preset: &str,
    data: &str,
    steps: u64,
    batch_size: usize,
    seed: u64,
) -> Result<(tempfile::TempDir, run::LoadedRun)> {
    let dir = tempfile::tempdir()?;
    let run_dir = dir.path().join("run");
    let options = FitOptions {
        data: data.into(),
        steps,
        batch_size,
        eval_every: steps,
        sample_every: 0,
        checkpoint_every: steps,
        eval_examples: 64,
        seed,
        ..FitOptions::default()
    };
    let config = FlowConfig::preset(preset)?;
    train::fit(&run_dir, &config, &options, &Device::Cpu, &mut Silent)?;
    let loaded = run::load_run(&run_dir, &Device::Cpu)?;
    let dataset = run::load_data(data, loaded.model.config(), 0)?;
    let batch = dataset.eval_batch(Split::Test, 0, 16, EvalNoise::Midpoint, &Device::Cpu)?;
    let summary = TrainingSummary {
        dataset: data.into(),
        steps: steps as usize,
        ..Default::default()
    };
    export_bundle(
        &loaded.model,
        &batch,
        &summary,
        &dir.path().join("bundle"),
        &Tolerances::default(),
        &|_| {},
    )?;
    Ok((dir, loaded))
}

#[test]
fn trained_models_score_the_same_in_onnx_runtime_as_in_candle() -> Result<()> {
    for (preset, data, steps, batch) in [
        ("moons", "toy:moons?n=2000&n_test=200", 60, 128),
        ("tiny", "embedded", 6, 16),
    ] {
        let (dir, loaded) = fit_and_export(preset, data, steps, batch, 0)?;
        let flow = Flow::load(dir.path().join("bundle"), &realnvp_e2e::cpu())?;
        let dataset = run::load_data(data, loaded.model.config(), 0)?;
        let x = dataset.eval_batch(Split::Test, 1, 32, EvalNoise::Midpoint, &Device::Cpu)?;
        let n = x.dim(0)?;
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let candle_lp = loaded.model.log_prob(&x, Mode::Eval)?.to_vec1::<f32>()?;
        let ort_lp = flow.log_prob(&xs, n)?;
        for (a, b) in ort_lp.iter().zip(&candle_lp) {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "{preset}: runtime {a} vs candle {b}"
            );
        }
        let enc = flow.encode(&xs, n)?;
        let back = flow.decode(&enc.z, n)?;
        let err = realnvp_e2e::max_abs_gap(&back, &xs);
        assert!(err < 5e-3, "{preset}: decode(encode(x)) off by {err}");
        let samples = flow.sample(8, 0.7, 3)?;
        assert_eq!(
            samples,
            flow.sample(8, 0.7, 3)?,
            "{preset}: seeded sampling is not deterministic"
        );
        let dims = flow.data_shape().dims().iter().product::<usize>();
        let rescored = match flow.data_kind() {
            // Images: the samples as u8 pixels (realnvp_bundle::pixels), scored at their bin centres. They
            // survive the round trip through the latent space: quantize(decode(encode(p + 0.5))) = p.
            DataKind::Image => {
                assert!(
                    samples.iter().all(|&v| pixels::in_domain(v)),
                    "{preset}: decoded pixels outside [0, 256]"
                );
                let quantized: Vec<u8> = samples.iter().map(|&v| pixels::quantize(v)).collect();
                let centres: Vec<f32> = quantized.iter().map(|&p| pixels::dequantize(p)).collect();
                let enc = flow.encode(&centres, 8)?;
                let back: Vec<u8> = flow
                    .decode(&enc.z, 8)?
                    .iter()
                    .map(|&v| pixels::quantize(v))
                    .collect();
                let moved = quantized.iter().zip(&back).filter(|(a, b)| a != b).count();
                assert_eq!(
                    moved,
                    0,
                    "{preset}: {moved} of {} pixels change on the way through the latent space",
                    quantized.len()
                );
                enc
            }
            // Vectors are not projected: the samples' latents are the latents they were decoded from.
            DataKind::Vector => {
                let enc = flow.encode(&samples, 8)?;
                let z = flow.sample_latent(8, 0.7, 3)?;
                let err = realnvp_e2e::max_abs_gap(&enc.z, &z);
                assert!(
                    err < 1e-3,
                    "{preset}: encode(sample) off its latent by {err}"
                );
                enc
            }
        };
        // Bits per dimension is -log p(x) / (D ln 2) with D the data's element count.
        for (bits, lp) in rescored.bits_per_dim.iter().zip(&rescored.log_prob) {
            let want = -f64::from(*lp) / (dims as f64 * std::f64::consts::LN_2);
            assert!(
                (f64::from(*bits) - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{preset}: {bits} bits/dim for log p = {lp} over {dims} dimensions (want {want})"
            );
        }
    }
    Ok(())
}

/// `runtime check`'s round trip passes on every model the exporter writes: several presets, data kinds, seeds
/// and temperatures. The inverse graph of an image model reaches past the data domain [0, 256] (about
/// (-14.2, 270.2) with logit preprocessing); decode must return what encode accepts.
#[test]
fn exported_models_pass_the_runtime_check() -> Result<()> {
    for (preset, data, steps, batch, seed) in [
        ("tiny", "embedded", 20, 16, 1),
        ("tiny", "embedded", 20, 16, 2),
        ("moons", "toy:moons?n=2000&n_test=200", 40, 128, 3),
    ] {
        let (dir, _) = fit_and_export(preset, data, steps, batch, seed)?;
        let flow = Flow::load(dir.path().join("bundle"), &realnvp_e2e::cpu())?;
        for (temperature, sample_seed) in [(0.5, 0), (1.0, 1), (1.5, 2)] {
            let r = flow.round_trip(16, temperature, sample_seed)?;
            assert!(
                r.within(1e-3),
                "{preset} seed {seed} at T = {temperature}: {r:?}"
            );
            if flow.data_kind() == DataKind::Image {
                let x = flow.sample(16, temperature, sample_seed)?;
                assert!(
                    x.iter().all(|&v| pixels::in_domain(v)),
                    "{preset}: decoded pixels outside [0, 256]"
                );
            }
        }
    }
    Ok(())
}

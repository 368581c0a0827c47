//! Export → ONNX Runtime: the runtime computes what candle computes, the graphs pass the ONNX
//! checker, mismatched pairs are refused, and a failed export loses nothing.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use realnvp_e2e::{colour_config, cpu, examples, max_abs_gap, three_scale_config, venv_python};
use realnvp_models::testing::randomize;
use realnvp_models::{FlowConfig, Mode, RealNvp};
use realnvp_runtime::{BundleError, Flow, RuntimeError};
use realnvp_trainer::export::{ExportError, Tolerances, TrainingSummary, export_bundle};

type Result<T> = anyhow::Result<T>;

fn export_random(config: &FlowConfig, seed: u64, out: &Path) -> Result<(RealNvp, Tensor)> {
    let (model, varmap) = RealNvp::init(config, DType::F32, &Device::Cpu)?;
    // Batch-norm statistics far from (0, 1): a graph that ignored them would disagree.
    randomize(&varmap, seed)?;
    let x = examples(&config.data, 8, seed + 1);
    model.fit_preprocessing(&(&x * 2.0)?)?;
    let summary = TrainingSummary {
        dataset: "test".into(),
        ..Default::default()
    };
    export_bundle(&model, &x, &summary, out, &Tolerances::default(), &|_| {})?;
    Ok((model, x))
}

fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[test]
fn runtime_matches_candle_for_every_model_kind() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let configs = [
        ("moons", FlowConfig::preset("moons")?),
        ("tiny", FlowConfig::preset("tiny")?),
        ("three-scale", three_scale_config()),
        ("colour", colour_config()),
    ];
    for (name, config) in configs {
        let out = dir.path().join(name);
        let (model, x) = export_random(&config, 5, &out)?;
        let flow = Flow::load(&out, &cpu())?;
        assert_eq!(flow.latent_dim(), config.data.numel());
        let n = x.dim(0)?;
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let enc = flow.encode(&xs, n)?;
        let lp = model.log_prob(&x, Mode::Eval)?.to_vec1::<f32>()?;
        let err = rel_err(&enc.log_prob, &lp);
        assert!(
            err < 1e-4,
            "{name}: runtime log_prob vs candle, relative {err}"
        );
        let z = model
            .forward(&x, Mode::Eval)?
            .0
            .flatten_all()?
            .to_vec1::<f32>()?;
        let z_err = max_abs_gap(&enc.z, &z);
        assert!(z_err < 1e-4, "{name}: z differs by {z_err}");
        let back = flow.decode(&enc.z, n)?;
        let rt = max_abs_gap(&back, &xs);
        // ONNX Runtime's fused f32 kernels round differently from candle's; 5e-3 pixel units is
        // still 2e-5 of the data range.
        assert!(rt < 5e-3, "{name}: decode(encode(x)) off by {rt}");
    }
    Ok(())
}

#[test]
fn graphs_pass_the_full_onnx_checker() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for (name, config) in [
        ("moons", FlowConfig::preset("moons")?),
        ("three-scale", three_scale_config()),
        ("colour", colour_config()),
    ] {
        let out = dir.path().join(name);
        export_random(&config, 9, &out)?;
        let status = std::process::Command::new(venv_python())
            .args([
                "-c",
                "import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)",
            ])
            .arg(out.join("forward.onnx"))
            .arg(out.join("inverse.onnx"))
            .output()?;
        assert!(
            status.status.success(),
            "{name}: onnx checker: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    Ok(())
}

#[test]
fn a_pair_from_two_models_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = FlowConfig::preset("moons")?;
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    export_random(&config, 1, &a)?;
    export_random(&config, 2, &b)?;
    let card = |d: &Path| -> Result<String> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("model.json"))?)?;
        Ok(v["pair_id"].as_str().unwrap_or_default().to_string())
    };
    assert_ne!(card(&a)?, card(&b)?, "two exports share a pair id");
    std::fs::copy(b.join("inverse.onnx"), a.join("inverse.onnx"))?;
    std::fs::remove_file(a.join("model.json"))?;
    match Flow::load(&a, &cpu()) {
        Err(RuntimeError::Bundle(BundleError::PairMismatch { .. })) => Ok(()),
        Err(other) => panic!("expected PairMismatch, got {other}"),
        Ok(_) => panic!("a mismatched pair was loaded"),
    }
}

#[test]
fn a_failed_export_writes_nothing_and_keeps_the_old_bundle() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("bundle");
    let config = FlowConfig::preset("moons")?;
    export_random(&config, 3, &out)?;
    let before = std::fs::read(out.join("forward.onnx"))?;
    let (model, _) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
    let x = examples(&config.data, 4, 1);
    let strict = Tolerances {
        z_max_abs: -1.0,
        ..Tolerances::default()
    };
    let err = export_bundle(
        &model,
        &x,
        &TrainingSummary::default(),
        &out,
        &strict,
        &|_| {},
    );
    assert!(
        matches!(err, Err(ExportError::Verification { .. })),
        "{err:?}"
    );
    assert_eq!(std::fs::read(out.join("forward.onnx"))?, before);
    // A directory holding other files is not replaced.
    let other = dir.path().join("mine");
    std::fs::create_dir_all(&other)?;
    std::fs::write(other.join("notes.txt"), "keep me")?;
    let err = export_bundle(
        &model,
        &x,
        &TrainingSummary::default(),
        &other,
        &Tolerances::default(),
        &|_| {},
    );
    assert!(
        matches!(
            err,
            Err(ExportError::Write(BundleError::NotReplaceable { .. }))
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(other.join("notes.txt"))?, "keep me");
    // The final rename fails (a directory cannot replace a dangling symbolic link): the temporary
    // directory goes too.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &link)?;
    let err = export_bundle(
        &model,
        &x,
        &TrainingSummary::default(),
        &link,
        &Tolerances::default(),
        &|_| {},
    );
    assert!(matches!(err, Err(ExportError::Write(_))), "{err:?}");
    // No temporary directories are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}

#[test]
fn many_threads_score_bit_identically_to_one() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("tiny");
    let (_, x) = export_random(&FlowConfig::preset("tiny")?, 4, &out)?;
    let flow = std::sync::Arc::new(Flow::load(&out, &cpu())?);
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let n = x.dim(0)?;
    let reference = flow.log_prob(&xs, n)?;
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (flow, xs) = (flow.clone(), xs.clone());
            std::thread::spawn(move || flow.log_prob(&xs, n))
        })
        .collect();
    for h in handles {
        let got = h.join().expect("thread panicked")?;
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            reference.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    Ok(())
}

#[test]
fn seeded_sampling_is_deterministic_and_rescores_finite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("tiny");
    export_random(&FlowConfig::preset("tiny")?, 6, &out)?;
    let flow = Flow::load(&out, &cpu())?;
    let a = flow.sample(4, 0.7, 42)?;
    let b = flow.sample(4, 0.7, 42)?;
    let c = flow.sample(4, 0.7, 43)?;
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Quantize as an image writer would, then score the pixels at u = 0.5.
    let pixels: Vec<f32> = a
        .iter()
        .map(|v| v.clamp(0.0, 255.0).floor() + 0.5)
        .collect();
    let bpd = flow.bits_per_dim(&pixels, 4)?;
    assert!(bpd.iter().all(|v| v.is_finite()), "{bpd:?}");
    Ok(())
}

/// `trainer sample` (candle) and `runtime sample` (ONNX Runtime) draw their latents by one rule
/// (`realnvp_bundle::sampling`), so the same model, seed and temperature give the same samples in both, up to
/// the two engines' float rounding. Two draws written separately would differ by whole pixels.
#[test]
fn trainer_and_runtime_sample_the_same_images_for_a_seed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("tiny");
    let config = FlowConfig::preset("tiny")?;
    let (model, _) = export_random(&config, 8, &out)?;
    let flow = Flow::load(&out, &cpu())?;
    let from_runtime = flow.sample(6, 0.7, 11)?;
    // The runtime maps decoded images into the pixel domain [0, 256] (docs/bundle.md); candle returns them raw.
    let from_trainer: Vec<f32> = realnvp_trainer::sample::sample(&model, 6, 0.7, 11, &Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(realnvp_bundle::pixels::to_domain)
        .collect();
    let err = rel_err(&from_runtime, &from_trainer);
    assert!(
        err < 1e-3,
        "candle and ONNX Runtime samples of seed 11 differ: {err}"
    );
    let other_seed = flow.sample(6, 0.7, 12)?;
    assert!(
        rel_err(&other_seed, &from_trainer) > 1e-2,
        "a different seed gave the same samples"
    );
    Ok(())
}

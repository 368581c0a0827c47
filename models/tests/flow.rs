//! Whole models: invertibility, log-det against brute force, batch-norm statistics, closed-form
//! likelihoods and the bits/dim accounting.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::{brute_force_log_det, max_abs_diff, uniform};
use realnvp_models::layers::FlowBatchNorm;
use realnvp_models::testing::randomize;
use realnvp_models::{
    Architecture, BatchNormConfig, Bijection, DataShape, FlowConfig, Mode, NetNorm, Preprocessing,
    RealNvp, Result,
};

fn small_image_config(dims: (usize, usize, usize), num_scales: usize, norm: NetNorm) -> FlowConfig {
    let mut config = FlowConfig::multi_scale_image(dims, num_scales, 4, 1);
    if let Architecture::MultiScale(ms) = &mut config.architecture {
        ms.net_norm = norm;
    }
    config
}

fn pixels(n: usize, data: &DataShape, seed: u64, dtype: DType) -> Result<Tensor> {
    let mut shape = vec![n];
    shape.extend(data.dims());
    let lo = if matches!(data, DataShape::Image { .. }) {
        0.0
    } else {
        -3.0
    };
    let hi = if matches!(data, DataShape::Image { .. }) {
        256.0
    } else {
        3.0
    };
    Ok(uniform(&shape, lo, hi, seed)?.to_dtype(dtype)?)
}

#[test]
fn presets_round_trip_with_random_weights() -> Result<()> {
    for (name, n) in [
        ("moons", 16),
        ("tiny", 4),
        ("fmnist-small", 2),
        ("cifar-small", 2),
    ] {
        let config = FlowConfig::preset(name)?;
        let (model, varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
        randomize(&varmap, 7)?;
        let x = pixels(n, &config.data, 1, DType::F32)?;
        let (z, ld) = model.forward(&x, Mode::Eval)?;
        assert_eq!(z.dims(), &[n, config.data.numel()]);
        assert_eq!(ld.dims(), &[n]);
        let back = model.inverse(&z)?;
        let err = max_abs_diff(&back, &x)?;
        // f32 throughout; images are in pixel units, so this is 4e-6 of the data range.
        assert!(err < 1e-3, "{name}: round trip error {err}");
        // Random weights must make the flow far from the identity, or the check is empty.
        assert!(
            z.abs()?.mean_all()?.to_scalar::<f32>()? > 0.1,
            "{name}: latent is degenerate"
        );
    }
    Ok(())
}

#[test]
fn multi_scale_log_det_matches_brute_force_jacobian() -> Result<()> {
    for (dims, scales, norm) in [
        ((2, 4, 4), 2, NetNorm::Batch),
        ((1, 8, 8), 3, NetNorm::Instance),
        // Colour: 3 channels, squeezed to 12, 6 factored out, 6 go on.
        ((3, 4, 4), 2, NetNorm::Batch),
        ((3, 8, 8), 2, NetNorm::Instance),
    ] {
        let config = small_image_config(dims, scales, norm);
        let (model, varmap) = RealNvp::init(&config, DType::F64, &Device::Cpu)?;
        randomize(&varmap, 3)?;
        let x = pixels(1, &config.data, 2, DType::F64)?;
        let (z, ld) = model.forward(&x, Mode::Eval)?;
        let brute = brute_force_log_det(|xs| Ok(model.forward(xs, Mode::Eval)?.0), &x, 1e-4)?;
        let ld = ld.get(0)?.to_scalar::<f64>()?;
        assert!(
            (ld - brute).abs() < 1e-4 * (1.0 + brute.abs()),
            "{dims:?}: log-det {ld} vs brute {brute}"
        );
        assert!(max_abs_diff(&model.inverse(&z)?, &x)? < 1e-8);
    }
    Ok(())
}

#[test]
fn vector_model_log_det_matches_brute_force_jacobian() -> Result<()> {
    let mut config = FlowConfig::preset("moons")?;
    config.data = DataShape::Vector { dim: 3 };
    config.flow_batch_norm = Some(BatchNormConfig::default());
    let (model, varmap) = RealNvp::init(&config, DType::F64, &Device::Cpu)?;
    randomize(&varmap, 4)?;
    model.fit_preprocessing(&((uniform(&[100, 3], -1.0, 1.0, 5)? * 3.0)? + 2.0)?)?;
    let x = pixels(1, &config.data, 6, DType::F64)?;
    let ld = model
        .forward(&x, Mode::Eval)?
        .1
        .get(0)?
        .to_scalar::<f64>()?;
    let brute = brute_force_log_det(|xs| Ok(model.forward(xs, Mode::Eval)?.0), &x, 1e-5)?;
    assert!(
        (ld - brute).abs() < 1e-6 * (1.0 + brute.abs()),
        "log-det {ld} vs brute {brute}"
    );
    Ok(())
}

#[test]
fn batch_norm_running_statistics_follow_the_momentum_rule() -> Result<()> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
    let momentum = 0.1;
    let bn = FlowBatchNorm::new(
        &[2, 3, 3],
        BatchNormConfig {
            momentum,
            eps: 1e-5,
        },
        vb.pp("bn"),
    )?;
    let running = |name: &str| -> Result<Vec<f64>> {
        Ok(varmap.data().lock().unwrap()[&format!("bn.{name}")]
            .as_tensor()
            .to_vec1::<f64>()?)
    };
    let (mut mean, mut var) = (vec![0.0; 2], vec![1.0; 2]);
    for step in 0..3 {
        let x = ((uniform(&[5, 2, 3, 3], -1.0, 1.0, step)? * (2.0 + step as f64))? + 3.0)?;
        let (y, ld) = bn.forward(&x, Mode::Train)?;
        for c in 0..2 {
            let xc: Vec<f64> = x.narrow(1, c, 1)?.flatten_all()?.to_vec1()?;
            let m = xc.iter().sum::<f64>() / xc.len() as f64;
            let v = xc.iter().map(|a| (a - m).powi(2)).sum::<f64>() / xc.len() as f64;
            mean[c] = (1.0 - momentum) * mean[c] + momentum * m;
            var[c] = (1.0 - momentum) * var[c] + momentum * v;
            // Train mode normalizes with the batch statistics: zero mean, unit variance.
            let yc: Vec<f64> = y.narrow(1, c, 1)?.flatten_all()?.to_vec1()?;
            let ym = yc.iter().sum::<f64>() / yc.len() as f64;
            assert!(ym.abs() < 1e-9);
        }
        let rm = running("running_mean")?;
        let rv = running("running_var")?;
        for c in 0..2 {
            assert!(
                (rm[c] - mean[c]).abs() < 1e-12 && (rv[c] - var[c]).abs() < 1e-12,
                "step {step}"
            );
        }
        // Train-mode log-det uses the batch variance: -½ Σ_c 9·log(v_c + ε).
        let expected: f64 = (0..2)
            .map(|c| {
                let xc: Vec<f64> = x
                    .narrow(1, c, 1)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let m = xc.iter().sum::<f64>() / 9.0 / 5.0;
                let v = xc.iter().map(|a| (a - m).powi(2)).sum::<f64>() / 45.0;
                -0.5 * 9.0 * (v + 1e-5).ln()
            })
            .sum();
        assert!((ld.get(0)?.to_scalar::<f64>()? - expected).abs() < 1e-9);
    }
    // Eval uses the running statistics and leaves them alone.
    let x = uniform(&[4, 2, 3, 3], -1.0, 1.0, 9)?;
    let before = running("running_mean")?;
    let (y, _) = bn.forward(&x, Mode::Eval)?;
    for c in 0..2 {
        let expect = ((x.narrow(1, c, 1)? - mean[c])? / (var[c] + 1e-5).sqrt())?;
        assert!(max_abs_diff(&y.narrow(1, c, 1)?, &expect)? < 1e-12);
    }
    assert_eq!(running("running_mean")?, before);
    // The frozen forward and inverse are exact inverses.
    assert!(max_abs_diff(&bn.inverse(&y)?, &x)? < 1e-12);
    Ok(())
}

fn log_normal(v: f64) -> f64 {
    -0.5 * v * v - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

#[test]
fn identity_flow_on_a_standard_normal_has_the_closed_form_likelihood() -> Result<()> {
    // A fresh vector model is the identity: zero-initialised couplings, unfitted standardization.
    let config = FlowConfig::preset("moons")?;
    let (model, _) = RealNvp::init(&config, DType::F64, &Device::Cpu)?;
    let x = uniform(&[6, 2], -3.0, 3.0, 11)?;
    let lp = model.log_prob(&x, Mode::Eval)?.to_vec1::<f64>()?;
    for (i, row) in x.to_vec2::<f64>()?.iter().enumerate() {
        let expect: f64 = row.iter().map(|&v| log_normal(v)).sum();
        assert!((lp[i] - expect).abs() < 1e-10, "{} vs {expect}", lp[i]);
    }
    // Fitted standardization: log p(x) = Σ log N((x-μ)/σ) - Σ log σ.
    let train = ((uniform(&[200, 2], -1.0, 1.0, 12)? * 5.0)? + 3.0)?;
    model.fit_preprocessing(&train)?;
    let mu = train.mean(0)?.to_vec1::<f64>()?;
    let sd = train
        .broadcast_sub(&train.mean(0)?)?
        .sqr()?
        .mean(0)?
        .sqrt()?
        .to_vec1::<f64>()?;
    let lp = model.log_prob(&x, Mode::Eval)?.to_vec1::<f64>()?;
    for (i, row) in x.to_vec2::<f64>()?.iter().enumerate() {
        let expect: f64 = (0..2)
            .map(|j| log_normal((row[j] - mu[j]) / sd[j]) - sd[j].ln())
            .sum();
        assert!((lp[i] - expect).abs() < 1e-9, "{} vs {expect}", lp[i]);
    }
    Ok(())
}

#[test]
fn bits_per_dim_include_the_preprocessing_log_det() -> Result<()> {
    // A fresh image model without flow batch norm is a permutation after preprocessing, so
    // log p(x) = Σ_i log N(pre(x_i)) + log|pre'(x_i)| exactly; leaving the preprocessing
    // log-det out would be off by hundreds of nats.
    for (preprocessing, pre, dpre) in [
        (
            Preprocessing::Logit { alpha: 0.05 },
            Box::new(|x: f64| {
                let p = 0.05 + 0.9 * x / 256.0;
                (p / (1.0 - p)).ln()
            }) as Box<dyn Fn(f64) -> f64>,
            Box::new(|x: f64| {
                let p = 0.05 + 0.9 * x / 256.0;
                (0.9 / 256.0f64).ln() - p.ln() - (1.0 - p).ln()
            }) as Box<dyn Fn(f64) -> f64>,
        ),
        (
            Preprocessing::Scale,
            Box::new(|x: f64| x / 256.0) as Box<dyn Fn(f64) -> f64>,
            Box::new(|_x: f64| -(256f64.ln())) as Box<dyn Fn(f64) -> f64>,
        ),
    ] {
        let mut config = FlowConfig::preset("tiny")?;
        config.preprocessing = preprocessing;
        config.flow_batch_norm = None;
        let (model, _) = RealNvp::init(&config, DType::F64, &Device::Cpu)?;
        let x = pixels(2, &config.data, 13, DType::F64)?;
        let lp = model.log_prob(&x, Mode::Eval)?.to_vec1::<f64>()?;
        let bpd = model
            .bits_per_dim(&model.log_prob(&x, Mode::Eval)?)?
            .to_vec1::<f64>()?;
        for i in 0..2 {
            let xi: Vec<f64> = x.get(i)?.flatten_all()?.to_vec1()?;
            let expect: f64 = xi.iter().map(|&v| log_normal(pre(v)) + dpre(v)).sum();
            assert!(
                (lp[i] - expect).abs() < 1e-8 * expect.abs(),
                "{preprocessing:?}: {} vs {expect}",
                lp[i]
            );
            let expect_bpd = -expect / (784.0 * std::f64::consts::LN_2);
            assert!((bpd[i] - expect_bpd).abs() < 1e-9);
        }
    }
    Ok(())
}

#[test]
fn loss_adds_the_l2_penalty_on_s_scales() -> Result<()> {
    let mut config = FlowConfig::preset("moons")?;
    config.s_scale_l2 = 0.5;
    let (model, _) = RealNvp::init(&config, DType::F64, &Device::Cpu)?;
    let x = uniform(&[8, 2], -1.0, 1.0, 14)?;
    let (loss, bpd) = model.loss(&x)?;
    // 8 couplings, 2 scales each, initialised to 1.
    let diff = (loss - bpd)?.to_scalar::<f64>()?;
    assert!((diff - 0.5 * 16.0).abs() < 1e-12, "penalty {diff}");
    Ok(())
}

#[test]
fn save_and_load_reproduce_the_model() -> Result<()> {
    let config = FlowConfig::preset("tiny")?;
    let (model, varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
    randomize(&varmap, 15)?;
    let dir = std::env::temp_dir().join(format!("realnvp-save-{}", std::process::id()));
    model.save(&varmap, &dir)?;
    let (loaded, _) = RealNvp::load(&dir, &Device::Cpu)?;
    let x = pixels(2, &config.data, 16, DType::F32)?;
    let a = model.log_prob(&x, Mode::Eval)?;
    let b = loaded.log_prob(&x, Mode::Eval)?;
    assert_eq!(max_abs_diff(&a, &b)?, 0.0);
    assert_eq!(loaded.config(), &config);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[test]
fn wrong_input_shape_is_a_typed_error() -> Result<()> {
    let (model, _) = RealNvp::init(&FlowConfig::preset("tiny")?, DType::F32, &Device::Cpu)?;
    let err = model.forward(
        &Tensor::zeros((2, 3, 28, 28), DType::F32, &Device::Cpu)?,
        Mode::Eval,
    );
    assert!(matches!(
        err,
        Err(realnvp_models::ModelError::InputShape { .. })
    ));
    let err = model.inverse(&Tensor::zeros((2, 10), DType::F32, &Device::Cpu)?);
    assert!(matches!(
        err,
        Err(realnvp_models::ModelError::InputShape { .. })
    ));
    Ok(())
}

#[test]
fn unknown_preset_and_bad_config_are_rejected() {
    assert!(FlowConfig::preset("nope").is_err());
    let mut c = FlowConfig::preset("tiny").unwrap();
    c.data = DataShape::Image {
        channels: 1,
        height: 27,
        width: 28,
    };
    assert!(c.validate().is_err());
}

/// Before each factor-out (the first half of the channels leaves), the last channel coupling
/// keeps the half that goes on and transforms the half that leaves. The other way round
/// (layout 1) trained into densities with a hole at flat backgrounds (docs/model.md). Read
/// from the emitted graph, whose `keep` initializers are the couplings' masks.
#[test]
fn last_channel_coupling_transforms_the_half_that_leaves() -> Result<()> {
    for config in [
        FlowConfig::preset("tiny")?,
        small_image_config((2, 8, 8), 3, NetNorm::Batch),
    ] {
        let (model, _varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
        let graph = model.forward_onnx(&[])?.graph.expect("graph");
        let mut checked = 0;
        for scope in ["flow.", "flow.next.", "flow.next.next."] {
            // The masks of this scale's channel couplings, in coupling order.
            let mut masks: Vec<(usize, Vec<f32>)> = graph
                .initializer
                .iter()
                .filter_map(|t| {
                    let rest = t.name.strip_prefix(scope)?.strip_prefix("channel")?;
                    let (index, tail) = rest.split_once('.')?;
                    if !tail.starts_with("keep") {
                        return None;
                    }
                    Some((index.parse().ok()?, t.float_data.clone()))
                })
                .collect();
            let Some((_, last)) = masks.iter().max_by_key(|(i, _)| *i).cloned() else {
                continue;
            };
            masks.sort_by_key(|(i, _)| *i);
            let half = last.len() / 2;
            assert!(
                last[..half].iter().all(|&b| b == 0.0) && last[half..].iter().all(|&b| b == 1.0),
                "{scope}: the last channel coupling keeps {last:?}; it must keep the second half (the one that goes on)"
            );
            // The couplings before it alternate.
            for pair in masks.windows(2) {
                assert_ne!(
                    pair[0].1, pair[1].1,
                    "{scope}: consecutive couplings keep the same half"
                );
            }
            checked += 1;
        }
        let scales = match &config.architecture {
            Architecture::MultiScale(ms) => ms.num_scales,
            Architecture::Mlp(_) => unreachable!(),
        };
        assert_eq!(checked, scales - 1, "one factor-out per scale but the last");
    }
    Ok(())
}

/// A config of another model layout (or one written before the field existed, layout 1) is
/// refused with the typed error instead of being built with weights that mean something else.
#[test]
fn configs_of_another_layout_are_refused() -> Result<()> {
    let current = FlowConfig::preset("tiny")?;
    let mut json: serde_json::Value = serde_json::to_value(&current).expect("serializes");
    json.as_object_mut().expect("object").remove("layout");
    let legacy: FlowConfig = serde_json::from_value(json).expect("deserializes");
    assert_eq!(legacy.layout, 1);
    for config in [
        legacy,
        FlowConfig {
            layout: 3,
            ..current.clone()
        },
    ] {
        let err = RealNvp::init(&config, DType::F32, &Device::Cpu)
            .err()
            .expect("refused");
        assert!(
            matches!(err, realnvp_models::ModelError::LayoutVersion { found, supported: 2 } if found == config.layout),
            "{err}"
        );
        assert!(err.to_string().contains("Train the model again"), "{err}");
    }
    assert!(RealNvp::init(&current, DType::F32, &Device::Cpu).is_ok());
    Ok(())
}

/// The model's buffers are found by structure, not by name: after fitting the preprocessing and one
/// training-mode forward, exactly the buffers have changed, and every other variable receives a
/// gradient (a buffer may get one too: the standardization's log-det depends on its std).
#[test]
fn buffers_are_exactly_what_the_forward_pass_sets() -> Result<()> {
    for preset in ["tiny", "moons"] {
        let config = FlowConfig::preset(preset)?;
        let (model, varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
        let snapshot = || -> Result<std::collections::HashMap<String, Vec<f32>>> {
            let data = varmap.data().lock().expect("varmap lock");
            data.iter()
                .map(|(k, v)| Ok((k.clone(), v.as_tensor().flatten_all()?.to_vec1::<f32>()?)))
                .collect()
        };
        let before = snapshot()?;
        let x = match config.data {
            DataShape::Vector { dim } => {
                (uniform(&[64, dim], -2.0, 3.0, 5)?).to_dtype(DType::F32)?
            }
            data => pixels(8, &data, 5, DType::F32)?,
        };
        model.fit_preprocessing(&x)?;
        let (loss, _) = model.loss(&x)?;
        let grads = loss.backward()?;
        let after = snapshot()?;
        let buffers: Vec<_> = model.buffers().iter().map(|b| b.id()).collect();
        assert!(!buffers.is_empty(), "{preset}: no buffers found");
        let data = varmap.data().lock().expect("varmap lock");
        for (name, var) in data.iter() {
            let is_buffer = buffers.contains(&var.id());
            assert_eq!(before[name] != after[name], is_buffer, "{preset}: {name}");
            assert!(
                is_buffer || grads.get(var.as_tensor()).is_some(),
                "{preset}: {name} is trained but gets no gradient"
            );
        }
    }
    Ok(())
}

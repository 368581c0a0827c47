//! The emitted graphs compute what the candle model computes: evaluated with candle-onnx, an
//! ONNX engine independent of our layer code.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use common::{max_abs_diff, uniform};
use realnvp_models::testing::randomize;
use realnvp_models::{
    Architecture, DataShape, FlowConfig, Mode, NetNorm, Preprocessing, RealNvp, Result,
};

fn eval(model: &candle_onnx::onnx::ModelProto, name: &str, x: &Tensor) -> HashMap<String, Tensor> {
    let inputs = HashMap::from([(name.to_string(), x.clone())]);
    candle_onnx::simple_eval(model, inputs).expect("candle-onnx evaluates the graph")
}

fn three_scale_config() -> FlowConfig {
    let mut config = FlowConfig::multi_scale_image((2, 8, 8), 3, 4, 2);
    if let Architecture::MultiScale(ms) = &mut config.architecture {
        ms.net_norm = NetNorm::Instance;
    }
    config
}

#[test]
fn forward_and_inverse_graphs_match_candle() -> Result<()> {
    let configs = [
        ("moons", FlowConfig::preset("moons")?),
        ("tiny", FlowConfig::preset("tiny")?),
        ("three-scale", three_scale_config()),
        // Colour: 3×8×8, two scales, 8 s/t channels.
        ("colour", FlowConfig::multi_scale_image((3, 8, 8), 2, 8, 1)),
        (
            "tiny-scaled",
            FlowConfig {
                preprocessing: Preprocessing::Scale,
                ..FlowConfig::preset("tiny")?
            },
        ),
    ];
    for (name, config) in configs {
        let (model, varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
        // Random weights and batch-norm statistics far from (0, 1): a graph that used batch
        // statistics or ignored the frozen ones would disagree.
        randomize(&varmap, 21)?;
        let mut shape = vec![5];
        shape.extend(config.data.dims());
        let x = match config.data {
            DataShape::Image { .. } => uniform(&shape, 0.0, 256.0, 22)?,
            DataShape::Vector { .. } => uniform(&shape, -2.0, 2.0, 22)?,
        }
        .to_dtype(DType::F32)?;
        model.fit_preprocessing(&(&x * 1.5)?)?;

        let (z, ld) = model.forward(&x, Mode::Eval)?;
        let log_prob = model.log_prob(&x, Mode::Eval)?;
        let bpd = model.bits_per_dim(&log_prob)?;
        assert!(ld.abs()?.max_all()?.to_scalar::<f32>()? > 0.0);

        let fwd = model.forward_onnx(&[])?;
        let out = eval(&fwd, "x", &x);
        let z_err = max_abs_diff(&out["z"], &z)?;
        assert!(z_err < 1e-4, "{name}: z differs by {z_err}");
        let rel = ((&out["log_prob"] - &log_prob)?.abs()? / log_prob.abs()?)?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(rel < 1e-4, "{name}: log_prob differs by {rel} relative");
        let rel = ((&out["bits_per_dim"] - &bpd)?.abs()? / bpd.abs()?)?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(rel < 1e-4, "{name}: bits_per_dim differs by {rel} relative");

        let inv = model.inverse_onnx(&[])?;
        let back = eval(&inv, "z", &out["z"]);
        let x_err = max_abs_diff(&back["x"], &x)?;
        assert!(
            x_err < 1e-3,
            "{name}: inverse graph of forward graph is off by {x_err}"
        );
        let candle_back = model.inverse(&z)?;
        // Two f32 inverses of the same z differ by twice the round-trip error at most.
        assert!(
            max_abs_diff(&back["x"], &candle_back)? < 2e-3,
            "{name}: inverse graph vs candle"
        );
    }
    Ok(())
}

#[test]
fn graphs_use_opset_17_and_a_dynamic_batch() -> Result<()> {
    let (model, _) = RealNvp::init(&FlowConfig::preset("tiny")?, DType::F32, &Device::Cpu)?;
    let meta = vec![("realnvp.direction".to_string(), "forward".to_string())];
    let fwd = model.forward_onnx(&meta)?;
    assert_eq!(fwd.ir_version, 8);
    assert_eq!(fwd.opset_import.len(), 1);
    assert_eq!(fwd.opset_import[0].version, 17);
    assert_eq!(fwd.metadata_props[0].key, "realnvp.direction");
    let graph = fwd.graph.as_ref().unwrap();
    let names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["z", "log_prob", "bits_per_dim"]);
    // The same graph scores batches of different sizes.
    for n in [1, 3] {
        let x = (Tensor::ones((n, 1, 28, 28), DType::F32, &Device::Cpu)? * 100.0)?;
        assert_eq!(eval(&fwd, "x", &x)["log_prob"].dims(), &[n]);
    }
    Ok(())
}

//! The same seed trains to the same losses whether the 3×3 convolutions run Winograd's algorithm
//! or the direct one. Its own test binary: the algorithm is a process-wide setting.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, SGD};
use realnvp_models::testing::{randomize, uniform};
use realnvp_models::{ConvAlgorithm, FlowConfig, RealNvp, Result, set_conv_algorithm};

const STEPS: usize = 6;

/// The training loss (bits/dim) before each of [`STEPS`] SGD steps of `fmnist-small` on one
/// batch of 8 images, from seeded weights.
fn losses(algorithm: ConvAlgorithm) -> Result<Vec<f64>> {
    set_conv_algorithm(algorithm);
    let config = FlowConfig::preset("fmnist-small")?;
    let (model, varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
    randomize(&varmap, 21)?;
    let x: Tensor = uniform(&[8, 1, 28, 28], 0.0, 256.0, 22)?.to_dtype(DType::F32)?;
    let mut sgd = SGD::new(varmap.all_vars(), 1e-2)?;
    let mut losses = Vec::with_capacity(STEPS);
    for _ in 0..STEPS {
        let (loss, _) = model.loss(&x)?;
        losses.push(loss.to_scalar::<f32>()? as f64);
        sgd.backward_step(&loss)?;
    }
    Ok(losses)
}

#[test]
fn winograd_and_direct_convolutions_train_alike() -> Result<()> {
    let direct = losses(ConvAlgorithm::Direct)?;
    let winograd = losses(ConvAlgorithm::Winograd)?;
    // Training moved the loss, so the comparison covers the gradients too.
    assert!(
        (direct[0] - direct[STEPS - 1]).abs() > 1e-3,
        "the loss did not move: {direct:?}"
    );
    for (step, (d, w)) in direct.iter().zip(&winograd).enumerate() {
        let rel = (d - w).abs() / d.abs();
        println!("step {step}: direct {d:.7}, Winograd {w:.7}, relative difference {rel:.1e}");
        assert!(rel < 1e-5, "step {step}: direct {d} vs Winograd {w}");
    }
    Ok(())
}

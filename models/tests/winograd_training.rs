//! The same seed trains to the same losses whether the 3×3 convolutions run Winograd's algorithm
//! or the direct one, and each setting really runs the algorithm it names (the losses alone
//! could not tell). Its own test binary: the algorithm is a process-wide setting, and the count
//! of Winograd passes is process-wide too.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, SGD};
use realnvp_models::testing::{randomize, uniform};
use realnvp_models::{
    Architecture, ConvAlgorithm, FlowConfig, RealNvp, Result, set_conv_algorithm, winograd_passes,
};

const STEPS: usize = 6;

/// The training losses (bits/dim) before each of [`STEPS`] SGD steps of `fmnist-small` on one
/// batch of 8 images, from seeded weights, and how many convolution passes ran Winograd's
/// algorithm meanwhile.
fn losses(algorithm: ConvAlgorithm) -> Result<(Vec<f64>, u64)> {
    set_conv_algorithm(algorithm);
    let passes_before = winograd_passes();
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
    Ok((losses, winograd_passes() - passes_before))
}

/// The Winograd passes of one training step of `fmnist-small`: every residual block of every
/// coupling's s/t ResNet has two same-size 3×3 convolutions between its hidden channels (32 and
/// 64, at least the 16 Winograd needs), each one forward pass and one backward sweep. The nets'
/// input and output convolutions (a few channels on one side) stay direct.
fn winograd_passes_per_step() -> Result<u64> {
    let config = FlowConfig::preset("fmnist-small")?;
    let Architecture::MultiScale(m) = config.architecture else {
        panic!("fmnist-small is a multi-scale flow");
    };
    assert!(m.hidden_channels >= 16, "too narrow for Winograd");
    let couplings =
        (m.num_scales - 1) * (m.checkerboard_couplings + m.channel_couplings) + m.final_couplings;
    Ok((couplings * m.num_blocks * 2 * 2) as u64)
}

#[test]
fn winograd_and_direct_convolutions_train_alike() -> Result<()> {
    let (direct, passes_direct) = losses(ConvAlgorithm::Direct)?;
    let (winograd, passes_winograd) = losses(ConvAlgorithm::Winograd)?;
    let per_step = winograd_passes_per_step()?;
    println!(
        "Winograd passes over {STEPS} steps: {passes_winograd} (set to direct: {passes_direct})"
    );
    assert_eq!(
        passes_direct, 0,
        "ConvAlgorithm::Direct ran Winograd's algorithm"
    );
    assert_eq!(
        passes_winograd,
        STEPS as u64 * per_step,
        "ConvAlgorithm::Winograd: expected {per_step} Winograd passes per step"
    );
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

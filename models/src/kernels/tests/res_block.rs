//! The fused training-mode residual block (CPU f32) against the same block composed of separate
//! ops in f64: output, batch statistics and the gradient of every input.

use candle_core::{DType, Device, Tensor, Var};

use crate::Result;
use crate::kernels::{ResBlockParams, res_block_train};
use crate::testing::{max_abs_diff, uniform};

/// `max |a - b| / max(1, max |b|)`, compared in f64.
fn rel_err(a: &Tensor, b: &Tensor) -> Result<f64> {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (a.to_dtype(DType::F64)?, b.to_dtype(DType::F64)?);
    let scale = b.abs()?.max_all()?.to_scalar::<f64>()?.max(1.0);
    Ok(max_abs_diff(&a, &b)? / scale)
}

/// `[x, γ₁, β₁, w₁, b₁, γ₂, β₂, w₂, b₂]` for `x` `[n, c, h, w]` and `k×k` kernels, as variables
/// of `dtype`; norm scales around 1, inputs off-centre so the statistics matter.
fn inputs(n: usize, c: usize, (h, w): (usize, usize), k: usize, dtype: DType) -> Result<Vec<Var>> {
    let kernel = [c, c, k, k];
    let shapes: [(&[usize], f64, f64); 9] = [
        (&[n, c, h, w], -1.0, 3.0),
        (&[c], 0.5, 1.5),
        (&[c], -0.5, 0.5),
        (&kernel, -0.3, 0.3),
        (&[c], -0.5, 0.5),
        (&[c], 0.5, 1.5),
        (&[c], -0.5, 0.5),
        (&kernel, -0.3, 0.3),
        (&[c], -0.5, 0.5),
    ];
    shapes
        .iter()
        .enumerate()
        .map(|(i, &(shape, lo, hi))| {
            let t = uniform(shape, lo, hi, 100 + i as u64)?.to_dtype(dtype)?;
            Ok(Var::from_tensor(&t)?)
        })
        .collect()
}

/// `(y, stats, gradients of Σ y·r for every input)`.
fn run(v: &[Var], r: &Tensor) -> Result<(Tensor, Tensor, Vec<Tensor>)> {
    let t: Vec<&Tensor> = v.iter().map(|v| v.as_tensor()).collect();
    let params = ResBlockParams {
        gamma1: t[1],
        beta1: t[2],
        w1: t[3],
        b1: t[4],
        gamma2: t[5],
        beta2: t[6],
        w2: t[7],
        b2: t[8],
    };
    // Different eps per norm, so that swapping them shows.
    let (y, stats) = res_block_train(t[0], &params, (1e-5, 0.3))?;
    let grads = (&y * r.to_dtype(y.dtype())?)?.sum_all()?.backward()?;
    let grads = v
        .iter()
        .map(|v| grads.get(v).expect("every input gets a gradient").clone())
        .collect();
    Ok((y, stats, grads))
}

#[test]
fn fused_block_matches_composed_ops() -> Result<()> {
    let names = [
        "x", "gamma1", "beta1", "w1", "b1", "gamma2", "beta2", "w2", "b2",
    ];
    // Batches below and above the thread count, odd sizes, 3×3 and 1×1 kernels; from 16 channels
    // the 3×3 convolutions run Winograd's algorithm (with the skip added as conv₂'s output is
    // transposed back, and both gradients in one sweep).
    let cases = [
        (1, 3, (5, 7), 3),
        (5, 8, (9, 6), 3),
        (4, 4, (6, 6), 1),
        (1, 16, (7, 9), 3),
        (3, 32, (6, 6), 3),
    ];
    for (n, c, hw, k) in cases {
        let fused = inputs(n, c, hw, k, DType::F32)?;
        let plain = inputs(n, c, hw, k, DType::F64)?;
        let r = uniform(&[n, c, hw.0, hw.1], -1.0, 1.0, 7)?;
        let (y, stats, grads) = run(&fused, &r)?;
        let (y64, stats64, grads64) = run(&plain, &r)?;
        let case = format!("n {n} c {c} {hw:?} k {k}");
        let err = rel_err(&y, &y64)?;
        assert!(err < 1e-5, "{case}: output error {err:e}");
        let err = rel_err(&stats, &stats64)?;
        assert!(err < 1e-5, "{case}: statistics error {err:e}");
        for ((name, g), g64) in names.iter().zip(&grads).zip(&grads64) {
            let err = rel_err(g, g64)?;
            assert!(err < 1e-4, "{case}: d{name} error {err:e}");
        }
    }
    Ok(())
}

#[test]
fn mismatched_parameters_are_an_error() -> Result<()> {
    let v = inputs(2, 3, (4, 4), 3, DType::F32)?;
    let t: Vec<&Tensor> = v.iter().map(|v| v.as_tensor()).collect();
    let wrong = Tensor::zeros((3, 2, 3, 3), DType::F32, &Device::Cpu)?;
    let params = ResBlockParams {
        gamma1: t[1],
        beta1: t[2],
        w1: &wrong,
        b1: t[4],
        gamma2: t[5],
        beta2: t[6],
        w2: t[7],
        b2: t[8],
    };
    let err = res_block_train(t[0], &params, (1e-5, 1e-5))
        .expect_err("a [3, 2, 3, 3] kernel for 3 channels");
    assert!(err.to_string().contains("w1 must be [3, 3, 3, 3]"), "{err}");
    Ok(())
}

/// The running statistics a training forward of a ResNet leaves in each block's two norms, against
/// the same layers run one by one through the separate (unfused) norm ops.
#[test]
fn resnet_training_moves_each_norms_running_statistics() -> Result<()> {
    use crate::nets::{Norm, ResNet, WeightNormConv2d};
    use crate::{Mode, NetNorm, testing};
    use candle_nn::{VarBuilder, VarMap};

    let dev = Device::Cpu;
    let (c, hw, width) = (2, (6, 5), 8);
    let fused_map = VarMap::new();
    let net = ResNet::new(
        c,
        hw,
        width,
        1,
        NetNorm::Batch,
        VarBuilder::from_varmap(&fused_map, DType::F32, &dev),
    )?;
    testing::randomize(&fused_map, 3)?;

    // The first block's layers alone, on a second VarMap holding the same values.
    let plain_map = VarMap::new();
    let vb = VarBuilder::from_varmap(&plain_map, DType::F32, &dev);
    let in_conv = WeightNormConv2d::new(c, width, 3, false, vb.pp("in_conv"))?;
    let block = vb.pp("block0");
    let norm1 = Norm::new(NetNorm::Batch, width, block.pp("norm1"))?;
    let conv1 = WeightNormConv2d::new(width, width, 3, false, block.pp("conv1"))?;
    let norm2 = Norm::new(NetNorm::Batch, width, block.pp("norm2"))?;
    {
        let fused = fused_map.data().lock().expect("varmap lock");
        for (name, var) in plain_map.data().lock().expect("varmap lock").iter() {
            var.set(fused[name].as_tensor())?;
        }
    }

    let x = uniform(&[4, c, hw.0, hw.1], -1.0, 2.0, 11)?.to_dtype(DType::F32)?;
    net.forward(&x, Mode::Train)?;
    let h = norm1.forward_relu(&in_conv.forward(&x)?, Mode::Train)?;
    norm2.forward_relu(&conv1.forward(&h)?, Mode::Train)?;

    let fused = fused_map.data().lock().expect("varmap lock");
    for norm in ["norm1", "norm2"] {
        for stat in ["running_mean", "running_var"] {
            let name = format!("block0.{norm}.{stat}");
            let plain = plain_map.data().lock().expect("varmap lock")[&name]
                .as_tensor()
                .clone();
            let err = rel_err(fused[&name].as_tensor(), &plain)?;
            assert!(err < 1e-5, "{name}: error {err:e}");
        }
    }
    Ok(())
}

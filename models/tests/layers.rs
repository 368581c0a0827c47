//! Every layer type: the inverse undoes the forward, and the log-det equals the log-determinant
//! of a brute-force Jacobian.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::{brute_force_log_det, max_abs_diff, uniform};
use realnvp_models::layers::{
    AffineCoupling, FlowBatchNorm, Logit, Mask, Scale, Squeeze, Standardize,
};
use realnvp_models::nets::{Mlp, ResNet, StNet};
use realnvp_models::testing::randomize;
use realnvp_models::{BatchNormConfig, Bijection, Mode, NetNorm, Result};

fn f64_builder() -> (VarMap, VarBuilder<'static>) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
    (varmap, vb)
}

/// Checks a layer on `x`: eval-mode round trip, the log-det against a brute-force Jacobian on the
/// first example, and the log-det being the same for each example as computed alone.
fn check_layer(layer: &dyn Bijection, x: &Tensor) -> Result<()> {
    let (y, ld) = layer.forward(x, Mode::Eval)?;
    assert_eq!(y.elem_count(), x.elem_count());
    assert_eq!(ld.dims(), &[x.dim(0)?]);
    let back = layer.inverse(&y)?;
    let err = max_abs_diff(&back, x)?;
    assert!(err < 1e-9, "round trip error {err}");
    let x0 = x.narrow(0, 0, 1)?;
    let brute = brute_force_log_det(|xs| Ok(layer.forward(xs, Mode::Eval)?.0), &x0, 1e-5)?;
    let ld0 = ld.get(0)?.to_scalar::<f64>()?;
    assert!(
        (brute - ld0).abs() < 1e-5 * (1.0 + brute.abs()),
        "log-det {ld0} vs brute force {brute}"
    );
    // The layer must actually change its input, or the checks above prove little.
    if x.dims() == y.dims() {
        assert!(max_abs_diff(&y, x)? > 1e-3, "layer acted as the identity");
    }
    Ok(())
}

fn resnet_coupling(
    dims: [usize; 3],
    mask: Mask,
    norm: NetNorm,
    seed: u64,
) -> Result<AffineCoupling> {
    let (varmap, vb) = f64_builder();
    let net = StNet::ResNet(ResNet::new(
        dims[0],
        (dims[1], dims[2]),
        4,
        1,
        norm,
        vb.pp("net"),
    )?);
    let coupling = AffineCoupling::new(&dims, mask, net, vb)?;
    randomize(&varmap, seed)?;
    Ok(coupling)
}

#[test]
fn checkerboard_couplings_both_parities_and_norms() -> Result<()> {
    let x = uniform(&[3, 2, 4, 4], -2.0, 2.0, 1)?;
    for parity in [0, 1] {
        for norm in [NetNorm::Batch, NetNorm::Instance] {
            let c = resnet_coupling(
                [2, 4, 4],
                Mask::Checkerboard { parity },
                norm,
                10 + parity as u64,
            )?;
            check_layer(&c, &x)?;
        }
    }
    Ok(())
}

#[test]
fn channel_couplings_both_halves() -> Result<()> {
    let x = uniform(&[3, 4, 2, 2], -2.0, 2.0, 2)?;
    for parity in [0, 1] {
        let c = resnet_coupling(
            [4, 2, 2],
            Mask::Channel { parity },
            NetNorm::Batch,
            20 + parity as u64,
        )?;
        check_layer(&c, &x)?;
        // The kept half passes through unchanged.
        let (y, _) = c.forward(&x, Mode::Eval)?;
        let kept = if parity == 0 { 0 } else { 2 };
        assert_eq!(
            max_abs_diff(&y.narrow(1, kept, 2)?, &x.narrow(1, kept, 2)?)?,
            0.0
        );
    }
    Ok(())
}

#[test]
fn mlp_couplings_alternating_halves() -> Result<()> {
    let x = uniform(&[4, 5], -2.0, 2.0, 3)?;
    for parity in [0, 1] {
        let (varmap, vb) = f64_builder();
        let net = StNet::Mlp(Mlp::new(5, 16, 2, vb.pp("net"))?);
        let c = AffineCoupling::new(&[5], Mask::Half { parity }, net, vb)?;
        randomize(&varmap, 30 + parity as u64)?;
        check_layer(&c, &x)?;
    }
    Ok(())
}

#[test]
fn flow_batch_norm_eval() -> Result<()> {
    for dims in [vec![3, 2, 2], vec![4]] {
        let (varmap, vb) = f64_builder();
        let bn = FlowBatchNorm::new(&dims, BatchNormConfig::default(), vb)?;
        randomize(&varmap, 40)?;
        let mut shape = vec![3];
        shape.extend(&dims);
        check_layer(&bn, &uniform(&shape, -2.0, 2.0, 4)?)?;
    }
    Ok(())
}

#[test]
fn squeeze_is_a_volume_preserving_permutation() -> Result<()> {
    let sq = Squeeze::new(2, 4, 6);
    let x = uniform(&[2, 2, 4, 6], -1.0, 1.0, 5)?;
    let (y, ld) = sq.forward(&x, Mode::Eval)?;
    assert_eq!(y.dims(), &[2, 8, 2, 3]);
    // Channel c·4 + a·2 + b at (i, j) is input channel c at (2i + a, 2j + b).
    let x4: Vec<Vec<Vec<Vec<f64>>>> = (0..2)
        .map(|n| x.get(n).unwrap().to_vec3::<f64>().unwrap())
        .collect();
    let y4: Vec<Vec<Vec<Vec<f64>>>> = (0..2)
        .map(|n| y.get(n).unwrap().to_vec3::<f64>().unwrap())
        .collect();
    for n in 0..2 {
        for c in 0..2 {
            for a in 0..2 {
                for b in 0..2 {
                    for i in 0..2 {
                        for j in 0..3 {
                            assert_eq!(
                                y4[n][c * 4 + a * 2 + b][i][j],
                                x4[n][c][2 * i + a][2 * j + b]
                            );
                        }
                    }
                }
            }
        }
    }
    assert_eq!(ld.to_vec1::<f64>()?, vec![0.0, 0.0]);
    assert_eq!(max_abs_diff(&sq.inverse(&y)?, &x)?, 0.0);
    let brute = brute_force_log_det(
        |xs| Ok(sq.forward(xs, Mode::Eval)?.0),
        &x.narrow(0, 0, 1)?,
        1e-5,
    )?;
    assert!(brute.abs() < 1e-8);
    Ok(())
}

#[test]
fn preprocessing_layers() -> Result<()> {
    let pixels = uniform(&[3, 1, 3, 3], 0.0, 256.0, 6)?;
    check_layer(&Logit::new(0.05, &[1, 3, 3]), &pixels)?;
    check_layer(
        &Logit::new(0.0, &[1, 3, 3]),
        &uniform(&[2, 1, 3, 3], 1.0, 255.0, 7)?,
    )?;
    check_layer(&Scale::new(&[1, 3, 3]), &pixels)?;
    let (_varmap, vb) = f64_builder();
    let st = Standardize::new(3, &vb)?;
    let data = (uniform(&[50, 3], -1.0, 1.0, 8)? * 4.0)?
        .broadcast_add(&Tensor::new(&[10.0f64, -3.0, 0.5], &Device::Cpu)?)?;
    st.fit(&data)?;
    let (y, _) = st.forward(&data, Mode::Eval)?;
    // Fitted on the data, the output has zero mean and unit variance per feature.
    let mean = y.mean(0)?.abs()?.max(0)?.to_scalar::<f64>()?;
    let var = y.sqr()?.mean(0)?.to_vec1::<f64>()?;
    assert!(
        mean < 1e-9 && var.iter().all(|v| (v - 1.0).abs() < 1e-9),
        "mean {mean} var {var:?}"
    );
    check_layer(&st, &data.narrow(0, 0, 4)?)?;
    Ok(())
}

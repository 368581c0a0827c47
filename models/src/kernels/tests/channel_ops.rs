//! The per-channel custom ops against plain candle ops: forward values and every gradient, the
//! f32 fast path against both f32 and f64 plain ops, and the f64 fallback against plain ops.

use crate::kernels::{batch_norm_train, channel_affine, channel_affine_relu, channel_moments};
use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};

/// Seeded values in `[lo, hi)`.
fn rand_tensor(shape: &[usize], (lo, hi): (f64, f64), dtype: DType, seed: u64) -> Result<Tensor> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let v: Vec<f64> = (0..shape.iter().product::<usize>())
        .map(|_| rng.random_range(lo..hi))
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// `max |a - b| / max(1, max |b|)`, compared in f64.
fn rel_err(a: &Tensor, b: &Tensor) -> Result<f64> {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (a.to_dtype(DType::F64)?, b.to_dtype(DType::F64)?);
    let max = |t: &Tensor| -> Result<f64> { t.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>() };
    Ok(max(&(&a - &b)?)? / max(&b)?.max(1.0))
}

fn assert_close(what: &str, shape: &[usize], a: &Tensor, b: &Tensor, tol: f64) -> Result<()> {
    let err = rel_err(a, b)?;
    assert!(
        err <= tol,
        "{what} for {shape:?}: relative error {err:e} > {tol:e}"
    );
    Ok(())
}

/// Every `[N, C]` and `[N, C, H, W]` shape of the brief, with a seed each.
fn each_shape(mut f: impl FnMut(&[usize], u64) -> Result<()>) -> Result<()> {
    let mut seed = 0;
    for n in [1, 3, 16] {
        for c in [1, 2, 32] {
            seed += 10;
            f(&[n, c], seed)?;
            for h in [1, 5, 14] {
                for w in [1, 5, 14] {
                    seed += 10;
                    f(&[n, c, h, w], seed)?;
                }
            }
        }
    }
    Ok(())
}

/// `[1, C, 1, ...]`.
fn channel_shape(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    s[1] = shape[1];
    s
}

/// The reference: `x·scale + shift` with candle's broadcast ops.
fn plain_affine(x: &Tensor, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
    let s = channel_shape(x.dims());
    x.broadcast_mul(&scale.reshape(s.clone())?)?
        .broadcast_add(&shift.reshape(s)?)
}

/// The reference moments: two passes with candle's reductions, `[C]` each.
fn plain_moments(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let dims: Vec<usize> = (0..x.rank()).filter(|&d| d != 1).collect();
    let count = (x.elem_count() / x.dim(1)?) as f64;
    let mean = (x.sum_keepdim(dims.clone())? / count)?;
    let var = (x.broadcast_sub(&mean)?.sqr()?.sum_keepdim(dims)? / count)?;
    Ok((mean.flatten_all()?, var.flatten_all()?))
}

/// `(y, dx, dscale, dshift)` of `loss = Σ y·r` for a fixed random `r`, with `affine` in `dtype`.
fn affine_and_grads(
    shape: &[usize],
    seed: u64,
    dtype: DType,
    affine: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>,
) -> Result<[Tensor; 4]> {
    let c = shape[1];
    let x = Var::from_tensor(&rand_tensor(shape, (-2.0, 2.0), dtype, seed)?)?;
    let scale = Var::from_tensor(&rand_tensor(&[c], (-1.5, 1.5), dtype, seed + 1)?)?;
    let shift = Var::from_tensor(&rand_tensor(&[c], (-1.0, 1.0), dtype, seed + 2)?)?;
    let r = rand_tensor(shape, (-1.0, 1.0), dtype, seed + 3)?;
    let y = affine(&x, &scale, &shift)?;
    let grads = (&y * &r)?.sum_all()?.backward()?;
    let grad = |v: &Var| grads.get(v).expect("a gradient").clone();
    Ok([y.clone(), grad(&x), grad(&scale), grad(&shift)])
}

/// `(mean, var, d⟨mean, u⟩ + ⟨var, v⟩ / dx)` for fixed random `u`, `v`, with `moments` in
/// `dtype`. `offset` is added to `x`, to test a mean far from zero.
fn moments_and_grad(
    shape: &[usize],
    seed: u64,
    dtype: DType,
    offset: f64,
    moments: impl Fn(&Tensor) -> Result<(Tensor, Tensor)>,
) -> Result<[Tensor; 3]> {
    let c = shape[1];
    let x = Var::from_tensor(&(rand_tensor(shape, (-2.0, 2.0), dtype, seed)? + offset)?)?;
    let u = rand_tensor(&[c], (-1.0, 1.0), dtype, seed + 1)?;
    let v = rand_tensor(&[c], (-1.0, 1.0), dtype, seed + 2)?;
    let (mean, var) = moments(&x)?;
    let loss = ((&mean * &u)?.sum_all()? + (&var * &v)?.sum_all()?)?;
    let grads = loss.backward()?;
    Ok([mean, var, grads.get(&x).expect("a gradient").clone()])
}

const NAMES: [&str; 4] = ["y", "dx", "dscale", "dshift"];

#[test]
fn affine_fast_path_matches_plain_ops() -> Result<()> {
    let fast = |x: &Tensor, s: &Tensor, b: &Tensor| channel_affine(x, Some(s), Some(b));
    each_shape(|shape, seed| {
        let got = affine_and_grads(shape, seed, DType::F32, fast)?;
        let f32_ref = affine_and_grads(shape, seed, DType::F32, plain_affine)?;
        let f64_ref = affine_and_grads(shape, seed, DType::F64, plain_affine)?;
        for (i, name) in NAMES.iter().enumerate() {
            assert_close(name, shape, &got[i], &f32_ref[i], 1e-4)?;
            assert_close(name, shape, &got[i], &f64_ref[i], 1e-5)?;
        }
        Ok(())
    })
}

/// The fused ReLU: values and all three gradients against candle's affine then `relu`, in f32
/// and f64 (the fallback). Inputs in [-2, 2) put about half the outputs below zero.
#[test]
fn affine_relu_matches_plain_ops() -> Result<()> {
    let fused = |x: &Tensor, s: &Tensor, b: &Tensor| channel_affine_relu(x, Some(s), Some(b));
    let plain = |x: &Tensor, s: &Tensor, b: &Tensor| plain_affine(x, s, b)?.relu();
    each_shape(|shape, seed| {
        for dtype in [DType::F32, DType::F64] {
            let got = affine_and_grads(shape, seed, dtype, fused)?;
            let want = affine_and_grads(shape, seed, dtype, plain)?;
            for (i, name) in NAMES.iter().enumerate() {
                assert_close(name, shape, &got[i], &want[i], 1e-5)?;
            }
        }
        Ok(())
    })
}

/// Training-mode batch norm from candle's broadcast ops: batch mean and biased variance, with
/// autograd through them.
fn plain_batch_norm(relu: bool) -> impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor> {
    move |x: &Tensor, gamma: &Tensor, beta: &Tensor| {
        let (mean, var) = plain_moments(x)?;
        let s = channel_shape(x.dims());
        let std = (var + BN_EPS)?.sqrt()?.reshape(s.clone())?;
        let xhat = x
            .broadcast_sub(&mean.reshape(s.clone())?)?
            .broadcast_div(&std)?;
        let y = plain_affine(&xhat, gamma, beta)?;
        if relu { y.relu() } else { Ok(y) }
    }
}

const BN_EPS: f64 = 1e-5;

/// The fused training-mode batch norm (with and without ReLU): output, batch statistics and the
/// gradients of x, γ and β (through the statistics) against candle's autograd of the plain
/// formula in f64; the fallback (f64) to 1e-10.
#[test]
fn batch_norm_train_matches_plain_ops() -> Result<()> {
    for relu in [false, true] {
        let fused = move |x: &Tensor, g: &Tensor, b: &Tensor| -> Result<Tensor> {
            Ok(batch_norm_train(x, g, b, BN_EPS, relu)?.0)
        };
        each_shape(|shape, seed| {
            let got = affine_and_grads(shape, seed, DType::F32, fused)?;
            let want = affine_and_grads(shape, seed, DType::F64, plain_batch_norm(relu))?;
            for (i, name) in NAMES.iter().enumerate() {
                assert_close(name, shape, &got[i], &want[i], 1e-4)?;
            }
            let fallback = affine_and_grads(shape, seed, DType::F64, fused)?;
            for (i, name) in NAMES.iter().enumerate() {
                assert_close(name, shape, &fallback[i], &want[i], 1e-10)?;
            }
            let x = rand_tensor(shape, (-2.0, 2.0), DType::F32, seed)?;
            let c = shape[1];
            let (_, mean, var) = batch_norm_train(
                &x,
                &Tensor::ones(c, DType::F32, x.device())?,
                &Tensor::zeros(c, DType::F32, x.device())?,
                BN_EPS,
                relu,
            )?;
            let (pm, pv) = plain_moments(&x.to_dtype(DType::F64)?)?;
            assert_close("mean", shape, &mean.to_dtype(DType::F64)?, &pm, 1e-6)?;
            assert_close("var", shape, &var.to_dtype(DType::F64)?, &pv, 1e-6)?;
            Ok(())
        })?;
    }
    Ok(())
}

#[test]
fn affine_fallback_matches_plain_ops() -> Result<()> {
    let fast = |x: &Tensor, s: &Tensor, b: &Tensor| channel_affine(x, Some(s), Some(b));
    each_shape(|shape, seed| {
        let got = affine_and_grads(shape, seed, DType::F64, fast)?;
        let want = affine_and_grads(shape, seed, DType::F64, plain_affine)?;
        for (i, name) in NAMES.iter().enumerate() {
            assert_close(name, shape, &got[i], &want[i], 1e-12)?;
        }
        Ok(())
    })
}

/// A missing scale or shift is 1 or 0, and gets no gradient.
#[test]
fn affine_optional_operands() -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        let shape = [3, 5, 4, 6];
        let x = Var::from_tensor(&rand_tensor(&shape, (-2.0, 2.0), dtype, 1)?)?;
        let a = Var::from_tensor(&rand_tensor(&[5], (-1.0, 1.0), dtype, 2)?)?;
        let b = Var::from_tensor(&rand_tensor(&[5], (-1.0, 1.0), dtype, 3)?)?;
        let (ones, zeros) = (a.ones_like()?, b.zeros_like()?);
        let cases: [(Option<&Tensor>, Option<&Tensor>, Tensor); 3] = [
            (Some(&a), None, plain_affine(&x, &a, &zeros)?),
            (None, Some(&b), plain_affine(&x, &ones, &b)?),
            (None, None, x.as_tensor().clone()),
        ];
        for (scale, shift, want) in cases {
            let y = channel_affine(&x, scale, shift)?;
            assert_close("y", &shape, &y, &want, 1e-6)?;
            let grads = y.sum_all()?.backward()?;
            assert!(grads.get(&x).is_some());
            assert_eq!(grads.get(&a).is_some(), scale.is_some());
            assert_eq!(grads.get(&b).is_some(), shift.is_some());
        }
        // x a constant: the fast path skips its gradient (candle's own ops compute it).
        let xc = x.as_tensor().detach();
        let grads = channel_affine(&xc, Some(&a), Some(&b))?
            .sum_all()?
            .backward()?;
        assert_eq!(grads.get(&xc).is_none(), dtype == DType::F32);
        assert!(grads.get(&a).is_some() && grads.get(&b).is_some());
    }
    Ok(())
}

#[test]
fn moments_fast_path_matches_plain_ops() -> Result<()> {
    each_shape(|shape, seed| {
        for offset in [0.0, 100.0] {
            let got = moments_and_grad(shape, seed, DType::F32, offset, channel_moments)?;
            let f32_ref = moments_and_grad(shape, seed, DType::F32, offset, plain_moments)?;
            let f64_ref = moments_and_grad(shape, seed, DType::F64, offset, plain_moments)?;
            for (i, name) in ["mean", "var", "dx"].iter().enumerate() {
                // f32 plain ops lose digits to the offset; f64 is the accurate reference.
                let tol = if offset == 0.0 { 1e-4 } else { 1e-3 };
                assert_close(name, shape, &got[i], &f32_ref[i], tol)?;
                assert_close(name, shape, &got[i], &f64_ref[i], 1e-5)?;
            }
        }
        Ok(())
    })
}

#[test]
fn moments_fallback_matches_plain_ops() -> Result<()> {
    each_shape(|shape, seed| {
        let got = moments_and_grad(shape, seed, DType::F64, 0.0, channel_moments)?;
        let want = moments_and_grad(shape, seed, DType::F64, 0.0, plain_moments)?;
        for (i, name) in ["mean", "var", "dx"].iter().enumerate() {
            assert_close(name, shape, &got[i], &want[i], 1e-12)?;
        }
        Ok(())
    })
}

/// Batch-norm style composition: moments feeding an affine of the same `x`, the gradient
/// flowing through both paths.
#[test]
fn normalization_composite_matches_plain_ops() -> Result<()> {
    let norm = |x: &Tensor, gamma: &Tensor, beta: &Tensor, fast: bool| -> Result<Tensor> {
        let (mean, var) = match fast {
            true => channel_moments(x)?,
            false => plain_moments(x)?,
        };
        let a = (gamma / (var + 1e-5)?.sqrt()?)?;
        let c = (beta - (mean * &a)?)?;
        match fast {
            true => channel_affine(x, Some(&a), Some(&c)),
            false => plain_affine(x, &a, &c),
        }
    };
    for shape in [[16, 32, 14, 14], [3, 2, 5, 1], [16, 32, 1, 1]] {
        let run = |dtype: DType, fast: bool| -> Result<[Tensor; 4]> {
            affine_and_grads(&shape, 7, dtype, |x, g, b| norm(x, g, b, fast))
        };
        let got = run(DType::F32, true)?;
        let want = run(DType::F64, false)?;
        for (i, name) in NAMES.iter().enumerate() {
            assert_close(name, &shape, &got[i], &want[i], 1e-4)?;
        }
    }
    Ok(())
}

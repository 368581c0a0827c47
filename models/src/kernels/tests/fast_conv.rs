//! The im2col + gemm convolution against candle's own `conv2d`: forward values, both gradients,
//! and the gradients against finite differences.

use crate::kernels::fast_conv::{
    fast_conv2d, fast_conv2d_backward_input, fast_conv2d_backward_weight, fast_conv2d_bias,
};
use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};

/// Seeded values in `[-1, 1)`.
fn rand_tensor(shape: &[usize], dtype: DType, seed: u64) -> Result<Tensor> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let v: Vec<f64> = (0..shape.iter().product::<usize>())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// `max |a - b| / max(1, max |b|)`.
fn rel_err(a: &Tensor, b: &Tensor) -> Result<f64> {
    assert_eq!(a.dims(), b.dims());
    let max = |t: &Tensor| -> Result<f64> {
        t.abs()?
            .flatten_all()?
            .max(0)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()
    };
    Ok(max(&(a - b)?)? / max(b)?.max(1.0))
}

/// `(n, i, o, h, w)` cases, each run with 1×1, 3×3 and 5×5 kernels and several paddings. `n = 1` is
/// below the thread count (gemm goes parallel), the others spread images over threads.
const CASES: &[(usize, usize, usize, usize, usize)] = &[
    (1, 1, 1, 2, 2),
    (2, 2, 3, 1, 6),
    (1, 3, 2, 7, 7),
    (3, 2, 8, 7, 14),
    (3, 8, 3, 14, 7),
    (2, 32, 32, 14, 14),
    (3, 3, 32, 28, 28),
    (5, 32, 8, 28, 28),
    (64, 8, 8, 7, 7),
];

/// Every case with `k ∈ {1, 3, 5}` and padding `k/2` (same size), 0 (valid) and `k` (wider than
/// the kernel reaches, so the input gradient crops).
fn each_case(mut f: impl FnMut(&[usize], &[usize], usize, u64) -> Result<()>) -> Result<()> {
    let mut seed = 0;
    for &(n, i, o, h, w) in CASES {
        for k in [1, 3, 5] {
            for padding in [k / 2, 0, k] {
                if h + 2 * padding < k || w + 2 * padding < k {
                    continue;
                }
                seed += 2;
                f(&[n, i, h, w], &[o, i, k, k], padding, seed)?;
            }
        }
    }
    Ok(())
}

#[test]
fn forward_matches_candle() -> Result<()> {
    each_case(|xs, ws, padding, seed| {
        let x = rand_tensor(xs, DType::F32, seed)?;
        let w = rand_tensor(ws, DType::F32, seed + 1)?;
        let ours = fast_conv2d(&x, &w, padding)?;
        let theirs = x.conv2d(&w, padding, 1, 1, 1)?;
        let err = rel_err(&ours, &theirs)?;
        assert!(
            err < 1e-5,
            "x {xs:?} w {ws:?} padding {padding}: error {err}"
        );
        Ok(())
    })
}

/// `d/dx` and `d/dw` of `Σ conv(x, w)·r` through `conv`.
fn grads(
    conv: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
    x: &Var,
    w: &Var,
    r: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let loss = (conv(x.as_tensor(), w.as_tensor())? * r)?.sum_all()?;
    let g = loss.backward()?;
    let dx = g.get(x.as_tensor()).expect("no input gradient").clone();
    let dw = g.get(w.as_tensor()).expect("no weight gradient").clone();
    Ok((dx, dw))
}

#[test]
fn gradients_match_candle() -> Result<()> {
    each_case(|xs, ws, padding, seed| {
        let x = Var::from_tensor(&rand_tensor(xs, DType::F32, seed)?)?;
        let w = Var::from_tensor(&rand_tensor(ws, DType::F32, seed + 1)?)?;
        let y = x.conv2d(&w, padding, 1, 1, 1)?;
        let r = rand_tensor(y.dims(), DType::F32, seed + 1000)?;
        let (dx, dw) = grads(|x, w| fast_conv2d(x, w, padding), &x, &w, &r)?;
        let (cdx, cdw) = grads(|x, w| x.conv2d(w, padding, 1, 1, 1), &x, &w, &r)?;
        let (ex, ew) = (rel_err(&dx, &cdx)?, rel_err(&dw, &cdw)?);
        assert!(
            ex < 1e-5,
            "x {xs:?} w {ws:?} padding {padding}: dx error {ex}"
        );
        assert!(
            ew < 1e-5,
            "x {xs:?} w {ws:?} padding {padding}: dw error {ew}"
        );
        // The public backward functions are the same computation.
        let dy = r.contiguous()?;
        assert!(rel_err(&fast_conv2d_backward_input(&dy, &w, padding)?, &cdx)? < 1e-5);
        assert!(rel_err(&fast_conv2d_backward_weight(&x, &dy, padding)?, &cdw)? < 1e-5);
        Ok(())
    })
}

/// With a bias: the value and all three gradients against candle's conv plus a broadcast bias.
#[test]
fn bias_matches_candle() -> Result<()> {
    each_case(|xs, ws, padding, seed| {
        let x = Var::from_tensor(&rand_tensor(xs, DType::F32, seed)?)?;
        let w = Var::from_tensor(&rand_tensor(ws, DType::F32, seed + 1)?)?;
        let b = Var::from_tensor(&rand_tensor(&ws[..1], DType::F32, seed + 2)?)?;
        let plain = |x: &Tensor, w: &Tensor, b: &Tensor| -> Result<Tensor> {
            x.conv2d(w, padding, 1, 1, 1)?
                .broadcast_add(&b.reshape((b.dim(0)?, 1, 1))?)
        };
        let want = plain(&x, &w, &b)?;
        let r = rand_tensor(want.dims(), DType::F32, seed + 1000)?;
        let run =
            |conv: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>| -> Result<Vec<Tensor>> {
                let y = conv(&x, &w, &b)?;
                let g = (&y * &r)?.sum_all()?.backward()?;
                let grad = |v: &Var| g.get(v).expect("a gradient").clone();
                Ok(vec![y, grad(&x), grad(&w), grad(&b)])
            };
        let ours = run(&|x, w, b| fast_conv2d_bias(x, w, b, padding))?;
        let theirs = run(&plain)?;
        for (name, (a, b)) in ["y", "dx", "dw", "db"].iter().zip(ours.iter().zip(&theirs)) {
            let err = rel_err(a, b)?;
            assert!(
                err < 1e-5,
                "x {xs:?} w {ws:?} padding {padding}: {name} error {err}"
            );
        }
        Ok(())
    })
}

/// A bias of the wrong size is an error, not a silent broadcast.
#[test]
fn bias_of_wrong_size_is_an_error() -> Result<()> {
    let x = rand_tensor(&[1, 2, 5, 5], DType::F32, 1)?;
    let w = rand_tensor(&[3, 2, 3, 3], DType::F32, 2)?;
    let b = rand_tensor(&[2], DType::F32, 3)?;
    let err = fast_conv2d_bias(&x, &w, &b, 1).expect_err("a [2] bias for 3 outputs");
    assert!(err.to_string().contains("bias must be [3]"), "{err}");
    Ok(())
}

/// The loss is linear in each argument, so central differences are exact up to rounding.
#[test]
fn gradients_match_finite_differences() -> Result<()> {
    let (xs, ws, padding) = ([3, 2, 3, 4], [3, 2, 3, 3], 1);
    let x = Var::from_tensor(&rand_tensor(&xs, DType::F32, 1)?)?;
    let w = Var::from_tensor(&rand_tensor(&ws, DType::F32, 2)?)?;
    let r = rand_tensor(&[3, 3, 3, 4], DType::F32, 3)?;
    let loss = |x: &Tensor, w: &Tensor| -> Result<f64> {
        (fast_conv2d(x, w, padding)?.to_dtype(DType::F64)? * r.to_dtype(DType::F64)?)?
            .sum_all()?
            .to_scalar::<f64>()
    };
    let (dx, dw) = grads(|x, w| fast_conv2d(x, w, padding), &x, &w, &r)?;
    let eps = 0.25f32;
    for (arg, grad, is_x) in [(&x, &dx, true), (&w, &dw, false)] {
        let base = arg.flatten_all()?.to_vec1::<f32>()?;
        let grad = grad.flatten_all()?.to_vec1::<f32>()?;
        for j in 0..base.len() {
            let bumped = |d: f32| -> Result<f64> {
                let mut v = base.clone();
                v[j] += d;
                let t = Tensor::from_vec(v, arg.dims(), &Device::Cpu)?;
                if is_x { loss(&t, &w) } else { loss(&x, &t) }
            };
            let fd = (bumped(eps)? - bumped(-eps)?) / (2.0 * eps as f64);
            let g = grad[j] as f64;
            assert!(
                (fd - g).abs() < 1e-4 * (1.0 + g.abs()),
                "element {j}: {g} vs {fd}"
            );
        }
    }
    Ok(())
}

/// A data input (tracking nothing) gets no gradient; the kernel's is still right.
#[test]
fn untracked_input_gets_no_gradient() -> Result<()> {
    let x = rand_tensor(&[3, 4, 7, 7], DType::F32, 5)?;
    let w = Var::from_tensor(&rand_tensor(&[5, 4, 3, 3], DType::F32, 6)?)?;
    let g = fast_conv2d(&x, &w, 1)?.sum_all()?.backward()?;
    let cg = x.conv2d(&w, 1, 1, 1, 1)?.sum_all()?.backward()?;
    assert!(g.get(&x).is_none());
    assert!(rel_err(g.get(&w).unwrap(), cg.get(&w).unwrap())? < 1e-5);
    Ok(())
}

#[test]
fn strided_input_and_rectangular_kernel() -> Result<()> {
    // A transposed view: the wrapper makes it contiguous.
    let x = Var::from_tensor(&rand_tensor(&[3, 4, 9, 6], DType::F32, 7)?)?;
    let xt = x.transpose(2, 3)?;
    let w = Var::from_tensor(&rand_tensor(&[5, 4, 1, 3], DType::F32, 8)?)?;
    let r = rand_tensor(&[3, 5, 8, 9], DType::F32, 9)?;
    let ours = fast_conv2d(&xt, &w, 1)?;
    let theirs = xt.conv2d(&w, 1, 1, 1, 1)?;
    assert!(rel_err(&ours, &theirs)? < 1e-5);
    let (dx, dw) = grads(|x, w| fast_conv2d(&x.transpose(2, 3)?, w, 1), &x, &w, &r)?;
    let (cdx, cdw) = grads(|x, w| x.transpose(2, 3)?.conv2d(w, 1, 1, 1, 1), &x, &w, &r)?;
    assert!(rel_err(&dx, &cdx)? < 1e-5);
    assert!(rel_err(&dw, &cdw)? < 1e-5);
    Ok(())
}

/// f64 goes to candle's own convolution, bit for bit.
#[test]
fn f64_falls_back_to_candle() -> Result<()> {
    let x = rand_tensor(&[2, 3, 5, 5], DType::F64, 10)?;
    let w = rand_tensor(&[4, 3, 3, 3], DType::F64, 11)?;
    let diff = (fast_conv2d(&x, &w, 1)? - x.conv2d(&w, 1, 1, 1, 1)?)?;
    assert_eq!(diff.abs()?.max_all()?.to_scalar::<f64>()?, 0.0);
    Ok(())
}

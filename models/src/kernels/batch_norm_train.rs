//! Training-mode batch norm (optionally followed by a ReLU) as one candle op with a hand-written
//! backward pass.
//!
//! Built from the per-channel ops, a training-mode batch norm is a moments op, half a dozen `[C]`
//! ops and an affine op, and `x` feeds two of them, so candle's backward pass runs a moments
//! gradient pass, an affine gradient pass and a ReLU mask pass, and accumulates two gradients
//! into `x` (each a zero-filled buffer plus an add). Here the batch statistics are computed
//! without gradient and the whole map's gradient comes from the closed form
//!
//! `dx = a·(g - Σg/M - x̂·Σ(g·x̂)/M)`, `dγ = Σ g·x̂`, `dβ = Σ g`,
//!
//! with `x̂ = (x - mean)/√(var+ε)`, `a = γ/√(var+ε)`, `g` the output gradient masked by the ReLU
//! (the mask recomputed from `x`), sums over the `M` elements of a channel: two passes over the
//! activations in the backward.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail};

use super::channel_ops::{
    ChannelMoments, RowAffineRelu, affine_planes, collect_uninit_with_capacity, f32_slice, is_fast,
    lanes, min_planes, planes, reduce_planes, sum_over_batch,
};
use super::channel_ops::{channel_affine, channel_affine_relu, channel_moments};
use super::relu_grad::{dx_plane, masked_dx_plane, masked_sums};

/// `y = x̂·γ + β` (then `relu(y)` when `relu`) with `x̂` normalized by the batch's per-channel
/// mean and biased variance: `x` `[N, C, *spatial]`, `gamma`, `beta` `[C]`. Returns `(y, mean,
/// var)`, the statistics `[C]` detached (for running averages).
///
/// Differentiable in `x`, `gamma` and `beta`, through the statistics too. CPU f32 takes the fused
/// op; anything else the equivalent per-channel ops.
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    if x.rank() < 2 {
        bail!(
            "batch_norm_train: x must be [N, C, ...], got {:?}",
            x.dims()
        );
    }
    let c = x.dim(1)?;
    if gamma.dims() != [c] || beta.dims() != [c] {
        bail!(
            "batch_norm_train: gamma and beta must be [{c}], got {:?} and {:?}",
            gamma.dims(),
            beta.dims()
        );
    }
    if is_fast(x) && is_fast(gamma) && is_fast(beta) {
        let x = x.contiguous()?;
        let stats = x.detach().apply_op1_no_bwd(&ChannelMoments)?;
        let gamma_beta = Tensor::stack(&[gamma, beta], 0)?;
        let y = x.apply_op3(&gamma_beta, &stats, BatchNormTrain { eps, relu })?;
        Ok((y, stats.get(0)?, stats.get(1)?))
    } else {
        let (mean, var) = channel_moments(x)?;
        let a = (gamma / (&var + eps)?.sqrt()?)?;
        let shift = (beta - (&mean * &a)?)?;
        let affine = if relu {
            channel_affine_relu
        } else {
            channel_affine
        };
        let y = affine(x, Some(&a), Some(&shift))?;
        Ok((y, mean.detach(), var.detach()))
    }
}

/// `(x, [γ; β] [2, C], [mean; var] [2, C]) -> y`.
struct BatchNormTrain {
    eps: f64,
    relu: bool,
}

/// `(x, dy) -> [dx (flattened), dγ [C], dβ [C]]` for the forward op with these parameters
/// (`[C]` each), without backward. One output buffer holds all three, so that the parameter
/// gradients need no second pass over the activations.
struct BatchNormTrainBackward {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    mean: Vec<f32>,
    var: Vec<f32>,
    eps: f64,
    relu: bool,
}

/// The per-channel affine `(a, b)` of the forward map, `y = x·a + b`, rounded as the per-channel
/// ops round it (so the fused op and the unfused fallback agree to the last bit in f32).
pub(super) fn affine_coefficients(
    gamma: f32,
    beta: f32,
    mean: f32,
    var: f32,
    eps: f64,
) -> (f32, f32) {
    let a = gamma / (var + eps as f32).sqrt();
    (a, beta - mean * a)
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, gb, stats) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let (_, c, s) = planes(l1)?;
        if gb.len() != 2 * c || stats.len() != 2 * c {
            bail!("batch-norm-train: parameters and statistics must be [2, {c}]");
        }
        let (gamma, beta) = gb.split_at(c);
        let (mean, var) = stats.split_at(c);
        let y = forward(x, (c, s), (gamma, beta), (mean, var), self.eps, self.relu);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma_beta: &Tensor,
        stats: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if !x.track_op() && !gamma_beta.track_op() {
            return Ok((None, None, None));
        }
        let backward = BatchNormTrainBackward {
            gamma: gamma_beta.get(0)?.to_vec1()?,
            beta: gamma_beta.get(1)?.to_vec1()?,
            mean: stats.get(0)?.to_vec1()?,
            var: stats.get(1)?.to_vec1()?,
            eps: self.eps,
            relu: self.relu,
        };
        let flat = x.apply_op2_no_bwd(&dy.contiguous()?, &backward)?;
        let (len, c) = (x.elem_count(), x.dim(1)?);
        let dx = flat.narrow(0, 0, len)?.reshape(x.shape())?;
        let d_gamma_beta = flat.narrow(0, len, 2 * c)?.reshape((2, c))?;
        Ok((
            x.track_op().then_some(dx),
            gamma_beta.track_op().then_some(d_gamma_beta),
            None,
        ))
    }
}

impl CustomOp2 for BatchNormTrainBackward {
    fn name(&self) -> &'static str {
        "batch-norm-train-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, dy) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        if l1.shape() != l2.shape() {
            bail!("batch-norm-train backward: x and dy shapes differ");
        }
        let (n, c, s) = planes(l1)?;
        if [&self.gamma, &self.beta, &self.mean, &self.var]
            .iter()
            .any(|v| v.len() != c)
        {
            bail!("batch-norm-train backward: parameters must have {c} elements");
        }
        let (a, b) = affine_coefficient_vectors(
            (&self.gamma, &self.beta),
            (&self.mean, &self.var),
            self.eps,
        );
        let out = backward(
            x,
            dy,
            None,
            (n, c, s),
            &self.gamma,
            (&self.mean, &self.var),
            self.eps,
            self.relu.then_some(RowAffineRelu { a: &a, b: &b }),
        );
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

/// The forward map on `[n, c, s]` slices: `x·a + b` per channel (then the ReLU when `relu`) with
/// the batch norm's coefficients for these statistics, `gamma`, `beta`, `mean`, `var` `[c]` each.
pub(super) fn forward(
    x: &[f32],
    (c, s): (usize, usize),
    (gamma, beta): (&[f32], &[f32]),
    (mean, var): (&[f32], &[f32]),
    eps: f64,
    relu: bool,
) -> Vec<f32> {
    let (a, b) = affine_coefficient_vectors((gamma, beta), (mean, var), eps);
    affine_planes(x, c, s, &a, &b, relu)
}

/// [`affine_coefficients`] of every channel: `(a [c], b [c])`.
pub(super) fn affine_coefficient_vectors(
    (gamma, beta): (&[f32], &[f32]),
    (mean, var): (&[f32], &[f32]),
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    (0..gamma.len())
        .map(|ch| affine_coefficients(gamma[ch], beta[ch], mean[ch], var[ch], eps))
        .unzip()
}

/// The closed-form backward of the (ReLU-masked) training batch norm on `[n, c, s]` slices: `x`
/// the input, `dy` the output's gradient, `gamma`, `mean`, `var` `[c]` each. Returns `dx` (plus
/// `residual` when given: a skip connection's gradient, added in the same pass) followed by `dγ`
/// and `dβ` (`c` each) in one buffer.
///
/// `relu` is the forward's map `relu(x·a + b)` ([`affine_coefficient_vectors`]) when a ReLU
/// followed the norm: the mask is recomputed from the pre-activation (the forward's own
/// arithmetic, so the same elements pass) inside the two passes that read `x` anyway, instead of
/// a pass of its own that read the output and wrote a masked copy of `dy`.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    x: &[f32],
    dy: &[f32],
    residual: Option<&[f32]>,
    (n, c, s): (usize, usize, usize),
    gamma: &[f32],
    (mean, var): (&[f32], &[f32]),
    eps: f64,
    relu: Option<RowAffineRelu>,
) -> Vec<f32> {
    // Σ g and Σ g·(x - mean) per plane, g the output gradient through the ReLU; then per channel
    // in batch order.
    let partial = reduce_planes(n * c, s, |i| {
        let (ch, m) = (i % c, mean[i % c]);
        let (dy, x) = (&dy[i * s..][..s], &x[i * s..][..s]);
        match relu {
            Some(map) => masked_sums(dy, x, (map.a[ch], map.b[ch]), m),
            None => lanes(dy, x, |g, x| [g, g * (x - m)]),
        }
    });
    let count = (n * s) as f64;
    let mut d_gamma = vec![0f32; c];
    let mut d_beta = vec![0f32; c];
    // dx = g·a + (x - mean)·q + r per channel (the closed form of the module docs).
    let coef: Vec<(f32, f32, f32, f32)> = (0..c)
        .map(|ch| {
            let [sum_g, sum_gx] = sum_over_batch(&partial, n, c, ch);
            let inv_std = 1.0 / (var[ch] as f64 + eps).sqrt();
            let a = gamma[ch] as f64 * inv_std;
            let sum_g_xhat = sum_gx * inv_std;
            d_gamma[ch] = sum_g_xhat as f32;
            d_beta[ch] = sum_g as f32;
            let q = -a * inv_std * sum_g_xhat / count;
            let r = -a * sum_g / count;
            (a as f32, mean[ch], q as f32, r as f32)
        })
        .collect();
    let mut out =
        collect_uninit_with_capacity(x.len(), x.len() + 2 * c, s * min_planes(s), |start, out| {
            for (p, out) in out.chunks_mut(s).enumerate() {
                let first = start + p * s;
                let ch = (first / s) % c;
                let (dy, x) = (&dy[first..][..out.len()], &x[first..][..out.len()]);
                let res = residual.map(|r| &r[first..][..out.len()]);
                match relu {
                    Some(map) => masked_dx_plane(out, dy, x, res, coef[ch], (map.a[ch], map.b[ch])),
                    None => dx_plane(out, dy, x, res, coef[ch], |d, _| d),
                }
            }
        });
    out.extend_from_slice(&d_gamma);
    out.extend_from_slice(&d_beta);
    out
}

//! Per-channel affine maps and per-channel moments as candle custom ops.
//!
//! candle 0.11.1 reduces over non-trailing dimensions (`sum_keepdim((0, 2, 3))`) roughly ten
//! times slower than an elementwise op, and every `broadcast_mul`/`broadcast_add` with a
//! `[1, C, 1, 1]` operand runs such a reduction in its backward pass. Normalization layers and
//! conv biases are nothing but per-channel affine maps and per-channel moments, so these two ops
//! do them (and their gradients) in contiguous loops over `(n, c)` planes, spread over rayon's
//! threads, summing in short f32 blocks folded into f64. Gradients are exact to first order. Any
//! dtype but f32, or any device but the CPU, falls back to the equivalent plain candle ops, so
//! f64 tests and GPU builds keep working.
//!
//! Every reduction sums per plane, then over the batch in a fixed order, so results do not
//! depend on how rayon schedules the planes (resumed training stays bit-exact).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape};
use candle_core::{Tensor, bail};
use std::mem::MaybeUninit;

use rayon::prelude::*;

/// `y = x·scale[c] + shift[c]`: `x` `[N, C, *spatial]` (rank ≥ 2, so `[N, C]` too), `scale` and
/// `shift` `[C]` (a missing one is 1 or 0) -> `[N, C, *spatial]`.
///
/// Differentiable in all three arguments: `dx = dy·scale[c]`, `dscale[c] = Σ_{n,spatial} dy·x`,
/// `dshift[c] = Σ_{n,spatial} dy`; on the fast path a gradient is only computed for an argument
/// that tracks something (a variable or computed from one).
pub fn channel_affine(
    x: &Tensor,
    scale: Option<&Tensor>,
    shift: Option<&Tensor>,
) -> Result<Tensor> {
    affine(x, scale, shift, false)
}

/// `relu(x·scale[c] + shift[c])`: [`channel_affine`] and a ReLU in one op (normalization
/// followed by its activation), one pass over `x` forward and one over `dy` backward instead
/// of the five or so of candle's ReLU and its gradient. Gradients as in [`channel_affine`],
/// with `dy` zeroed where the output is zero.
pub fn channel_affine_relu(
    x: &Tensor,
    scale: Option<&Tensor>,
    shift: Option<&Tensor>,
) -> Result<Tensor> {
    affine(x, scale, shift, true)
}

fn affine(
    x: &Tensor,
    scale: Option<&Tensor>,
    shift: Option<&Tensor>,
    relu: bool,
) -> Result<Tensor> {
    if x.rank() < 2 {
        bail!("channel_affine: x must be [N, C, ...], got {:?}", x.dims());
    }
    let c = x.dim(1)?;
    for t in [scale, shift].into_iter().flatten() {
        if t.dims() != [c] {
            bail!(
                "channel_affine: per-channel operand must be [{c}], got {:?}",
                t.dims()
            );
        }
    }
    let fast = is_fast(x) && [scale, shift].into_iter().flatten().all(is_fast);
    if fast {
        // The stand-ins track nothing, so the backward pass skips their gradients.
        let scale = match scale {
            Some(s) => s.contiguous()?,
            None => Tensor::ones(c, DType::F32, x.device())?,
        };
        let shift = match shift {
            Some(s) => s.contiguous()?,
            None => Tensor::zeros(c, DType::F32, x.device())?,
        };
        x.contiguous()?
            .apply_op3(&scale, &shift, ChannelAffine { relu })
    } else {
        let shape = channel_shape(x)?;
        let mut y = x.clone();
        if let Some(s) = scale {
            y = y.broadcast_mul(&s.reshape(shape.clone())?)?;
        }
        if let Some(s) = shift {
            y = y.broadcast_add(&s.reshape(shape)?)?;
        }
        if relu { y.relu() } else { Ok(y) }
    }
}

/// Per-channel mean and biased variance of `x` `[N, C, *spatial]` over every dimension but 1:
/// `([C], [C])`, differentiable in `x` (`∂mean/∂x = 1/M`, `∂var/∂x = 2(x - mean)/M`, with `M`
/// elements per channel).
///
/// The fast path accumulates in f64, shifted by one sample of each plane, so the variance does
/// not suffer from cancellation when the mean is large.
pub fn channel_moments(x: &Tensor) -> Result<(Tensor, Tensor)> {
    if x.rank() < 2 {
        bail!("channel_moments: x must be [N, C, ...], got {:?}", x.dims());
    }
    if is_fast(x) {
        let m = x.contiguous()?.apply_op1(ChannelMoments)?;
        Ok((m.get(0)?, m.get(1)?))
    } else {
        let dims: Vec<usize> = (0..x.rank()).filter(|&d| d != 1).collect();
        let count = (x.elem_count() / x.dim(1)?) as f64;
        let mean = (x.sum_keepdim(dims.clone())? / count)?;
        let var = (x.broadcast_sub(&mean)?.sqr()?.sum_keepdim(dims)? / count)?;
        Ok((mean.flatten_all()?, var.flatten_all()?))
    }
}

/// `Σ dy` per channel of a contiguous CPU f32 `dy` `[N, C, *spatial]`: `[C]`, without backward
/// (a bias gradient).
pub(crate) fn channel_sums(dy: &Tensor) -> Result<Tensor> {
    dy.apply_op1_no_bwd(&ChannelSums)
}

/// Whether `t` takes the CPU f32 path.
pub(super) fn is_fast(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32 && t.elem_count() > 0
}

/// `[1, C, 1, ...]`, broadcasting a `[C]` vector against `x`.
fn channel_shape(x: &Tensor) -> Result<Vec<usize>> {
    let mut s = vec![1; x.rank()];
    s[1] = x.dim(1)?;
    Ok(s)
}

/// `(x, scale, shift) -> y`, followed by a ReLU when `relu`.
struct ChannelAffine {
    relu: bool,
}

/// `(dy, y) -> dy where y > 0, else 0`: the gradient through a ReLU given its output. Without
/// backward.
struct ReluMask;

/// `(x, [mean; var] [2, C], [dmean; dvar] [2, C]) -> dx`, without backward.
struct MomentsBackward;

/// `x -> [mean; var]`, `[2, C]`.
pub(super) struct ChannelMoments;

/// `dy -> Σ dy` (`[C]`) as a `CustomOp1`; `(dy, x) -> [Σ dy·x; Σ dy]` (`[2, C]`) as a
/// `CustomOp2`. Without backward.
struct ChannelSums;

impl CustomOp3 for ChannelAffine {
    fn name(&self) -> &'static str {
        "channel-affine"
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
        let (x, a, b) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let (_, c, s) = planes(l1)?;
        if a.len() != c || b.len() != c {
            bail!("channel-affine: scale and shift must have {c} elements");
        }
        let y = affine_planes(x, c, s, a, b, self.relu);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        scale: &Tensor,
        shift: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = match self.relu {
            true => dy.contiguous()?.apply_op2_no_bwd(y, &ReluMask)?,
            false => dy.contiguous()?,
        };
        let dx = match x.track_op() {
            true => Some(channel_affine(&dy, Some(scale), None)?),
            false => None,
        };
        let (dscale, dshift) = match (scale.track_op(), shift.track_op()) {
            (false, false) => (None, None),
            (false, true) => (None, Some(channel_sums(&dy)?)),
            (true, need_shift) => {
                let sums = dy.apply_op2_no_bwd(x, &ChannelSums)?;
                (
                    Some(sums.get(0)?),
                    need_shift.then(|| sums.get(1)).transpose()?,
                )
            }
        };
        Ok((dx, dscale, dshift))
    }
}

impl CustomOp2 for ReluMask {
    fn name(&self) -> &'static str {
        "relu-mask"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (dy, y) = same_shape_slices("relu-mask", (s1, l1), (s2, l2))?;
        Ok((CpuStorage::F32(relu_mask(dy, y)), l1.shape().clone()))
    }
}

impl CustomOp1 for ChannelMoments {
    fn name(&self) -> &'static str {
        "channel-moments"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, s) = planes(l1)?;
        let out = moments(f32_slice(s1, l1)?, n, c, s);
        Ok((CpuStorage::F32(out), Shape::from((2, c))))
    }

    fn bwd(&self, x: &Tensor, moments: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op3_no_bwd(
            moments,
            &grad.contiguous()?,
            &MomentsBackward,
        )?))
    }
}

impl CustomOp3 for MomentsBackward {
    fn name(&self) -> &'static str {
        "channel-moments-backward"
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
        let (x, m, g) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let (n, c, s) = planes(l1)?;
        if m.len() != 2 * c || g.len() != 2 * c {
            bail!("channel-moments backward: moments and gradient must be [2, {c}]");
        }
        let count = (n * s) as f64;
        // dx = dmean/M + 2·dvar·(x - mean)/M, coefficients per channel.
        let coef: Vec<(f32, f32, f32)> = (0..c)
            .map(|ch| {
                let q = (g[ch] as f64 / count) as f32;
                let p = (2.0 * g[c + ch] as f64 / count) as f32;
                (m[ch], p, q)
            })
            .collect();
        let dx = map_planes(x, c, s, |ch, x| {
            let (mean, p, q) = coef[ch];
            (x - mean) * p + q
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

impl CustomOp1 for ChannelSums {
    fn name(&self) -> &'static str {
        "channel-sums"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, s) = planes(l1)?;
        let out = sums(f32_slice(s1, l1)?, n, c, s);
        Ok((CpuStorage::F32(out), Shape::from(c)))
    }
}

impl CustomOp2 for ChannelSums {
    fn name(&self) -> &'static str {
        "channel-sums"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (dy, x) = same_shape_slices("channel-sums", (s1, l1), (s2, l2))?;
        let (n, c, s) = planes(l1)?;
        let partial = reduce_planes(n * c, s, |i| {
            lanes(&dy[i * s..][..s], &x[i * s..][..s], |dy, x| [dy * x, dy])
        });
        let mut out = vec![0f32; 2 * c];
        for ch in 0..c {
            let [sx, s1] = sum_over_batch(&partial, n, c, ch);
            out[ch] = sx as f32;
            out[c + ch] = s1 as f32;
        }
        Ok((CpuStorage::F32(out), Shape::from((2, c))))
    }
}

/// Per-channel mean and biased variance of `x` `[n, c, s]`: `[mean; var]`, `2c` values
/// ([`plane_moments`] of every plane, then [`combine_moments`]).
pub(super) fn moments(x: &[f32], n: usize, c: usize, s: usize) -> Vec<f32> {
    let partial = reduce_planes(n * c, s, |i| plane_moments(&x[i * s..][..s]));
    combine_moments(&partial, n, c, s)
}

/// `[k, Σ(x - k), Σ(x - k)²]` of one plane, `k` its first element: shifting by a sample of
/// the plane keeps `Σ(x - k)²` free of cancellation when the mean is large.
///
/// The fused residual block takes these per image while a convolution's output is still in
/// cache (`winograd::forward`), so a pass of its own over the activation is not needed.
pub(super) fn plane_moments(plane: &[f32]) -> [f64; 3] {
    let k = plane.first().copied().unwrap_or(0.0);
    let [s1, s2] = lanes(plane, plane, |v, _| {
        let d = v - k;
        [d, d * d]
    });
    [k as f64, s1, s2]
}

/// `[mean; var]` (`2c` values) from the [`plane_moments`] of the `n·c` planes of `s` elements of
/// `[n, c, s]` data, plane `i` being channel `i % c`; in f64 and in batch order, using
/// `Σ(x - m)² = Σ(x - k)² + 2(k - m)·Σ(x - k) + s·(k - m)²` per plane.
pub(super) fn combine_moments(partial: &[[f64; 3]], n: usize, c: usize, s: usize) -> Vec<f32> {
    let (count, s) = ((n * s) as f64, s as f64);
    let mut out = vec![0f32; 2 * c];
    for ch in 0..c {
        let planes = || partial[ch..].iter().step_by(c).take(n);
        let mean = planes().map(|[k, s1, _]| k * s + s1).sum::<f64>() / count;
        let m2: f64 = planes()
            .map(|[k, s1, s2]| {
                let d = k - mean;
                s2 + 2.0 * d * s1 + s * d * d
            })
            .sum();
        out[ch] = mean as f32;
        out[c + ch] = (m2 / count).max(0.0) as f32;
    }
    out
}

/// `Σ dy` per channel of `dy` `[n, c, s]`: `c` values ([`plane_sum`] of every plane, then
/// [`combine_sums`]).
pub(super) fn sums(dy: &[f32], n: usize, c: usize, s: usize) -> Vec<f32> {
    let partial = reduce_planes(n * c, s, |i| plane_sum(&dy[i * s..][..s]));
    combine_sums(&partial, n, c)
}

/// `[Σ dy]` of one plane (the Winograd backward takes these per image from the copy of `dy` it
/// transposes anyway: a bias gradient without a pass of its own).
pub(super) fn plane_sum(plane: &[f32]) -> [f64; 1] {
    lanes(plane, plane, |v, _| [v])
}

/// Per-channel totals (`c` values) of the [`plane_sum`]s of `n·c` planes, in batch order.
pub(super) fn combine_sums(partial: &[[f64; 1]], n: usize, c: usize) -> Vec<f32> {
    (0..c)
        .map(|ch| sum_over_batch(partial, n, c, ch)[0] as f32)
        .collect()
}

/// A batch norm's per-channel map of one element, `v·a + b`: a multiply, then an add. Two
/// roundings, as the exported graph's separate `Mul` and `Add`; a fused multiply-add rounds once
/// and can move an element across the ReLU's threshold, so the backward's recomputed mask would
/// no longer be the forward's. This is the rule's one home: the scalar kernels call it and the
/// SIMD ones (`transpose::block8`, `relu_grad::avx512`) issue the same two instructions, which
/// their tests pin to it.
#[inline(always)]
pub(super) fn scale_shift(v: f32, a: f32, b: f32) -> f32 {
    v * a + b
}

/// A per-row `relu(v·a[row] + b[row])`: a training batch norm and its ReLU, applied where a
/// convolution makes its pixel-major copy of the channel-major input (`transpose`), so the
/// normalized activations are never stored, and given to the batch norm's backward, which
/// recomputes the ReLU's mask from it.
#[derive(Clone, Copy)]
pub(super) struct RowAffineRelu<'a> {
    pub(super) a: &'a [f32],
    pub(super) b: &'a [f32],
}

impl RowAffineRelu<'_> {
    /// The map of row `row` on `v`.
    #[inline(always)]
    pub(super) fn apply(&self, row: usize, v: f32) -> f32 {
        scale_shift(v, self.a[row], self.b[row]).max(0.0)
    }
}

/// `x·a[c] + b[c]` (then `max(·, 0)` when `relu`) for every element of the `S`-element planes of
/// `x`, plane `i` being channel `i % C`, rounded as [`scale_shift`].
pub(super) fn affine_planes(
    x: &[f32],
    c: usize,
    s: usize,
    a: &[f32],
    b: &[f32],
    relu: bool,
) -> Vec<f32> {
    match relu {
        true => map_planes(x, c, s, |ch, x| scale_shift(x, a[ch], b[ch]).max(0.0)),
        false => map_planes(x, c, s, |ch, x| scale_shift(x, a[ch], b[ch])),
    }
}

/// The gradient through a ReLU given its output: `dy` where `y > 0`, else 0.
pub(super) fn relu_mask(dy: &[f32], y: &[f32]) -> Vec<f32> {
    collect_uninit(dy.len(), 1 << 14, |start, out| {
        let (dy, y) = (&dy[start..][..out.len()], &y[start..][..out.len()]);
        for ((dx, &dy), &y) in out.iter_mut().zip(dy).zip(y) {
            dx.write(if y > 0.0 { dy } else { 0.0 });
        }
    })
}

/// The contiguous f32 data of a custom op argument (this module's ops and the other fused ops of
/// the s/t networks).
pub(super) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        bail!("custom op: only f32, got {:?}", s.dtype());
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("custom op: arguments must be contiguous"),
    }
}

/// The contiguous f32 data of two arguments of op `op` that must have the same shape.
fn same_shape_slices<'a>(
    op: &str,
    (s1, l1): (&'a CpuStorage, &Layout),
    (s2, l2): (&'a CpuStorage, &Layout),
) -> Result<(&'a [f32], &'a [f32])> {
    if l1.shape() != l2.shape() {
        bail!("{op}: {:?} and {:?} differ", l1.shape(), l2.shape());
    }
    Ok((f32_slice(s1, l1)?, f32_slice(s2, l2)?))
}

/// `(N, C, S)` of an `[N, C, *spatial]` layout, `S` the product of the spatial dimensions.
pub(super) fn planes(l: &Layout) -> Result<(usize, usize, usize)> {
    let dims = l.shape().dims();
    if dims.len() < 2 {
        bail!("channel ops: expected [N, C, ...], got {dims:?}");
    }
    Ok((dims[0], dims[1], dims[2..].iter().product()))
}

/// Planes per rayon task: about 16k elements, so `[N, C]` vectors (one-element planes) do not
/// pay a task per element.
pub(super) fn min_planes(s: usize) -> usize {
    (1usize << 14).div_ceil(s.max(1))
}

/// A new `[N·C·S]` buffer holding `f(channel, x)` for every element `x` of the `S`-element planes
/// of `x`, plane `i` being channel `i % C`.
pub(super) fn map_planes(
    x: &[f32],
    c: usize,
    s: usize,
    f: impl Fn(usize, f32) -> f32 + Sync,
) -> Vec<f32> {
    collect_uninit(x.len(), s * min_planes(s), |start, out| {
        // Chunks are whole planes, so a plane never straddles two of them.
        for (p, out) in out.chunks_mut(s).enumerate() {
            let ch = (start / s + p) % c;
            for (y, &v) in out.iter_mut().zip(&x[start + p * s..]) {
                y.write(f(ch, v));
            }
        }
    })
}

/// A new `len`-element buffer filled in parallel, `chunk` elements per task, by
/// `fill(start, out)`, which must write every element of `out`, the chunk starting at element
/// `start`. The buffer is never zero-filled:
/// a freshly zeroed output costs a full `memset` pass per op (docs/benchmarks.md).
pub(super) fn collect_uninit(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    collect_uninit_with_capacity(len, len, chunk, fill)
}

/// [`collect_uninit`] into a buffer with room for `capacity ≥ len` elements, so that a caller
/// can append to it without reallocating.
pub(super) fn collect_uninit_with_capacity(
    len: usize,
    capacity: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let chunk = chunk.max(1);
    let mut y = Vec::with_capacity(capacity.max(len));
    y.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, out)| fill(i * chunk, out));
    // Every chunk was handed to `fill` and every `fill` passed here writes each element of its
    // chunk (the loops of `map_planes`, `relu_mask` and the batch-norm backward zip their output
    // with equally long input slices), so all `len` elements are initialised.
    unsafe { y.set_len(len) };
    y
}

/// `f(i)` for every plane `i < planes`, in order.
pub(super) fn reduce_planes<const K: usize>(
    planes: usize,
    s: usize,
    f: impl Fn(usize) -> [f64; K] + Sync,
) -> Vec<[f64; K]> {
    (0..planes)
        .into_par_iter()
        .with_min_len(min_planes(s))
        .map(&f)
        .collect()
}

/// Independent f32 accumulators: one AVX-512 register's worth, so the sums vectorize.
pub(super) const LANES: usize = 16;

/// Elements summed in f32 before their partial sums are added in f64: short f32 chains keep the
/// rounding error near f32's own (≈ 1e-7 relative), the f64 total keeps it there for any plane
/// size, and the inner loop runs at f32 SIMD speed.
pub(super) const BLOCK: usize = 256;

/// `Σ f(a[i], b[i])` over two equally long planes: f32 within blocks of [`BLOCK`] elements in
/// [`LANES`] interleaved accumulators, f64 across blocks, always in the same order.
pub(super) fn lanes<const K: usize>(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> [f32; K],
) -> [f64; K] {
    let mut total = [0f64; K];
    for (ba, bb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let mut acc = [[0f32; LANES]; K];
        let (mut ca, mut cb) = (ba.chunks_exact(LANES), bb.chunks_exact(LANES));
        for (xa, xb) in (&mut ca).zip(&mut cb) {
            for l in 0..LANES {
                let t = f(xa[l], xb[l]);
                for k in 0..K {
                    acc[k][l] += t[k];
                }
            }
        }
        for (&u, &v) in ca.remainder().iter().zip(cb.remainder()) {
            let t = f(u, v);
            for k in 0..K {
                acc[k][0] += t[k];
            }
        }
        for k in 0..K {
            total[k] += acc[k].iter().map(|&v| v as f64).sum::<f64>();
        }
    }
    total
}

/// `Σ_n partial[n·C + ch]`, in batch order.
pub(super) fn sum_over_batch<const K: usize>(
    partial: &[[f64; K]],
    n: usize,
    c: usize,
    ch: usize,
) -> [f64; K] {
    let mut out = [0f64; K];
    for p in partial[ch..].iter().step_by(c).take(n) {
        out.iter_mut().zip(p).for_each(|(o, v)| *o += v);
    }
    out
}

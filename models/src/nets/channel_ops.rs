//! Per-channel affine maps and per-channel moments as candle custom ops.
//!
//! candle 0.11.1 reduces over non-trailing dimensions (`sum_keepdim((0, 2, 3))`) roughly ten
//! times slower than an elementwise op, and every `broadcast_mul`/`broadcast_add` with a
//! `[1, C, 1, 1]` operand runs such a reduction in its backward pass. Normalization layers and
//! conv biases are nothing but per-channel affine maps and per-channel moments, so these two ops
//! do them (and their gradients) in contiguous loops over `(n, c)` planes, spread over rayon's
//! threads, with f64 accumulators. Gradients are exact to first order. Any dtype but f32, or any
//! device but the CPU, falls back to the equivalent plain candle ops, so f64 tests and GPU builds
//! keep working.
//!
//! Every reduction sums per plane, then over the batch in a fixed order, so results do not
//! depend on how rayon schedules the planes (resumed training stays bit-exact).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape};
use candle_core::{Tensor, bail};
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
/// The fast path accumulates in f64, shifted by one sample of each channel, so the variance does
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
fn is_fast(t: &Tensor) -> bool {
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
struct ChannelMoments;

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
        let relu = self.relu;
        let y = map_planes(x, c, s, |ch, x, y| {
            let (a, b) = (a[ch], b[ch]);
            // Two roundings, as the unfused mul and add of the ONNX graph.
            if relu {
                y.iter_mut()
                    .zip(x)
                    .for_each(|(y, &x)| *y = (x * a + b).max(0.0));
            } else {
                y.iter_mut().zip(x).for_each(|(y, &x)| *y = x * a + b);
            }
        });
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
            (false, true) => (None, Some(dy.apply_op1_no_bwd(&ChannelSums)?)),
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
        let (dy, y) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        if l1.shape() != l2.shape() {
            bail!("relu-mask: {:?} and {:?} differ", l1.shape(), l2.shape());
        }
        let mut dx = vec![0f32; dy.len()];
        const CHUNK: usize = 1 << 14;
        dx.par_chunks_mut(CHUNK)
            .zip(dy.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
            .for_each(|(dx, (dy, y))| {
                for ((dx, &dy), &y) in dx.iter_mut().zip(dy).zip(y) {
                    *dx = if y > 0.0 { dy } else { 0.0 };
                }
            });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

impl CustomOp1 for ChannelMoments {
    fn name(&self) -> &'static str {
        "channel-moments"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1)?;
        let (n, c, s) = planes(l1)?;
        // Shifting by a sample of the channel keeps Σ(x-k)² free of cancellation.
        let shift = &x[..c * s];
        let partial = reduce_planes(n * c, s, |i| {
            let k = shift[i % c * s] as f64;
            let plane = &x[i * s..][..s];
            lanes(plane, plane, |v, _| {
                let d = v as f64 - k;
                [d, d * d]
            })
        });
        let count = (n * s) as f64;
        let mut out = vec![0f32; 2 * c];
        for ch in 0..c {
            let [s1, s2] = sum_over_batch(&partial, n, c, ch);
            let d = s1 / count;
            let k = shift[ch * s] as f64;
            out[ch] = (k + d) as f32;
            out[c + ch] = (s2 / count - d * d).max(0.0) as f32;
        }
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
        let dx = map_planes(x, c, s, |ch, x, dx| {
            let (mean, p, q) = coef[ch];
            dx.iter_mut()
                .zip(x)
                .for_each(|(dx, &x)| *dx = (x - mean) * p + q);
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

impl CustomOp1 for ChannelSums {
    fn name(&self) -> &'static str {
        "channel-sums"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout) -> Result<(CpuStorage, Shape)> {
        let dy = f32_slice(s1, l1)?;
        let (n, c, s) = planes(l1)?;
        let partial = reduce_planes(n * c, s, |i| {
            let dy = &dy[i * s..][..s];
            lanes(dy, dy, |v, _| [v as f64])
        });
        let out = (0..c)
            .map(|ch| sum_over_batch(&partial, n, c, ch)[0] as f32)
            .collect();
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
        let (dy, x) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        if l1.shape() != l2.shape() {
            bail!("channel-sums: {:?} and {:?} differ", l1.shape(), l2.shape());
        }
        let (n, c, s) = planes(l1)?;
        let partial = reduce_planes(n * c, s, |i| {
            lanes(&dy[i * s..][..s], &x[i * s..][..s], |dy, x| {
                [dy as f64 * x as f64, dy as f64]
            })
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

/// The contiguous f32 data of a custom op argument.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        bail!("channel ops: only f32, got {:?}", s.dtype());
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("channel ops: arguments must be contiguous"),
    }
}

/// `(N, C, S)` of an `[N, C, *spatial]` layout, `S` the product of the spatial dimensions.
fn planes(l: &Layout) -> Result<(usize, usize, usize)> {
    let dims = l.shape().dims();
    if dims.len() < 2 {
        bail!("channel ops: expected [N, C, ...], got {dims:?}");
    }
    Ok((dims[0], dims[1], dims[2..].iter().product()))
}

/// Planes per rayon task: about 16k elements, so `[N, C]` vectors (one-element planes) do not
/// pay a task per element.
fn min_planes(s: usize) -> usize {
    (1usize << 14).div_ceil(s.max(1))
}

/// A new `[N·C·S]` buffer whose plane `i` is written by `f(i % C, x_plane, out_plane)`.
fn map_planes(
    x: &[f32],
    c: usize,
    s: usize,
    f: impl Fn(usize, &[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(s)
        .zip(x.par_chunks(s))
        .enumerate()
        .with_min_len(min_planes(s))
        .for_each(|(i, (y, x))| f(i % c, x, y));
    y
}

/// `f(i)` for every plane `i < planes`, in order.
fn reduce_planes<const K: usize>(
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

/// Independent accumulators per plane: they let the f64 sums vectorize (a single running sum
/// is one long dependency chain) and shorten the rounding chains.
const LANES: usize = 4;

/// `Σ f(a[i], b[i])` over two equally long planes, in `LANES` interleaved accumulators.
fn lanes<const K: usize>(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> [f64; K]) -> [f64; K] {
    let mut acc = [[0f64; K]; LANES];
    let (mut a, mut b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (ca, cb) in (&mut a).zip(&mut b) {
        for l in 0..LANES {
            let t = f(ca[l], cb[l]);
            acc[l].iter_mut().zip(t).for_each(|(acc, t)| *acc += t);
        }
    }
    for ((acc, &u), &v) in acc.iter_mut().zip(a.remainder()).zip(b.remainder()) {
        acc.iter_mut().zip(f(u, v)).for_each(|(acc, t)| *acc += t);
    }
    fold_lanes(&acc)
}

/// Adds the lanes of an accumulator.
fn fold_lanes<const K: usize>(acc: &[[f64; K]; LANES]) -> [f64; K] {
    let mut out = [0f64; K];
    for lane in acc {
        out.iter_mut().zip(lane).for_each(|(o, v)| *o += v);
    }
    out
}

/// `Σ_n partial[n·C + ch]`, in batch order.
fn sum_over_batch<const K: usize>(partial: &[[f64; K]], n: usize, c: usize, ch: usize) -> [f64; K] {
    let mut out = [0f64; K];
    for p in partial[ch..].iter().step_by(c).take(n) {
        out.iter_mut().zip(p).for_each(|(o, v)| *o += v);
    }
    out
}

//! The convolution as candle custom ops (stride 1, dilation 1, one group) whose gradients are
//! custom ops of the same kind: the adapters between candle's tensors and [`super::conv`]'s
//! slice functions.
//!
//! candle 0.11.1's CPU convolutions run far below the machine's matmul peak, its input gradient
//! (`conv_transpose2d`) worst of all. Here all three passes — the forward, the input gradient (the
//! same convolution of `dy` with the flipped, transposed kernel) and the kernel gradient — run
//! the project's own kernels: Winograd's algorithm for the wide same-size 3×3 convolutions,
//! gemms over shifted copies of each image for the others.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};

use super::channel_ops::{channel_sums, f32_slice};
use super::conv::{conv_backward_input, conv_backward_weight, conv_forward};
use super::geometry::Geom;

/// `conv2d(x, w)` with stride 1, dilation 1, one group and `padding` zeros on every side:
/// `x` `[N, I, H, W]`, `w` `[O, I, KH, KW]` -> `[N, O, H + 2p - KH + 1, W + 2p - KW + 1]`
/// (with `KH = KW = 2p + 1`, a same-size convolution).
///
/// On CPU in f32 this is the project's custom op, whose backward pass computes exact gradients
/// with the same kernels; any other device or dtype falls back to candle's own
/// `x.conv2d(w, padding, 1, 1, 1)`, so f64 tests and GPU builds keep working. The custom op
/// returns no gradient for an argument that tracks nothing (neither a variable nor computed
/// from one), which skips the useless input gradient of a network's first layer.
#[cfg(test)]
pub fn fast_conv2d(x: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    conv(x, w, None, padding)
}

/// [`fast_conv2d`] plus a per-output-channel `bias` `[O]`, in the same op: the output starts
/// as the bias and the gemm accumulates onto it, and the backward pass sums `dy` per channel
/// for the bias gradient, which saves a pass over the output each way (and a node of candle's
/// backward graph) compared with a separate add.
pub fn fast_conv2d_bias(x: &Tensor, w: &Tensor, bias: &Tensor, padding: usize) -> Result<Tensor> {
    conv(x, w, Some(bias), padding)
}

fn conv(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, padding: usize) -> Result<Tensor> {
    let o = w.dim(0)?;
    if let Some(b) = bias
        && b.dims() != [o]
    {
        bail!("fast-conv2d: bias must be [{o}], got {:?}", b.dims());
    }
    let fast = x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && bias.is_none_or(|b| b.dtype() == DType::F32)
        && x.elem_count() > 0
        && w.elem_count() > 0;
    if fast {
        let op = FastConv2d {
            padding,
            bias: bias.is_some(),
        };
        // Without a bias, a zero stand-in that tracks nothing (so gets no gradient).
        let b = match bias {
            Some(b) => b.contiguous()?,
            None => Tensor::zeros(o, DType::F32, x.device())?,
        };
        x.contiguous()?.apply_op3(&w.contiguous()?, &b, op)
    } else {
        let y = x.conv2d(w, padding, 1, 1, 1)?;
        match bias {
            Some(b) => y.broadcast_add(&b.reshape((1, o, 1, 1))?),
            None => Ok(y),
        }
    }
}

/// The gradient of [`fast_conv2d`] with respect to its input, CPU f32 only, without backward:
/// `dy` `[N, O, OH, OW]`, `w` `[O, I, KH, KW]` -> `[N, I, OH - 2p + KH - 1, OW - 2p + KW - 1]`.
pub fn fast_conv2d_backward_input(dy: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    dy.contiguous()?
        .apply_op2_no_bwd(&w.contiguous()?, &BackwardInput { padding })
}

/// The gradient of [`fast_conv2d`] with respect to its kernel, CPU f32 only, without backward:
/// `x` `[N, I, H, W]`, `dy` `[N, O, OH, OW]` -> `[O, I, H + 2p - OH + 1, W + 2p - OW + 1]`.
pub fn fast_conv2d_backward_weight(x: &Tensor, dy: &Tensor, padding: usize) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2_no_bwd(&dy.contiguous()?, &BackwardWeight { padding })
}

/// The forward op, `(x, w, bias) -> y`; `bias: false` means the bias argument is a zero
/// stand-in, not added.
struct FastConv2d {
    padding: usize,
    bias: bool,
}

/// `(dy, w) -> dx`.
struct BackwardInput {
    padding: usize,
}

/// `(x, dy) -> dw`.
struct BackwardWeight {
    padding: usize,
}

impl CustomOp3 for FastConv2d {
    fn name(&self) -> &'static str {
        "fast-conv2d"
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
        let (x, w, b) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let (n, c, h, wd) = l1.shape().dims4()?;
        let (o, wc, kh, kw) = l2.shape().dims4()?;
        if wc != c || b.len() != o {
            bail!("fast-conv2d: input has {c} channels, kernel expects {wc}, bias {o} values");
        }
        let p = self.padding as isize;
        let g = Geom::new(n, c, h, wd, o, kh, kw, (p, p))?;
        let y = conv_forward(&g, x, w, self.bias.then_some(b));
        Ok((CpuStorage::F32(y), Shape::from((n, o, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Built from the custom ops below: candle's own conv backward is what we are avoiding.
        let dx = match x.track_op() {
            true => Some(fast_conv2d_backward_input(dy, w, self.padding)?),
            false => None,
        };
        let dw = match w.track_op() {
            true => Some(fast_conv2d_backward_weight(x, dy, self.padding)?),
            false => None,
        };
        let db = match b.track_op() {
            true => Some(channel_sums(&dy.contiguous()?)?),
            false => None,
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for BackwardInput {
    fn name(&self) -> &'static str {
        "fast-conv2d-backward-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (dy, w) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (n, o, oh, ow) = l1.shape().dims4()?;
        let (wo, c, kh, kw) = l2.shape().dims4()?;
        if wo != o {
            bail!("fast-conv2d backward: gradient has {o} channels, kernel {wo} outputs");
        }
        let g = Geom::new(
            n,
            c,
            // The forward's input size.
            (oh + kh - 1).saturating_sub(2 * self.padding),
            (ow + kw - 1).saturating_sub(2 * self.padding),
            o,
            kh,
            kw,
            (self.padding as isize, self.padding as isize),
        )?;
        if (g.oh, g.ow) != (oh, ow) {
            bail!(
                "fast-conv2d backward: gradient {oh}×{ow} too small for padding {}",
                self.padding
            );
        }
        let dx = conv_backward_input(&g, dy, w)?;
        Ok((CpuStorage::F32(dx), Shape::from((n, c, g.h, g.w))))
    }
}

impl CustomOp2 for BackwardWeight {
    fn name(&self) -> &'static str {
        "fast-conv2d-backward-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, dy) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (n, c, h, wd) = l1.shape().dims4()?;
        let (dn, o, oh, ow) = l2.shape().dims4()?;
        let p = self.padding as isize;
        let (kh, kw) = (
            h as isize + 2 * p - oh as isize + 1,
            wd as isize + 2 * p - ow as isize + 1,
        );
        if dn != n || kh < 1 || kw < 1 {
            bail!(
                "fast-conv2d backward: input {n}×{h}×{wd} does not match gradient {dn}×{oh}×{ow}"
            );
        }
        let g = Geom::new(n, c, h, wd, o, kh as usize, kw as usize, (p, p))?;
        let dw = conv_backward_weight(&g, x, dy);
        Ok((CpuStorage::F32(dw), Shape::from((o, c, g.kh, g.kw))))
    }
}

//! The affine coupling layer (eq. 8/9 of the RealNVP paper) in mask form:
//! `y = b⊙x + (1-b)⊙(x⊙exp(s(b⊙x)) + t(b⊙x))`, `s = scale·tanh(ŝ)`.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use super::Mask;
use crate::kernels::channel_affine;
use crate::nets::StNet;
use crate::onnx::{Graph, LogDet, Value};
use crate::{Bijection, Mode, Result, sum_per_example};

/// An affine coupling. Shapes: `[N, C, H, W]` or `[N, D]`, unchanged; log-det `Σ s`.
pub struct AffineCoupling {
    /// `b`, `[1, C|1, H|1, W|1]` or `[1, D]`.
    keep: Tensor,
    /// `1 - b`.
    change: Tensor,
    net: StNet,
    /// The learned per-channel bound on `s`, `[C]` or `[D]`.
    s_scale: Tensor,
    channels: usize,
}

impl AffineCoupling {
    /// A coupling for examples of shape `dims` (`[C, H, W]` or `[D]`) with the given mask and
    /// s/t network (which must map `C` to `2C` channels).
    pub fn new(dims: &[usize], mask: Mask, net: StNet, vb: VarBuilder) -> Result<Self> {
        let keep = mask.tensor(dims, vb.dtype(), vb.device())?;
        let change = (1.0 - &keep)?;
        let channels = dims[0];
        let s_scale = vb.get_with_hints(channels, "s_scale", Init::Const(1.0))?;
        Ok(Self {
            keep,
            change,
            net,
            s_scale,
            channels,
        })
    }

    /// The learned scale parameter (for the L2 penalty).
    pub fn s_scale(&self) -> &Tensor {
        &self.s_scale
    }

    /// `scale` reshaped to broadcast over a batch of the given rank.
    fn scale_shape(&self, rank: usize) -> Result<Tensor> {
        let mut shape = vec![1; rank];
        shape[1] = self.channels;
        Ok(self.s_scale.reshape(shape)?)
    }

    /// `(s, t)`, both zero where `b = 1`.
    fn scale_and_shift(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        let kept = x.broadcast_mul(&self.keep)?;
        let st = self.net.forward(&kept, mode)?;
        let c = self.channels;
        // Per-channel scale: channel_affine sums its gradient far faster than broadcast_mul.
        let s = channel_affine(&st.narrow(1, 0, c)?.tanh()?, Some(&self.s_scale), None)?;
        let s = s.broadcast_mul(&self.change)?;
        let t = st.narrow(1, c, c)?.broadcast_mul(&self.change)?;
        Ok((s, t))
    }

    /// Emits `(s, t)`; `scale·(1-b)` is folded into one constant.
    fn emit_scale_and_shift(
        &self,
        g: &mut Graph,
        x: &Value,
        rank: usize,
    ) -> Result<(Value, Value)> {
        let keep = g.weight("keep", &self.keep)?;
        let change = g.weight("change", &self.change)?;
        let scale_change = g.weight(
            "s_scale",
            &self.scale_shape(rank)?.broadcast_mul(&self.change)?,
        )?;
        let kept = g.mul(x, &keep);
        let st = g.scoped("net", |g| self.net.emit(g, &kept))?;
        let c = self.channels as i64;
        let s_raw = g.slice(&st, 1, 0, c);
        let t = g.slice(&st, 1, c, 2 * c);
        let s = g.unary("Tanh", &s_raw);
        let s = g.mul(&s, &scale_change);
        let t = g.mul(&t, &change);
        Ok((s, t))
    }
}

impl Bijection for AffineCoupling {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        let (s, t) = self.scale_and_shift(x, mode)?;
        let y = (x * s.exp()?)?.add(&t)?;
        Ok((y, sum_per_example(&s)?))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        // b⊙x = b⊙y, so s and t are recomputed from y.
        let (s, t) = self.scale_and_shift(y, Mode::Eval)?;
        Ok((y - t)?.mul(&s.neg()?.exp()?)?)
    }

    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)> {
        let rank = self.keep.rank();
        let (s, t) = self.emit_scale_and_shift(g, x, rank)?;
        let es = g.unary("Exp", &s);
        let y = g.mul(x, &es);
        let y = g.add(&y, &t);
        let ld = g.sum_per_example(&s, rank);
        Ok((y, LogDet::per_example(ld)))
    }

    fn buffers(&self) -> Vec<candle_core::Var> {
        self.net.buffers()
    }

    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value> {
        let rank = self.keep.rank();
        let (s, t) = self.emit_scale_and_shift(g, y, rank)?;
        let neg_s = g.unary("Neg", &s);
        let e = g.unary("Exp", &neg_s);
        let d = g.sub(y, &t);
        Ok(g.mul(&d, &e))
    }
}

//! Batch norm on the flow path: `y = (x - μ)/√(σ²+ε)·exp(log γ) + β`, a bijection whose
//! log-det is `Σ_c spatial·(log γ_c - ½ log(σ²_c+ε))`, the same for every example.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use crate::config::BatchNormConfig;
use crate::kernels::channel_affine;
use crate::nets::RunningStats;
use crate::onnx::{Graph, LogDet, Value};
use crate::{Bijection, Mode, Result};

/// Flow batch norm over channels. Shapes: `[N, C, H, W]` or `[N, D]`, unchanged.
/// `Train` normalizes with the batch's statistics (the log-det uses them too) and updates the
/// running averages; `Eval`, the inverse and export use the running averages.
pub struct FlowBatchNorm {
    stats: RunningStats,
    log_gamma: Tensor,
    beta: Tensor,
    /// Elements per channel per example (`H·W`, or 1 for vectors).
    spatial: usize,
    rank: usize,
}

impl FlowBatchNorm {
    /// Batch norm for examples of shape `dims` (`[C, H, W]` or `[D]`).
    pub fn new(dims: &[usize], config: BatchNormConfig, vb: VarBuilder) -> Result<Self> {
        let c = dims[0];
        Ok(Self {
            stats: RunningStats::new(c, config, &vb)?,
            log_gamma: vb.get_with_hints(c, "log_gamma", Init::Const(0.0))?,
            beta: vb.get_with_hints(c, "beta", Init::Const(0.0))?,
            spatial: dims[1..].iter().product(),
            rank: dims.len() + 1,
        })
    }

    fn broadcast(&self, t: &Tensor) -> Result<Tensor> {
        let mut shape = vec![1; self.rank];
        shape[1] = t.dim(0)?;
        Ok(t.reshape(shape)?)
    }

    /// The frozen map as `y = x·a + c`, `[C]` each.
    fn frozen_affine(&self) -> Result<(Tensor, Tensor)> {
        let (mean, var) = self.stats.running();
        let a = (self.log_gamma.exp()? / (var + self.stats.eps())?.sqrt()?)?;
        let c = (&self.beta - (mean * &a)?)?;
        Ok((a, c))
    }
}

impl Bijection for FlowBatchNorm {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        let (mean, var) = self.stats.stats(x, mode)?;
        let var = (var + self.stats.eps())?;
        // Folded as in `frozen_affine`: y = x·a + c in one pass (and one reduction per gradient).
        let a = (self.log_gamma.exp()? / var.sqrt()?)?;
        let c = (&self.beta - (mean * &a)?)?;
        let y = channel_affine(x, Some(&a), Some(&c))?;
        let per_channel = (self.log_gamma.clone() - (var.log()? * 0.5)?)?;
        let ld = (per_channel.sum_all()? * self.spatial as f64)?;
        let ld = ld.broadcast_as(x.dim(0)?)?.contiguous()?;
        Ok((y, ld))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        let (a, c) = self.frozen_affine()?;
        Ok(y.broadcast_sub(&self.broadcast(&c)?)?
            .broadcast_div(&self.broadcast(&a)?)?)
    }

    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)> {
        let (a, c) = self.frozen_affine()?;
        let ld = a
            .log()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        let y = g.channel_affine(x, "bn", &a, &c)?;
        Ok((y, LogDet::constant(ld * self.spatial as f64)))
    }

    fn buffers(&self) -> Vec<candle_core::Var> {
        self.stats.buffers()
    }

    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value> {
        let (a, c) = self.frozen_affine()?;
        let inv_a = a.recip()?;
        let shift = (c.neg()? * &inv_a)?;
        g.channel_affine(y, "bn_inv", &inv_a, &shift)
    }
}

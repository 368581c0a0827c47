//! Normalization inside the s/t networks, and the running statistics shared with the flow's
//! batch norm.

use candle_core::{Tensor, Var};
use candle_nn::{Init, VarBuilder};

use crate::config::{BatchNormConfig, NetNorm};
use crate::onnx::{Graph, Value};
use crate::{Mode, Result};

/// Per-channel running mean and variance, updated as
/// `running = (1 - momentum)·running + momentum·batch` (biased batch variance).
///
/// Stored in the VarMap as `running_mean` / `running_var` (`[C]`) so checkpoints carry them;
/// the trainer keeps them out of the optimizer.
pub struct RunningStats {
    mean: Var,
    var: Var,
    momentum: f64,
    eps: f64,
}

impl RunningStats {
    /// Running statistics for `channels` channels, starting at mean 0 and variance 1.
    pub fn new(channels: usize, config: BatchNormConfig, vb: &VarBuilder) -> Result<Self> {
        let mean = vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?;
        let var = vb.get_with_hints(channels, "running_var", Init::Const(1.0))?;
        Ok(Self {
            mean: Var::from_tensor(&mean)?,
            var: Var::from_tensor(&var)?,
            momentum: config.momentum,
            eps: config.eps,
        })
    }

    /// The `eps` added to variances.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// Mean and variance to normalize `x` (`[N, C, H, W]` or `[N, C]`) with, both shaped to
    /// broadcast against `x` (`[1, C, 1, 1]` or `[1, C]`). `Train` uses the batch's statistics
    /// (differentiable) and updates the running ones; `Eval` uses the running ones.
    pub fn stats(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        let bshape = broadcast_shape(x)?;
        match mode {
            Mode::Eval => Ok((
                self.mean.as_tensor().reshape(bshape.clone())?,
                self.var.as_tensor().reshape(bshape)?,
            )),
            Mode::Train => {
                let dims: Vec<usize> = (0..x.rank()).filter(|&d| d != 1).collect();
                let count = (x.elem_count() / x.dim(1)?) as f64;
                let mean = (x.sum_keepdim(dims.clone())? / count)?;
                let var = (x.broadcast_sub(&mean)?.sqr()?.sum_keepdim(dims)? / count)?;
                let m = self.momentum;
                let c = x.dim(1)?;
                let new_mean =
                    ((self.mean.as_tensor() * (1.0 - m))? + (mean.detach().reshape(c)? * m)?)?;
                let new_var =
                    ((self.var.as_tensor() * (1.0 - m))? + (var.detach().reshape(c)? * m)?)?;
                self.mean.set(&new_mean)?;
                self.var.set(&new_var)?;
                Ok((mean, var))
            }
        }
    }

    /// The frozen statistics, `[C]` each.
    pub fn running(&self) -> (Tensor, Tensor) {
        (self.mean.as_tensor().clone(), self.var.as_tensor().clone())
    }
}

/// `[1, C, 1, 1]` for images, `[1, C]` for vectors.
fn broadcast_shape(x: &Tensor) -> Result<Vec<usize>> {
    let mut s = vec![1; x.rank()];
    s[1] = x.dim(1)?;
    Ok(s)
}

/// Batch norm with a learned affine, inside an s/t network (its log-det is irrelevant).
/// Shapes: `[N, C, H, W] -> [N, C, H, W]`.
pub struct NetBatchNorm {
    stats: RunningStats,
    gamma: Tensor,
    beta: Tensor,
}

impl NetBatchNorm {
    /// Batch norm over `channels` channels.
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            stats: RunningStats::new(channels, BatchNormConfig::default(), &vb)?,
            gamma: vb.get_with_hints(channels, "gamma", Init::Const(1.0))?,
            beta: vb.get_with_hints(channels, "beta", Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (mean, var) = self.stats.stats(x, mode)?;
        let c = x.dim(1)?;
        let y = x
            .broadcast_sub(&mean)?
            .broadcast_div(&(var + self.stats.eps())?.sqrt()?)?;
        Ok(y.broadcast_mul(&self.gamma.reshape((1, c, 1, 1))?)?
            .broadcast_add(&self.beta.reshape((1, c, 1, 1))?)?)
    }

    /// Frozen: `x·a + c` with `a = γ/√(var+ε)`, `c = β - mean·a`, as `[1, C, 1, 1]` constants.
    fn emit(&self, g: &mut Graph, x: &Value) -> Result<Value> {
        let (mean, var) = self.stats.running();
        let a = (&self.gamma / (var + self.stats.eps())?.sqrt()?)?;
        let c = (&self.beta - (mean * &a)?)?;
        let n = a.dim(0)?;
        let a = g.weight("bn_scale", &a.reshape((1, n, 1, 1))?)?;
        let c = g.weight("bn_shift", &c.reshape((1, n, 1, 1))?)?;
        let y = g.mul(x, &a);
        Ok(g.add(&y, &c))
    }
}

/// Instance norm with a learned affine: per example and channel over `H, W`.
/// Shapes: `[N, C, H, W] -> [N, C, H, W]`.
pub struct InstanceNorm {
    gamma: Tensor,
    beta: Tensor,
    eps: f64,
}

impl InstanceNorm {
    /// Instance norm over `channels` channels.
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            gamma: vb.get_with_hints(channels, "gamma", Init::Const(1.0))?,
            beta: vb.get_with_hints(channels, "beta", Init::Const(0.0))?,
            eps: 1e-5,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, c, h, w) = x.dims4()?;
        let hw = (h * w) as f64;
        let mean = (x.sum_keepdim((2, 3))? / hw)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = (centered.sqr()?.sum_keepdim((2, 3))? / hw)?;
        let y = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(y.broadcast_mul(&self.gamma.reshape((1, c, 1, 1))?)?
            .broadcast_add(&self.beta.reshape((1, c, 1, 1))?)?)
    }

    /// Emitted with ReduceSum rather than InstanceNormalization so the graph stays within the
    /// ops every engine (candle-onnx included) implements.
    fn emit(&self, g: &mut Graph, x: &Value, hw: usize) -> Result<Value> {
        let inv_hw = 1.0 / hw as f32;
        let sum = g.sum_keepdim(x, &[2, 3]);
        let mean = g.mul_scalar(&sum, inv_hw);
        let centered = g.sub(x, &mean);
        let sq = g.mul(&centered, &centered);
        let sq_sum = g.sum_keepdim(&sq, &[2, 3]);
        let var = g.mul_scalar(&sq_sum, inv_hw);
        let var = g.add_scalar(&var, self.eps as f32);
        let std = g.unary("Sqrt", &var);
        let y = g.div(&centered, &std);
        let n = self.gamma.dim(0)?;
        let gamma = g.weight("gamma", &self.gamma.reshape((1, n, 1, 1))?)?;
        let beta = g.weight("beta", &self.beta.reshape((1, n, 1, 1))?)?;
        let y = g.mul(&y, &gamma);
        Ok(g.add(&y, &beta))
    }
}

/// The normalization chosen by [`NetNorm`].
pub enum Norm {
    /// See [`NetBatchNorm`].
    Batch(NetBatchNorm),
    /// See [`InstanceNorm`].
    Instance(InstanceNorm),
}

impl Norm {
    /// Builds the configured normalization for `channels` channels.
    pub fn new(kind: NetNorm, channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(match kind {
            NetNorm::Batch => Norm::Batch(NetBatchNorm::new(channels, vb)?),
            NetNorm::Instance => Norm::Instance(InstanceNorm::new(channels, vb)?),
        })
    }

    /// `[N, C, H, W] -> [N, C, H, W]`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match self {
            Norm::Batch(n) => n.forward(x, mode),
            Norm::Instance(n) => n.forward(x),
        }
    }

    /// Emits the eval-mode forward; `hw` is `H·W` of the input.
    pub fn emit(&self, g: &mut Graph, x: &Value, hw: usize) -> Result<Value> {
        match self {
            Norm::Batch(n) => n.emit(g, x),
            Norm::Instance(n) => n.emit(g, x, hw),
        }
    }
}

//! Normalization inside the s/t networks, and the running statistics shared with the flow's
//! batch norm.

use candle_core::{Tensor, Var};
use candle_nn::{Init, VarBuilder};

use crate::config::{BatchNormConfig, NetNorm};
use crate::kernels::{batch_norm_train, channel_affine_relu, channel_moments};
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

    /// The running mean and variance, which the forward pass updates (not trained).
    pub fn buffers(&self) -> Vec<Var> {
        vec![self.mean.clone(), self.var.clone()]
    }

    /// The `eps` added to variances.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// Mean and (biased) variance to normalize `x` (`[N, C, H, W]` or `[N, C]`) with, `[C]`
    /// each. `Train` uses the batch's statistics (differentiable) and updates the running ones;
    /// `Eval` uses the running ones.
    pub fn stats(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        match mode {
            Mode::Eval => Ok(self.running()),
            Mode::Train => {
                let (mean, var) = channel_moments(x)?;
                self.update(&mean, &var)?;
                Ok((mean, var))
            }
        }
    }

    /// Moves the running averages towards a batch's `mean` and `var` (`[C]`, not differentiated).
    pub fn update(&self, mean: &Tensor, var: &Tensor) -> Result<()> {
        let m = self.momentum;
        let new_mean = ((self.mean.as_tensor() * (1.0 - m))? + (mean.detach() * m)?)?;
        let new_var = ((self.var.as_tensor() * (1.0 - m))? + (var.detach() * m)?)?;
        self.mean.set(&new_mean)?;
        self.var.set(&new_var)?;
        Ok(())
    }

    /// The frozen statistics, `[C]` each.
    pub fn running(&self) -> (Tensor, Tensor) {
        (self.mean.as_tensor().clone(), self.var.as_tensor().clone())
    }
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

    /// `relu(x·a + c)` with `a = γ/√(var+ε)`, `c = β - mean·a`, `[C]` each, in one op. `Train`
    /// normalizes with the batch's statistics (gradient through them, `batch_norm_train`) and
    /// updates the running ones; `Eval` uses the running ones.
    fn forward_relu(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match mode {
            Mode::Train => {
                let eps = self.stats.eps();
                let (y, mean, var) = batch_norm_train(x, &self.gamma, &self.beta, eps, true)?;
                self.stats.update(&mean, &var)?;
                Ok(y)
            }
            Mode::Eval => {
                let (a, c) = self.frozen_affine()?;
                Ok(channel_affine_relu(x, Some(&a), Some(&c))?)
            }
        }
    }

    /// `(γ, β, running statistics)`, for ops that fuse the training-mode norm.
    pub(super) fn train_parts(&self) -> (&Tensor, &Tensor, &RunningStats) {
        (&self.gamma, &self.beta, &self.stats)
    }

    /// The eval-mode map as `x·a + c`: `a = γ/√(var+ε)`, `c = β - mean·a` with the running
    /// statistics, `[C]` each.
    fn frozen_affine(&self) -> Result<(Tensor, Tensor)> {
        let (mean, var) = self.stats.running();
        let a = (&self.gamma / (var + self.stats.eps())?.sqrt()?)?;
        let c = (&self.beta - (mean * &a)?)?;
        Ok((a, c))
    }

    /// Frozen: `x·a + c` (see [`NetBatchNorm::frozen_affine`]).
    fn emit(&self, g: &mut Graph, x: &Value) -> Result<Value> {
        let (a, c) = self.frozen_affine()?;
        g.channel_affine(x, "bn", &a, &c)
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

    /// Per `(n, c)` plane: `x·a + c` with `a = γ/√(var+ε)`, `c = β - mean·a`. Viewing `x` as
    /// `[1, N·C, H, W]` makes every plane a channel of the fast per-channel ops; `γ`, `β` are
    /// repeated over the batch (differentiably) to `[N·C]`.
    fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let planes = x.reshape((1, n * c, h, w))?;
        let (mean, var) = channel_moments(&planes)?;
        let per_plane = |t: &Tensor| -> Result<Tensor> {
            Ok(t.reshape((1, c))?.broadcast_as((n, c))?.flatten_all()?)
        };
        let a = (per_plane(&self.gamma)? / (var + self.eps)?.sqrt()?)?;
        let shift = (per_plane(&self.beta)? - (mean * &a)?)?;
        let y = channel_affine_relu(&planes, Some(&a), Some(&shift))?;
        Ok(y.reshape((n, c, h, w))?)
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
        g.channel_affine(&y, "in", &self.gamma, &self.beta)
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
    /// The running statistics of a batch norm (none for instance norm).
    pub fn buffers(&self) -> Vec<Var> {
        match self {
            Norm::Batch(n) => n.stats.buffers(),
            Norm::Instance(_) => Vec::new(),
        }
    }

    /// Builds the configured normalization for `channels` channels.
    pub fn new(kind: NetNorm, channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(match kind {
            NetNorm::Batch => Norm::Batch(NetBatchNorm::new(channels, vb)?),
            NetNorm::Instance => Norm::Instance(InstanceNorm::new(channels, vb)?),
        })
    }

    /// `relu(norm(x))` in one fused op (the s/t networks always follow a normalization with
    /// a ReLU): `[N, C, H, W] -> [N, C, H, W]`.
    pub fn forward_relu(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match self {
            Norm::Batch(n) => n.forward_relu(x, mode),
            Norm::Instance(n) => n.forward_relu(x),
        }
    }

    /// Emits the eval-mode `relu(norm(x))`; `hw` is `H·W` of the input.
    pub fn emit_relu(&self, g: &mut Graph, x: &Value, hw: usize) -> Result<Value> {
        let y = match self {
            Norm::Batch(n) => n.emit(g, x)?,
            Norm::Instance(n) => n.emit(g, x, hw)?,
        };
        Ok(g.unary("Relu", &y))
    }
}

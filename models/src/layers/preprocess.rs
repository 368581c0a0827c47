//! Fixed maps from data space into the space the couplings work in. Their log-dets are part of
//! every likelihood, so densities and bits/dim are in data space (`[0, 256)^D` for images).

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use crate::onnx::{Graph, LogDet, Value};
use crate::{Bijection, Mode, Result, constant_log_det, sum_per_example};

/// `y = logit(α + (1-2α)·x/256)` elementwise, for images in `[0, 256)`.
/// Log-det: `Σ log((1-2α)/256) - log p - log(1-p)` with `p = α + (1-2α)·x/256`.
pub struct Logit {
    alpha: f64,
    /// Elements per example.
    numel: usize,
    rank: usize,
}

impl Logit {
    /// Logit preprocessing for examples of shape `dims`.
    pub fn new(alpha: f64, dims: &[usize]) -> Self {
        Self {
            alpha,
            numel: dims.iter().product(),
            rank: dims.len() + 1,
        }
    }

    fn slope(&self) -> f64 {
        (1.0 - 2.0 * self.alpha) / 256.0
    }
}

impl Bijection for Logit {
    fn forward(&self, x: &Tensor, _mode: Mode) -> Result<(Tensor, Tensor)> {
        let p = ((x * self.slope())? + self.alpha)?;
        let log_p = p.log()?;
        let log_1mp = (1.0 - &p)?.log()?;
        let y = (&log_p - &log_1mp)?;
        let ld =
            (sum_per_example(&(log_p + log_1mp)?)?.neg()? + self.numel as f64 * self.slope().ln())?;
        Ok((y, ld))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        let p = candle_nn::ops::sigmoid(y)?;
        Ok(((p - self.alpha)? / self.slope())?)
    }

    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)> {
        let p = g.mul_scalar(x, self.slope() as f32);
        let p = g.add_scalar(&p, self.alpha as f32);
        let one = g.scalar(1.0);
        let q = g.sub(&one, &p);
        let log_p = g.unary("Log", &p);
        let log_q = g.unary("Log", &q);
        let y = g.sub(&log_p, &log_q);
        let both = g.add(&log_p, &log_q);
        let sum = g.sum_per_example(&both, self.rank);
        let neg = g.unary("Neg", &sum);
        let ld = LogDet::per_example(neg)
            .plus(g, LogDet::constant(self.numel as f64 * self.slope().ln()));
        Ok((y, ld))
    }

    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value> {
        let p = g.unary("Sigmoid", y);
        let p = g.add_scalar(&p, -self.alpha as f32);
        Ok(g.mul_scalar(&p, (1.0 / self.slope()) as f32))
    }
}

/// `y = x/256`, for images. Log-det `-D·ln 256`.
pub struct Scale {
    numel: usize,
}

impl Scale {
    /// Scaling for examples of shape `dims`.
    pub fn new(dims: &[usize]) -> Self {
        Self {
            numel: dims.iter().product(),
        }
    }

    fn log_det(&self) -> f64 {
        -(self.numel as f64) * 256f64.ln()
    }
}

impl Bijection for Scale {
    fn forward(&self, x: &Tensor, _mode: Mode) -> Result<(Tensor, Tensor)> {
        Ok(((x / 256.0)?, constant_log_det(x, self.log_det())?))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        Ok((y * 256.0)?)
    }

    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)> {
        Ok((
            g.mul_scalar(x, 1.0 / 256.0),
            LogDet::constant(self.log_det()),
        ))
    }

    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value> {
        Ok(g.mul_scalar(y, 256.0))
    }
}

/// `y = (x - mean)/std` per feature, for vectors `[N, D]`. Log-det `-Σ log std`.
/// `mean` and `std` are stored as `data_mean`/`data_std` (not trained; see
/// [`crate::Bijection::buffers`]) and fitted on the training set with [`Standardize::fit`].
pub struct Standardize {
    mean: candle_core::Var,
    std: candle_core::Var,
}

impl Standardize {
    /// Identity standardization (mean 0, std 1) for `dim` features, until fitted.
    pub fn new(dim: usize, vb: &VarBuilder) -> Result<Self> {
        let mean = vb.get_with_hints(dim, "data_mean", Init::Const(0.0))?;
        let std = vb.get_with_hints(dim, "data_std", Init::Const(1.0))?;
        Ok(Self {
            mean: candle_core::Var::from_tensor(&mean)?,
            std: candle_core::Var::from_tensor(&std)?,
        })
    }

    /// Sets mean and standard deviation from training data `[N, D]`. Constant features get
    /// std 1 so the map stays invertible.
    pub fn fit(&self, data: &Tensor) -> Result<()> {
        let data = data.to_dtype(self.mean.dtype())?;
        let mean = data.mean(0)?;
        let var = data.broadcast_sub(&mean)?.sqr()?.mean(0)?;
        let std = var.sqrt()?;
        let ok = std.gt(1e-12)?;
        let std = ok.where_cond(&std, &std.ones_like()?)?;
        self.mean.set(&mean)?;
        self.std.set(&std)?;
        Ok(())
    }

    fn log_det(&self) -> Result<f64> {
        Ok(-self
            .std
            .as_tensor()
            .log()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?)
    }
}

impl Bijection for Standardize {
    fn forward(&self, x: &Tensor, _mode: Mode) -> Result<(Tensor, Tensor)> {
        let y = x
            .broadcast_sub(self.mean.as_tensor())?
            .broadcast_div(self.std.as_tensor())?;
        let ld = self.std.as_tensor().log()?.sum_all()?.neg()?;
        Ok((y, ld.broadcast_as(x.dim(0)?)?.contiguous()?))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        Ok(y.broadcast_mul(self.std.as_tensor())?
            .broadcast_add(self.mean.as_tensor())?)
    }

    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)> {
        let inv_std = g.weight("inv_std", &self.std.as_tensor().recip()?)?;
        let shift = g.weight(
            "shift",
            &(self.mean.as_tensor().neg()? / self.std.as_tensor())?,
        )?;
        let y = g.mul(x, &inv_std);
        Ok((g.add(&y, &shift), LogDet::constant(self.log_det()?)))
    }

    fn buffers(&self) -> Vec<candle_core::Var> {
        vec![self.mean.clone(), self.std.clone()]
    }

    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value> {
        let std = g.weight("std", self.std.as_tensor())?;
        let mean = g.weight("mean", self.mean.as_tensor())?;
        let x = g.mul(y, &std);
        Ok(g.add(&x, &mean))
    }
}

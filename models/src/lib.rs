//! RealNVP normalizing flows (Dinh, Sohl-Dickstein, Bengio 2016) in candle.
//!
//! Every part of the flow — preprocessing, affine couplings, batch norm, squeeze, the multi-scale
//! composite — is one type implementing [`Bijection`]: its forward with log-determinant, its
//! inverse and its ONNX emission sit side by side in one file, so tests can check all four
//! against each other and export never special-cases a layer.
//!
//! Shapes: images are `[N, C, H, W]` in pixel units `[0, 256)`, vectors `[N, D]`; the latent is
//! `[N, L]` with `L = C·H·W` or `D`; log-determinants and log-likelihoods are `[N]`, in nats.

#![warn(missing_docs)]

mod config;
mod error;
mod flow;
mod kernels;
pub mod layers;
pub mod nets;
pub mod onnx;
mod process;
pub mod testing;

pub use config::{
    Architecture, BatchNormConfig, DataShape, FlowConfig, MODEL_LAYOUT, MlpConfig,
    MultiScaleConfig, NetNorm, PRESETS, Preprocessing,
};
pub use error::{ModelError, Result};
pub use flow::{RealNvp, standard_normal_log_prob};
pub use kernels::{
    CONV_ALGORITHM_VAR, ConvAlgorithm, UnknownConvAlgorithm, conv_algorithm,
    conv_algorithm_from_env, set_conv_algorithm, winograd_passes,
};
pub use process::{keep_freed_memory, limit_candle_spinning};

use candle_core::Tensor;
use onnx::{Graph, LogDet, Value};

/// Whether batch-norm layers use batch statistics and update their running averages (`Train`)
/// or use the frozen running averages (`Eval`, which is also what export writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; running averages are updated.
    Train,
    /// Running statistics; nothing is updated.
    Eval,
}

/// An invertible map on a batch, with its log-determinant and its ONNX emission.
///
/// Shapes: `x` `[N, ...]` → `y` `[N, ...]` (same element count per example), `log_det` `[N]`.
pub trait Bijection: Send + Sync {
    /// `(y, log|det ∂y/∂x|)`.
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)>;
    /// The inverse of the eval-mode forward.
    fn inverse(&self, y: &Tensor) -> Result<Tensor>;
    /// Emits the eval-mode forward into `g`: `(y, log_det)`.
    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)>;
    /// Emits the inverse into `g`.
    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value>;
    /// The variables the forward pass sets rather than the optimizer trains (running statistics,
    /// fitted standardization): what a training loop leaves out of its parameters.
    fn buffers(&self) -> Vec<candle_core::Var> {
        Vec::new()
    }
}

/// A `[N]` log-det that is `c` for every example of `x` (dtype and device of `x`).
pub(crate) fn constant_log_det(x: &Tensor, c: f64) -> Result<Tensor> {
    Ok(Tensor::full(c, x.dim(0)?, x.device())?.to_dtype(x.dtype())?)
}

/// Sums `x` `[N, ...]` over every dimension but the first: `[N]`.
pub(crate) fn sum_per_example(x: &Tensor) -> Result<Tensor> {
    Ok(x.flatten_from(1)?.sum(1)?)
}

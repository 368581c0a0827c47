//! The s/t networks inside couplings: a ResNet for images, an MLP for vectors.
//!
//! They need not be invertible; each has a candle forward and an ONNX emission of its
//! eval-mode forward with every statistic frozen and weight norm folded.

mod conv;
mod mlp;
mod norm;
mod resnet;

pub use conv::WeightNormConv2d;
pub use mlp::Mlp;
pub use norm::{InstanceNorm, NetBatchNorm, Norm, RunningStats};
pub use resnet::ResNet;

use candle_core::Tensor;

use crate::onnx::{Graph, Value};
use crate::{Mode, Result};

/// The network computing a coupling's raw scale `ŝ` and translation `t` from the kept part.
pub enum StNet {
    /// `[N, C, H, W] -> [N, 2C, H, W]`.
    ResNet(ResNet),
    /// `[N, D] -> [N, 2D]`.
    Mlp(Mlp),
}

impl StNet {
    /// The running statistics inside the network.
    pub fn buffers(&self) -> Vec<candle_core::Var> {
        match self {
            StNet::ResNet(n) => n.buffers(),
            StNet::Mlp(_) => Vec::new(),
        }
    }

    /// `[N, C, ...] -> [N, 2C, ...]`: `ŝ` is the first half along dimension 1, `t` the second.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match self {
            StNet::ResNet(n) => n.forward(x, mode),
            StNet::Mlp(n) => n.forward(x),
        }
    }

    /// Emits the eval-mode forward.
    pub fn emit(&self, g: &mut Graph, x: &Value) -> Result<Value> {
        match self {
            StNet::ResNet(n) => n.emit(g, x),
            StNet::Mlp(n) => n.emit(g, x),
        }
    }
}

//! The convolutional s/t network: conv3×3 in → residual blocks → norm, ReLU, conv3×3 out.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::{NetBatchNorm, Norm, WeightNormConv2d};
use crate::config::NetNorm;
use crate::kernels::{ResBlockParams, res_block_train};
use crate::onnx::{Graph, Value};
use crate::{Mode, Result};

/// A pre-activation residual block: `x + conv(relu(norm(conv(relu(norm(x))))))`.
struct ResBlock {
    norm1: Norm,
    conv1: WeightNormConv2d,
    norm2: Norm,
    conv2: WeightNormConv2d,
}

impl ResBlock {
    fn new(width: usize, norm: NetNorm, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm1: Norm::new(norm, width, vb.pp("norm1"))?,
            conv1: WeightNormConv2d::new(width, width, 3, false, vb.pp("conv1"))?,
            norm2: Norm::new(norm, width, vb.pp("norm2"))?,
            conv2: WeightNormConv2d::new(width, width, 3, false, vb.pp("conv2"))?,
        })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        if let (Mode::Train, Norm::Batch(norm1), Norm::Batch(norm2)) =
            (mode, &self.norm1, &self.norm2)
        {
            return self.forward_train_fused(x, norm1, norm2);
        }
        let h = self.conv1.forward(&self.norm1.forward_relu(x, mode)?)?;
        let h = self.conv2.forward(&self.norm2.forward_relu(&h, mode)?)?;
        Ok((x + h)?)
    }

    /// The training-mode forward with batch norms as one op ([`res_block_train`]), which also
    /// moves both norms' running statistics.
    fn forward_train_fused(
        &self,
        x: &Tensor,
        norm1: &NetBatchNorm,
        norm2: &NetBatchNorm,
    ) -> Result<Tensor> {
        let (gamma1, beta1, stats1) = norm1.train_parts();
        let (gamma2, beta2, stats2) = norm2.train_parts();
        let (w1, w2) = (self.conv1.weight()?, self.conv2.weight()?);
        let params = ResBlockParams {
            gamma1,
            beta1,
            w1: &w1,
            b1: self.conv1.bias(),
            gamma2,
            beta2,
            w2: &w2,
            b2: self.conv2.bias(),
        };
        let (y, stats) = res_block_train(x, &params, (stats1.eps(), stats2.eps()))?;
        stats1.update(&stats.get(0)?, &stats.get(1)?)?;
        stats2.update(&stats.get(2)?, &stats.get(3)?)?;
        Ok(y)
    }

    fn emit(&self, g: &mut Graph, x: &Value, hw: usize) -> Result<Value> {
        let h = self.norm1.emit_relu(g, x, hw)?;
        let h = self.conv1.emit(g, &h)?;
        let h = self.norm2.emit_relu(g, &h, hw)?;
        let h = self.conv2.emit(g, &h)?;
        Ok(g.add(x, &h))
    }
}

/// Shapes: `[N, C, H, W] -> [N, 2C, H, W]`. The output conv starts at zero, so a coupling built
/// on it starts as the identity.
pub struct ResNet {
    in_conv: WeightNormConv2d,
    blocks: Vec<ResBlock>,
    out_norm: Norm,
    out_conv: WeightNormConv2d,
    hw: usize,
}

impl ResNet {
    /// Every norm's running statistics.
    pub fn buffers(&self) -> Vec<candle_core::Var> {
        let blocks = self.blocks.iter().flat_map(|b| [&b.norm1, &b.norm2]);
        blocks
            .chain([&self.out_norm])
            .flat_map(Norm::buffers)
            .collect()
    }

    /// A ResNet for `channels`-channel inputs of `h×w` pixels, `width` channels inside.
    pub fn new(
        channels: usize,
        (h, w): (usize, usize),
        width: usize,
        num_blocks: usize,
        norm: NetNorm,
        vb: VarBuilder,
    ) -> Result<Self> {
        let blocks = (0..num_blocks)
            .map(|i| ResBlock::new(width, norm, vb.pp(format!("block{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self {
            in_conv: WeightNormConv2d::new(channels, width, 3, false, vb.pp("in_conv"))?,
            blocks,
            out_norm: Norm::new(norm, width, vb.pp("out_norm"))?,
            out_conv: WeightNormConv2d::new(width, 2 * channels, 3, true, vb.pp("out_conv"))?,
            hw: h * w,
        })
    }

    /// `[N, C, H, W] -> [N, 2C, H, W]`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut h = self.in_conv.forward(x)?;
        for block in &self.blocks {
            h = block.forward(&h, mode)?;
        }
        let h = self.out_norm.forward_relu(&h, mode)?;
        self.out_conv.forward(&h)
    }

    /// Emits the eval-mode forward.
    pub fn emit(&self, g: &mut Graph, x: &Value) -> Result<Value> {
        let mut h = g.scoped("in_conv", |g| self.in_conv.emit(g, x))?;
        for (i, block) in self.blocks.iter().enumerate() {
            h = g.scoped(&format!("block{i}"), |g| block.emit(g, &h, self.hw))?;
        }
        let h = self.out_norm.emit_relu(g, &h, self.hw)?;
        g.scoped("out_conv", |g| self.out_conv.emit(g, &h))
    }
}

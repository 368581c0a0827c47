//! 3×3 convolution with weight normalization (Salimans & Kingma 2016).

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use crate::Result;
use crate::onnx::{Graph, Value};

/// `conv(x, g·v/‖v‖) + bias`, with `‖v‖` per output channel. Shapes: `[N, I, H, W] -> [N, O, H, W]`
/// (stride 1, same padding).
pub struct WeightNormConv2d {
    v: Tensor,
    g: Tensor,
    bias: Tensor,
    padding: usize,
}

impl WeightNormConv2d {
    /// A `kernel×kernel` convolution from `in_channels` to `out_channels`. `zero_init` sets the
    /// gain to zero so the layer starts as the zero map (the last layer of an s/t net).
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        zero_init: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let fan_in = (in_channels * kernel * kernel) as f64;
        let v = vb.get_with_hints(
            (out_channels, in_channels, kernel, kernel),
            "weight_v",
            Init::Randn {
                mean: 0.0,
                stdev: fan_in.powf(-0.5),
            },
        )?;
        // A unit gain makes each filter unit-norm at init, whatever v's scale.
        let g = vb.get_with_hints(
            out_channels,
            "weight_g",
            Init::Const(if zero_init { 0.0 } else { 1.0 }),
        )?;
        let bias = vb.get_with_hints(out_channels, "bias", Init::Const(0.0))?;
        Ok(Self {
            v,
            g,
            bias,
            padding: kernel / 2,
        })
    }

    /// The folded weight `g·v/‖v‖`, `[O, I, K, K]`: what export writes.
    pub fn weight(&self) -> Result<Tensor> {
        let norm = self.v.sqr()?.sum_keepdim((1, 2, 3))?.sqrt()?;
        let g = self.g.reshape((self.g.dim(0)?, 1, 1, 1))?;
        Ok(self.v.broadcast_mul(&g.broadcast_div(&norm)?)?)
    }

    /// The bias, `[O]`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// `[N, I, H, W] -> [N, O, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // im2col + gemm on CPU f32, bias included: candle's own conv (and its backward) is ~5x
        // slower here, and its broadcast_add reduces the bias gradient over (0, 2, 3) slowly.
        Ok(crate::kernels::fast_conv2d_bias(
            x,
            &self.weight()?,
            &self.bias,
            self.padding,
        )?)
    }

    /// Emits a `Conv` with the folded weight.
    pub fn emit(&self, g: &mut Graph, x: &Value) -> Result<Value> {
        let w = g.weight("weight", &self.weight()?)?;
        let b = g.weight("bias", &self.bias)?;
        Ok(g.conv2d(x, &w, &b, self.padding as i64))
    }
}

//! The fully connected s/t network for vector data.

use candle_core::Tensor;
use candle_nn::{Init, Linear, Module, VarBuilder};

use crate::Result;
use crate::onnx::{Graph, Value};

/// `Linear → ReLU` × hidden layers, then a zero-initialised `Linear` to `2D` outputs.
/// Shapes: `[N, D] -> [N, 2D]`.
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    /// An MLP from `dim` inputs through `hidden_layers` layers of `hidden` units to `2·dim` outputs.
    pub fn new(dim: usize, hidden: usize, hidden_layers: usize, vb: VarBuilder) -> Result<Self> {
        let mut layers = Vec::with_capacity(hidden_layers + 1);
        let mut fan_in = dim;
        for i in 0..hidden_layers {
            layers.push(candle_nn::linear(
                fan_in,
                hidden,
                vb.pp(format!("hidden{i}")),
            )?);
            fan_in = hidden;
        }
        let out = vb.pp("out");
        let w = out.get_with_hints((2 * dim, fan_in), "weight", Init::Const(0.0))?;
        let b = out.get_with_hints(2 * dim, "bias", Init::Const(0.0))?;
        layers.push(Linear::new(w, Some(b)));
        Ok(Self { layers })
    }

    /// `[N, D] -> [N, 2D]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = h.relu()?;
            }
        }
        Ok(h)
    }

    /// Emits `MatMul` + `Add` per layer (weights transposed to `[I, O]`).
    pub fn emit(&self, g: &mut Graph, x: &Value) -> Result<Value> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let w = g.weight("weight", &layer.weight().t()?.contiguous()?)?;
            let bias = layer
                .bias()
                .ok_or_else(|| crate::ModelError::Onnx("MLP layer without bias".into()))?;
            let b = g.weight("bias", bias)?;
            h = g.linear(&h, &w, &b);
            if i < last {
                h = g.unary("Relu", &h);
            }
        }
        Ok(h)
    }
}

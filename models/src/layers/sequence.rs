//! A chain of bijections, itself a bijection.

use candle_core::Tensor;

use crate::onnx::{Graph, LogDet, Value};
use crate::{Bijection, Mode, Result};

/// `f_k ∘ … ∘ f_1`; log-dets add up. Each part has a name that scopes its ONNX nodes.
#[derive(Default)]
pub struct Sequence {
    parts: Vec<(String, Box<dyn Bijection>)>,
}

impl Sequence {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `part`, applied after the ones already there.
    pub fn push(&mut self, name: impl Into<String>, part: impl Bijection + 'static) {
        self.parts.push((name.into(), Box::new(part)));
    }

    /// Number of parts.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

impl Bijection for Sequence {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        let mut h = x.clone();
        let mut total = crate::constant_log_det(x, 0.0)?;
        for (_, part) in &self.parts {
            let (y, ld) = part.forward(&h, mode)?;
            total = (total + ld)?;
            h = y;
        }
        Ok((h, total))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        let mut h = y.clone();
        for (_, part) in self.parts.iter().rev() {
            h = part.inverse(&h)?;
        }
        Ok(h)
    }

    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)> {
        let mut h = x.clone();
        let mut total = LogDet::zero();
        for (name, part) in &self.parts {
            let (y, ld) = g.scoped(name, |g| part.emit_forward(g, &h))?;
            total = total.plus(g, ld);
            h = y;
        }
        Ok((h, total))
    }

    fn buffers(&self) -> Vec<candle_core::Var> {
        self.parts.iter().flat_map(|(_, p)| p.buffers()).collect()
    }

    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value> {
        let mut h = y.clone();
        for (name, part) in self.parts.iter().rev() {
            h = g.scoped(name, |g| part.emit_inverse(g, &h))?;
        }
        Ok(h)
    }
}

//! The multi-scale composite: a scale's layers, then half the channels factored out into the
//! latent while the other half goes on to the next scale.

use candle_core::Tensor;

use super::Sequence;
use crate::onnx::{Graph, LogDet, Value};
use crate::{Bijection, Mode, Result};

/// One scale and, recursively, the scales after it. Shapes: `[N, C, H, W] -> [N, C·H·W]`.
///
/// Latent order: the part factored out here (flattened `C, H, W`), then the latent of the
/// next scale; the final scale contributes its whole output.
pub struct MultiScale {
    layers: Sequence,
    /// `(channels, height, width)` of `layers`' output.
    out_dims: (usize, usize, usize),
    /// The next scale, or `None` at the final scale.
    next: Option<Box<MultiScale>>,
}

impl MultiScale {
    /// The final scale: `layers` and nothing factored out.
    pub fn last(layers: Sequence, out_dims: (usize, usize, usize)) -> Self {
        Self {
            layers,
            out_dims,
            next: None,
        }
    }

    /// A scale whose output (`out_dims`) has its first half of channels factored out, the rest
    /// going through `next`.
    pub fn with_next(layers: Sequence, out_dims: (usize, usize, usize), next: MultiScale) -> Self {
        Self {
            layers,
            out_dims,
            next: Some(Box::new(next)),
        }
    }

    /// Channels factored out here and the latent elements they fill.
    fn factored(&self) -> (usize, usize) {
        let (c, h, w) = self.out_dims;
        (c / 2, c / 2 * h * w)
    }
}

impl Bijection for MultiScale {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        let (h, ld) = self.layers.forward(x, mode)?;
        let Some(next) = &self.next else {
            return Ok((h.flatten_from(1)?, ld));
        };
        let (k, _) = self.factored();
        let c = self.out_dims.0;
        let out = h.narrow(1, 0, k)?.flatten_from(1)?;
        let (rest, ld_rest) = next.forward(&h.narrow(1, k, c - k)?.contiguous()?, mode)?;
        Ok((Tensor::cat(&[&out, &rest], 1)?, (ld + ld_rest)?))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        let (c, hh, ww) = self.out_dims;
        let n = y.dim(0)?;
        let h = match &self.next {
            None => y.reshape((n, c, hh, ww))?,
            Some(next) => {
                let (k, len) = self.factored();
                let out = y.narrow(1, 0, len)?.reshape((n, k, hh, ww))?;
                let rest = next.inverse(&y.narrow(1, len, y.dim(1)? - len)?.contiguous()?)?;
                Tensor::cat(&[&out, &rest], 1)?
            }
        };
        self.layers.inverse(&h)
    }

    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)> {
        let (h, ld) = self.layers.emit_forward(g, x)?;
        let Some(next) = &self.next else {
            return Ok((g.reshape(&h, &[0, -1]), ld));
        };
        let (k, _) = self.factored();
        let c = self.out_dims.0 as i64;
        let out = g.slice(&h, 1, 0, k as i64);
        let out = g.reshape(&out, &[0, -1]);
        let rest = g.slice(&h, 1, k as i64, c);
        let (rest, ld_rest) = g.scoped("next", |g| next.emit_forward(g, &rest))?;
        let y = g.concat(&[&out, &rest], 1);
        Ok((y, ld.plus(g, ld_rest)))
    }

    fn buffers(&self) -> Vec<candle_core::Var> {
        let mut all = self.layers.buffers();
        all.extend(self.next.iter().flat_map(|n| n.buffers()));
        all
    }

    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value> {
        let (c, hh, ww) = self.out_dims;
        let h = match &self.next {
            None => g.reshape(y, &[0, c as i64, hh as i64, ww as i64]),
            Some(next) => {
                let (k, len) = self.factored();
                let total = self.total_latent() as i64;
                let out = g.slice(y, 1, 0, len as i64);
                let out = g.reshape(&out, &[0, k as i64, hh as i64, ww as i64]);
                let rest = g.slice(y, 1, len as i64, total);
                let rest = g.scoped("next", |g| next.emit_inverse(g, &rest))?;
                g.concat(&[&out, &rest], 1)
            }
        };
        self.layers.emit_inverse(g, &h)
    }
}

impl MultiScale {
    /// Latent elements this scale and the ones after it produce.
    fn total_latent(&self) -> usize {
        let (c, h, w) = self.out_dims;
        match &self.next {
            None => c * h * w,
            Some(next) => self.factored().1 + next.total_latent(),
        }
    }
}

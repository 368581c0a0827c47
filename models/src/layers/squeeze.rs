//! Squeeze: each 2×2×C block of pixels becomes a 1×1×4C pixel (log-det 0).

use candle_core::Tensor;

use crate::onnx::{Graph, LogDet, Value};
use crate::{Bijection, Mode, Result, constant_log_det};

/// `[N, C, H, W] -> [N, 4C, H/2, W/2]`: input channel `c` at `(2i+a, 2j+b)` goes to output
/// channel `4c + 2a + b` at `(i, j)`. Emitted as Reshape + Transpose (not SpaceToDepth, which
/// orders channels differently and which candle-onnx lacks).
pub struct Squeeze {
    c: usize,
    h: usize,
    w: usize,
}

impl Squeeze {
    /// A squeeze for `[C, H, W]` examples; `H` and `W` must be even.
    pub fn new(c: usize, h: usize, w: usize) -> Self {
        Self { c, h, w }
    }
}

impl Bijection for Squeeze {
    fn forward(&self, x: &Tensor, _mode: Mode) -> Result<(Tensor, Tensor)> {
        let (c, h, w) = (self.c, self.h, self.w);
        let n = x.dim(0)?;
        let y = x
            .reshape((n, c, h / 2, 2, w / 2, 2))?
            .permute((0, 1, 3, 5, 2, 4))?
            .reshape((n, 4 * c, h / 2, w / 2))?;
        Ok((y, constant_log_det(x, 0.0)?))
    }

    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        let (c, h, w) = (self.c, self.h, self.w);
        let n = y.dim(0)?;
        Ok(y.reshape((n, c, 2, 2, h / 2, w / 2))?
            .permute((0, 1, 4, 2, 5, 3))?
            .reshape((n, c, h, w))?)
    }

    fn emit_forward(&self, g: &mut Graph, x: &Value) -> Result<(Value, LogDet)> {
        let (c, h, w) = (self.c as i64, self.h as i64, self.w as i64);
        let y = g.reshape(x, &[0, c, h / 2, 2, w / 2, 2]);
        let y = g.transpose(&y, &[0, 1, 3, 5, 2, 4]);
        Ok((g.reshape(&y, &[0, 4 * c, h / 2, w / 2]), LogDet::zero()))
    }

    fn emit_inverse(&self, g: &mut Graph, y: &Value) -> Result<Value> {
        let (c, h, w) = (self.c as i64, self.h as i64, self.w as i64);
        let x = g.reshape(y, &[0, c, 2, 2, h / 2, w / 2]);
        let x = g.transpose(&x, &[0, 1, 4, 2, 5, 3]);
        Ok(g.reshape(&x, &[0, c, h, w]))
    }
}

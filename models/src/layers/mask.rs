//! Coupling masks: which elements pass through unchanged (`b = 1`) and condition the rest.

use candle_core::{DType, Device, Tensor};

use crate::Result;

/// A binary mask `b`; the coupling keeps `b⊙x` and transforms `(1-b)⊙x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// Spatial checkerboard: `b[i, j] = 1` where `(i + j) % 2 == parity`. Shape `[1, 1, H, W]`.
    Checkerboard {
        /// 0 or 1: which squares are kept.
        parity: usize,
    },
    /// Channel-wise: `b = 1` on the first half of the channels (parity 0) or the second (1).
    /// Shape `[1, C, 1, 1]`.
    Channel {
        /// 0 or 1: which half is kept.
        parity: usize,
    },
    /// For vectors: `b = 1` on the first `D/2` features (parity 0) or the others (1). Shape `[1, D]`.
    Half {
        /// 0 or 1: which half is kept.
        parity: usize,
    },
}

impl Mask {
    /// The mask as a broadcastable tensor for examples of shape `dims` (`[C, H, W]` or `[D]`).
    pub fn tensor(&self, dims: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        let t = match (*self, dims) {
            (Mask::Checkerboard { parity }, &[_, h, w]) => {
                let v: Vec<f32> = (0..h * w)
                    .map(|k| ((k / w + k % w) % 2 == parity) as u8 as f32)
                    .collect();
                Tensor::from_vec(v, (1, 1, h, w), device)?
            }
            (Mask::Channel { parity }, &[c, _, _]) => {
                let v: Vec<f32> = (0..c)
                    .map(|k| ((k < c / 2) == (parity == 0)) as u8 as f32)
                    .collect();
                Tensor::from_vec(v, (1, c, 1, 1), device)?
            }
            (Mask::Half { parity }, &[d]) => {
                let v: Vec<f32> = (0..d)
                    .map(|k| ((k < d / 2) == (parity == 0)) as u8 as f32)
                    .collect();
                Tensor::from_vec(v, (1, d), device)?
            }
            (mask, dims) => {
                return Err(crate::ModelError::InvalidConfig(format!(
                    "mask {mask:?} does not apply to examples of shape {dims:?}"
                )));
            }
        };
        Ok(t.to_dtype(dtype)?)
    }
}

//! The one data-shape type shared by the model config, the trainer and the runtime.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether a model's data are images or vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// `u8` pixel images `[C, H, W]`, in pixel units `[0, 256]` (see [`crate::pixels`]).
    Image,
    /// Real vectors `[D]` in the original feature units.
    Vector,
}

impl DataKind {
    /// Both kinds.
    pub const ALL: [DataKind; 2] = [DataKind::Image, DataKind::Vector];

    /// `"image"` or `"vector"`, as in the metadata and in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Image => "image",
            DataKind::Vector => "vector",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<DataKind> {
        DataKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one data item looks like. Serialized (configs, checkpoints) as
/// `{"kind": "image", "channels": C, "height": H, "width": W}` or `{"kind": "vector", "dim": D}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataShape {
    /// `u8` pixel images `[C, H, W]`, dequantized into `[0, 256)`.
    Image {
        /// Channels (1 grey, 3 RGB).
        channels: usize,
        /// Height in pixels.
        height: usize,
        /// Width in pixels.
        width: usize,
    },
    /// Real vectors `[D]`.
    Vector {
        /// Number of features.
        dim: usize,
    },
}

impl DataShape {
    /// The shape of `kind` with per-item dimensions `dims` (`[C, H, W]` or `[D]`, all > 0); `None`
    /// when the rank does not fit the kind, a size is 0, or the element count overflows `usize`.
    pub fn from_dims(kind: DataKind, dims: &[usize]) -> Option<DataShape> {
        if dims.contains(&0) || checked_product(dims).is_none() {
            return None;
        }
        match (kind, dims) {
            (DataKind::Image, &[channels, height, width]) => Some(DataShape::Image {
                channels,
                height,
                width,
            }),
            (DataKind::Vector, &[dim]) => Some(DataShape::Vector { dim }),
            _ => None,
        }
    }

    /// Image or vector.
    pub fn kind(&self) -> DataKind {
        match self {
            DataShape::Image { .. } => DataKind::Image,
            DataShape::Vector { .. } => DataKind::Vector,
        }
    }

    /// Elements per item (`C·H·W` or `D`), which is also the latent size `L`. A shape built by hand
    /// (or deserialized) whose count overflows gives `usize::MAX`, which no buffer matches, rather than
    /// a wrapped count that one could.
    pub fn numel(&self) -> usize {
        checked_product(&self.dims()).unwrap_or(usize::MAX)
    }

    /// The per-item dimensions: `[C, H, W]` or `[D]`.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            DataShape::Image {
                channels,
                height,
                width,
            } => vec![channels, height, width],
            DataShape::Vector { dim } => vec![dim],
        }
    }

    /// `[N, dims…]` with the batch dimension `n` first, as graph and tensor shapes take it.
    pub fn batch_dims(&self, n: i64) -> Vec<i64> {
        std::iter::once(n)
            .chain(self.dims().into_iter().map(|d| d as i64))
            .collect()
    }
}

fn checked_product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

impl fmt::Display for DataShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind(), self.dims())
    }
}

//! The RealNVP bundle format (docs/bundle.md): the one owner of what `trainer export` writes and
//! `realnvp-runtime` reads.
//!
//! A bundle is a directory holding [`FORWARD_FILE`] (data → latent and exact log-likelihood),
//! [`INVERSE_FILE`] (latent → data) and [`CARD_FILE`]. This crate spells every file name, tensor
//! name and metadata key once ([`names`]), holds the one data-shape type ([`DataShape`]), converts
//! [`BundleMetadata`] to and from the graphs' `metadata_props` and `model.json` with a typed error for
//! every missing or malformed key, states the value ranges of the data ([`pixels`]), and writes files
//! and bundle directories atomically ([`files`]). It depends on neither candle nor ONNX Runtime.
//!
//! ```
//! use realnvp_bundle::{BundleMetadata, DataShape, Direction};
//! let meta = BundleMetadata::new(
//!     "0123456789abcdef0123456789abcdef",
//!     DataShape::Vector { dim: 2 },
//!     serde_json::json!({"kind": "standardize"}),
//!     serde_json::json!({}),
//!     serde_json::json!({}),
//!     serde_json::json!({}),
//! );
//! let props = meta.to_props(Direction::Forward);
//! let back = BundleMetadata::from_props("forward.onnx".as_ref(), Direction::Forward, &props.into_iter().collect())?;
//! assert_eq!(back, meta);
//! # Ok::<(), realnvp_bundle::BundleError>(())
//! ```

#![warn(missing_docs)]

pub mod data;
pub mod density;
mod error;
pub mod files;
mod metadata;
pub mod names;
pub mod ood;
pub mod pixels;
pub mod sampling;
mod shape;

pub use error::{BundleError, Result};
pub use metadata::BundleMetadata;
pub use names::{
    BUNDLE_FILES, CALIBRATION_FILE, CARD_FILE, Direction, FORMAT_VERSION, FORWARD_FILE,
    INVERSE_FILE, KNOWN_FILES, Key, MAX_SAMPLE_VALUES, OPSET, Tensor,
};
pub use ood::{Calibration, OodStatistic, ScoreStats};
pub use shape::{DataKind, DataShape};

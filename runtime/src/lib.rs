//! Score and sample RealNVP normalizing flows exported by `trainer export`, with ONNX Runtime.
//!
//! A *bundle* (docs/bundle.md) is a directory holding `forward.onnx` (data → latent and exact log-likelihood),
//! `inverse.onnx` (latent → data) and `model.json`. [`Flow::load`] validates the pair and runs it on CPU or CUDA;
//! [`image_io`] and [`vector_io`] move data between files and the flat `f32` layout the graphs use.
//!
//! The ONNX Runtime library is loaded at run time from [`LoadOptions::library_path`], else `ORT_DYLIB_PATH`,
//! else the system loader's search for `libonnxruntime.so` ([`library_candidates`]); a failure lists what was
//! tried and how to install the library.
//!
//! ```no_run
//! use realnvp_runtime::{Flow, LoadOptions, image_io};
//! # fn main() -> Result<(), realnvp_runtime::RuntimeError> {
//! let flow = Flow::load("out/model", &LoadOptions::default())?;
//! let x = flow.load_image("digit.png")?;
//! println!("{:.3} bits/dim", flow.bits_per_dim(&x, 1)?[0]);
//! let samples = flow.sample(64, 0.7, 1)?;
//! image_io::write_grid_png("grid.png", &samples, 64, flow.data_shape(), None, 3)?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod error;
mod flow;
pub mod image_io;
pub mod inputs;
mod library;
pub mod ood;
mod options;
pub mod score_format;
pub mod triton;
pub mod vector_io;

pub use error::{Result, RuntimeError};
pub use flow::{Discrepancy, Encoded, Flow, RoundTrip};
pub use inputs::{Batch, Inputs, ScoredItem, Verdict, input_files};
pub use library::{
    LibraryAttempt, LibrarySource, ORT_DYLIB_ENV, SYSTEM_LIBRARY_NAMES, library_candidates,
    loaded_library_path,
};
pub use ood::OodScores;
pub use options::{DEFAULT_BATCH_SIZE, Device, LoadOptions, Provider};
pub use realnvp_bundle::files::write_atomic;
pub use realnvp_bundle::{
    BundleError, BundleMetadata, Calibration, DataKind, DataShape, FORMAT_VERSION,
    MAX_SAMPLE_VALUES, OodStatistic, ScoreStats,
};

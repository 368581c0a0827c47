//! Training, evaluation and sampling for the RealNVP flows of `realnvp-models`.
//!
//! - [`data`]: data sources (`--data SPEC`) and seeded, resumable mini-batches;
//! - [`request`]: what a fit command asks for, merged with defaults or a resumed run's options
//!   ([`request::fit_or_resume`]);
//! - [`train`]: the training loop ([`train::fit`]; resumed through [`request::fit_or_resume`]) writing a run directory
//!   (see [`run`] for its files);
//! - [`checkpoint`]: `checkpoint.safetensors` with weights, running statistics, Adam state and
//!   counters, written atomically;
//! - [`optim`]: Adam with saveable state, gradient clipping, the learning-rate schedule;
//! - [`ema`]: the moving average of the weights used for evaluation and export;
//! - [`eval`]: test NLL with `u = 0.5` and the K-sample importance-weighted bound;
//! - [`sample`]: seeded sampling (the pictures are drawn by `realnvp-plot`);
//! - [`device`]: `--device auto|cpu|cuda[:N]`; [`init`]: seeded weight initialisation.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod device;
pub mod ema;
mod error;
pub mod eval;
pub mod export;
pub mod flags;
pub mod init;
pub mod metrics;
pub mod optim;
pub mod request;
pub mod run;
pub mod sample;
pub mod train;

pub use error::{Result, TrainError};

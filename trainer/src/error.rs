//! The library's error type for training, checkpoints, evaluation and pictures.

use std::path::PathBuf;

use realnvp_models::ModelError;

use crate::data::DataError;

/// Why training, evaluation, sampling or a checkpoint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model could not be built, run, saved or loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The data source could not be loaded or batched.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint or run file is missing, corrupt or does not belong to this run.
    #[error("{path}: {reason}")]
    Run {
        /// The file involved.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Training diverged and could not be recovered by rolling back.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// A stop was requested (Ctrl-C); the checkpoint of `step` is written.
    #[error(
        "interrupted after step {step}; the checkpoint is written: run the same command with --resume to continue"
    )]
    Interrupted {
        /// The step of the checkpoint.
        step: u64,
    },
    /// The requested device is unavailable.
    #[error("device: {0}")]
    Device(String),
    /// Options that do not fit together or do not fit the data.
    #[error("{0}")]
    Invalid(String),
    /// `trainer sample --out` names a file that this model's samples cannot go to.
    #[error("{flag} {0}", flag = crate::flags::OUT)]
    SampleFile(#[from] realnvp_bundle::sampling::UnsuitedSampleFile),
    /// An atomic file write failed (the earlier file, if any, is intact).
    #[error(transparent)]
    Write(#[from] realnvp_bundle::BundleError),
    /// Drawing or writing a picture failed.
    #[error(transparent)]
    Plot(#[from] realnvp_plot::PlotError),
    /// Exporting a bundle failed; nothing was written.
    #[error(transparent)]
    Export(Box<crate::export::ExportError>),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn run(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        TrainError::Run {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

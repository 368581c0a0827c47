//! The format's error type: each variant names the file, the key and the fix.

use std::path::PathBuf;

use crate::names::FORMAT_VERSION;

/// Result alias of the crate.
pub type Result<T, E = BundleError> = std::result::Result<T, E>;

/// What can be wrong with a bundle's metadata or files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A required key is absent from a graph's `metadata_props` or from `model.json`.
    #[error(
        "{file} has no metadata key `{key}`; the bundle was not written by `trainer export` (format version {FORMAT_VERSION}): re-export it"
    )]
    MissingKey {
        /// The key as stored (`realnvp.NAME` in a graph, `NAME` in model.json).
        key: String,
        /// The graph file or model.json.
        file: PathBuf,
    },

    /// A key's value cannot be parsed or is impossible.
    #[error("{file}: metadata `{key}` is invalid: {reason}")]
    InvalidKey {
        /// The key as stored.
        key: String,
        /// The graph file or model.json.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The format version is not the one this crate reads.
    #[error(
        "{file}: bundle format version {found} is not supported (this build reads version {FORMAT_VERSION}); \
         use a realnvp-rs release that reads it, or re-export the model with this one"
    )]
    UnsupportedFormatVersion {
        /// The version found, as stored.
        found: String,
        /// The graph file or model.json.
        file: PathBuf,
    },

    /// A graph file says it is the other direction.
    #[error(
        "{file} says its direction is `{found}`, expected `{expected}`; the files were swapped or renamed"
    )]
    WrongDirection {
        /// The graph file.
        file: PathBuf,
        /// The direction the file name implies.
        expected: String,
        /// The direction in its metadata.
        found: String,
    },

    /// The two graphs come from different exports.
    #[error(
        "forward.onnx (pair id {forward}) and inverse.onnx (pair id {inverse}) come from different exports; \
         copy both files from the same `trainer export` output"
    )]
    PairMismatch {
        /// Pair id of the forward graph.
        forward: String,
        /// Pair id of the inverse graph.
        inverse: String,
    },

    /// The files of one bundle disagree with each other (graphs vs graphs, or model.json vs graphs).
    #[error("inconsistent bundle {dir}: {reason}")]
    Inconsistent {
        /// The bundle directory.
        dir: PathBuf,
        /// What disagrees, and the fix.
        reason: String,
    },

    /// A directory cannot be replaced by a bundle without losing files that are not part of one.
    #[error("{dir} {reason}")]
    NotReplaceable {
        /// The directory.
        dir: PathBuf,
        /// Why, and what to do.
        reason: String,
    },

    /// A calibration file (`calibration.json`) cannot be used.
    #[error("{file}: {reason}")]
    InvalidCalibration {
        /// The calibration file.
        file: PathBuf,
        /// What is wrong, and the fix.
        reason: String,
    },

    /// The directory an output goes into does not exist and cannot be created (a path through a file, a
    /// read-only file system, no permission).
    #[error(
        "cannot create the output directory {dir}: {source}; choose an output path in a writable directory"
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl BundleError {
    /// An I/O error at `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BundleError::Io {
            path: path.into(),
            source,
        }
    }
}

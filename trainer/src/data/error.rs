//! The one error type of the data sources.

use std::path::PathBuf;

/// Why a data source could not be parsed, loaded or batched.
///
/// Every variant that concerns a file names it, and most say how to fix the problem.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The `--data` string is not one of the accepted forms.
    #[error(
        "invalid data spec `{spec}`: {reason} (`trainer fit {data} help` lists the accepted forms)",
        data = crate::flags::DATA
    )]
    Spec {
        /// The string as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or folder that the source needs does not exist.
    #[error("{path} not found: {hint}")]
    NotFound {
        /// The missing path.
        path: PathBuf,
        /// How to get it, or which spec to pass instead.
        hint: String,
    },
    /// Reading a file or listing a folder failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file exists but its content is not what the source expects (IDX, JSON, shapes).
    #[error("malformed {path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong and, where possible, how to fix it.
        reason: String,
    },
    /// A CSV cell that is not a finite number, or a row of the wrong length.
    #[error("{path}, line {line}, column {column}: {reason}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number in the file.
        line: usize,
        /// 1-based column number, with the header name when there is one.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// A folder holds no usable files.
    #[error("{path} holds no {what}: {hint}")]
    Empty {
        /// The folder or file.
        path: PathBuf,
        /// What was looked for.
        what: String,
        /// How to fix it.
        hint: String,
    },
    /// An image file could not be decoded.
    #[error(
        "cannot decode image {path}: {source} (remove or convert the file; PNG and JPEG are supported)"
    )]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        source: image::ImageError,
    },
    /// A request that does not fit the data (batch size, image shape, split sizes).
    #[error("{0}")]
    Invalid(String),
    /// Building a tensor failed.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DataError::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

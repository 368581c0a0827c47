//! The model crate's error type.

/// Errors from building, running, saving or exporting a flow.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor operation failed (shape mismatch, device error, …).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The config describes a model that cannot be built; the message says which field and why.
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    /// The input does not have the shape the model was configured for.
    #[error("input shape {got:?} does not match the model's data shape {expected} (batch first)")]
    InputShape {
        /// Shape of the tensor that was passed.
        got: Vec<usize>,
        /// The shape the model expects, batch dimension written as `N`.
        expected: String,
    },
    /// Reading or writing model files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A config file is not valid JSON for [`crate::FlowConfig`].
    #[error("{path}: not a valid flow config: {source}")]
    ConfigJson {
        /// The file involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// ONNX emission failed (an unsupported construct, a tensor that cannot be written).
    #[error("ONNX export: {0}")]
    Onnx(String),
}

/// Result with [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;

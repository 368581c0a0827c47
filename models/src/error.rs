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
    /// The config (of a checkpoint or saved model) was written for another model layout, in
    /// which the same weights form a different model.
    #[error(
        "model layout {found} is not the layout {supported} this version builds: layout 1 models \
         (written before the factor-out fix) transform the wrong half of the channels before each \
         factor-out and score u8 images up to a bit/dim too high; their weights do not fit layout \
         {supported}. Train the model again with this version (and export it again)"
    )]
    LayoutVersion {
        /// The `layout` field of the config.
        found: u32,
        /// [`crate::MODEL_LAYOUT`].
        supported: u32,
    },
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
    /// An atomic file write failed (the earlier file, if any, is intact).
    #[error(transparent)]
    Write(#[from] realnvp_bundle::BundleError),
    /// ONNX emission failed (an unsupported construct, a tensor that cannot be written).
    #[error("ONNX export: {0}")]
    Onnx(String),
}

/// Result with [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;

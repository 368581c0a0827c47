//! The one error type of the crate.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Everything that can go wrong when loading a bundle or running it.
///
/// Every variant names the thing at fault (file, key, value) and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The ONNX Runtime shared library could not be loaded (missing, not a library, or too old).
    #[error(
        "cannot load the ONNX Runtime library (libonnxruntime.so >= 1.31); tried {}. Install it with \
         `pip install onnxruntime==1.31.1` and set ORT_DYLIB_PATH (or --ort-lib / LoadOptions::library_path) to \
         its onnxruntime/capi/libonnxruntime.so.1.31.1, or install a system package that puts libonnxruntime.so \
         on the loader path (LD_LIBRARY_PATH); in the realnvp-rs repository `make setup` installs it into .ort/",
        crate::library::describe(tried)
    )]
    Library {
        /// Every library tried, in order, with why it failed.
        tried: Vec<crate::LibraryAttempt>,
    },

    /// ONNX Runtime is already initialised from another library file in this process.
    #[error(
        "ONNX Runtime is already loaded from {loaded} in this process; cannot switch to {requested} \
         (one library per process: drop the explicit path or use the same one)"
    )]
    LibraryConflict {
        /// The library that is loaded.
        loaded: PathBuf,
        /// The library that was asked for.
        requested: PathBuf,
    },

    /// An execution provider was requested but cannot be used.
    #[error("execution provider {provider} is not usable: {reason}")]
    ExecutionProvider {
        /// The provider, e.g. `CUDA`.
        provider: String,
        /// Why, and what to do instead.
        reason: String,
    },

    /// A file of the bundle does not exist.
    #[error("{file} does not exist; is this a bundle directory written by `trainer export`?")]
    MissingFile {
        /// The missing file.
        file: PathBuf,
    },

    /// A graph file exists but ONNX Runtime cannot load it (truncated, corrupt, not ONNX).
    #[error(
        "cannot load ONNX graph {file}: {reason}; the file is corrupt or truncated, re-export the bundle"
    )]
    InvalidGraph {
        /// The graph file.
        file: PathBuf,
        /// ONNX Runtime's message.
        reason: String,
    },

    /// The bundle's metadata or files break the format (missing or malformed key, unknown version, swapped
    /// files, a pair from different exports, graphs that disagree with their metadata or with model.json).
    #[error(transparent)]
    Bundle(#[from] realnvp_bundle::BundleError),

    /// Drawing or writing a picture failed.
    #[error(transparent)]
    Plot(realnvp_plot::PlotError),

    /// A [`crate::LoadOptions`] field has an unusable value.
    #[error("invalid option `{name}`: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What is wrong and what to use.
        reason: String,
    },

    /// An input batch has no items.
    #[error("empty batch: pass at least one item")]
    EmptyBatch,

    /// An input's length does not match `n` times the per-item size.
    #[error(
        "{what} has {got} values, expected {expected} ({n} items × {per_item} values of shape {shape:?})"
    )]
    InputLength {
        /// Which input (`x` or `z`).
        what: &'static str,
        /// Values given.
        got: usize,
        /// Values expected.
        expected: usize,
        /// Items announced.
        n: usize,
        /// Values per item.
        per_item: usize,
        /// Per-item shape.
        shape: Vec<usize>,
    },

    /// An input holds NaN or ±Inf.
    #[error(
        "{what}: item {item} holds a non-finite value ({value}) at position {position}; remove or repair it"
    )]
    NonFinite {
        /// Which input (`x` or `z`).
        what: &'static str,
        /// Item index in the batch.
        item: usize,
        /// Position within the item.
        position: usize,
        /// The value.
        value: f32,
    },

    /// An image input has a pixel value outside `[0, 256)`.
    #[error(
        "x: item {item} has pixel value {value} at position {position}, outside [0, 256]; image models take pixel \
         units (a u8 pixel p is scored as p + 0.5)"
    )]
    OutOfRange {
        /// Item index in the batch.
        item: usize,
        /// Position within the item.
        position: usize,
        /// The value.
        value: f32,
    },

    /// The graph produced NaN or ±Inf.
    #[error(
        "the {graph} graph produced a non-finite {output} for item {item}; the input is outside what the model supports"
    )]
    NonFiniteOutput {
        /// `forward` or `inverse`.
        graph: &'static str,
        /// The output name.
        output: &'static str,
        /// Item index in the batch.
        item: usize,
    },

    /// Sampling temperature is not a positive finite number.
    #[error(
        "temperature must be a finite number > 0, got {value}; 1.0 samples the model as trained, 0.7 is typical"
    )]
    InvalidTemperature {
        /// The value given.
        value: f32,
    },

    /// An operation needs a different kind of model (image vs vector).
    #[error("{operation} needs an {expected} model, but this bundle is a {found} model")]
    WrongDataKind {
        /// What was attempted.
        operation: &'static str,
        /// The kind needed.
        expected: &'static str,
        /// The bundle's kind.
        found: &'static str,
    },

    /// An image file cannot be decoded.
    #[error("cannot read image {path}: {reason}")]
    ImageDecode {
        /// The file.
        path: PathBuf,
        /// Why (truncated, not an image, unsupported format).
        reason: String,
    },

    /// An image has the wrong number of channels or bit depth.
    #[error("image {path} has {found}; the model expects {expected}; convert the image first")]
    ImageChannels {
        /// The file.
        path: PathBuf,
        /// What the model needs.
        expected: String,
        /// What the file holds.
        found: String,
    },

    /// An image has the wrong width or height (never resized silently).
    #[error(
        "image {path} is {found_w}×{found_h} pixels; the model expects {expected_w}×{expected_h}; resize it first"
    )]
    ImageSize {
        /// The file.
        path: PathBuf,
        /// Width the model needs.
        expected_w: u32,
        /// Height the model needs.
        expected_h: u32,
        /// Width of the file.
        found_w: u32,
        /// Height of the file.
        found_h: u32,
    },

    /// Out-of-distribution calibration cannot fit a threshold from the items given.
    #[error("calibration: {reason}")]
    Calibration {
        /// What is wrong, and the fix.
        reason: String,
    },

    /// The bundle has no calibration file where one was looked for.
    #[error(
        "no out-of-distribution calibration at {file}: run `runtime calibrate --model BUNDLE IN_DISTRIBUTION_FILES...` \
         first (or pass --calibration FILE)"
    )]
    MissingCalibration {
        /// The file looked for.
        file: PathBuf,
    },

    /// An out-of-distribution statistic this bundle cannot compute.
    #[error("the {statistic} statistic is not available: {reason}")]
    StatisticUnavailable {
        /// The statistic asked for.
        statistic: realnvp_bundle::OodStatistic,
        /// Why, and what to use instead.
        reason: String,
    },

    /// A CSV file cannot be parsed.
    #[error("{path}: {}{reason}", at_line(*.line))]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number; 0 when the problem is the file as a whole.
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// A folder given as input holds no image files.
    #[error(
        "{dir}: directory holds no .png/.jpg/.jpeg files (searched recursively, names starting with '.' \
         skipped); pass image files or a folder that holds some"
    )]
    NoImages {
        /// The folder.
        dir: PathBuf,
    },

    /// Several of the inputs given, all of which are needed, could not be read: the first error and how many
    /// more there were ([`crate::Flow::read_all_inputs`]; a single unreadable input is its own error).
    #[error("{first} (and {more} more unreadable inputs)")]
    UnreadableInputs {
        /// The first input's error.
        first: Box<RuntimeError>,
        /// How many other inputs could not be read.
        more: usize,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (in the message, so not repeated as a `source`).
        error: std::io::Error,
    },

    /// ONNX Runtime failed at run time.
    #[error("ONNX Runtime failed while {context}: {message}")]
    Ort {
        /// What the runtime was doing.
        context: String,
        /// ONNX Runtime's message.
        message: String,
    },
}

/// `line N: `, or nothing for line 0 (the whole file).
fn at_line(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}: ")
    }
}

impl RuntimeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn ort(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Self::Ort {
            context: context.into(),
            message: err.to_string(),
        }
    }
}

impl From<realnvp_plot::PlotError> for RuntimeError {
    /// An enlargement out of range is an option error like the others; the rest stay picture errors.
    fn from(e: realnvp_plot::PlotError) -> Self {
        match e {
            realnvp_plot::PlotError::Scale(_) => RuntimeError::InvalidOption {
                name: "scale",
                reason: e.to_string(),
            },
            other => RuntimeError::Plot(other),
        }
    }
}

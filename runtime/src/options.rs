//! How a bundle is loaded: device, threads, library path, batch size.

use std::fmt;
use std::path::PathBuf;

/// Where the graphs should run: `auto` tries CUDA when this crate was built with the `cuda` feature and falls
/// back to CPU with a warning; `cuda:N` fails if the CUDA execution provider cannot be used.
pub use realnvp_host::Device;

/// The execution provider that actually runs the graphs (see [`crate::Flow::provider`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// ONNX Runtime's default CPU provider.
    Cpu,
    /// ONNX Runtime's CUDA provider on this device.
    Cuda(usize),
}

impl Provider {
    /// The short name: `"CPU"` or `"CUDA"`.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Cpu => "CPU",
            Provider::Cuda(_) => "CUDA",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::Cpu => f.write_str("CPU"),
            Provider::Cuda(id) => write!(f, "CUDA (device {id})"),
        }
    }
}

/// Options for [`crate::Flow::load`].
///
/// ```
/// use realnvp_runtime::{Device, LoadOptions};
/// let options = LoadOptions { device: Device::Cpu, threads: Some(2), ..LoadOptions::default() };
/// assert_eq!(options.batch_size, 256);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Where to run.
    pub device: Device,
    /// Intra-op threads per graph; `None` lets ONNX Runtime choose (one per core).
    pub threads: Option<usize>,
    /// The `libonnxruntime.so` to load. `None`: `ORT_DYLIB_PATH`, then the system loader's search
    /// ([`crate::library_candidates`]).
    /// Only the first load in a process picks the library (see [`crate::Flow::load`]).
    pub library_path: Option<PathBuf>,
    /// Largest number of items sent to ONNX Runtime in one run; bigger inputs are split into chunks.
    pub batch_size: usize,
}

/// [`LoadOptions::batch_size`] when none is given: items per ONNX Runtime call.
pub const DEFAULT_BATCH_SIZE: usize = 256;

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Auto,
            threads: None,
            library_path: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

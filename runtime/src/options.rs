//! How a bundle is loaded: device, threads, library path, batch size.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the graphs should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// CUDA when this crate was built with the `cuda` feature and the CUDA execution provider registers;
    /// otherwise CPU (with a warning when CUDA was possible but failed).
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// The CUDA device with this ordinal; an error if the CUDA execution provider cannot be used.
    Cuda(i32),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Auto => f.write_str("auto"),
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(id) => write!(f, "cuda:{id}"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    /// Parses `auto`, `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|id| id.parse::<i32>().ok())
                .filter(|id| *id >= 0)
                .map(Device::Cuda)
                .ok_or_else(|| format!("unknown device `{s}`; use auto, cpu, cuda or cuda:N")),
        }
    }
}

/// The execution provider that actually runs the graphs (see [`crate::Flow::provider`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// ONNX Runtime's default CPU provider.
    Cpu,
    /// ONNX Runtime's CUDA provider on this device.
    Cuda(i32),
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

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Auto,
            threads: None,
            library_path: None,
            batch_size: 256,
        }
    }
}

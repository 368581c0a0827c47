//! Where to run, as `--device auto|cpu|cuda|cuda:N` spells it: one type for the trainer (candle) and the runtime (ONNX Runtime).

use std::fmt;
use std::str::FromStr;

/// Where to run, as the command lines spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// CUDA device 0 when the program was built with CUDA and a GPU answers; otherwise CPU (saying so).
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// The CUDA device with this ordinal; an error if it cannot be used.
    Cuda(usize),
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

    /// Parses `auto`, `cpu`, `cuda` (device 0; `gpu` too) or `cuda:N`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|id| id.parse::<usize>().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("unknown device `{s}`; use auto, cpu, cuda or cuda:N")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses_and_prints_back() {
        for (text, device) in [
            ("auto", Device::Auto),
            ("CPU", Device::Cpu),
            ("cuda", Device::Cuda(0)),
            ("gpu", Device::Cuda(0)),
            (" cuda:3 ", Device::Cuda(3)),
        ] {
            assert_eq!(text.parse::<Device>(), Ok(device), "{text}");
            assert_eq!(device.to_string().parse::<Device>(), Ok(device));
        }
        for bad in ["tpu", "cuda:", "cuda:-1", "cuda:x", ""] {
            let err = bad.parse::<Device>().unwrap_err();
            assert!(err.contains("auto, cpu, cuda or cuda:N"), "{bad}: {err}");
        }
    }
}

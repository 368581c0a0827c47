//! `--device auto|cpu|cuda[:N]`.

use candle_core::Device;

use crate::{Result, TrainError};

/// Opens the device named by `spec`. `auto` takes CUDA device 0 when the crate is built with
/// the `cuda` feature and a GPU answers, and otherwise CPU (logged at info level); `cuda[:N]`
/// fails with a clear message when the feature is off or no GPU is present.
pub fn open(spec: &str) -> Result<Device> {
    match spec.trim() {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if cfg!(feature = "cuda") {
                match Device::new_cuda(0) {
                    Ok(d) => {
                        tracing::info!("device auto: using CUDA device 0");
                        return Ok(d);
                    }
                    Err(e) => tracing::info!("device auto: no usable CUDA device ({e}); using CPU"),
                }
            } else {
                tracing::info!("device auto: built without the `cuda` feature; using CPU");
            }
            Ok(Device::Cpu)
        }
        s if s == "cuda" || s.starts_with("cuda:") => {
            let ordinal: usize = match s.strip_prefix("cuda:") {
                None => 0,
                Some(n) => n.parse().map_err(|_| {
                    TrainError::Device(format!("`{s}`: expected cuda or cuda:N with N a number"))
                })?,
            };
            if !cfg!(feature = "cuda") {
                return Err(TrainError::Device(format!(
                    "`{s}` asked, but this trainer was built without CUDA support; rebuild with \
                     `cargo build --release -p realnvp-trainer --features cuda` or use --device cpu"
                )));
            }
            Device::new_cuda(ordinal)
                .map_err(|e| TrainError::Device(format!("cannot open CUDA device {ordinal}: {e}")))
        }
        other => Err(TrainError::Device(format!(
            "unknown device `{other}`: use auto, cpu, cuda or cuda:N"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(open("cpu").is_ok_and(|d| d.is_cpu()));
        assert!(open("auto").is_ok());
        assert!(open("tpu").is_err());
        assert!(open("cuda:x").is_err());
        if !cfg!(feature = "cuda") {
            let e = open("cuda").unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}

//! `--device auto|cpu|cuda[:N]` ([`realnvp_host::Device`], one spelling for both command lines) as a candle device.

use candle_core::Device;
pub use realnvp_host::Device as DeviceRequest;

use crate::flags;
use crate::{Result, TrainError};

/// Opens the device `request` names. `auto` takes CUDA device 0 when the crate is built with
/// the `cuda` feature and a GPU answers, and otherwise CPU (logged at info level); `cuda[:N]`
/// fails with a clear message when the feature is off or no GPU is present.
pub fn open(request: DeviceRequest) -> Result<Device> {
    match request {
        DeviceRequest::Cpu => Ok(Device::Cpu),
        DeviceRequest::Auto => {
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
        DeviceRequest::Cuda(ordinal) => {
            if !cfg!(feature = "cuda") {
                return Err(TrainError::Device(format!(
                    "`{request}` asked, but this trainer was built without CUDA support; rebuild with \
                     `make cuda` (cargo build --release -p realnvp-trainer-cli --features cuda) or use {} cpu",
                    flags::DEVICE
                )));
            }
            Device::new_cuda(ordinal).map_err(|e| {
                TrainError::Device(format!(
                    "cannot open CUDA device {ordinal}: {e}; use {} cpu",
                    flags::DEVICE
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_auto_open_and_cuda_says_how_to_get_it() {
        assert!(open(DeviceRequest::Cpu).is_ok_and(|d| d.is_cpu()));
        assert!(open(DeviceRequest::Auto).is_ok());
        if !cfg!(feature = "cuda") {
            let e = open(DeviceRequest::Cuda(0)).unwrap_err().to_string();
            assert!(
                e.contains("--features cuda") && e.contains("--device cpu"),
                "{e}"
            );
        }
    }
}

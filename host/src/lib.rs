//! What the programs built on the RealNVP libraries share with them, apart from the bundle format
//! (`realnvp-bundle`): where to run ([`Device`], spelled `auto|cpu|cuda|cuda:N` by both command lines and
//! the Python package; `realnvp-trainer` opens it as a candle device, `realnvp-runtime` as an ONNX Runtime
//! execution provider) and how an error is told on one line ([`one_line`]). No dependencies.

#![warn(missing_docs)]

mod device;
mod report;

pub use device::Device;
pub use report::one_line;

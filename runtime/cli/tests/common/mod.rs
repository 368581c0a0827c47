//! The runtime library's test fixtures (`runtime/tests/common`), and the `runtime` command run on them.
#![allow(dead_code)]

#[path = "../../../tests/common/mod.rs"]
mod fixtures;
pub use fixtures::*;

/// Runs the `runtime` binary on CPU with the workspace's ONNX Runtime library.
pub fn runtime(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_runtime"))
        .env(realnvp_runtime::ORT_DYLIB_ENV, ort_library())
        .args(["--device", "cpu"])
        .args(args)
        .output()
        .expect("run runtime")
}

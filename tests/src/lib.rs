//! Cross-crate tests for realnvp-rs live in `tests/tests/`; this library holds their helpers.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use realnvp_models::{Architecture, DataShape, FlowConfig, NetNorm};

/// The workspace root (where `make setup` puts `.venv` and `.ort`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The project venv's python, which has `onnx` and `onnxruntime`; panics with the fix when absent
/// (a test that needs it must fail, not skip).
pub fn venv_python() -> PathBuf {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup` (scripts/setup.sh) to create the project venv with onnx",
        python.display()
    );
    python
}

/// The ONNX Runtime library `make setup` installs (`.ort/libonnxruntime.so`); panics with the fix when absent.
pub fn ort_library() -> PathBuf {
    let lib = workspace_root().join(".ort/libonnxruntime.so");
    assert!(
        lib.exists(),
        "{} is missing: run `make setup` (scripts/setup.sh) to install the ONNX Runtime library",
        lib.display()
    );
    lib
}

/// CPU with the workspace's ONNX Runtime library named explicitly, so the tests run under plain
/// `cargo test` as well as under `make test`.
pub fn cpu() -> realnvp_runtime::LoadOptions {
    realnvp_runtime::LoadOptions {
        device: realnvp_runtime::Device::Cpu,
        library_path: Some(ort_library()),
        ..Default::default()
    }
}

/// `max |a[i] - b[i]|` over equal-length slices (0 for empty ones).
pub fn max_abs_gap(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "max_abs_gap: slices of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A three-scale image model small enough for quick tests: 2×8×8 pixels, instance norm.
pub fn three_scale_config() -> FlowConfig {
    let mut config = FlowConfig::multi_scale_image((2, 8, 8), 3, 4, 1);
    if let Architecture::MultiScale(ms) = &mut config.architecture {
        ms.net_norm = NetNorm::Instance;
    }
    config
}

/// A colour image model small enough for quick tests: 3×8×8 pixels, two scales, 8 s/t channels, one block.
pub fn colour_config() -> FlowConfig {
    FlowConfig::multi_scale_image((3, 8, 8), 2, 8, 1)
}

/// `n` seeded examples for `data`: pixels in `[0, 256)` or features in `[-2, 2)`, f32.
pub fn examples(data: &DataShape, n: usize, seed: u64) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut shape = vec![n];
    shape.extend(data.dims());
    let (lo, hi) = match data {
        DataShape::Image { .. } => (0.0f32, 256.0f32),
        DataShape::Vector { .. } => (-2.0, 2.0),
    };
    let count: usize = shape.iter().product();
    let v: Vec<f32> = (0..count).map(|_| rng.random_range(lo..hi)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
        .expect("shape matches")
        .to_dtype(DType::F32)
        .expect("f32")
}

//! Cross-crate tests for realnvp-rs live in `tests/tests/`; this library holds their helpers.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use realnvp_models::{
    Architecture, BatchNormConfig, DataShape, FlowConfig, MultiScaleConfig, NetNorm, Preprocessing,
};

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

/// A three-scale image model small enough for quick tests: 2×8×8 pixels, instance norm.
pub fn three_scale_config() -> FlowConfig {
    FlowConfig {
        data: DataShape::Image {
            channels: 2,
            height: 8,
            width: 8,
        },
        preprocessing: Preprocessing::Logit { alpha: 0.05 },
        architecture: Architecture::MultiScale(MultiScaleConfig {
            num_scales: 3,
            hidden_channels: 4,
            num_blocks: 1,
            net_norm: NetNorm::Instance,
            checkerboard_couplings: 3,
            channel_couplings: 3,
            final_couplings: 4,
        }),
        flow_batch_norm: Some(BatchNormConfig::default()),
        s_scale_l2: 5e-5,
    }
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

//! Shared test helpers: real bundles written by `make_fixture_bundle.py` (ONNX graphs built with `onnx.helper`)
//! and the closed form of the fixture flow. The `runtime` command's tests (`runtime/cli/tests`) include them too.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use realnvp_runtime::{Device, LoadOptions};

/// The repository's root: the nearest folder above this crate's that holds the fixture script (the library's
/// tests run from `runtime/`, the command's from `runtime/cli/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("runtime/tests/make_fixture_bundle.py").is_file())
        .expect("the tests run inside the realnvp-rs repository")
        .to_path_buf()
}

/// The project's Python (from `make setup`), which has `onnx` and `numpy`.
pub fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `make setup` (it creates .venv with onnx and the ONNX Runtime library); \
         the runtime tests need it to build their fixture bundles",
        python.display()
    );
    python
}

/// The format's names as JSON (`realnvp_bundle::names::as_json()`), written once per test process: the fixture
/// script reads every file, tensor and key name from it.
fn names_file() -> &'static Path {
    static NAMES: OnceLock<tempfile::NamedTempFile> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            let file = tempfile::NamedTempFile::new().expect("temporary file");
            std::fs::write(file.path(), realnvp_bundle::names::as_json().to_string())
                .expect("writing the format's names");
            file
        })
        .path()
}

/// Writes a fixture bundle into `dir` with the script's extra `args`.
pub fn make_bundle_in(dir: &Path, args: &[&str]) {
    let script = repo_root().join("runtime/tests/make_fixture_bundle.py");
    let out = Command::new(python())
        .arg(script)
        .arg(dir)
        .arg("--names")
        .arg(names_file())
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "make_fixture_bundle.py {args:?} failed (run `make setup`?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bundle for `args`, built once per test process and kept in a temporary directory.
pub fn bundle(args: &[&str]) -> PathBuf {
    static CACHE: OnceLock<Mutex<HashMap<Vec<String>, tempfile::TempDir>>> = OnceLock::new();
    let key: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let dir = cache.entry(key).or_insert_with(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        make_bundle_in(dir.path(), args);
        dir
    });
    dir.path().to_path_buf()
}

/// The ONNX Runtime library `make setup` installs (`.ort/libonnxruntime.so`), named explicitly so the tests run
/// under plain `cargo test` as well as under `make test`.
pub fn ort_library() -> PathBuf {
    let lib = repo_root().join(".ort/libonnxruntime.so");
    assert!(
        lib.exists(),
        "{} is missing: run `make setup` (it installs the ONNX Runtime library)",
        lib.display()
    );
    lib
}

/// CPU, one thread: the settings every test uses unless it tests the settings.
pub fn cpu() -> LoadOptions {
    LoadOptions {
        device: Device::Cpu,
        threads: Some(1),
        library_path: Some(ort_library()),
        ..LoadOptions::default()
    }
}

/// The fixture's coefficients (mirror of `coefficients` in make_fixture_bundle.py).
pub fn coefficients(latent: usize) -> (Vec<f64>, Vec<f64>) {
    (0..latent)
        .map(|i| {
            let i_f = i as f64;
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            ((8.0 + 0.5 * i_f) * sign, 0.01 * i_f - 0.05)
        })
        .unzip()
}

/// Closed-form z and log p(x) of one item of the fixture flow, in f64.
pub fn closed_form(x: &[f32], image: bool) -> (Vec<f64>, f64) {
    let latent = x.len();
    let (a, b) = coefficients(latent);
    let z: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let u = if image {
                f64::from(v) / 256.0 - 0.5
            } else {
                f64::from(v)
            };
            u * a[i] + b[i]
        })
        .collect();
    let l = latent as f64;
    let mut lp = z.iter().map(|z| -0.5 * z * z).sum::<f64>()
        - 0.5 * l * (2.0 * std::f64::consts::PI).ln()
        + a.iter().map(|a| a.abs().ln()).sum::<f64>();
    if image {
        lp -= l * 256f64.ln();
    }
    (z, lp)
}

/// Deterministic pseudo-random pixel data in [0, 256).
pub fn pixels(n: usize, per_item: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n * per_item)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 256) as f32 + 0.5
        })
        .collect()
}

/// Lossy UTF-8 of a process output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

//! Finding and loading the ONNX Runtime shared library, once per process.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;

use crate::error::{Result, RuntimeError};

/// Environment variable naming the `libonnxruntime.so` to load (the same name `ort` uses).
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// The ONNX Runtime environment of this process and the library it came from.
///
/// `ort` allows one library and one environment per process, so the first successful load wins and later loads
/// reuse it. A failed load stores nothing, so a later call with a correct path can still succeed.
static LOADED: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// The project-local library that `make setup` installs: `<workspace>/.ort/libonnxruntime.so`.
pub fn default_library_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.ort/libonnxruntime.so"
    ))
}

/// The library a load would use: `explicit`, else `$ORT_DYLIB_PATH`, else [`default_library_path`].
pub fn resolve_library_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    match std::env::var_os(ORT_DYLIB_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => default_library_path(),
    }
}

/// The library this process has loaded, if any.
pub fn loaded_library_path() -> Option<PathBuf> {
    lock().as_ref().map(|(_, path)| path.clone())
}

fn lock() -> std::sync::MutexGuard<'static, Option<(Environment, PathBuf)>> {
    // The guarded value is only replaced whole, so a poisoned lock still holds a consistent value.
    LOADED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Loads the library (first call) or returns the loaded one; an explicit path that differs from the loaded
/// library is a [`RuntimeError::LibraryConflict`].
pub(crate) fn environment(explicit: Option<&Path>) -> Result<(Environment, PathBuf)> {
    let mut loaded = lock();
    if let Some((env, path)) = loaded.as_ref() {
        if let Some(requested) = explicit {
            let requested = canonical(requested);
            if requested != *path {
                return Err(RuntimeError::LibraryConflict {
                    loaded: path.clone(),
                    requested,
                });
            }
        }
        return Ok((env.clone(), path.clone()));
    }

    let path = resolve_library_path(explicit);
    if !path.is_file() {
        return Err(RuntimeError::Library {
            path,
            reason: "no such file".into(),
        });
    }
    let path = canonical(&path);
    // Load explicitly: `ort`'s lazy loading would panic on a missing library instead of returning an error.
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::Library {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let env = builder
        .with_name("realnvp-runtime")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Library {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    *loaded = Some((env.clone(), path.clone()));
    tracing::debug!(library = %path.display(), "loaded ONNX Runtime");
    Ok((env, path))
}

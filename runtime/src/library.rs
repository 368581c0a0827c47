//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! Where a load looks, in order (the first source that is given is the only one tried, so an explicit
//! choice never silently falls back to another library):
//! 1. [`crate::LoadOptions::library_path`] (`runtime --ort-lib`);
//! 2. the `ORT_DYLIB_PATH` environment variable;
//! 3. the system loader's search for [`SYSTEM_LIBRARY_NAMES`] (`LD_LIBRARY_PATH`, the `ldconfig` cache, and
//!    first the executable's own directory, as `ort` does for bare names).
//!
//! Nothing is baked in at compile time: an embedding program finds the library the way it finds any other.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;

use crate::error::{Result, RuntimeError};

/// Environment variable naming the `libonnxruntime.so` to load (the same name `ort` uses).
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// The names handed to the system loader when no path is given: the development link, then the runtime
/// soname that distribution packages install.
pub const SYSTEM_LIBRARY_NAMES: [&str; 2] = ["libonnxruntime.so", "libonnxruntime.so.1"];

/// Where a candidate library came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// [`crate::LoadOptions::library_path`].
    Explicit,
    /// `$ORT_DYLIB_PATH`.
    Environment,
    /// A bare name for the system loader's search.
    SystemSearch,
}

impl fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibrarySource::Explicit => "library_path (--ort-lib)",
            LibrarySource::Environment => ORT_DYLIB_ENV,
            LibrarySource::SystemSearch => "system search",
        })
    }
}

/// One library a load tried, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryAttempt {
    /// Where the candidate came from.
    pub source: LibrarySource,
    /// The path or bare name tried.
    pub path: PathBuf,
    /// Why it could not be used.
    pub reason: String,
}

impl fmt::Display for LibraryAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}`: {}",
            self.source,
            self.path.display(),
            self.reason
        )
    }
}

/// `a (why); b (why)` for an error message.
pub(crate) fn describe(tried: &[LibraryAttempt]) -> String {
    let parts: Vec<String> = tried.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

/// The ONNX Runtime environment of this process and the library it came from.
///
/// `ort` allows one library and one environment per process, so the first successful load wins and later loads
/// reuse it. A failed load stores nothing, so a later call with a correct path can still succeed.
static LOADED: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// The libraries a load would try, in order: `explicit`, else `$ORT_DYLIB_PATH`, else the
/// [`SYSTEM_LIBRARY_NAMES`] for the system loader.
pub fn library_candidates(explicit: Option<&Path>) -> Vec<(LibrarySource, PathBuf)> {
    if let Some(path) = explicit {
        return vec![(LibrarySource::Explicit, path.to_path_buf())];
    }
    match std::env::var_os(ORT_DYLIB_ENV) {
        Some(path) if !path.is_empty() => vec![(LibrarySource::Environment, PathBuf::from(path))],
        _ => SYSTEM_LIBRARY_NAMES
            .iter()
            .map(|name| (LibrarySource::SystemSearch, PathBuf::from(name)))
            .collect(),
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

/// Loads one candidate: a path must exist; a bare name goes to the system loader.
fn load(source: LibrarySource, path: &Path) -> std::result::Result<(Environment, PathBuf), String> {
    let path = if source == LibrarySource::SystemSearch {
        path.to_path_buf()
    } else if path.is_file() {
        canonical(path)
    } else {
        return Err("no such file".into());
    };
    // Load explicitly: `ort`'s lazy loading would panic on a missing library instead of returning an error.
    let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
    let env = builder
        .with_name("realnvp-runtime")
        .with_telemetry(false)
        .build()
        .map_err(|e| e.to_string())?;
    Ok((env, path))
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

    let mut tried = Vec::new();
    for (source, path) in library_candidates(explicit) {
        match load(source, &path) {
            Ok((env, path)) => {
                *loaded = Some((env.clone(), path.clone()));
                tracing::debug!(library = %path.display(), %source, "loaded ONNX Runtime");
                return Ok((env, path));
            }
            Err(reason) => tried.push(LibraryAttempt {
                source,
                path,
                reason,
            }),
        }
    }
    Err(RuntimeError::Library { tried })
}

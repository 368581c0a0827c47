//! Atomic file writes: a reader never sees a half-written PNG or CSV.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, RuntimeError};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename (atomic on one
/// filesystem). Creates missing parent directories.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| RuntimeError::io(&parent, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| RuntimeError::io(path, std::io::Error::other("not a file path")))?
        .to_string_lossy();
    // Unique per process and call, so concurrent writers never share a temporary file.
    let tmp = parent.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(RuntimeError::io(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        RuntimeError::io(path, e)
    })
}

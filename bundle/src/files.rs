//! Atomic writes: a reader sees the old file (or bundle) or the complete new one, never a torn one,
//! and a failure leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{BundleError, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `path`'s directory (`.` for a bare file name) and file name.
fn split(path: &Path) -> Result<(PathBuf, String)> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| BundleError::io(path, std::io::Error::other("not a file path")))?
        .to_string_lossy()
        .into_owned();
    Ok((parent, name))
}

/// A sibling of `path` that no other writer (process or thread) uses: `.NAME.TAG-PID-N`.
fn sibling(parent: &Path, name: &str, tag: &str) -> PathBuf {
    parent.join(format!(
        ".{name}.{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes `path` through `write` (which creates the file at the path it is given) and a rename in the same
/// directory, creating missing parent directories. On failure the temporary file is removed and an earlier
/// `path` is untouched. `write` may fail with the caller's own error type (a checkpoint writer's, say).
pub fn write_atomic_with<E: From<BundleError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let (parent, name) = split(path)?;
    std::fs::create_dir_all(&parent).map_err(|e| BundleError::io(&parent, e))?;
    let tmp = sibling(&parent, &name, "tmp");
    let result = write(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| E::from(BundleError::io(path, e))));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path.as_ref(), |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| BundleError::io(tmp, e))
    })
}

/// Whether `dir` holds only names in `allowed`, so replacing it loses nothing.
fn check_replaceable(dir: &Path, allowed: &[&str]) -> Result<()> {
    let refuse = |reason: String| BundleError::NotReplaceable {
        dir: dir.into(),
        reason,
    };
    if !dir.is_dir() {
        return Err(refuse(
            "exists and is not a directory; choose another output path".into(),
        ));
    }
    for entry in std::fs::read_dir(dir).map_err(|e| BundleError::io(dir, e))? {
        let name = entry.map_err(|e| BundleError::io(dir, e))?.file_name();
        if !allowed.contains(&name.to_string_lossy().as_ref()) {
            return Err(refuse(format!(
                "holds {name:?}, which is not one of {allowed:?}: replacing the directory would lose it; \
                 choose an empty or new output path"
            )));
        }
    }
    Ok(())
}

/// Writes `files` (name, bytes) into a fresh sibling directory of `out`, then swaps it into place. `out`, if it
/// exists, must hold only names in `allowed`. A reader sees the old directory or the complete new one; on any
/// failure the old one is back in place and no temporary directory is left.
pub fn replace_dir(out: &Path, files: &[(&str, Vec<u8>)], allowed: &[&str]) -> Result<()> {
    let (parent, name) = split(out)?;
    if out.exists() {
        check_replaceable(out, allowed)?;
    }
    std::fs::create_dir_all(&parent).map_err(|e| BundleError::io(&parent, e))?;
    let tmp = sibling(&parent, &name, "new");
    let old = sibling(&parent, &name, "old");
    let cleanup = |e: BundleError| {
        let _ = std::fs::remove_dir_all(&tmp);
        e
    };
    std::fs::create_dir(&tmp).map_err(|e| cleanup(BundleError::io(&tmp, e)))?;
    for (file, bytes) in files {
        let path = tmp.join(file);
        std::fs::write(&path, bytes).map_err(|e| cleanup(BundleError::io(&path, e)))?;
    }
    let had_old = out.exists();
    if had_old {
        std::fs::rename(out, &old).map_err(|e| cleanup(BundleError::io(out, e)))?;
    }
    if let Err(e) = std::fs::rename(&tmp, out) {
        if had_old {
            let _ = std::fs::rename(&old, out);
        }
        return Err(cleanup(BundleError::io(out, e)));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

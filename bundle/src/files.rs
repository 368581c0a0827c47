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
    create_parent(&parent)?;
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
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    // A directory that another writer has just moved away holds nothing to lose.
    match std::fs::metadata(dir) {
        Err(e) if gone(&e) => return Ok(()),
        Ok(m) if !m.is_dir() => {
            return Err(refuse(
                "exists and is not a directory; choose another output path".into(),
            ));
        }
        _ => {}
    }
    let entries = match std::fs::read_dir(dir) {
        Err(e) if gone(&e) => return Ok(()),
        other => other.map_err(|e| BundleError::io(dir, e))?,
    };
    for entry in entries {
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

/// How often [`replace_dir`] retries its swap when other writers of the same `out` keep getting in between
/// (each retry means another writer has finished, so the bound is never reached in practice).
const SWAP_TRIES: usize = 64;

/// Writes `files` (name, bytes) into a fresh sibling directory of `out`, then swaps it into place. `out`, if it
/// exists, must hold only names in `allowed`. A reader sees the old directory or the complete new one; on any
/// failure the old one is back in place and no temporary directory is left.
///
/// Writers racing for the same `out` (processes or threads) all succeed, and `out` ends up as the complete
/// directory of one of them (the last to swap), never a mix: each moves whatever is at `out` aside and renames
/// its own directory into place, and starts over when another writer got in between. Temporary directories left
/// by writers that were killed (see [`remove_stale`]) are removed on the way.
pub fn replace_dir(out: &Path, files: &[(&str, Vec<u8>)], allowed: &[&str]) -> Result<()> {
    let (parent, name) = split(out)?;
    if out.exists() {
        check_replaceable(out, allowed)?;
    }
    create_parent(&parent)?;
    let tmp = sibling(&parent, &name, "new");
    let cleanup = |e: BundleError| {
        let _ = std::fs::remove_dir_all(&tmp);
        e
    };
    std::fs::create_dir(&tmp).map_err(|e| cleanup(BundleError::io(&tmp, e)))?;
    for (file, bytes) in files {
        let path = tmp.join(file);
        std::fs::write(&path, bytes).map_err(|e| cleanup(BundleError::io(&path, e)))?;
    }
    let _ = remove_stale_of(&parent, Some(&name));
    // Directories moved aside: the previous bundle, and any bundle another writer put in place meanwhile.
    let mut aside: Vec<PathBuf> = Vec::new();
    let remove_aside = |aside: &[PathBuf]| {
        for dir in aside {
            let _ = std::fs::remove_dir_all(dir);
        }
    };
    for _ in 0..SWAP_TRIES {
        if out.exists() {
            if let Err(e) = check_replaceable(out, allowed) {
                restore(out, &aside);
                return Err(cleanup(e));
            }
            let old = sibling(&parent, &name, "old");
            match std::fs::rename(out, &old) {
                Ok(()) => aside.push(old),
                // Another writer moved it aside first: look again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    restore(out, &aside);
                    return Err(cleanup(BundleError::io(out, e)));
                }
            }
        }
        match std::fs::rename(&tmp, out) {
            Ok(()) => {
                remove_aside(&aside);
                return Ok(());
            }
            // Another writer put its directory in place between our two renames: move that one aside too.
            // Only these two errors mean that; any other (permissions, a full disk, a read-only file
            // system) is reported as it is instead of being retried into a misleading "other writers".
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
                ) =>
            {
                continue;
            }
            Err(e) => {
                restore(out, &aside);
                return Err(cleanup(BundleError::io(out, e)));
            }
        }
    }
    restore(out, &aside);
    Err(cleanup(BundleError::io(
        out,
        std::io::Error::other(format!(
            "other writers replaced it {SWAP_TRIES} times while this one tried; write one bundle at a time"
        )),
    )))
}

/// After a failed swap: puts the first directory moved aside (the bundle that was there before) back at `out`
/// when nothing else took its place, and removes the others.
fn restore(out: &Path, aside: &[PathBuf]) {
    let mut rest = aside.iter();
    if let Some(first) = rest.next()
        && std::fs::rename(first, out).is_err()
    {
        let _ = std::fs::remove_dir_all(first);
    }
    for dir in rest {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Creates `dir` and its missing parents, with an error that says which directory could not be made.
fn create_parent(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| BundleError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })
}

/// The writer's process id in the name of a temporary sibling made by this module (`.NAME.TAG-PID-N`, TAG one
/// of `tmp`, `new`, `old`), with NAME.
fn temporary_owner(file_name: &str) -> Option<(&str, u32)> {
    let rest = file_name.strip_prefix('.')?;
    let (rest, counter) = rest.rsplit_once('-')?;
    let (rest, pid) = rest.rsplit_once('-')?;
    if counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    let name = ["tmp", "new", "old"]
        .iter()
        .find_map(|tag| rest.strip_suffix(tag)?.strip_suffix('.'))?;
    (!name.is_empty()).then_some((name, pid))
}

/// Whether process `pid` is running; `None` where the system cannot tell (no `/proc`).
fn process_alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// Removes the temporary files and directories (`.NAME.tmp-PID-N`, `.NAME.new-PID-N`, `.NAME.old-PID-N`) that
/// writers of this module left in `dir` when they were killed before finishing (SIGKILL, power loss): those whose
/// process is no longer running. A temporary of a running writer is never touched. Returns the paths removed;
/// where the system cannot tell whether a process runs (no `/proc`), nothing is removed. A missing `dir` has
/// nothing to remove.
pub fn remove_stale(dir: &Path) -> Result<Vec<PathBuf>> {
    remove_stale_of(dir, None)
}

/// [`remove_stale`], limited to the temporaries of `name` when given.
fn remove_stale_of(dir: &Path, name: Option<&str>) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // No directory (or a path through a file): nothing of ours to remove.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(BundleError::io(dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BundleError::io(dir, e))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some((owner, pid)) = temporary_owner(&file_name) else {
            continue;
        };
        if name.is_some_and(|n| n != owner) || process_alive(pid) != Some(false) {
            continue;
        }
        let path = entry.path();
        let gone = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match gone {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BundleError::io(&path, e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_with_their_writer() {
        assert_eq!(
            temporary_owner(".checkpoint.safetensors.tmp-1234-0"),
            Some(("checkpoint.safetensors", 1234))
        );
        assert_eq!(temporary_owner(".my-model.new-7-12"), Some(("my-model", 7)));
        assert_eq!(temporary_owner(".m.old-7-3"), Some(("m", 7)));
        for not_ours in [
            "checkpoint.safetensors",
            ".hidden",
            ".x.tmp-12",
            ".x.tmp-a-1",
            ".x.bak-1-2",
            "..tmp-1-2",
        ] {
            assert_eq!(temporary_owner(not_ours), None, "{not_ours}");
        }
    }
}

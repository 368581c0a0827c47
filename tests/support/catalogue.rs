//! The checks of docs/errors.md's command-line catalogue, shared by `trainer/cli/tests/errors.rs`,
//! `runtime/cli/tests/cli_errors.rs` and `trainer/cli/tests/crash.rs` (each includes this file with `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// One refused command: its row id in docs/errors.md, its arguments, the part of the message that the row
/// quotes, and the paths it must not leave behind.
pub struct Case {
    pub id: &'static str,
    pub args: Vec<String>,
    pub message: &'static str,
    pub absent: Vec<PathBuf>,
}

/// Temporary files or directories (dot-names) under `dir`, recursively.
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            found.push(path);
        } else if path.is_dir() {
            found.extend(temporaries(&path));
        }
    }
    found
}

/// The row of `id` in `doc`, the text of docs/errors.md.
fn catalogue_row<'a>(doc: &'a str, id: &str) -> Result<&'a str, String> {
    doc.lines()
        .find(|l| l.starts_with(&format!("| {id} |")))
        .ok_or_else(|| format!("docs/errors.md has no row `| {id} |`"))
}

/// Runs every case with `command()` (the program, its environment) and returns one line per case that was not
/// refused as its row says: a non-zero exit, the quoted message, no panic, none of its `absent` paths and no
/// temporary under `dir` left, and a row that quotes the message.
pub fn failures(
    program: &str,
    command: impl Fn() -> Command,
    cases: &[Case],
    dir: &Path,
) -> std::io::Result<Vec<String>> {
    // The repository's docs/, found above whichever crate includes this file (`trainer/cli`, `runtime/cli`).
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("docs/errors.md"))
        .find(|path| path.is_file())
        .ok_or_else(|| std::io::Error::other("docs/errors.md not found above the crate"))?;
    let doc = std::fs::read_to_string(doc)?;
    let mut failures = Vec::new();
    for case in cases {
        let o = command()
            .env("RUST_BACKTRACE", "0")
            .args(&case.args)
            .output()?;
        let err = String::from_utf8_lossy(&o.stderr);
        let mut problems = Vec::new();
        if o.status.success() {
            problems.push("exit status 0".to_string());
        }
        if err.contains("panicked") {
            problems.push("panicked".into());
        }
        if !err.contains(case.message) {
            problems.push(format!("message lacks `{}`", case.message));
        }
        for path in &case.absent {
            if path.exists() {
                problems.push(format!("left {}", path.display()));
            }
        }
        let left = temporaries(dir);
        if !left.is_empty() {
            problems.push(format!("left temporaries {left:?}"));
        }
        match catalogue_row(&doc, case.id) {
            Ok(row) if !row.contains(case.message) => problems.push(format!(
                "docs/errors.md row {} does not quote `{}`",
                case.id, case.message
            )),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} {program} {:?}: {}\n  stderr: {}",
                case.id,
                case.args,
                problems.join("; "),
                err.trim()
            ));
        }
    }
    Ok(failures)
}

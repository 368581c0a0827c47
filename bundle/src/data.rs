//! The project's data files, defined once for trainer and runtime: folders of images and CSV files of vectors.
//!
//! **Folders.** Which files of a folder are the items of a data set: the one rule for
//! `trainer fit --data images:DIR` and for the folders given to `runtime score`, `calibrate`, `reconstruct`
//! and the Python package. A folder's images are its `.png`, `.jpg` and `.jpeg` files (extension in any case), searched recursively
//! (class subfolders are common), skipping every file and folder whose name starts with `.` (editor and
//! system files such as `.DS_Store`, `.ipynb_checkpoints`), sorted by path so that the order, and so every
//! seeded split or output row, is the same on every machine.
//!
//! **CSV files of vectors.** How `trainer fit --data csv:FILE` and `runtime score` read a table's lines
//! ([`csv_lines`], [`is_csv_header`], [`csv_number`]) and how both programs write one ([`vectors_csv`]); each
//! reader checks the numbers (finite, how many per row) with its own typed errors.

use std::path::{Path, PathBuf};

/// The image file extensions, lower case.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Whether `path` names an image file by its extension (any case).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Every image file under `dir` (recursively, hidden names skipped), sorted by path. An empty result is not
/// an error here: callers say what an empty folder means for them.
pub fn image_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if is_hidden(&path) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if is_image_file(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The lines of a CSV table that hold cells: `(line number from 1, cells)`. Cells are separated by commas and
/// trimmed of spaces and double quotes (`"1.5"` as pandas may quote it is the number 1.5); blank lines and
/// lines starting with `#` (comments) are left out.
pub fn csv_lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        (!line.is_empty() && !line.starts_with('#')).then(|| {
            let cells = line
                .split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            (i + 1, cells)
        })
    })
}

/// Whether the first of [`csv_lines`] is a header: when any of its cells is not a number ([`csv_number`]),
/// so header-less tables such as scikit-learn's `digits.csv.gz` read too. A header made only of numbers
/// (pandas' default column names `0,1,…`, quoted or not) is therefore read as data: write `x0,x1,…` or leave
/// the header out. A `#` line, `numpy.savetxt`'s `header=` among them, is a comment, never the header.
pub fn is_csv_header(cells: &[&str]) -> bool {
    cells.iter().any(|c| csv_number(c).is_none())
}

/// A cell as an `f32`, when it is a number in Rust's syntax. `NaN`, `inf` and values beyond `f32` (which
/// become ±∞) are numbers here: each reader refuses them as not finite, naming the line.
pub fn csv_number(cell: &str) -> Option<f32> {
    cell.parse().ok()
}

/// Rows of `dim` values as CSV with a header `x0,x1,…`, each value the shortest decimal that reads back to
/// the same `f32`: what `trainer sample` and `runtime sample` write for vector models, and what
/// `trainer fit --data csv:FILE` and `runtime score` read.
pub fn vectors_csv(x: &[f32], dim: usize) -> String {
    use std::fmt::Write as _;
    let mut out = (0..dim)
        .map(|i| format!("x{i}"))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in x.chunks(dim.max(1)) {
        let fields: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        let _ = writeln!(out, "{}", fields.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_trim_quotes_and_skip_blank_and_comment_lines() {
        let text = "# made by hand\n\"a\", b ,c\r\n\n  \n1,\"2.5\", -3\n# more\nx,,4\n";
        let lines: Vec<(usize, Vec<&str>)> = csv_lines(text).collect();
        assert_eq!(
            lines,
            vec![
                (2, vec!["a", "b", "c"]),
                (5, vec!["1", "2.5", "-3"]),
                (7, vec!["x", "", "4"]),
            ]
        );
        assert!(is_csv_header(&lines[0].1));
        assert!(!is_csv_header(&lines[1].1));
        assert!(is_csv_header(&lines[2].1));
        assert_eq!(csv_number("2.5"), Some(2.5));
        assert_eq!(csv_number("1e39"), Some(f32::INFINITY));
        assert_eq!(csv_number(""), None);
    }

    #[test]
    fn recursive_sorted_and_hidden_skipped() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        for name in [
            "b.png",
            "a.JPG",
            "notes.txt",
            ".hidden.png",
            "sub/c.jpeg",
            "sub/deeper/d.png",
            ".cache/e.png",
            "sub/.f.png",
        ] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap())?;
            std::fs::write(path, b"")?;
        }
        let found: Vec<String> = image_files(root)?
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(found, ["a.JPG", "b.png", "sub/c.jpeg", "sub/deeper/d.png"]);
        Ok(())
    }

    #[test]
    fn vectors_csv_has_a_header_and_round_trips_f32() {
        let x = [0.1f32, -2.0, 1e-7, 3.5];
        let text = vectors_csv(&x, 2);
        assert_eq!(text, "x0,x1\n0.1,-2\n0.0000001,3.5\n");
        let back: Vec<f32> = text
            .lines()
            .skip(1)
            .flat_map(|l| l.split(',').map(|v| v.parse::<f32>().unwrap()))
            .collect();
        assert_eq!(back, x);
    }

    #[test]
    fn missing_folder_is_an_error() {
        assert!(image_files(Path::new("/nonexistent/realnvp/folder")).is_err());
    }
}

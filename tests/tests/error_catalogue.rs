//! docs/errors.md cannot drift from the tests: every row names a test that exists (a `fn` in the
//! file it names, and for the table-driven catalogues a case with the row's id), every case of the
//! table-driven catalogues has a row, and the catalogue keeps at least 30 bad inputs.

use std::collections::BTreeSet;
use std::path::Path;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The test functions that run the `T..`/`R..` rows case by case, with the file they live in.
const TABLES: [(&str, &str); 2] = [
    ("trainer/cli/tests/errors.rs", "trainer_error_catalogue"),
    ("runtime/cli/tests/cli_errors.rs", "runtime_error_catalogue"),
];

/// `(id, file, function)` of every row of docs/errors.md.
fn rows(doc: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let id = cells[0];
        if id == "id" || id.starts_with("---") {
            continue;
        }
        let test = cells
            .last()
            .and_then(|c| c.strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
            .ok_or_else(|| format!("row {id}: the last cell is not `FILE::TEST`: {line}"))?;
        let (file, function) = test
            .split_once("::")
            .ok_or_else(|| format!("row {id}: `{test}` is not FILE::TEST"))?;
        out.push((id.to_string(), file.to_string(), function.to_string()));
    }
    Ok(out)
}

#[test]
fn every_catalogue_row_names_a_test_that_exists() -> TestResult {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let doc = std::fs::read_to_string(root.join("docs/errors.md"))?;
    let rows = rows(&doc)?;
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ids.len(), rows.len(), "an id is used twice");
    let bad_inputs = rows.iter().filter(|r| !r.0.starts_with('C')).count();
    assert!(bad_inputs >= 30, "only {bad_inputs} bad inputs");
    let mut problems = Vec::new();
    for (id, file, function) in &rows {
        let Ok(source) = std::fs::read_to_string(root.join(file)) else {
            problems.push(format!("{id}: no file {file}"));
            continue;
        };
        if !source.contains(&format!("fn {function}(")) {
            problems.push(format!("{id}: {file} has no `fn {function}`"));
        }
        if TABLES.contains(&(file.as_str(), function.as_str()))
            && !source.contains(&format!("id: \"{id}\""))
        {
            problems.push(format!("{id}: {file} has no case `id: \"{id}\"`"));
        }
    }
    // Every case of the table-driven catalogues has its row.
    for (file, _) in TABLES {
        let source = std::fs::read_to_string(root.join(file))?;
        for case in source.split("id: \"").skip(1) {
            let id = case.split('"').next().unwrap_or_default();
            if !ids.contains(id) {
                problems.push(format!("{file}: case {id} has no row in docs/errors.md"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

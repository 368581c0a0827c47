//! The output formats of `runtime score`: CSV and JSON, one row or object per scored item, with the same
//! columns in both.

use std::io::Write;

use realnvp_bundle::Tensor;

use crate::inputs::ScoredItem;

/// The columns that scores with a calibration add, in order.
pub const OOD_COLUMNS: [&str; 5] = [
    "complexity_bits_per_dim",
    "complexity_corrected",
    "typicality",
    "ood_score",
    "ood",
];

/// The columns of `items`: `path`, `log_prob`, `bits_per_dim`, then [`OOD_COLUMNS`] when `ood`.
pub fn columns(ood: bool) -> Vec<&'static str> {
    let mut columns = vec!["path", Tensor::LogProb.name(), Tensor::BitsPerDim.name()];
    if ood {
        columns.extend(OOD_COLUMNS);
    }
    columns
}

/// One cell of a row.
enum Cell<'a> {
    Text(&'a str),
    Number(f32),
    Flag(bool),
    Missing,
}

/// A row's cells in [`columns`] order (the out-of-distribution cells only with a verdict).
fn cells(item: &ScoredItem) -> Vec<Cell<'_>> {
    let opt = |v: Option<f32>| v.map_or(Cell::Missing, Cell::Number);
    let s = &item.scores;
    let mut cells = vec![
        Cell::Text(&item.name),
        Cell::Number(s.log_prob),
        Cell::Number(s.bits_per_dim),
    ];
    if let Some(v) = item.verdict {
        cells.extend([
            opt(s.complexity_bits_per_dim),
            opt(s.complexity_corrected),
            opt(s.typicality),
            Cell::Number(v.score as f32),
            Cell::Flag(v.ood),
        ]);
    }
    cells
}

/// Writes `items` as CSV with a header line, with the out-of-distribution columns when `ood`. Missing values
/// are empty cells; floats are the shortest decimals that read back to the same `f32`.
pub fn write_csv(out: &mut impl Write, items: &[ScoredItem], ood: bool) -> std::io::Result<()> {
    writeln!(out, "{}", columns(ood).join(","))?;
    for item in items {
        let row: Vec<String> = cells(item)
            .into_iter()
            .map(|cell| match cell {
                Cell::Text(s) => csv_field(s),
                Cell::Number(v) => v.to_string(),
                Cell::Flag(b) => b.to_string(),
                Cell::Missing => String::new(),
            })
            .collect();
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
}

/// Writes `items` as a pretty-printed JSON array of objects keyed by [`columns`]; missing values are `null`.
pub fn write_json(out: &mut impl Write, items: &[ScoredItem], ood: bool) -> std::io::Result<()> {
    let names = columns(ood);
    let objects: Vec<serde_json::Value> = items
        .iter()
        .map(|item| {
            let values = cells(item).into_iter().map(|cell| match cell {
                Cell::Text(s) => s.into(),
                Cell::Number(v) => json_f32(v),
                Cell::Flag(b) => b.into(),
                Cell::Missing => serde_json::Value::Null,
            });
            serde_json::Value::Object(names.iter().map(|c| c.to_string()).zip(values).collect())
        })
        .collect();
    writeln!(out, "{}", serde_json::to_string_pretty(&objects)?)
}

/// An f32 as the shortest decimal that round-trips (not the f64 widening's long tail of digits).
fn json_f32(v: f32) -> serde_json::Value {
    v.to_string()
        .parse::<f64>()
        .map(serde_json::Value::from)
        .unwrap_or(serde_json::Value::Null)
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Verdict;
    use crate::ood::OodScores;

    fn item(name: &str, verdict: Option<Verdict>) -> ScoredItem {
        ScoredItem {
            name: name.into(),
            scores: OodScores {
                log_prob: -1.5,
                bits_per_dim: 0.1,
                complexity_bits_per_dim: Some(2.25),
                complexity_corrected: Some(-2.15),
                typicality: None,
            },
            verdict,
        }
    }

    #[test]
    fn csv_quotes_names_and_leaves_missing_cells_empty() -> std::io::Result<()> {
        let mut out = Vec::new();
        let v = Some(Verdict {
            score: -2.15,
            ood: true,
        });
        write_csv(&mut out, &[item("a,\"b\".png", v)], true)?;
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "path,log_prob,bits_per_dim,complexity_bits_per_dim,complexity_corrected,typicality,ood_score,ood\n\
             \"a,\"\"b\"\".png\",-1.5,0.1,2.25,-2.15,,-2.15,true\n"
        );
        Ok(())
    }

    #[test]
    fn json_has_the_csv_columns_and_shortest_floats() -> std::io::Result<()> {
        let mut out = Vec::new();
        write_json(&mut out, &[item("x.png", None)], false)?;
        let parsed: serde_json::Value = serde_json::from_slice(&out)?;
        assert_eq!(
            parsed,
            serde_json::json!([{"path": "x.png", "log_prob": -1.5, "bits_per_dim": 0.1}])
        );
        // 0.1f32 widened to f64 would print 0.10000000149011612.
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("\"bits_per_dim\": 0.1")
        );
        Ok(())
    }
}

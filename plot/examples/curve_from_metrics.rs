//! Redraws a run's training curve from its `metrics.csv`, as `trainer fit` draws `curve.png`
//! (bits/dim against the step, train and test, 720×440), e.g. for a run whose pictures were drawn
//! by an older version:
//!
//! ```text
//! cargo run --release -p realnvp-plot --example curve_from_metrics -- \
//!     pretrained/runs/fmnist/metrics.csv pretrained/runs/fmnist/curve.png \
//!     "train (random u)" "test (u = 0.5, 2000 images)"
//! ```
//!
//! The labels are the trainer's: "train (random u)" and "test (u = 0.5, N images)" for image models
//! (N test images scored at each evaluation), "train" and "test (N examples)" for vectors.

use std::error::Error;

use realnvp_plot::{Axes, PALETTE, Series, line_plot, write_png};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [metrics, out, train_label, test_label] = &args[..] else {
        return Err("usage: curve_from_metrics METRICS.csv OUT.png TRAIN_LABEL TEST_LABEL".into());
    };
    let text = std::fs::read_to_string(metrics).map_err(|e| format!("{metrics}: {e}"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty metrics file")?
        .split(',')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or(format!("{metrics}: no column {name}"))
    };
    let (step, train, test) = (column("step")?, column("train_bpd")?, column("test_bpd")?);
    let (mut train_pts, mut test_pts) = (Vec::new(), Vec::new());
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        // An empty cell is a value the row does not have (test bits/dim between evaluations).
        let value = |c: usize| -> Result<Option<f64>, String> {
            match cells.get(c).copied().unwrap_or("") {
                "" => Ok(None),
                v => v
                    .parse()
                    .map(Some)
                    .map_err(|e| format!("{metrics}:{}: {v:?}: {e}", i + 2)),
            }
        };
        let Some(s) = value(step)? else { continue };
        if let Some(v) = value(train)? {
            train_pts.push((s, v));
        }
        if let Some(v) = value(test)? {
            test_pts.push((s, v));
        }
    }
    let img = line_plot(
        &[
            Series {
                points: &train_pts,
                colour: PALETTE[0],
                label: train_label,
            },
            Series {
                points: &test_pts,
                colour: PALETTE[1],
                label: test_label,
            },
        ],
        Axes {
            x: "step",
            y: "bits/dim",
        },
        720,
        440,
    );
    write_png(out, &image::DynamicImage::ImageRgb8(img))?;
    println!(
        "{} train and {} test points from {metrics} -> {out}",
        train_pts.len(),
        test_pts.len()
    );
    Ok(())
}

//! `runtime`: sample, score, inspect and check exported RealNVP bundles with ONNX Runtime.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use realnvp_bundle::sampling::{SCATTER_SIZE, SampleOutput};
use realnvp_runtime::{
    DataKind, Flow, LoadOptions, OodStatistic, image_io, score_format, vector_io,
};

mod args;
mod inspect;

use args::{
    CalibrateArgs, Cli, Command, Format, InterpolateArgs, ReconstructArgs, SampleArgs, ScoreArgs,
};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", realnvp_host::one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let options = LoadOptions {
        device: cli.global.device,
        threads: cli.global.threads,
        library_path: cli.global.ort_lib.clone(),
        batch_size: cli.global.batch_size,
    };
    let model = match &cli.command {
        Command::Sample(a) => &a.model,
        Command::Score(a) => &a.model,
        Command::Calibrate(a) => &a.model,
        Command::Info(a) => &a.model,
        Command::Check(a) => &a.model,
        Command::Triton(a) => &a.model,
        Command::Reconstruct(a) => &a.model,
        Command::Interpolate(a) => &a.model,
    };
    let flow = Flow::load(model, &options)
        .with_context(|| format!("loading bundle {}", model.display()))?;
    match cli.command {
        Command::Sample(a) => sample(&flow, a),
        Command::Score(a) => score(&flow, a),
        Command::Calibrate(a) => calibrate(&flow, a),
        Command::Info(_) => inspect::info(&flow),
        Command::Check(a) => inspect::check(&flow, a),
        Command::Triton(a) => inspect::triton(&flow, a),
        Command::Reconstruct(a) => reconstruct(&flow, a),
        Command::Interpolate(a) => interpolate(&flow, a),
    }
}

/// Every image in `paths` (directories expanded), as one batch; any unreadable file is an error.
fn load_images(flow: &Flow, paths: &[PathBuf]) -> Result<(Vec<f32>, usize)> {
    flow.require_kind(DataKind::Image, "reading images")?;
    let batch = flow.read_all_inputs(paths)?;
    let n = batch.len();
    Ok((batch.values, n))
}

fn reconstruct(flow: &Flow, a: ReconstructArgs) -> Result<ExitCode> {
    let (x, n) = load_images(flow, &a.paths)?;
    let back = flow.decode(&flow.encode(&x, n)?.z, n)?;
    let err = x
        .iter()
        .zip(&back)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    let both = [x, back].concat();
    image_io::write_grid_png(&a.out, &both, 2 * n, flow.data_shape(), Some(n), a.scale)?;
    println!(
        "reconstructed {n} images: largest difference {err:.3e} pixel units; wrote {}",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn interpolate(flow: &Flow, a: InterpolateArgs) -> Result<ExitCode> {
    if !a.images.len().is_multiple_of(2) {
        bail!(
            "give pairs of images (A B [C D ...]); got {} files",
            a.images.len()
        );
    }
    let (x, n) = load_images(flow, &a.images)?;
    let per_item = flow.latent_dim();
    let mut rows = Vec::with_capacity(n / 2 * a.steps * per_item);
    for pair in x.chunks(2 * per_item) {
        let (from, to) = pair.split_at(per_item);
        rows.extend(flow.interpolate(from, to, a.steps)?);
    }
    let items = n / 2 * a.steps;
    image_io::write_grid_png(
        &a.out,
        &rows,
        items,
        flow.data_shape(),
        Some(a.steps),
        a.scale,
    )?;
    println!(
        "wrote {} interpolation row(s) of {} to {}",
        n / 2,
        a.steps,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Where `runtime sample` writes: one PNG per sample into a folder, or one file of the kind its extension names.
enum Destination {
    Folder(PathBuf),
    File(PathBuf, SampleOutput),
}

fn sample(flow: &Flow, a: SampleArgs) -> Result<ExitCode> {
    let shape = flow.data_shape();
    // Decided, and a bad destination refused, before any sampling.
    let destination = match (flow.data_kind(), a.out, a.out_dir) {
        (DataKind::Image, _, Some(dir)) => Destination::Folder(dir),
        (kind, Some(out), None) => {
            let output = SampleOutput::for_path(&out, kind).map_err(|e| anyhow!("--out {e}"))?;
            Destination::File(out, output)
        }
        (DataKind::Vector, _, Some(_)) => {
            bail!("--out-dir is for image models; use --out x.csv or --out x.png")
        }
        (_, None, None) => bail!("pass --out FILE or --out-dir DIR"),
    };
    let x = flow.sample(a.n, a.temperature, a.seed)?;
    match destination {
        Destination::Folder(dir) => {
            for (i, img) in image_io::to_images(&x, a.n, shape)?.iter().enumerate() {
                image_io::write_png(dir.join(format!("sample_{i:04}.png")), img)?;
            }
            eprintln!("wrote {} PNGs to {}", a.n, dir.display());
        }
        Destination::File(out, output) => {
            let what = match output {
                SampleOutput::Grid => {
                    image_io::write_grid_png(&out, &x, a.n, shape, None, a.scale)?;
                    "a grid of "
                }
                SampleOutput::Csv => {
                    vector_io::write_csv(&out, &x, shape.numel())?;
                    ""
                }
                SampleOutput::Scatter => {
                    vector_io::write_scatter_png(&out, &x, shape.numel(), SCATTER_SIZE)?;
                    "a scatter plot of "
                }
            };
            eprintln!("wrote {what}{} samples to {}", a.n, out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn score(flow: &Flow, a: ScoreArgs) -> Result<ExitCode> {
    let calibration = if a.ood {
        let path = a
            .calibration
            .clone()
            .unwrap_or_else(|| flow.default_calibration_path());
        Some(flow.load_calibration(&path)?)
    } else {
        if let Some(path) = &a.calibration {
            bail!(
                "--calibration {} is only used with --ood; add --ood",
                path.display()
            );
        }
        None
    };
    let (rows, failures) = flow.score_inputs(&a.paths, calibration.as_ref());
    let mut stdout = std::io::stdout().lock();
    let ood = calibration.is_some();
    match a.format {
        Format::Csv => score_format::write_csv(&mut stdout, &rows, ood)?,
        Format::Json => score_format::write_json(&mut stdout, &rows, ood)?,
    }
    stdout.flush()?;

    for f in &failures {
        eprintln!("unreadable input: {f}");
    }
    let mean = rows
        .iter()
        .map(|r| f64::from(r.scores.bits_per_dim))
        .sum::<f64>()
        / rows.len().max(1) as f64;
    if rows.is_empty() {
        eprintln!("scored 0 items; {} unreadable", failures.len());
    } else {
        eprintln!(
            "scored {} items, mean {mean:.4} bits/dim; {} unreadable",
            rows.len(),
            failures.len()
        );
    }
    if let Some(c) = &calibration {
        let flagged = rows
            .iter()
            .filter(|r| r.verdict.is_some_and(|v| v.ood))
            .count();
        eprintln!(
            "flagged {flagged} of {} items as out of distribution ({} > {:.4}, calibrated on {} items at a {}% \
             false-positive rate)",
            rows.len(),
            c.statistic,
            c.threshold,
            c.items,
            c.false_positive_rate * 100.0
        );
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn calibrate(flow: &Flow, a: CalibrateArgs) -> Result<ExitCode> {
    let statistic = match a.statistic {
        Some(name) => OodStatistic::parse(&name).with_context(|| {
            format!(
                "--statistic {name}: use one of {}",
                OodStatistic::ALL.map(OodStatistic::as_str).join(", ")
            )
        })?,
        None if flow.data_kind() == DataKind::Image => OodStatistic::ComplexityCorrected,
        None => OodStatistic::Typicality,
    };
    flow.check_statistic(statistic)?;
    let batch = flow
        .read_all_inputs(&a.paths)
        .context("calibration uses every item given, so nothing was written")?;
    let n = batch.len();
    let calibration = flow.calibrate(&batch.values, n, statistic, a.false_positive_rate)?;
    let out = a.out.unwrap_or_else(|| flow.default_calibration_path());
    calibration
        .write(&out)
        .context("writing the calibration; --out FILE keeps it outside the bundle")?;
    println!(
        "calibrated {} on {n} in-distribution items: threshold {:.4} flags {:.2}% of them (asked for at most {}%)",
        calibration.statistic,
        calibration.threshold,
        calibration.fitted_rate * 100.0,
        calibration.false_positive_rate * 100.0
    );
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

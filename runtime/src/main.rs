//! `runtime`: sample, score, inspect and check exported RealNVP bundles with ONNX Runtime.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use realnvp_runtime::{
    Batch, DataKind, Device, Flow, Inputs, LoadOptions, OodStatistic, image_io, ood, score_format,
    vector_io,
};

#[derive(Parser)]
#[command(
    name = "runtime",
    version,
    about = "Score and sample exported RealNVP flows with ONNX Runtime"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Where to run: auto (CUDA if built with it and usable, else CPU), cpu, cuda or cuda:N.
    #[arg(long, global = true, default_value = "auto")]
    device: Device,
    /// ONNX Runtime intra-op threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Path to libonnxruntime.so (default: $ORT_DYLIB_PATH, then the system loader's search for libonnxruntime.so).
    #[arg(long, global = true)]
    ort_lib: Option<PathBuf>,
    /// Items per ONNX Runtime call.
    #[arg(long, global = true, default_value_t = 256)]
    batch_size: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Draw samples: a PNG grid, one PNG per sample, or (vector models) CSV / scatter PNG.
    Sample(SampleArgs),
    /// Score images, image folders or CSV files: per-item log_prob (nats) and bits/dim.
    Score(ScoreArgs),
    /// Fit the out-of-distribution threshold of `score --ood` on held-out in-distribution items, at a chosen
    /// false-positive rate; writes calibration.json into the bundle.
    Calibrate(CalibrateArgs),
    /// Print the bundle's metadata, shapes, execution provider and export errors.
    Info(InfoArgs),
    /// Round trips on fresh samples (x → z → x) and their latents (z → x → z); fails above the tolerance.
    Check(CheckArgs),
    /// Encode images and decode them again: a PNG grid with the originals in the first row and their
    /// reconstructions below; prints the largest pixel difference.
    Reconstruct(ReconstructArgs),
    /// Walk the latent space between pairs of images: a PNG with one row per pair, from the first
    /// image of the pair (left) to the second (right).
    Interpolate(InterpolateArgs),
}

#[derive(Args)]
struct ReconstructArgs {
    /// Bundle directory (an image model).
    #[arg(long)]
    model: PathBuf,
    /// Image files or directories of images (PNG/JPEG).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    /// Enlarge the grid this many times (1 to 16).
    #[arg(long, default_value_t = image_io::DEFAULT_GRID_SCALE)]
    scale: u32,
}

#[derive(Args)]
struct InterpolateArgs {
    /// Bundle directory (an image model).
    #[arg(long)]
    model: PathBuf,
    /// Pairs of image files: A B [C D ...]; each pair becomes one row, A → B.
    #[arg(required = true, num_args = 2..)]
    images: Vec<PathBuf>,
    /// Points per row, both ends included.
    #[arg(long, default_value_t = 8)]
    steps: usize,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    /// Enlarge the grid this many times (1 to 16).
    #[arg(long, default_value_t = image_io::DEFAULT_GRID_SCALE)]
    scale: u32,
}

#[derive(Args)]
struct SampleArgs {
    /// Bundle directory (forward.onnx, inverse.onnx, model.json).
    #[arg(long)]
    model: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Latent standard deviation; 1.0 samples the model as trained, lower gives cleaner samples.
    #[arg(long, default_value_t = 0.7, allow_negative_numbers = true)]
    temperature: f32,
    /// Random seed; the same seed gives the same samples.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file: .png (grid for images, scatter for vectors) or .csv (vector models).
    #[arg(long, required_unless_present = "out_dir", conflicts_with = "out_dir")]
    out: Option<PathBuf>,
    /// Write one PNG per sample (image models) into this directory.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Enlarge the grid this many times (each pixel a block), 1 to 16; 3 shows a 28×28 tile at
    /// 84 pixels. Files written with --out-dir keep the model's size.
    #[arg(long, default_value_t = image_io::DEFAULT_GRID_SCALE)]
    scale: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
}

#[derive(Args)]
struct ScoreArgs {
    /// Bundle directory.
    #[arg(long)]
    model: PathBuf,
    /// Image files, directories of images (PNG/JPEG, not recursive) or CSV files (vector models; each row is
    /// reported as PATH:ROW, ROW counting data rows from 1).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Also print the out-of-distribution scores (complexity, complexity-corrected, typicality) and flag each
    /// item against the bundle's calibration (`runtime calibrate`).
    #[arg(long)]
    ood: bool,
    /// The calibration file for --ood (default: calibration.json in the bundle).
    #[arg(long)]
    calibration: Option<PathBuf>,
}

#[derive(Args)]
struct CalibrateArgs {
    /// Bundle directory.
    #[arg(long)]
    model: PathBuf,
    /// In-distribution items only, held out from training: image files, directories of images or CSV files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Share of in-distribution items that `score --ood` may flag, in (0, 1).
    #[arg(long, default_value_t = ood::DEFAULT_FALSE_POSITIVE_RATE)]
    false_positive_rate: f64,
    /// complexity_corrected (default for images), typicality (default for vectors) or bits_per_dim.
    #[arg(long)]
    statistic: Option<String>,
    /// Where to write the calibration (default: calibration.json in the bundle).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct InfoArgs {
    /// Bundle directory.
    #[arg(long)]
    model: PathBuf,
}

#[derive(Args)]
struct CheckArgs {
    /// Bundle directory.
    #[arg(long)]
    model: PathBuf,
    /// Number of fresh samples.
    #[arg(long, default_value_t = 16)]
    n: usize,
    /// Largest allowed relative error, max|a - b| / max(1, max|a|).
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    tolerance: f32,
    /// Sampling temperature of the fresh samples.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f32,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

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
            eprintln!("error: {}", realnvp_bundle::one_line(e.as_ref()));
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
        Command::Reconstruct(a) => &a.model,
        Command::Interpolate(a) => &a.model,
    };
    let flow = Flow::load(model, &options)
        .with_context(|| format!("loading bundle {}", model.display()))?;
    match cli.command {
        Command::Sample(a) => sample(&flow, a),
        Command::Score(a) => score(&flow, a),
        Command::Calibrate(a) => calibrate(&flow, a),
        Command::Info(_) => info(&flow),
        Command::Check(a) => check(&flow, a),
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

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn sample(flow: &Flow, a: SampleArgs) -> Result<ExitCode> {
    let x = flow.sample(a.n, a.temperature, a.seed)?;
    let shape = flow.data_shape();
    match (flow.data_kind(), a.out, a.out_dir) {
        (DataKind::Image, _, Some(dir)) => {
            for (i, img) in image_io::to_images(&x, a.n, shape)?.iter().enumerate() {
                image_io::write_png(dir.join(format!("sample_{i:04}.png")), img)?;
            }
            eprintln!("wrote {} PNGs to {}", a.n, dir.display());
        }
        (DataKind::Image, Some(out), None) => {
            if extension(&out) != "png" {
                bail!(
                    "--out {} must end in .png for an image model",
                    out.display()
                );
            }
            image_io::write_grid_png(&out, &x, a.n, shape, None, a.scale)?;
            eprintln!("wrote a grid of {} samples to {}", a.n, out.display());
        }
        (DataKind::Vector, Some(out), None) => {
            match extension(&out).as_str() {
                "csv" => vector_io::write_csv(&out, &x, shape.numel())?,
                "png" => vector_io::write_scatter_png(&out, &x, shape.numel(), 512)?,
                _ => bail!(
                    "--out {} must end in .csv or .png for a vector model",
                    out.display()
                ),
            }
            eprintln!("wrote {} samples to {}", a.n, out.display());
        }
        (DataKind::Vector, _, Some(_)) => {
            bail!("--out-dir is for image models; use --out x.csv or --out x.png")
        }
        (_, None, None) => bail!("pass --out FILE or --out-dir DIR"),
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
    let Inputs { batches, failures } = flow.read_inputs(&a.paths);
    if let Some(first) = failures.first() {
        bail!(
            "{first} ({} unreadable inputs); calibration uses every item given, so nothing was written",
            failures.len()
        );
    }
    let x: Vec<f32> = batches
        .iter()
        .flat_map(|b| b.values.iter().copied())
        .collect();
    let n = batches.iter().map(Batch::len).sum();
    let calibration = flow.calibrate(&x, n, statistic, a.false_positive_rate)?;
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

fn info(flow: &Flow) -> Result<ExitCode> {
    let m = flow.metadata();
    println!("bundle:          {}", flow.dir().display());
    println!("format version:  {}", m.format_version);
    println!("pair id:         {}", m.pair_id);
    println!("data:            {}", m.data_shape);
    println!("latent dim:      {}", m.latent_dim());
    println!(
        "forward.onnx:    x [N, {}] -> z [N, {}], log_prob [N], bits_per_dim [N]",
        dims(&m.data_shape.dims()),
        m.latent_dim()
    );
    println!(
        "inverse.onnx:    z [N, {}] -> x [N, {}]",
        m.latent_dim(),
        dims(&m.data_shape.dims())
    );
    println!("opset:           {}", m.opset);
    println!("preprocessing:   {}", m.preprocessing);
    println!("training:        {}", m.training);
    println!("export errors:   {}", m.export_errors);
    println!("model layout:    {}", m.model_layout());
    match flow.test_scores()? {
        Some(s) => println!(
            "test bits/dim:   mean {:.4}, std {:.4} over {} examples (u = 0.5; the typicality reference)",
            s.mean, s.std, s.count
        ),
        None => {
            println!("test bits/dim:   not recorded (no typicality score; re-export to add it)")
        }
    }
    let calibration_path = flow.default_calibration_path();
    if calibration_path.exists() {
        match flow.load_calibration(&calibration_path) {
            Ok(c) => println!(
                "ood calibration: {} > {:.4} flags at most {}% (fitted on {} items)",
                c.statistic,
                c.threshold,
                c.false_positive_rate * 100.0,
                c.items
            ),
            Err(e) => println!("ood calibration: unusable: {e}"),
        }
    } else {
        println!("ood calibration: none (runtime calibrate)");
    }
    println!("config:          {}", m.config);
    println!("provider:        {}", flow.provider());
    println!("onnxruntime lib: {}", flow.library_path().display());
    Ok(ExitCode::SUCCESS)
}

fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check(flow: &Flow, a: CheckArgs) -> Result<ExitCode> {
    if !(a.tolerance.is_finite() && a.tolerance > 0.0) {
        bail!("--tolerance must be a positive number, got {}", a.tolerance);
    }
    let r = flow.round_trip(a.n, a.temperature, a.seed)?;
    for (label, d) in [("x -> z -> x", r.x), ("z -> x -> z", r.z)] {
        println!(
            "{label}: max abs error {:.3e}, relative {:.3e}",
            d.max_abs, d.relative
        );
    }
    if !r.within(a.tolerance) {
        eprintln!(
            "FAIL: relative round-trip error above tolerance {:.1e} ({} samples)",
            a.tolerance, a.n
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "ok: within tolerance {:.1e} ({} samples on {})",
        a.tolerance,
        a.n,
        flow.provider()
    );
    Ok(ExitCode::SUCCESS)
}

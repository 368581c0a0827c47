//! The command line's flags: clap definitions only (what they do is in `realnvp-runtime`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use realnvp_runtime::{Device, image_io, ood, triton};

#[derive(Parser)]
#[command(
    name = "runtime",
    version,
    about = "Score and sample exported RealNVP flows with ONNX Runtime"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Args)]
pub(crate) struct Global {
    /// Where to run: auto (CUDA if built with it and usable, else CPU), cpu, cuda or cuda:N.
    #[arg(long, global = true, default_value = "auto")]
    pub(crate) device: Device,
    /// ONNX Runtime intra-op threads (default: one per core).
    #[arg(long, global = true)]
    pub(crate) threads: Option<usize>,
    /// Path to libonnxruntime.so (default: $ORT_DYLIB_PATH, then the system loader's search for libonnxruntime.so).
    #[arg(long, global = true)]
    pub(crate) ort_lib: Option<PathBuf>,
    /// Items per ONNX Runtime call.
    #[arg(long, global = true, default_value_t = realnvp_runtime::DEFAULT_BATCH_SIZE)]
    pub(crate) batch_size: usize,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Write a Triton Inference Server model repository for the bundle (NAME_forward, NAME_inverse), with
    /// config.pbtxt and configs/{cpu,gpu}.pbtxt for the ONNX Runtime backend (docs/scale-out.md).
    Triton(TritonArgs),
    /// Encode images and decode them again: a PNG grid with the originals in the first row and their
    /// reconstructions below; prints the largest pixel difference.
    Reconstruct(ReconstructArgs),
    /// Walk the latent space between pairs of images: a PNG with one row per pair, from the first
    /// image of the pair (left) to the second (right).
    Interpolate(InterpolateArgs),
}

#[derive(Args)]
pub(crate) struct ReconstructArgs {
    /// Bundle directory (an image model).
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Image files or directories of images (PNG/JPEG).
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Output PNG.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Enlarge the grid this many times (1 to 16).
    #[arg(long, default_value_t = image_io::DEFAULT_GRID_SCALE)]
    pub(crate) scale: u32,
}

#[derive(Args)]
pub(crate) struct InterpolateArgs {
    /// Bundle directory (an image model).
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Pairs of image files: A B [C D ...]; each pair becomes one row, A → B.
    #[arg(required = true, num_args = 2..)]
    pub(crate) images: Vec<PathBuf>,
    /// Points per row, both ends included.
    #[arg(long, default_value_t = 8)]
    pub(crate) steps: usize,
    /// Output PNG.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Enlarge the grid this many times (1 to 16).
    #[arg(long, default_value_t = image_io::DEFAULT_GRID_SCALE)]
    pub(crate) scale: u32,
}

#[derive(Args)]
pub(crate) struct SampleArgs {
    /// Bundle directory (forward.onnx, inverse.onnx, model.json).
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 64)]
    pub(crate) n: usize,
    /// Latent standard deviation; 1.0 samples the model as trained, lower gives cleaner samples.
    #[arg(long, default_value_t = 0.7, allow_negative_numbers = true)]
    pub(crate) temperature: f32,
    /// Random seed; the same seed gives the same samples.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Output file: .png (grid for images, scatter for vectors) or .csv (vector models).
    #[arg(long, required_unless_present = "out_dir", conflicts_with = "out_dir")]
    pub(crate) out: Option<PathBuf>,
    /// Write one PNG per sample (image models) into this directory.
    #[arg(long)]
    pub(crate) out_dir: Option<PathBuf>,
    /// Enlarge the grid this many times (each pixel a block), 1 to 16; 3 shows a 28×28 tile at
    /// 84 pixels. Files written with --out-dir keep the model's size.
    #[arg(long, default_value_t = image_io::DEFAULT_GRID_SCALE)]
    pub(crate) scale: u32,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Csv,
    Json,
}

#[derive(Args)]
pub(crate) struct ScoreArgs {
    /// Bundle directory.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Image files, directories of images (PNG/JPEG, searched recursively, names starting with `.` skipped) or
    /// CSV files (vector models; each row is reported as PATH:ROW, ROW counting data rows from 1).
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "csv")]
    pub(crate) format: Format,
    /// Also print the out-of-distribution scores (complexity, complexity-corrected, typicality) and flag each
    /// item against the bundle's calibration (`runtime calibrate`).
    #[arg(long)]
    pub(crate) ood: bool,
    /// The calibration file for --ood (default: calibration.json in the bundle).
    #[arg(long)]
    pub(crate) calibration: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct CalibrateArgs {
    /// Bundle directory.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// In-distribution items only, held out from training: image files, directories of images or CSV files.
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Share of in-distribution items that `score --ood` may flag, in (0, 1).
    #[arg(long, default_value_t = ood::DEFAULT_FALSE_POSITIVE_RATE)]
    pub(crate) false_positive_rate: f64,
    /// complexity_corrected (default for images), typicality (default for vectors) or bits_per_dim.
    #[arg(long)]
    pub(crate) statistic: Option<String>,
    /// Where to write the calibration (default: calibration.json in the bundle).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct InfoArgs {
    /// Bundle directory.
    #[arg(long)]
    pub(crate) model: PathBuf,
}

#[derive(Args)]
pub(crate) struct CheckArgs {
    /// Bundle directory.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Number of fresh samples.
    #[arg(long, default_value_t = 16)]
    pub(crate) n: usize,
    /// Largest allowed relative error, max|a - b| / max(1, max|a|).
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub(crate) tolerance: f32,
    /// Sampling temperature of the fresh samples.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub(crate) temperature: f32,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum InstanceKindArg {
    Cpu,
    Gpu,
}

#[derive(Args)]
pub(crate) struct TritonArgs {
    /// Bundle directory.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// The model repository to write into (created; the two model folders in it are replaced).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Model name prefix: the models are NAME_forward and NAME_inverse.
    #[arg(long, default_value_t = triton::TritonOptions::default().name)]
    pub(crate) name: String,
    /// Triton's max_batch_size: the most items one (dynamically batched) request may hold.
    #[arg(long, default_value_t = triton::TritonOptions::default().max_batch_size)]
    pub(crate) max_batch_size: usize,
    /// Instances per group (per GPU for gpu).
    #[arg(long, default_value_t = triton::TritonOptions::default().instances)]
    pub(crate) instances: usize,
    /// The instance group of config.pbtxt (the other is in configs/, chosen with --model-config-name).
    #[arg(long, value_enum, default_value = "gpu")]
    pub(crate) default_kind: InstanceKindArg,
}

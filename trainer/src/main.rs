//! `trainer`: fit, evaluate and sample RealNVP flows.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use realnvp_models::{FlowConfig, PRESETS};
use realnvp_trainer::checkpoint::CHECKPOINT_FILE;
use realnvp_trainer::data::{DataShape, EvalNoise, Split};
use realnvp_trainer::device::DeviceRequest;
use realnvp_trainer::eval::{self, Score};
use realnvp_trainer::export::{ExportStage, Tolerances, TrainingSummary, export_bundle};
use realnvp_trainer::optim::LrDecay;
use realnvp_trainer::run::{self, FitOptions};
use realnvp_trainer::train::{self, Observer, StepReport};
use realnvp_trainer::{device, metrics, sample};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Parser)]
#[command(
    name = "trainer",
    version,
    about = "Train, evaluate and sample RealNVP normalizing flows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a flow; writes a run directory (see docs/training.md).
    Fit(Box<FitArgs>),
    /// Test NLL of a trained run (u = 0.5, or K-sample importance-weighted with --samples K).
    Eval(EvalArgs),
    /// Draw samples from a trained run into a PNG grid (images), scatter plot or CSV (vectors).
    Sample(SampleArgs),
    /// Export a run as an ONNX bundle: forward.onnx (scoring), inverse.onnx (sampling), model.json.
    Export(ExportArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// Run directory written by `trainer fit`.
    #[arg(long)]
    run: PathBuf,
    /// Bundle directory to write (created; an existing bundle there is replaced atomically).
    #[arg(long)]
    out: PathBuf,
    /// Test examples (u = 0.5) on which the graphs are checked against the candle model.
    #[arg(long, default_value_t = 32)]
    verify_examples: usize,
    /// Test examples whose bits/dim statistics (u = 0.5) the bundle records for the runtime's typicality score
    /// (default: the whole test split; 0 records none).
    #[arg(long)]
    score_examples: Option<usize>,
    /// Largest accepted |z_onnx - z_candle|.
    #[arg(long, default_value_t = Tolerances::default().z_max_abs)]
    tolerance_z: f64,
    /// Largest accepted relative log_prob difference.
    #[arg(long, default_value_t = Tolerances::default().log_prob_max_rel)]
    tolerance_log_prob: f64,
    /// Largest accepted inverse(forward(x)) - x, in data units (pixels).
    #[arg(long, default_value_t = Tolerances::default().roundtrip_max_abs)]
    tolerance_roundtrip: f64,
}

#[derive(Args)]
struct FitArgs {
    /// Built-in model config.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(PRESETS), conflicts_with = "config")]
    preset: Option<String>,
    /// Model config JSON file (as written to RUN_DIR/config.json).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data source (`trainer fit --data help` lists the forms). Default: embedded.
    #[arg(long)]
    data: Option<String>,
    /// Run directory (required, except with `--data help`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Total training steps (batches) [default: 1000].
    #[arg(long, conflicts_with = "epochs")]
    steps: Option<u64>,
    /// Total training epochs (converted to steps: epochs × floor(train examples / batch size)).
    #[arg(long)]
    epochs: Option<u64>,
    /// Examples per batch [default: 64].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate [default: 1e-3].
    #[arg(long)]
    lr: Option<f64>,
    /// Steps over which the learning rate rises linearly to --lr [default: 0].
    #[arg(long)]
    warmup_steps: Option<u64>,
    /// The learning rate after the warm-up: constant, cosine (down to 0 at the run's last
    /// step, kept when later sessions change --steps) or cosine:STEP [default: constant].
    #[arg(long)]
    lr_decay: Option<LrDecay>,
    /// Evaluate, sample and export with a moving average of the weights with this decay
    /// (e.g. 0.999) [default: none].
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Seed for weights, batch order, noise, flips and toy data [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Score the test split every N steps [default: 250].
    #[arg(long)]
    eval_every: Option<u64>,
    /// Write samples/step-N.png every N steps; 0 = only at the end [default: 250].
    #[arg(long)]
    sample_every: Option<u64>,
    /// Write the checkpoint every N steps [default: 250].
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Append a metrics.csv row every N steps [default: 25].
    #[arg(long)]
    log_every: Option<u64>,
    /// Test examples scored at each evaluation, 0 = all [default: 1000].
    #[arg(long)]
    eval_examples: Option<usize>,
    /// Clip gradients to this global L2 norm.
    #[arg(long)]
    clip_grad: Option<f64>,
    /// Mirror training images left-right at random.
    #[arg(long)]
    flip: bool,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceRequest,
    /// Stop this session after the step that reaches this many seconds of training, then
    /// evaluate, sample and checkpoint as at the end (continue later with --resume).
    #[arg(long, value_name = "SECONDS")]
    time_limit: Option<f64>,
    /// Continue the run in --out from its checkpoint (starts a new run if there is none).
    #[arg(long)]
    resume: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// Run directory written by `trainer fit`.
    #[arg(long)]
    run: PathBuf,
    /// Data source; default: the run's (toy data is drawn with the run's seed).
    #[arg(long)]
    data: Option<String>,
    /// K-sample importance-weighted estimate with random dequantization noise (images).
    #[arg(long)]
    samples: Option<usize>,
    /// Seed of the dequantization noise for --samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Score only the first N test examples.
    #[arg(long)]
    limit: Option<usize>,
    /// Evaluation batch size.
    #[arg(long, default_value_t = 250)]
    batch_size: usize,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceRequest,
    /// Also write the figures to RUN/eval.json, which `trainer export` records in the bundle.
    #[arg(long)]
    save: bool,
}

#[derive(Args)]
struct SampleArgs {
    /// Run directory written by `trainer fit`.
    #[arg(long)]
    run: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Standard deviation of the latent (1 = the model's distribution; < 1 sharper samples).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f64,
    /// Seed of the latent draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output: .png (image grid, or scatter of the first two features) or .csv (vectors).
    #[arg(long)]
    out: PathBuf,
    /// Pixel enlargement of image grids.
    #[arg(long, default_value_t = 2)]
    scale: u32,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceRequest,
}

/// Sends log lines around the progress bar so they do not tear it.
#[derive(Clone)]
struct BarWriter(ProgressBar);

struct BarLine {
    bar: ProgressBar,
    buf: Vec<u8>,
}

impl Write for BarLine {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.bar.suspend(|| std::io::stderr().write_all(&buf))?;
        }
        Ok(())
    }
}

impl Drop for BarLine {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<'a> MakeWriter<'a> for BarWriter {
    type Writer = BarLine;
    fn make_writer(&'a self) -> BarLine {
        BarLine {
            bar: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

struct Progress {
    bar: ProgressBar,
    started: std::time::Instant,
    start_step: u64,
}

impl Observer for Progress {
    fn stop_requested(&self) -> bool {
        STOP.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn on_start(&mut self, step: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(step);
        self.start_step = step;
        self.bar.reset_eta();
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    fn on_step(&mut self, r: &StepReport) {
        self.bar.set_position(r.step);
        let rate = if r.examples_per_s > 0.0 {
            format!("{:.0} ex/s", r.examples_per_s)
        } else {
            let done = (r.step - self.start_step) as f64;
            format!(
                "~{:.0} steps/s",
                done / self.started.elapsed().as_secs_f64().max(1e-9)
            )
        };
        self.bar.set_message(format!(
            "epoch {} loss {:.4} bpd {:.4} {rate}{}",
            r.epoch,
            r.loss,
            r.bits_per_dim,
            if r.skipped { " (skipped)" } else { "" }
        ));
    }
    fn on_eval(&mut self, step: u64, s: &Score) {
        self.bar.println(format!(
            "step {step}: test {:.4} bits/dim (u = 0.5), {:.4} nats/example",
            s.bits_per_dim, s.nll_nats
        ));
    }
}

/// Set by the first Ctrl-C (SIGINT): training stops after the current step with a checkpoint.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The exit status of a run stopped by SIGINT (128 + 2, what shells report for Ctrl-C).
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> std::process::ExitCode {
    // The first Ctrl-C asks for a clean stop; a second one exits at once.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, std::sync::atomic::Ordering::Relaxed) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    });
    match run_cli() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", realnvp_bundle::one_line(e.as_ref()));
            let interrupted = matches!(
                e.downcast_ref::<realnvp_trainer::TrainError>(),
                Some(realnvp_trainer::TrainError::Interrupted { .. })
            );
            std::process::ExitCode::from(if interrupted { EXIT_INTERRUPTED } else { 1 })
        }
    }
}

fn run_cli() -> Result<()> {
    // candle's element-wise workers do not spin on the cores the convolutions use.
    // SAFETY: first thing in main, before any other thread starts.
    unsafe { realnvp_models::limit_candle_spinning() };
    // Freed activations stay in the heap: fewer page faults per training step.
    realnvp_models::keep_freed_memory();
    // REALNVP_CONV=direct: the 3×3 convolutions without Winograd's algorithm (docs/training.md).
    realnvp_models::conv_algorithm_from_env().context(realnvp_models::CONV_ALGORITHM_VAR)?;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(BarWriter(bar.clone()))
        .with_target(false)
        .init();
    match Cli::parse().command {
        Command::Fit(a) => fit(*a, bar),
        Command::Eval(a) => eval_cmd(a),
        Command::Sample(a) => sample_cmd(a),
        Command::Export(a) => export_cmd(a),
    }
}

/// Examples per forward pass when export scores the test split.
const STATS_BATCH: usize = 256;

fn export_cmd(a: ExportArgs) -> Result<()> {
    // Export verifies on CPU in f32 whatever device trained the model, so the check measures the
    // graphs the way ONNX Runtime on CPU will run them.
    let device = candle_core::Device::Cpu;
    let loaded = run::load_run(&a.run, &device)?;
    let data = run::load_data(
        &loaded.options.data,
        loaded.model.config(),
        loaded.options.seed,
    )?;
    let n = a.verify_examples.clamp(1, data.len_test().max(1));
    let batch = data.eval_batch(Split::Test, 0, n, EvalNoise::Midpoint, &device)?;
    let last_test_bpd = metrics::read(&a.run.join(run::METRICS_FILE))
        .ok()
        .and_then(|rows| rows.iter().rev().find_map(|r| r.test_bpd));
    let evaluation = saved_evaluation(&a.run, loaded.state.step);
    let test_scores = match a.score_examples {
        Some(0) => None,
        limit => eval::bits_per_dim_stats(
            &loaded.model,
            &data,
            Split::Test,
            STATS_BATCH,
            limit,
            &device,
        )?,
    };
    let summary = TrainingSummary {
        dataset: loaded.options.data.clone(),
        epochs: loaded.state.epoch as usize,
        steps: loaded.state.step as usize,
        test_bits_per_dim: last_test_bpd,
        wall_time_s: Some(loaded.state.wall_time_s),
        command: Some(loaded.options.command_line(&a.run)),
        machine: Some(machine()),
        evaluation,
        test_scores,
    };
    let tolerance = Tolerances {
        z_max_abs: a.tolerance_z,
        log_prob_max_rel: a.tolerance_log_prob,
        roundtrip_max_abs: a.tolerance_roundtrip,
    };
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = export_bundle(
        &loaded.model,
        &batch,
        &summary,
        &a.out,
        &tolerance,
        &|stage| {
            spinner.set_message(match stage {
                ExportStage::Emit => "emitting the forward and inverse graphs",
                ExportStage::Verify => "checking the graphs against the candle model (candle-onnx)",
                ExportStage::Write => "writing the bundle",
            })
        },
    )?;
    spinner.finish_and_clear();
    println!(
        "wrote {} (pair id {})",
        report.dir.display(),
        report.pair_id
    );
    println!(
        "  {}; opset {}",
        realnvp_bundle::BUNDLE_FILES.join(", "),
        realnvp_bundle::OPSET
    );
    println!(
        "  verified on {} test examples: {}",
        report.errors.batch, report.errors
    );
    if let Some(t) = &test_scores {
        println!(
            "  test bits/dim (u = 0.5) over {} examples: mean {:.4}, std {:.4} (the runtime's typicality reference)",
            t.count, t.mean, t.std
        );
    }
    Ok(())
}

/// `RUN/eval.json` when it scores the checkpoint at `step`; otherwise `None`, saying why.
fn saved_evaluation(run_dir: &Path, step: u64) -> Option<serde_json::Value> {
    let path = run_dir.join(run::EVAL_FILE);
    let value: serde_json::Value = run::read_json(&path).ok()?;
    if value.get("step").and_then(serde_json::Value::as_u64) == Some(step) {
        Some(value)
    } else {
        tracing::warn!(
            "{} scores another step than the checkpoint's {step}: not recorded; run `trainer eval --save` again",
            path.display()
        );
        None
    }
}

/// The CPU model and the threads this process may use, e.g. "AMD EPYC 9B14, 2 threads".
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {threads} threads")
}

fn fit(a: FitArgs, bar: ProgressBar) -> Result<()> {
    if a.data.as_deref() == Some("help") {
        println!("{}", realnvp_trainer::data::ACCEPTED_FORMS);
        return Ok(());
    }
    let Some(out) = a.out.clone() else {
        bail!(
            "--out RUN_DIR is required: the run directory to write (or to continue with --resume)"
        );
    };
    let device = device::open(a.device)?;
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg} ETA {eta}")?
            .progress_chars("=> "),
    );
    let mut progress = Progress {
        bar: bar.clone(),
        started: std::time::Instant::now(),
        start_step: 0,
    };
    let resuming = a.resume && out.join(CHECKPOINT_FILE).exists();
    let report = if resuming {
        let run_file = out.join(run::RUN_FILE);
        let mut options: FitOptions = run::read_json(&run_file)?;
        let config = FlowConfig::from_file(&out.join(run::CONFIG_FILE))?;
        refuse_changes(&a, &out, &options, &config)?;
        apply_schedule(&a, &mut options, &config)?;
        run::write_json(&run_file, &options)?;
        train::resume_with(&out, &options, &device, &mut progress)?
    } else {
        if a.resume {
            tracing::info!("{} holds no checkpoint: starting a new run", out.display());
        }
        let (config, preset) = match (&a.preset, &a.config) {
            (Some(p), _) => (FlowConfig::preset(p)?, Some(p.clone())),
            (None, Some(f)) => (FlowConfig::from_file(f)?, None),
            (None, None) => bail!(
                "give --preset NAME ({}) or --config FILE",
                PRESETS.join(", ")
            ),
        };
        let d = FitOptions::default();
        let mut options = FitOptions {
            data: a.data.clone().unwrap_or(d.data),
            preset,
            seed: a.seed.unwrap_or(d.seed),
            batch_size: a.batch_size.unwrap_or(d.batch_size),
            lr: a.lr.unwrap_or(d.lr),
            warmup_steps: a.warmup_steps.unwrap_or(d.warmup_steps),
            lr_decay: a.lr_decay.unwrap_or(d.lr_decay),
            ema_decay: a.ema_decay,
            clip_grad: a.clip_grad,
            flip: a.flip,
            ..d
        };
        apply_schedule(&a, &mut options, &config)?;
        // `--lr-decay cosine` ends at this run's last step; the horizon is kept from here on.
        if options.lr_decay == (LrDecay::Cosine { until: 0 }) {
            options.lr_decay = LrDecay::Cosine {
                until: options.steps,
            };
        }
        train::fit(&out, &config, &options, &device, &mut progress)?
    };
    bar.finish_and_clear();
    let s = report.state;
    println!(
        "done: {} steps ({} skipped, {} rollbacks), {:.0} s; test {:.4} bits/dim (u = 0.5), {:.4} nats/example over {} examples",
        s.step,
        s.skipped_steps,
        s.rollbacks,
        s.wall_time_s,
        report.final_test.bits_per_dim,
        report.final_test.nll_nats,
        report.final_test.examples
    );
    println!("run directory: {}", out.display());
    Ok(())
}

/// On `--resume`, the options that define the run may be repeated (the same command continues the
/// run) but not changed: the first flag whose value differs from the run's is refused, naming both.
fn refuse_changes(a: &FitArgs, out: &Path, run: &FitOptions, config: &FlowConfig) -> Result<()> {
    fn differs<T: PartialEq + std::fmt::Debug>(
        name: &str,
        given: Option<T>,
        saved: T,
    ) -> Option<String> {
        given
            .filter(|g| *g != saved)
            .map(|g| format!("{name} {g:?} differs from the run's {saved:?}"))
    }
    let given_config = match (&a.preset, &a.config) {
        (Some(p), _) => Some(FlowConfig::preset(p)?),
        (None, Some(f)) => Some(FlowConfig::from_file(f)?),
        (None, None) => None,
    };
    // `--lr-decay cosine` ends at the run's last step, which is fixed when the run starts.
    let lr_decay = a.lr_decay.map(|d| match (d, run.lr_decay) {
        (LrDecay::Cosine { until: 0 }, saved @ LrDecay::Cosine { .. }) => saved,
        (d, _) => d,
    });
    let change = [
        differs(
            "--preset",
            a.preset.clone(),
            run.preset.clone().unwrap_or_default(),
        ),
        given_config
            .is_some_and(|c| c != *config)
            .then(|| "the model of --preset/--config differs from the run's config.json".into()),
        differs("--data", a.data.clone(), run.data.clone()),
        differs("--batch-size", a.batch_size, run.batch_size),
        differs("--lr", a.lr, run.lr),
        differs("--warmup-steps", a.warmup_steps, run.warmup_steps),
        differs("--lr-decay", lr_decay, run.lr_decay),
        differs("--ema-decay", a.ema_decay.map(Some), run.ema_decay),
        differs("--seed", a.seed, run.seed),
        differs("--clip-grad", a.clip_grad.map(Some), run.clip_grad),
        differs("--flip", a.flip.then_some(true), run.flip),
    ]
    .into_iter()
    .flatten()
    .next();
    match change {
        Some(what) => bail!(
            "--resume continues a run with its own options, and {what} (saved in {}); drop the flag \
             or start a new run in another --out",
            out.join(run::RUN_FILE).display()
        ),
        None => Ok(()),
    }
}

/// Applies the options that may change between sessions of a run (they do not change the
/// trajectory): steps/epochs and the intervals.
fn apply_schedule(a: &FitArgs, o: &mut FitOptions, config: &FlowConfig) -> Result<()> {
    if let Some(s) = a.steps {
        o.steps = s;
    }
    if let Some(e) = a.epochs {
        let data = run::load_data(&o.data, config, o.seed)?;
        o.steps = e * (data.len_train() / o.batch_size.max(1)) as u64;
    }
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f { o.$f = v; } )* };
    }
    set!(
        eval_every,
        sample_every,
        checkpoint_every,
        log_every,
        eval_examples
    );
    o.time_limit_s = a.time_limit;
    Ok(())
}

fn print_score(label: &str, s: &Score, image: bool) {
    if image {
        println!(
            "{label}: {:.4} nats/example, {:.4} bits/dim",
            s.nll_nats, s.bits_per_dim
        );
    } else {
        println!("{label}: {:.4} nats/example", s.nll_nats);
    }
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    let device = device::open(a.device)?;
    let loaded = run::load_run(&a.run, &device)?;
    let spec = a.data.clone().unwrap_or(loaded.options.data.clone());
    let data = run::load_data(&spec, loaded.model.config(), loaded.options.seed)?;
    let image = matches!(data.kind, DataShape::Image { .. });
    let n = a.limit.map_or(data.len_test(), |l| l.min(data.len_test()));
    println!(
        "run {} (step {}), test split of {}: {n} examples",
        a.run.display(),
        loaded.state.step,
        data.name
    );
    let s = eval::score(
        &loaded.model,
        &data,
        Split::Test,
        a.batch_size,
        a.limit,
        &device,
    )?;
    print_score(if image { "NLL (u = 0.5)" } else { "NLL" }, &s, image);
    let mut saved = serde_json::json!({
        "step": loaded.state.step,
        "data": spec,
        "examples": s.examples,
        "bits_per_dim_u_half": s.bits_per_dim,
        "nll_nats_u_half": s.nll_nats,
    });
    if let Some(k) = a.samples {
        let iw = eval::importance_weighted(
            &loaded.model,
            &data,
            Split::Test,
            k,
            a.seed,
            a.batch_size,
            a.limit,
            &device,
        )?;
        print_score(
            &format!(
                "NLL, importance-weighted K = {k} (random u, seed {})",
                a.seed
            ),
            &iw.iw,
            true,
        );
        print_score(
            "NLL, single-sample (K = 1) average of the same draws",
            &iw.single,
            true,
        );
        saved["samples"] = k.into();
        saved["noise_seed"] = a.seed.into();
        saved["bits_per_dim_random_u"] = iw.single.bits_per_dim.into();
        saved["bits_per_dim_iw"] = iw.iw.bits_per_dim.into();
    }
    if a.save {
        let path = a.run.join(run::EVAL_FILE);
        run::write_json(&path, &saved)?;
        println!("saved to {}", path.display());
    }
    Ok(())
}

/// What `trainer sample` writes: an image grid, a scatter plot of the first two coordinates of
/// vectors, or the vectors as CSV.
enum SampleOutput {
    Grid,
    Scatter,
    Csv,
}

fn sample_cmd(a: SampleArgs) -> Result<()> {
    let device = device::open(a.device)?;
    let loaded = run::load_run(&a.run, &device)?;
    let ext = a.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    let shape = loaded.model.config().data;
    // What to write, decided once and before any sampling.
    let output = match (shape, ext) {
        (DataShape::Image { .. }, "png") => SampleOutput::Grid,
        (DataShape::Vector { .. }, "png") => SampleOutput::Scatter,
        (DataShape::Vector { .. }, "csv") => SampleOutput::Csv,
        _ => bail!(
            "--out {}: use .png for images, .png or .csv for vectors",
            a.out.display()
        ),
    };
    let x = sample::sample(&loaded.model, a.n, a.temperature, a.seed, &device)?;
    match output {
        SampleOutput::Grid => {
            let v = x.flatten_all()?.to_vec1::<f32>()?;
            let grid = realnvp_plot::image_grid(&v, a.n, shape, None, a.scale)?;
            realnvp_plot::write_png(&a.out, &grid)?;
        }
        SampleOutput::Scatter => {
            let v = x.narrow(1, 0, 2.min(x.dim(1)?))?.to_vec2::<f32>()?;
            let pts: Vec<[f32; 2]> = v.iter().map(|r| [r[0], r[1]]).collect();
            let picture = realnvp_plot::scatter_panels(&[&pts], 500);
            realnvp_plot::write_png(&a.out, &image::DynamicImage::ImageRgb8(picture))?;
        }
        SampleOutput::Csv => write_csv(&a.out, &x.to_vec2::<f32>()?)?,
    }
    println!(
        "{} samples at temperature {} (seed {}) -> {}",
        a.n,
        a.temperature,
        a.seed,
        a.out.display()
    );
    Ok(())
}

fn write_csv(path: &Path, rows: &[Vec<f32>]) -> Result<()> {
    let mut out = String::new();
    if let Some(first) = rows.first() {
        let header: Vec<String> = (0..first.len()).map(|i| format!("x{i}")).collect();
        out.push_str(&header.join(","));
        out.push('\n');
    }
    for r in rows {
        let cells: Vec<String> = r.iter().map(|v| v.to_string()).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    realnvp_bundle::files::write_atomic(path, out.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

//! `trainer`: fit, evaluate and sample RealNVP flows.

use anyhow::{Context, Result, bail};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use realnvp_trainer::data::{DataShape, Split};
use realnvp_trainer::eval::Evaluation;
use realnvp_trainer::eval::{self, Score};
use realnvp_trainer::export::{ExportStage, RunExport, Tolerances, export_run};
use realnvp_trainer::request::{FitRequest, fit_or_resume};
use realnvp_trainer::run;
use realnvp_trainer::{device, flags, sample};
use tracing_subscriber::EnvFilter;

mod args;
mod progress;

use args::{Cli, Command, EvalArgs, ExportArgs, FitArgs, SampleArgs};
use progress::{BarWriter, Progress};

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
            eprintln!("Error: {}", realnvp_host::one_line(e.as_ref()));
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

fn export_cmd(a: ExportArgs) -> Result<()> {
    let how = RunExport {
        verify_examples: a.verify_examples,
        score_examples: a.score_examples,
        tolerances: Tolerances {
            z_max_abs: a.tolerance_z,
            log_prob_max_rel: a.tolerance_log_prob,
            roundtrip_max_abs: a.tolerance_roundtrip,
        },
    };
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let (report, summary) = export_run(&a.run, &a.out, &how, &|stage| {
        spinner.set_message(match stage {
            ExportStage::Emit => "emitting the forward and inverse graphs",
            ExportStage::Verify => "checking the graphs against the candle model (candle-onnx)",
            ExportStage::Write => "writing the bundle",
        })
    })?;
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
    if let Some(t) = &summary.test_scores {
        println!(
            "  test bits/dim (u = 0.5) over {} examples: mean {:.4}, std {:.4} (the runtime's typicality reference)",
            t.count, t.mean, t.std
        );
    }
    Ok(())
}

fn fit(a: FitArgs, bar: ProgressBar) -> Result<()> {
    if a.data.as_deref() == Some("help") {
        println!("{}", realnvp_trainer::data::ACCEPTED_FORMS);
        return Ok(());
    }
    let Some(out) = a.out.clone() else {
        bail!(
            "{} RUN_DIR is required: the run directory to write (or to continue with {})",
            flags::OUT,
            flags::RESUME
        );
    };
    let device = device::open(a.device)?;
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg} ETA {eta}")?
            .progress_chars("=> "),
    );
    let mut progress = Progress::new(bar.clone());
    let request = FitRequest {
        preset: a.preset,
        config: a.config,
        data: a.data,
        seed: a.seed,
        batch_size: a.batch_size,
        lr: a.lr,
        warmup_steps: a.warmup_steps,
        lr_decay: a.lr_decay,
        ema_decay: a.ema_decay,
        clip_grad: a.clip_grad,
        flip: a.flip,
        steps: a.steps,
        epochs: a.epochs,
        eval_every: a.eval_every,
        sample_every: a.sample_every,
        checkpoint_every: a.checkpoint_every,
        log_every: a.log_every,
        eval_examples: a.eval_examples,
        time_limit_s: a.time_limit,
        resume: a.resume,
    };
    let report = fit_or_resume(&out, &request, &device, &mut progress)?;
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
    let n = eval::count(&data, Split::Test, a.limit);
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
    let mut iw = None;
    if let Some(k) = a.samples {
        let score = eval::importance_weighted(
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
            &score.iw,
            true,
        );
        print_score(
            "NLL, single-sample (K = 1) average of the same draws",
            &score.single,
            true,
        );
        iw = Some(score);
    }
    let saved = Evaluation::new(
        loaded.state.step,
        &spec,
        &s,
        iw.as_ref().map(|score| (score, a.seed)),
    );
    if a.save {
        let path = a.run.join(run::EVAL_FILE);
        run::write_json(&path, &saved)?;
        println!("saved to {}", path.display());
    }
    Ok(())
}

fn sample_cmd(a: SampleArgs) -> Result<()> {
    let device = device::open(a.device)?;
    let loaded = run::load_run(&a.run, &device)?;
    sample::write_samples(
        &loaded.model,
        a.n,
        a.temperature,
        a.seed,
        &a.out,
        a.scale,
        &device,
    )?;
    println!(
        "{} samples at temperature {} (seed {}) -> {}",
        a.n,
        a.temperature,
        a.seed,
        a.out.display()
    );
    Ok(())
}

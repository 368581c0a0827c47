//! What a `trainer fit` command asks for, merged with the defaults for a new run or checked against the
//! saved options of the run it continues. The binary fills a [`FitRequest`] from its flags; tests and other
//! programs build one directly, and all of them start or resume a run through [`fit_or_resume`].

use std::path::{Path, PathBuf};

use candle_core::Device;
use realnvp_models::{FlowConfig, PRESETS};

use crate::checkpoint::CHECKPOINT_FILE;
use crate::error::{Result, TrainError};
use crate::flags::{self, Flag};
use crate::optim::LrDecay;
use crate::run::{self, FitOptions};
use crate::train::{self, FitReport, Observer};

/// Every option of a fit, each `None` (or `false`) when not given. The options that define the run (model,
/// data, seed, optimizer) may be repeated on `--resume` but not changed; the schedule (steps, intervals,
/// time limit) may change between sessions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitRequest {
    /// A named model ([`PRESETS`]).
    pub preset: Option<String>,
    /// A model config file (JSON), instead of a preset.
    pub config: Option<PathBuf>,
    /// The `--data` spec.
    pub data: Option<String>,
    /// The run's seed.
    pub seed: Option<u64>,
    /// Examples per batch.
    pub batch_size: Option<usize>,
    /// Base learning rate.
    pub lr: Option<f64>,
    /// Linear warm-up steps.
    pub warmup_steps: Option<u64>,
    /// The learning rate's course after the warm-up; [`LrDecay::COSINE_TO_END`] ends at the run's last step.
    pub lr_decay: Option<LrDecay>,
    /// Weight-average decay.
    pub ema_decay: Option<f64>,
    /// Global gradient-norm clip.
    pub clip_grad: Option<f64>,
    /// Random left-right mirroring of training images.
    pub flip: bool,
    /// Total steps of the run.
    pub steps: Option<u64>,
    /// Total epochs of the run (converted to steps with the data set's size).
    pub epochs: Option<u64>,
    /// Evaluation interval.
    pub eval_every: Option<u64>,
    /// Sample-grid interval.
    pub sample_every: Option<u64>,
    /// Checkpoint interval.
    pub checkpoint_every: Option<u64>,
    /// `metrics.csv` interval.
    pub log_every: Option<u64>,
    /// Test examples per evaluation (0: all).
    pub eval_examples: Option<usize>,
    /// This session's time limit in seconds.
    pub time_limit_s: Option<f64>,
    /// Continue the run in the output directory when it holds one.
    pub resume: bool,
}

/// Starts the run `request` describes in `out`, or continues the one there when `request.resume` is set
/// (a new run when `out` holds no checkpoint yet, said in the log). A continued run keeps its saved
/// options, refuses any defining option that differs, and takes the new schedule.
pub fn fit_or_resume(
    out: &Path,
    request: &FitRequest,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<FitReport> {
    if request.resume && out.join(CHECKPOINT_FILE).exists() {
        let run_file = out.join(run::RUN_FILE);
        let mut options: FitOptions = run::read_json(&run_file)?;
        let config = FlowConfig::from_file(&out.join(run::CONFIG_FILE))?;
        refuse_changes(request, out, &options, &config)?;
        apply_schedule(request, &mut options, &config)?;
        run::write_json(&run_file, &options)?;
        return train::resume(out, &options, device, observer);
    }
    if request.resume {
        tracing::info!("{} holds no checkpoint: starting a new run", out.display());
    }
    let (config, options) = new_run(request)?;
    train::fit(out, &config, &options, device, observer)
}

/// The model and options of a new run: the request over [`FitOptions::default`], the cosine horizon fixed
/// at the run's last step.
pub fn new_run(request: &FitRequest) -> Result<(FlowConfig, FitOptions)> {
    let config = requested_config(request)?.ok_or_else(|| {
        TrainError::Invalid(format!(
            "give {} NAME ({}) or {} FILE",
            flags::PRESET,
            PRESETS.join(", "),
            flags::CONFIG
        ))
    })?;
    let d = FitOptions::default();
    let mut options = FitOptions {
        data: request.data.clone().unwrap_or(d.data),
        preset: request.preset.clone(),
        seed: request.seed.unwrap_or(d.seed),
        batch_size: request.batch_size.unwrap_or(d.batch_size),
        lr: request.lr.unwrap_or(d.lr),
        warmup_steps: request.warmup_steps.unwrap_or(d.warmup_steps),
        lr_decay: request.lr_decay.unwrap_or(d.lr_decay),
        ema_decay: request.ema_decay,
        clip_grad: request.clip_grad,
        flip: request.flip,
        ..d
    };
    apply_schedule(request, &mut options, &config)?;
    // `--lr-decay cosine` ends at this run's last step; the horizon is kept from here on.
    if options.lr_decay == LrDecay::COSINE_TO_END {
        options.lr_decay = LrDecay::Cosine {
            until: options.steps,
        };
    }
    Ok((config, options))
}

/// The model the request names, if it names one.
fn requested_config(request: &FitRequest) -> Result<Option<FlowConfig>> {
    Ok(match (&request.preset, &request.config) {
        (Some(p), _) => Some(FlowConfig::preset(p)?),
        (None, Some(f)) => Some(FlowConfig::from_file(f)?),
        (None, None) => None,
    })
}

/// On a resume, the options that define the run may be repeated (the same command continues the run) but
/// not changed: the first one whose value differs from the run's is refused, naming both.
fn refuse_changes(
    request: &FitRequest,
    out: &Path,
    run: &FitOptions,
    config: &FlowConfig,
) -> Result<()> {
    fn differs<T: PartialEq + std::fmt::Debug>(
        name: Flag,
        given: Option<T>,
        saved: T,
    ) -> Option<String> {
        given
            .filter(|g| *g != saved)
            .map(|g| format!("{name} {g:?} differs from the run's {saved:?}"))
    }
    let r = request;
    // `--lr-decay cosine` ends at the run's last step, which is fixed when the run starts.
    let lr_decay = r.lr_decay.map(|d| match (d, run.lr_decay) {
        (LrDecay::COSINE_TO_END, saved @ LrDecay::Cosine { .. }) => saved,
        (d, _) => d,
    });
    let change = [
        differs(
            flags::PRESET,
            r.preset.clone(),
            run.preset.clone().unwrap_or_default(),
        ),
        requested_config(r)?.is_some_and(|c| c != *config).then(|| {
            format!(
                "the model of {}/{} differs from the run's config.json",
                flags::PRESET,
                flags::CONFIG
            )
        }),
        differs(flags::DATA, r.data.clone(), run.data.clone()),
        differs(flags::BATCH_SIZE, r.batch_size, run.batch_size),
        differs(flags::LR, r.lr, run.lr),
        differs(flags::WARMUP_STEPS, r.warmup_steps, run.warmup_steps),
        differs(flags::LR_DECAY, lr_decay, run.lr_decay),
        differs(flags::EMA_DECAY, r.ema_decay.map(Some), run.ema_decay),
        differs(flags::SEED, r.seed, run.seed),
        differs(flags::CLIP_GRAD, r.clip_grad.map(Some), run.clip_grad),
        differs(flags::FLIP, r.flip.then_some(true), run.flip),
    ]
    .into_iter()
    .flatten()
    .next();
    match change {
        Some(what) => Err(TrainError::Invalid(format!(
            "{} continues a run with its own options, and {what} (saved in {}); drop the flag \
             or start a new run in another {}",
            flags::RESUME,
            out.join(run::RUN_FILE).display(),
            flags::OUT
        ))),
        None => Ok(()),
    }
}

/// Applies the options that may change between sessions of a run (they do not change the trajectory):
/// steps or epochs, the intervals and the time limit.
fn apply_schedule(request: &FitRequest, o: &mut FitOptions, config: &FlowConfig) -> Result<()> {
    if let Some(s) = request.steps {
        o.steps = s;
    }
    if let Some(e) = request.epochs {
        let data = run::load_data(&o.data, config, o.seed)?;
        o.steps = e * (data.len_train() / o.batch_size.max(1)) as u64;
    }
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = request.$f { o.$f = v; } )* };
    }
    set!(
        eval_every,
        sample_every,
        checkpoint_every,
        log_every,
        eval_examples
    );
    o.time_limit_s = request.time_limit_s;
    Ok(())
}

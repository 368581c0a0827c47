//! A run directory: its files, `run.json` (the training options) and loading what it holds.

use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_nn::VarMap;
use realnvp_bundle::files::write_atomic;
use realnvp_models::{DataShape, FlowConfig, RealNvp};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CHECKPOINT_FILE};
use crate::data::{self, DataSpec, Dataset};
use crate::flags::{self, Flag};
use crate::optim::{LrDecay, lr_factor};
use crate::{Result, TrainError};

/// The model config, `RUN_DIR/config.json`.
pub const CONFIG_FILE: &str = "config.json";
/// The training options, `RUN_DIR/run.json`.
pub const RUN_FILE: &str = "run.json";
/// One row per logging interval, `RUN_DIR/metrics.csv`.
pub const METRICS_FILE: &str = "metrics.csv";
/// The loss curve, `RUN_DIR/curve.png`.
pub const CURVE_FILE: &str = "curve.png";
/// Sample pictures, `RUN_DIR/samples/step-N.png`.
pub const SAMPLES_DIR: &str = "samples";
/// The latest `trainer eval --save`, `RUN_DIR/eval.json`.
pub const EVAL_FILE: &str = "eval.json";
/// A plain saved model (`config.json` + `model.safetensors`, see `RealNvp::save`), rewritten
/// after every checkpoint: what `trainer export` reads.
pub const MODEL_DIR: &str = "model";

/// Training options; saved as `run.json` so `--resume` continues with the same ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitOptions {
    /// The `--data` spec (see [`crate::data::ACCEPTED_FORMS`]).
    pub data: String,
    /// The preset the config came from, if any (informational).
    pub preset: Option<String>,
    /// Seeds the weights, the batch order, dequantization noise, flips and toy data.
    pub seed: u64,
    /// Examples per training batch.
    pub batch_size: usize,
    /// Adam's base learning rate (halved at each rollback), before the schedule's factor.
    pub lr: f64,
    /// Steps over which the learning rate rises linearly to `lr`.
    pub warmup_steps: u64,
    /// The learning rate's course after the warm-up.
    pub lr_decay: LrDecay,
    /// Keep an exponential moving average of the weights with this decay (e.g. 0.999), and
    /// evaluate, sample and export with it.
    pub ema_decay: Option<f64>,
    /// Total training steps (batches), counted from the start of the run.
    pub steps: u64,
    /// Evaluate the test split (u = 0.5) every this many steps, and at the end.
    pub eval_every: u64,
    /// Write `samples/step-N.png` every this many steps, and at the end (0: only at the end).
    pub sample_every: u64,
    /// Write the checkpoint every this many steps, and at the end.
    pub checkpoint_every: u64,
    /// Append a row to `metrics.csv` every this many steps.
    pub log_every: u64,
    /// Test examples scored at each evaluation, from the start of the split (0: all).
    pub eval_examples: usize,
    /// Batch size for evaluation.
    pub eval_batch_size: usize,
    /// Clip gradients to this global L2 norm.
    pub clip_grad: Option<f64>,
    /// Mirror training images left-right at random.
    pub flip: bool,
    /// Consecutive non-finite steps tolerated before rolling back.
    pub max_bad_steps: u32,
    /// Rollbacks tolerated before giving up.
    pub max_rollbacks: u32,
    /// Stop this session after the step that reaches this many seconds of training (measured from
    /// its first step), then evaluate, sample and checkpoint as at the end; `--resume` continues.
    /// A per-session limit, not saved with the run.
    #[serde(skip)]
    pub time_limit_s: Option<f64>,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            data: "embedded".into(),
            preset: None,
            seed: 0,
            batch_size: 64,
            lr: 1e-3,
            warmup_steps: 0,
            lr_decay: LrDecay::Constant,
            ema_decay: None,
            steps: 1000,
            eval_every: 250,
            sample_every: 250,
            checkpoint_every: 250,
            log_every: 25,
            eval_examples: 1000,
            eval_batch_size: 250,
            clip_grad: None,
            flip: false,
            max_bad_steps: 5,
            max_rollbacks: 8,
            time_limit_s: None,
        }
    }
}

impl FitOptions {
    /// Checks the numbers make sense.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Invalid(m));
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("batch sizes must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("{} must be a positive number", flags::LR));
        }
        if self.eval_every == 0 || self.checkpoint_every == 0 || self.log_every == 0 {
            return bad(format!(
                "{}, {} and {} must be at least 1",
                flags::EVAL_EVERY,
                flags::CHECKPOINT_EVERY,
                flags::LOG_EVERY
            ));
        }
        if self.lr_decay == LrDecay::COSINE_TO_END {
            return bad(format!(
                "{} cosine needs its horizon: cosine:STEP (the CLI fills in {})",
                flags::LR_DECAY,
                flags::STEPS
            ));
        }
        if let Some(decay) = self.ema_decay {
            crate::ema::check_decay(decay)?;
        }
        if self.clip_grad.is_some_and(|c| c.is_nan() || c <= 0.0) {
            return bad(format!("{} must be positive", flags::CLIP_GRAD));
        }
        if self.max_bad_steps == 0 {
            return bad("max_bad_steps must be at least 1".into());
        }
        if self
            .time_limit_s
            .is_some_and(|t| !(t.is_finite() && t > 0.0))
        {
            return bad(format!(
                "{} must be a positive number of seconds",
                flags::TIME_LIMIT
            ));
        }
        self.data.parse::<DataSpec>()?;
        Ok(())
    }

    /// The learning rate of the update after `done` steps, for base rate `base`.
    pub fn lr_at(&self, base: f64, done: u64) -> f64 {
        base * lr_factor(done, self.warmup_steps, self.lr_decay)
    }

    /// A `trainer fit` command line that starts this run from scratch (the intervals and
    /// everything else that shapes the trajectory included), with `out` as its `--out`.
    pub fn command_line(&self, out: &Path) -> String {
        let mut c = String::from("trainer fit");
        let mut arg = |flag: Flag, value: String| {
            c.push_str(&format!(" {flag} {value}"));
        };
        match &self.preset {
            Some(p) => arg(flags::PRESET, p.clone()),
            None => arg(flags::CONFIG, out.join(CONFIG_FILE).display().to_string()),
        }
        arg(flags::DATA, self.data.clone());
        arg(flags::OUT, out.display().to_string());
        arg(flags::STEPS, self.steps.to_string());
        arg(flags::BATCH_SIZE, self.batch_size.to_string());
        arg(flags::LR, self.lr.to_string());
        if self.warmup_steps > 0 {
            arg(flags::WARMUP_STEPS, self.warmup_steps.to_string());
        }
        if let LrDecay::Cosine { until } = self.lr_decay {
            arg(flags::LR_DECAY, format!("cosine:{until}"));
        }
        if let Some(d) = self.ema_decay {
            arg(flags::EMA_DECAY, d.to_string());
        }
        if let Some(g) = self.clip_grad {
            arg(flags::CLIP_GRAD, g.to_string());
        }
        arg(flags::SEED, self.seed.to_string());
        arg(flags::EVAL_EVERY, self.eval_every.to_string());
        arg(flags::EVAL_EXAMPLES, self.eval_examples.to_string());
        arg(flags::SAMPLE_EVERY, self.sample_every.to_string());
        arg(flags::CHECKPOINT_EVERY, self.checkpoint_every.to_string());
        if self.flip {
            c.push_str(&format!(" {}", flags::FLIP));
        }
        c
    }

    /// `eval_examples` as a limit (`None` = the whole split).
    pub fn eval_limit(&self) -> Option<usize> {
        (self.eval_examples > 0).then_some(self.eval_examples)
    }
}

/// Reads JSON file `path` into `T`.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::run(path, format!("invalid JSON: {e}")))
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("serializes");
    Ok(write_atomic(path, text.as_bytes())?)
}

/// Loads the data set of `spec` shaped for `config` (images are converted to its channels and
/// size), and checks it fits the model. `seed` draws toy data.
pub fn load_data(spec: &str, config: &FlowConfig, seed: u64) -> Result<Dataset> {
    let spec: DataSpec = spec.parse()?;
    let want = config.data;
    let shape = match want {
        DataShape::Image {
            channels,
            height,
            width,
        } => Some((channels, height, width)),
        DataShape::Vector { .. } => None,
    };
    let data = data::load(&spec, shape, seed)?;
    if data.kind != want {
        return Err(TrainError::Invalid(format!(
            "data {} is {} but the model expects {}; pick a matching --preset/--config",
            data.name, data.kind, want
        )));
    }
    Ok(data)
}

/// A trained model read back from a run directory.
pub struct LoadedRun {
    /// The model.
    pub model: RealNvp,
    /// Its variables.
    pub varmap: VarMap,
    /// `run.json`.
    pub options: FitOptions,
    /// The checkpoint's counters.
    pub state: checkpoint::TrainState,
}

/// Loads the model of `RUN_DIR` from its checkpoint (weights and running statistics): the
/// averaged weights when the run keeps an average (`ema_decay`), else the live ones.
pub fn load_run(dir: &Path, device: &Device) -> Result<LoadedRun> {
    let (run, _) = open_run(dir, device, Weights::Averaged)?;
    Ok(run)
}

/// Which weights [`open_run`] puts in the model.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weights {
    /// The weight average when the run keeps one (evaluation, sampling, export).
    Averaged,
    /// The weights training left (to continue training).
    Live,
}

/// Reads `RUN_DIR`'s config, options and checkpoint once, checks they belong together, and builds the model
/// with the chosen `weights`. The checkpoint (Adam's moments, the averages, the counters) is returned for a
/// resume to restore the rest from.
pub(crate) fn open_run(
    dir: &Path,
    device: &Device,
    weights: Weights,
) -> Result<(LoadedRun, checkpoint::Checkpoint)> {
    if !dir.join(CHECKPOINT_FILE).is_file() {
        return Err(TrainError::run(
            dir,
            format!(
                "is not a run directory (no {CHECKPOINT_FILE}); give the --out of a `trainer fit` run"
            ),
        ));
    }
    let config = FlowConfig::from_file(&dir.join(CONFIG_FILE))?;
    let options: FitOptions = read_json(&dir.join(RUN_FILE))?;
    let ck = checkpoint::load(&dir.join(CHECKPOINT_FILE), device)?;
    if ck.config != config {
        return Err(TrainError::run(
            dir.join(CHECKPOINT_FILE),
            format!(
                "its config differs from {}",
                dir.join(CONFIG_FILE).display()
            ),
        ));
    }
    let (model, varmap) = crate::init::seeded_init(&config, options.seed, device)?;
    ck.restore(&varmap)?;
    if weights == Weights::Averaged && options.ema_decay.is_some() {
        for (name, var) in crate::train::trainable(&model, &varmap) {
            var.set(&crate::ema::averaged(&ck.tensors, &name, &var)?)?;
        }
    }
    let run = LoadedRun {
        model,
        varmap,
        options,
        state: ck.state.clone(),
    };
    Ok((run, ck))
}

/// `RUN_DIR/samples/step-N.png`.
pub fn sample_path(dir: &Path, step: u64) -> PathBuf {
    dir.join(SAMPLES_DIR).join(format!("step-{step}.png"))
}

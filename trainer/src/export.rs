//! `trainer export`: the forward (scoring) and inverse (sampling) ONNX graphs of a trained
//! model, verified against the candle model before anything is written.
//!
//! The bundle format is specified in `docs/bundle.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use candle_onnx::onnx::{ModelProto, StringStringEntryProto};
use prost::Message;
use realnvp_bundle::Tensor as TensorName;
use realnvp_bundle::files::replace_dir;
use realnvp_bundle::{BundleError, BundleMetadata, CARD_FILE, Direction, KNOWN_FILES, ScoreStats};
use realnvp_models::{Mode, RealNvp, standard_normal_log_prob};
use serde::{Deserialize, Serialize};

/// Errors from exporting a bundle. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The candle model failed on the verification batch.
    #[error("model: {0}")]
    Model(#[from] realnvp_models::ModelError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// candle-onnx could not evaluate an emitted graph: the graph is not valid ONNX for it.
    #[error("the emitted {graph} graph does not evaluate in candle-onnx: {reason}")]
    GraphEval {
        /// `forward` or `inverse`.
        graph: &'static str,
        /// candle-onnx's message.
        reason: String,
    },
    /// The graphs disagree with the candle model by more than the tolerance.
    #[error(
        "the exported graphs disagree with the candle model: {measured}; tolerances {tolerance}. \
         Nothing was written. A model with extreme weights (e.g. diverged training) can cause \
         this; check the run's metrics, or pass looser {z}, {log_prob} or {roundtrip} if you accept it",
        z = crate::flags::TOLERANCE_Z,
        log_prob = crate::flags::TOLERANCE_LOG_PROB,
        roundtrip = crate::flags::TOLERANCE_ROUNDTRIP
    )]
    Verification {
        /// What was measured.
        measured: ExportErrors,
        /// What was allowed.
        tolerance: Tolerances,
    },
    /// A weight of an emitted graph is NaN or ±Inf: the model is not finite (a damaged checkpoint).
    #[error(
        "the {graph} graph's weight `{name}` holds {value}: the model is not finite (a damaged or diverged \
         checkpoint). Nothing was written; train again from an earlier state or with a lower {lr}",
        lr = crate::flags::LR
    )]
    NonFinite {
        /// `forward` or `inverse`.
        graph: &'static str,
        /// The initializer's name.
        name: String,
        /// The first non-finite value.
        value: f32,
    },
    /// The verification batch is empty or has the wrong shape.
    #[error("verification batch: {0}")]
    Batch(String),
    /// Writing the bundle failed, or the destination holds other files; the previous bundle at the
    /// destination, if any, is intact and no temporary directory is left.
    #[error(transparent)]
    Write(#[from] BundleError),
}

/// The largest differences between the candle model (eval mode) and the graphs, measured on a
/// real batch with candle-onnx.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportErrors {
    /// `max |z_onnx - z_candle|`.
    pub z_max_abs: f64,
    /// `max |lp_onnx - lp_candle| / max(1, |lp_candle|)`.
    pub log_prob_max_rel: f64,
    /// `max |inverse_onnx(forward_onnx(x)) - x|`, in data units (pixels for images).
    pub roundtrip_max_abs: f64,
    /// Examples in the verification batch.
    pub batch: usize,
}

impl std::fmt::Display for ExportErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "z max abs {:.3e}, log_prob max rel {:.3e}, round trip max abs {:.3e} (batch of {})",
            self.z_max_abs, self.log_prob_max_rel, self.roundtrip_max_abs, self.batch
        )
    }
}

/// The largest [`ExportErrors`] export accepts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerances {
    /// Bound on [`ExportErrors::z_max_abs`].
    pub z_max_abs: f64,
    /// Bound on [`ExportErrors::log_prob_max_rel`].
    pub log_prob_max_rel: f64,
    /// Bound on [`ExportErrors::roundtrip_max_abs`].
    pub roundtrip_max_abs: f64,
}

impl Default for Tolerances {
    /// `1e-3` on `z`, `1e-4` relative on `log_prob`, `1e-2` pixel units on the round trip: f32
    /// graphs of a healthy model land one to two orders of magnitude below these.
    fn default() -> Self {
        Self {
            z_max_abs: 1e-3,
            log_prob_max_rel: 1e-4,
            roundtrip_max_abs: 1e-2,
        }
    }
}

impl std::fmt::Display for Tolerances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "z {:.0e}, log_prob {:.0e} relative, round trip {:.0e}",
            self.z_max_abs, self.log_prob_max_rel, self.roundtrip_max_abs
        )
    }
}

/// What training produced the model, recorded in the bundle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// The data spec the model was trained on.
    pub dataset: String,
    /// Epochs completed.
    pub epochs: usize,
    /// Optimizer steps completed.
    pub steps: usize,
    /// Last test bits/dim (`u = 0.5`), if evaluated.
    pub test_bits_per_dim: Option<f64>,
    /// Training wall time in seconds, across resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_time_s: Option<f64>,
    /// A `trainer fit` command that trains the same model from scratch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The machine that trained it, as `trainer export` found it (CPU model and threads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// The latest `trainer eval --save` of this checkpoint (`RUN_DIR/eval.json`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<crate::eval::Evaluation>,
    /// Per-example bits/dim of the test split at `u = 0.5` (the runtime's typicality reference; stored
    /// under [`realnvp_bundle::ood::TEST_SCORES_FIELD`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_scores: Option<ScoreStats>,
}

/// Stages reported to the progress callback of [`export_bundle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportStage {
    /// Emitting the two graphs.
    Emit,
    /// Evaluating them with candle-onnx against the candle model.
    Verify,
    /// Writing the files.
    Write,
}

/// What [`export_bundle`] wrote.
#[derive(Clone, Debug)]
pub struct ExportReport {
    /// The pair id shared by the two graphs.
    pub pair_id: String,
    /// The measured errors (also in the metadata).
    pub errors: ExportErrors,
    /// The bundle directory.
    pub dir: PathBuf,
}

/// Emits, verifies and writes the bundle for `model` into `out`.
///
/// `batch` is a real batch from the run's data (`[N, C, H, W]` pixel units or `[N, D]`); the
/// graphs are evaluated on it with candle-onnx and compared with the candle model in eval mode.
/// If the errors exceed `tolerance`, nothing is written. Otherwise the three files are written
/// into a temporary sibling directory that then replaces `out`, so `out` is never half-written.
pub fn export_bundle(
    model: &RealNvp,
    batch: &Tensor,
    training: &TrainingSummary,
    out: &Path,
    tolerance: &Tolerances,
    progress: &dyn Fn(ExportStage),
) -> Result<ExportReport, ExportError> {
    if batch.dim(0)? == 0 {
        return Err(ExportError::Batch(
            "no examples to verify the export on".into(),
        ));
    }
    let batch = batch.to_dtype(DType::F32)?;
    progress(ExportStage::Emit);
    let mut forward = model.forward_onnx(&[])?;
    let mut inverse = model.inverse_onnx(&[])?;

    for (direction, graph) in [
        (Direction::Forward, &forward),
        (Direction::Inverse, &inverse),
    ] {
        refuse_non_finite(direction, graph)?;
    }
    progress(ExportStage::Verify);
    let errors = measure_errors(model, &forward, &inverse, &batch)?;
    let ok = errors.z_max_abs <= tolerance.z_max_abs
        && errors.log_prob_max_rel <= tolerance.log_prob_max_rel
        && errors.roundtrip_max_abs <= tolerance.roundtrip_max_abs;
    if !ok {
        return Err(ExportError::Verification {
            measured: errors,
            tolerance: *tolerance,
        });
    }

    progress(ExportStage::Write);
    let pair_id = format!("{:032x}", rand::random::<u128>());
    let meta = bundle_metadata(model, &pair_id, training, errors);
    forward.metadata_props = metadata_props(&meta, Direction::Forward);
    inverse.metadata_props = metadata_props(&meta, Direction::Inverse);
    let card = serde_json::to_string_pretty(&meta.to_card()).expect("card serializes");
    replace_dir(
        out,
        &[
            (Direction::Forward.file(), forward.encode_to_vec()),
            (Direction::Inverse.file(), inverse.encode_to_vec()),
            (CARD_FILE, card.into_bytes()),
        ],
        &KNOWN_FILES,
    )?;
    Ok(ExportReport {
        pair_id,
        errors,
        dir: out.to_path_buf(),
    })
}

/// Fails on the first NaN or ±Inf among `graph`'s f32 initializers: no non-finite graph is ever written.
fn refuse_non_finite(direction: Direction, graph: &ModelProto) -> Result<(), ExportError> {
    let initializers = graph.graph.iter().flat_map(|g| &g.initializer);
    for init in initializers {
        // data_type 1 is FLOAT: raw_data then holds little-endian f32.
        let in_raw = (init.data_type == 1)
            .then(|| crate::checkpoint::first_non_finite_le(&init.raw_data))
            .flatten();
        if let Some(value) = init
            .float_data
            .iter()
            .copied()
            .find(|v| !v.is_finite())
            .or(in_raw)
        {
            return Err(ExportError::NonFinite {
                graph: direction.as_str(),
                name: init.name.clone(),
                value,
            });
        }
    }
    Ok(())
}

fn eval_graph(
    graph: Direction,
    model: &ModelProto,
    input: TensorName,
    x: &Tensor,
) -> Result<HashMap<String, Tensor>, ExportError> {
    let inputs = HashMap::from([(input.name().to_string(), x.clone())]);
    candle_onnx::simple_eval(model, inputs).map_err(|e| ExportError::GraphEval {
        graph: graph.as_str(),
        reason: e.to_string(),
    })
}

fn max_abs(t: &Tensor) -> Result<f64, ExportError> {
    Ok(t.abs()?
        .flatten_all()?
        .max(0)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?)
}

/// Compares both graphs with the candle model on `x`.
fn measure_errors(
    model: &RealNvp,
    forward: &ModelProto,
    inverse: &ModelProto,
    x: &Tensor,
) -> Result<ExportErrors, ExportError> {
    // One candle pass gives both z and log p (log_prob() would run the forward again).
    let (z, log_det) = model.forward(x, Mode::Eval)?;
    let log_prob = (standard_normal_log_prob(&z)? + log_det)?;
    let out = eval_graph(Direction::Forward, forward, TensorName::X, x)?;
    let get = |name: TensorName| {
        out.get(name.name())
            .cloned()
            .ok_or_else(|| ExportError::GraphEval {
                graph: Direction::Forward.as_str(),
                reason: format!("output {name} missing"),
            })
    };
    let (z_onnx, lp_onnx) = (get(TensorName::Z)?, get(TensorName::LogProb)?);
    let z_max_abs = max_abs(&(&z_onnx - &z)?)?;
    let denom = log_prob.abs()?.maximum(1.0)?;
    let log_prob_max_rel = max_abs(&((&lp_onnx - &log_prob)? / denom)?)?;
    let back = eval_graph(Direction::Inverse, inverse, TensorName::Z, &z_onnx)?;
    let x_back = back
        .get(TensorName::X.name())
        .ok_or_else(|| ExportError::GraphEval {
            graph: Direction::Inverse.as_str(),
            reason: format!("output {} missing", TensorName::X),
        })?;
    let roundtrip_max_abs = max_abs(&(x_back - x)?)?;
    let nan_to_inf = |v: f64| if v.is_nan() { f64::INFINITY } else { v };
    Ok(ExportErrors {
        z_max_abs: nan_to_inf(z_max_abs),
        log_prob_max_rel: nan_to_inf(log_prob_max_rel),
        roundtrip_max_abs: nan_to_inf(roundtrip_max_abs),
        batch: x.dim(0)?,
    })
}

/// The metadata of one export: the model's shape, preprocessing and config, how it was trained, and the
/// errors measured against the candle model.
fn bundle_metadata(
    model: &RealNvp,
    pair_id: &str,
    training: &TrainingSummary,
    errors: ExportErrors,
) -> BundleMetadata {
    let config = model.config();
    let json = |v: serde_json::Result<serde_json::Value>| v.expect("metadata serializes");
    BundleMetadata::new(
        pair_id,
        config.data,
        json(serde_json::to_value(config.preprocessing)),
        json(serde_json::to_value(config)),
        json(serde_json::to_value(training)),
        json(serde_json::to_value(errors)),
    )
}

/// The `metadata_props` of the `direction` graph.
fn metadata_props(meta: &BundleMetadata, direction: Direction) -> Vec<StringStringEntryProto> {
    meta.to_props(direction)
        .into_iter()
        .map(|(key, value)| StringStringEntryProto { key, value })
        .collect()
}

/// How [`export_run`] verifies and summarises a run's export.
#[derive(Clone, Debug, PartialEq)]
pub struct RunExport {
    /// Test examples the graphs are checked on against the candle model.
    pub verify_examples: usize,
    /// Test examples whose bits/dim statistics are recorded (`None`: all, `Some(0)`: none).
    pub score_examples: Option<usize>,
    /// The largest errors accepted.
    pub tolerances: Tolerances,
}

/// Examples per forward pass when export scores the test split.
const STATS_BATCH: usize = 256;

/// Exports the run in `run_dir` into the bundle `out`: its model (the weight average when it keeps one),
/// verified on CPU in f32 whatever device trained it (so the check measures the graphs the way ONNX Runtime on
/// CPU runs them), with the [`TrainingSummary`] of the run. Returns what was written and the summary.
pub fn export_run(
    run_dir: &Path,
    out: &Path,
    how: &RunExport,
    progress: &dyn Fn(ExportStage),
) -> crate::Result<(ExportReport, TrainingSummary)> {
    let device = candle_core::Device::Cpu;
    let loaded = crate::run::load_run(run_dir, &device)?;
    let data = crate::run::load_data(
        &loaded.options.data,
        loaded.model.config(),
        loaded.options.seed,
    )?;
    let n = how.verify_examples.clamp(1, data.len_test().max(1));
    let batch = data.eval_batch(
        crate::data::Split::Test,
        0,
        n,
        crate::data::EvalNoise::Midpoint,
        &device,
    )?;
    let last_test_bpd = crate::metrics::read(&run_dir.join(crate::run::METRICS_FILE))
        .ok()
        .and_then(|rows| rows.iter().rev().find_map(|r| r.test_bpd));
    let test_scores = match how.score_examples {
        Some(0) => None,
        limit => crate::eval::bits_per_dim_stats(
            &loaded.model,
            &data,
            crate::data::Split::Test,
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
        command: Some(loaded.options.command_line(run_dir)),
        machine: Some(machine()),
        evaluation: crate::eval::Evaluation::saved_for(run_dir, loaded.state.step),
        test_scores,
    };
    let report = export_bundle(
        &loaded.model,
        &batch,
        &summary,
        out,
        &how.tolerances,
        progress,
    )
    .map_err(|e| crate::TrainError::Export(Box::new(e)))?;
    Ok((report, summary))
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

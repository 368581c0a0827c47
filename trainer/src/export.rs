//! `trainer export`: the forward (scoring) and inverse (sampling) ONNX graphs of a trained
//! model, verified against the candle model before anything is written.
//!
//! The bundle format is specified in `docs/bundle.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use candle_onnx::onnx::{ModelProto, StringStringEntryProto};
use prost::Message;
use realnvp_models::onnx::OPSET;
use realnvp_models::{Mode, RealNvp, standard_normal_log_prob};
use serde::{Deserialize, Serialize};

/// The bundle format version written into every graph and `model.json`.
pub const FORMAT_VERSION: u32 = 1;

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
         this; check the run's metrics, or pass looser --tolerance-* flags if you accept it"
    )]
    Verification {
        /// What was measured.
        measured: ExportErrors,
        /// What was allowed.
        tolerance: Tolerances,
    },
    /// The verification batch is empty or has the wrong shape.
    #[error("verification batch: {0}")]
    Batch(String),
    /// Writing the bundle failed; the previous bundle at the destination, if any, is intact.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
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
    pub evaluation: Option<serde_json::Value>,
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

/// The human-readable card, `model.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelCard {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Shared by the two graphs.
    pub pair_id: String,
    /// `image` or `vector`.
    pub data_kind: String,
    /// `[C, H, W]` or `[D]`.
    pub data_shape: Vec<usize>,
    /// Latent size `L`.
    pub latent_dim: usize,
    /// ONNX opset of both graphs.
    pub opset: i64,
    /// The preprocessing, as in the config.
    pub preprocessing: serde_json::Value,
    /// The complete model config.
    pub config: serde_json::Value,
    /// Training summary.
    pub training: TrainingSummary,
    /// Errors measured at export.
    pub export_errors: ExportErrors,
    /// File names of the graphs.
    pub files: HashMap<String, String>,
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
    let card = model_card(model, &pair_id, training, errors);
    forward.metadata_props = metadata(&card, "forward");
    inverse.metadata_props = metadata(&card, "inverse");
    let card_json = serde_json::to_string_pretty(&card).expect("card serializes");
    write_bundle_dir(
        out,
        &[
            ("forward.onnx", forward.encode_to_vec()),
            ("inverse.onnx", inverse.encode_to_vec()),
            ("model.json", card_json.into_bytes()),
        ],
    )?;
    Ok(ExportReport {
        pair_id,
        errors,
        dir: out.to_path_buf(),
    })
}

fn eval_graph(
    graph: &'static str,
    model: &ModelProto,
    input: &str,
    x: &Tensor,
) -> Result<HashMap<String, Tensor>, ExportError> {
    let inputs = HashMap::from([(input.to_string(), x.clone())]);
    candle_onnx::simple_eval(model, inputs).map_err(|e| ExportError::GraphEval {
        graph,
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
    let out = eval_graph("forward", forward, "x", x)?;
    let get = |name: &str| {
        out.get(name)
            .cloned()
            .ok_or_else(|| ExportError::GraphEval {
                graph: "forward",
                reason: format!("output {name} missing"),
            })
    };
    let (z_onnx, lp_onnx) = (get("z")?, get("log_prob")?);
    let z_max_abs = max_abs(&(&z_onnx - &z)?)?;
    let denom = log_prob.abs()?.maximum(1.0)?;
    let log_prob_max_rel = max_abs(&((&lp_onnx - &log_prob)? / denom)?)?;
    let back = eval_graph("inverse", inverse, "z", &z_onnx)?;
    let x_back = back.get("x").ok_or_else(|| ExportError::GraphEval {
        graph: "inverse",
        reason: "output x missing".into(),
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

fn model_card(
    model: &RealNvp,
    pair_id: &str,
    training: &TrainingSummary,
    errors: ExportErrors,
) -> ModelCard {
    let config = model.config();
    ModelCard {
        format_version: FORMAT_VERSION,
        pair_id: pair_id.to_string(),
        data_kind: config.data.kind_name().to_string(),
        data_shape: config.data.dims(),
        latent_dim: config.data.numel(),
        opset: OPSET,
        preprocessing: serde_json::to_value(config.preprocessing).expect("serializes"),
        config: serde_json::to_value(config).expect("serializes"),
        training: training.clone(),
        export_errors: errors,
        files: HashMap::from([
            ("forward".to_string(), "forward.onnx".to_string()),
            ("inverse".to_string(), "inverse.onnx".to_string()),
        ]),
    }
}

/// The `metadata_props` of one graph (keys as in `docs/bundle.md`).
fn metadata(card: &ModelCard, direction: &str) -> Vec<StringStringEntryProto> {
    [
        ("realnvp.format_version", card.format_version.to_string()),
        ("realnvp.direction", direction.to_string()),
        ("realnvp.pair_id", card.pair_id.clone()),
        ("realnvp.data_kind", card.data_kind.clone()),
        ("realnvp.data_shape", json(&card.data_shape)),
        ("realnvp.latent_dim", card.latent_dim.to_string()),
        ("realnvp.opset", card.opset.to_string()),
        ("realnvp.preprocessing", json(&card.preprocessing)),
        ("realnvp.config", json(&card.config)),
        ("realnvp.training", json(&card.training)),
        ("realnvp.export_errors", json(&card.export_errors)),
    ]
    .into_iter()
    .map(|(key, value)| StringStringEntryProto {
        key: key.to_string(),
        value,
    })
    .collect()
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("metadata serializes")
}

/// The files a bundle directory may hold; export refuses to replace a directory with others.
const BUNDLE_FILES: [&str; 3] = ["forward.onnx", "inverse.onnx", "model.json"];

/// Whether `out` is a directory holding nothing but bundle files, so replacing it loses nothing.
fn replaceable_bundle(out: &Path) -> Result<(), String> {
    if !out.is_dir() {
        return Err("exists and is not a directory; choose another --out".into());
    }
    let entries = std::fs::read_dir(out).map_err(|e| e.to_string())?;
    for entry in entries {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        if !BUNDLE_FILES.contains(&name.to_string_lossy().as_ref()) {
            return Err(format!(
                "holds {name:?}, which is not part of a bundle; export only replaces bundle \
                 directories — choose an empty or new --out"
            ));
        }
    }
    Ok(())
}

/// Writes `files` into a fresh sibling directory of `out`, then swaps it into place: a reader
/// sees either the old bundle or the complete new one, and a failure leaves the old one intact.
fn write_bundle_dir(out: &Path, files: &[(&str, Vec<u8>)]) -> Result<(), ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    for (file, bytes) in files {
        let path = tmp.join(file);
        if let Err(e) = std::fs::write(&path, bytes) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(io(&path)(e));
        }
    }
    if out.exists() {
        if let Err(reason) = replaceable_bundle(out) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(io(out)(std::io::Error::other(reason)));
        }
        std::fs::rename(out, &old).map_err(io(out))?;
    }
    if let Err(e) = std::fs::rename(&tmp, out) {
        // Put the previous bundle back.
        let _ = std::fs::rename(&old, out);
        return Err(io(out)(e));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

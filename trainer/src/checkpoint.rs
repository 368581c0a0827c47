//! `checkpoint.safetensors`: everything a run needs to continue exactly where it stopped.
//!
//! One safetensors file, written atomically (temporary file, then rename), holding
//! - every variable of the model's VarMap under its own name (weights, batch-norm running
//!   statistics, fitted standardization), so `VarMap::load` on this file alone rebuilds the model;
//! - Adam's moments as `adam.m.NAME` / `adam.v.NAME` (trainable variables only);
//! - with `--ema-decay`, the weight averages as `ema.NAME` (trainable variables only);
//! - in the header's `__metadata__`: `format`, `state` ([`TrainState`] as JSON) and `config`
//!   (the model's [`FlowConfig`] as JSON).
//!
//! All tensors are f32. A checkpoint with a NaN or Inf anywhere is refused at write time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use realnvp_bundle::files::write_atomic_with;
use realnvp_models::FlowConfig;
use safetensors::{Dtype, View};
use serde::{Deserialize, Serialize};

use crate::ema::Ema;
use crate::optim::Adam;
use crate::{Result, TrainError};

/// File name of the checkpoint inside a run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// Value of the `format` metadata key.
pub const FORMAT: &str = "realnvp-trainer-checkpoint/1";

/// Counters and settings that change during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Batches consumed so far, good and skipped: the next batch is batch `step` of the
    /// batcher (epoch `step / batches_per_epoch`).
    pub step: u64,
    /// Epoch of the next batch (informational: derived from `step`).
    pub epoch: u64,
    /// Index within the epoch of the next batch (informational).
    pub batch_index: usize,
    /// Adam updates taken (skipped steps take none).
    pub adam_step: u64,
    /// Current learning rate (halved at each rollback).
    pub lr: f64,
    /// Consecutive non-finite steps just before this point.
    pub bad_streak: u32,
    /// Steps skipped for a non-finite loss or gradient, in total.
    pub skipped_steps: u64,
    /// Rollbacks to an earlier checkpoint so far.
    pub rollbacks: u32,
    /// Training wall time so far, seconds, across resumes.
    pub wall_time_s: f64,
    /// Training examples processed so far.
    pub examples_seen: u64,
}

impl TrainState {
    /// The state before the first step.
    pub fn new(lr: f64) -> Self {
        Self {
            step: 0,
            epoch: 0,
            batch_index: 0,
            adam_step: 0,
            lr,
            bad_streak: 0,
            skipped_steps: 0,
            rollbacks: 0,
            wall_time_s: 0.0,
            examples_seen: 0,
        }
    }
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    /// The counters.
    pub state: TrainState,
    /// The model config it was trained with.
    pub config: FlowConfig,
    /// Every tensor in the file, by name.
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Copies the weights into `varmap` (every variable must be present with its shape).
    pub fn restore(&self, varmap: &VarMap) -> Result<()> {
        {
            let data = varmap.data().lock().expect("varmap lock");
            for (name, var) in data.iter() {
                let t = self.tensors.get(name).ok_or_else(|| {
                    TrainError::Invalid(format!("checkpoint lacks the variable `{name}`"))
                })?;
                if t.dims() != var.dims() {
                    return Err(TrainError::Invalid(format!(
                        "checkpoint variable `{name}` has shape {:?}, the model {:?}",
                        t.dims(),
                        var.dims()
                    )));
                }
                var.set(&t.to_device(var.device())?)?;
            }
        }
        Ok(())
    }

    /// Copies Adam's moments and step count into `adam` (built over the model's trainable variables).
    pub fn restore_optimizer(&self, adam: &mut Adam) -> Result<()> {
        adam.load_state(&self.tensors, self.state.adam_step)
    }
}

/// An f32 tensor copied to host memory, in the form safetensors writes.
struct HostF32 {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &HostF32 {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Copies `t` to the host, failing on a NaN or Inf (named `name` in the error).
fn to_host(name: &str, t: &Tensor) -> Result<HostF32> {
    let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(TrainError::Invalid(format!(
            "refusing to write a checkpoint: `{name}` holds {bad}"
        )));
    }
    Ok(HostF32 {
        shape: t.dims().to_vec(),
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    })
}

/// The model's variables, the optimizer's moments and the weight averages (when the run keeps
/// them), by checkpoint name.
pub fn collect_tensors(varmap: &VarMap, adam: &Adam, ema: Option<&Ema>) -> Vec<(String, Tensor)> {
    let mut out: Vec<(String, Tensor)> = {
        let data = varmap.data().lock().expect("varmap lock");
        data.iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect()
    };
    out.extend(adam.state_tensors());
    if let Some(ema) = ema {
        out.extend(ema.state_tensors(adam.params()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The first tensor holding a NaN or Inf, if any.
pub fn first_non_finite(tensors: &[(String, Tensor)]) -> Result<Option<String>> {
    for (name, t) in tensors {
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if values.iter().any(|v| !v.is_finite()) {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

/// The first NaN or ±Inf among little-endian f32 `bytes` (safetensors data, ONNX `raw_data`).
pub(crate) fn first_non_finite_le(bytes: &[u8]) -> Option<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .find(|v| !v.is_finite())
}

/// Writes `tensors` with `state` and `config` to `path` directly (not atomically): the building
/// block of [`save`], which wraps it in a temporary file and rename.
pub fn write_file(
    path: &Path,
    tensors: &[(String, Tensor)],
    state: &TrainState,
    config: &FlowConfig,
) -> Result<()> {
    let host = tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), to_host(k, t)?)))
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        (
            "state".to_string(),
            serde_json::to_string(state).expect("state serializes"),
        ),
        (
            "config".to_string(),
            serde_json::to_string(config).expect("config serializes"),
        ),
    ]);
    safetensors::serialize_to_file(
        host.iter().map(|(k, h)| (k.as_str(), h)),
        Some(metadata),
        path,
    )
    .map_err(|e| TrainError::run(path, format!("cannot write checkpoint: {e}")))
}

/// Writes the checkpoint atomically: `path` is afterwards either the previous checkpoint or the
/// complete new one. Fails (writing nothing) if any tensor holds a NaN or Inf.
pub fn save(
    path: &Path,
    varmap: &VarMap,
    adam: &Adam,
    ema: Option<&Ema>,
    state: &TrainState,
    config: &FlowConfig,
) -> Result<()> {
    let tensors = collect_tensors(varmap, adam, ema);
    // Copy to the host and check before touching the file system.
    write_atomic_with(path, |tmp| write_file(tmp, &tensors, state, config))
}

/// Reads a checkpoint written by [`save`]; tensors are placed on `device`.
pub fn load(path: &Path, device: &Device) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    from_bytes(&bytes, path, device)
}

/// Parses the bytes of a checkpoint file, as [`load`] does; tensors are placed on `device`.
///
/// `path` only names the file in errors. Anything [`save`] would not have written is refused with a
/// typed error: not safetensors, another `format`, a `state` or `config` that does not parse, a
/// tensor that is not f32, or a NaN or Inf in any tensor (which `save` refuses to write).
pub fn from_bytes(bytes: &[u8], path: &Path, device: &Device) -> Result<Checkpoint> {
    let corrupt = |why: String| {
        TrainError::run(
            path,
            format!(
                "not a readable trainer checkpoint ({why}); an earlier run may have been written by another program"
            ),
        )
    };
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let (_, header) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or_else(|| corrupt("no metadata".into()))?;
    match meta.get("format") {
        Some(f) if f == FORMAT => {}
        other => return Err(corrupt(format!("format {other:?}, expected {FORMAT:?}"))),
    }
    let field = |k: &str| {
        meta.get(k)
            .ok_or_else(|| corrupt(format!("metadata lacks `{k}`")))
    };
    let state: TrainState =
        serde_json::from_str(field("state")?).map_err(|e| corrupt(format!("state: {e}")))?;
    let config: FlowConfig =
        serde_json::from_str(field("config")?).map_err(|e| corrupt(format!("config: {e}")))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(corrupt(format!(
                "`{name}` is {:?}, expected F32",
                view.dtype()
            )));
        }
        if let Some(v) = first_non_finite_le(view.data()) {
            return Err(TrainError::run(
                path,
                format!(
                    "`{name}` holds {v}: the weights are not finite (a diverged or damaged checkpoint), so nothing \
                     can be resumed, evaluated or exported from it; train again, or use a copy of an earlier checkpoint"
                ),
            ));
        }
        let t = Tensor::from_raw_buffer(view.data(), DType::F32, view.shape(), device)?;
        tensors.insert(name, t);
    }
    Ok(Checkpoint {
        state,
        config,
        tensors,
    })
}

//! A Triton Inference Server model repository for a bundle (docs/scale-out.md, "Serving on Triton").
//!
//! [`write_repository`] writes one Triton model per graph, for the ONNX Runtime backend:
//!
//! ```text
//! OUT/
//!   NAME_forward/config.pbtxt          x [C,H,W] or [D] -> z [L], log_prob, bits_per_dim (batch dim implicit)
//!   NAME_forward/configs/cpu.pbtxt     the same model on CPU instances  (tritonserver --model-config-name=cpu)
//!   NAME_forward/configs/gpu.pbtxt     the same model on GPU instances  (--model-config-name=gpu)
//!   NAME_forward/1/model.onnx          forward.onnx, byte for byte
//!   NAME_inverse/...                   z [L] -> x
//! ```
//!
//! `config.pbtxt` is the default kind's configuration ([`TritonOptions::default_kind`]). Each configuration
//! holds the graphs' tensor names, `TYPE_FP32`, the per-item dims, `max_batch_size`, dynamic batching and one
//! instance group. Outputs that are only the batch dimension (`log_prob`, `bits_per_dim`) are declared as
//! `dims: [1]` with `reshape: { shape: [] }`, as Triton requires. Every file is written atomically
//! ([`realnvp_bundle::files::write_atomic`]); other models in `OUT` are left alone, so a repository can hold
//! many.
//!
//! Nothing here runs Triton: the configurations are checked against Triton's model-config protobuf schema by
//! the Python tests (`runtime/python/tests/test_triton.py`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use realnvp_bundle::{BundleError, BundleMetadata, Direction, Tensor, files::write_atomic};

use crate::flow::Flow;

/// The file name Triton's ONNX Runtime backend loads in a version folder.
pub const TRITON_GRAPH_FILE: &str = "model.onnx";

/// The version folder the graphs are written into.
pub const TRITON_VERSION: u32 = 1;

/// Where a Triton model instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceKind {
    /// `KIND_CPU`.
    Cpu,
    /// `KIND_GPU` (every visible GPU gets `count` instances).
    Gpu,
}

impl InstanceKind {
    /// Both kinds, in the order their `configs/` files are written.
    pub const ALL: [InstanceKind; 2] = [InstanceKind::Cpu, InstanceKind::Gpu];

    /// The name of the custom configuration (`configs/NAME.pbtxt`, `--model-config-name=NAME`).
    pub fn name(self) -> &'static str {
        match self {
            InstanceKind::Cpu => "cpu",
            InstanceKind::Gpu => "gpu",
        }
    }

    fn proto(self) -> &'static str {
        match self {
            InstanceKind::Cpu => "KIND_CPU",
            InstanceKind::Gpu => "KIND_GPU",
        }
    }
}

/// How [`write_repository`] writes the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TritonOptions {
    /// Model name prefix: the models are `NAME_forward` and `NAME_inverse`.
    pub name: String,
    /// Triton's `max_batch_size`: the most items one (dynamically batched) request may hold.
    pub max_batch_size: usize,
    /// How long dynamic batching may hold a request to fill a batch, in microseconds.
    pub max_queue_delay_us: u64,
    /// The instance group of `config.pbtxt`.
    pub default_kind: InstanceKind,
    /// Instances per group (per GPU for `KIND_GPU`).
    pub instances: usize,
}

impl Default for TritonOptions {
    fn default() -> Self {
        Self {
            name: "realnvp".into(),
            max_batch_size: crate::DEFAULT_BATCH_SIZE,
            max_queue_delay_us: 100,
            default_kind: InstanceKind::Gpu,
            instances: 1,
        }
    }
}

/// What went wrong writing a Triton repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TritonError {
    /// An option has an unusable value.
    #[error("invalid Triton option `{name}`: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What is wrong and what to use.
        reason: String,
    },
    /// Reading a graph or writing a file failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// One model of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TritonModel {
    /// The model name, `NAME_forward` or `NAME_inverse`.
    pub name: String,
    /// Which graph it serves.
    pub direction: Direction,
    /// The model folder.
    pub dir: PathBuf,
    /// `config.pbtxt` and the `configs/KIND.pbtxt` files, in that order.
    pub configs: Vec<PathBuf>,
    /// The graph, `1/model.onnx`.
    pub graph: PathBuf,
}

/// Writes a Triton model repository for `flow`'s bundle into `out` (created if missing): one model per graph,
/// each with its `config.pbtxt`, a CPU and a GPU configuration, and the graph as `1/model.onnx`. Returns the
/// models written, forward first.
pub fn write_repository(
    flow: &Flow,
    out: &Path,
    options: &TritonOptions,
) -> Result<Vec<TritonModel>, TritonError> {
    check_options(options)?;
    let mut models = Vec::new();
    for direction in [Direction::Forward, Direction::Inverse] {
        let name = format!("{}_{}", options.name, direction.as_str());
        let dir = out.join(&name);
        let source = flow.dir().join(direction.file());
        let graph_bytes = std::fs::read(&source).map_err(|e| BundleError::io(&source, e))?;
        let graph = dir.join(TRITON_VERSION.to_string()).join(TRITON_GRAPH_FILE);
        write_atomic(&graph, &graph_bytes)?;
        let mut configs = Vec::new();
        let default = dir.join("config.pbtxt");
        let text = model_config(
            flow.metadata(),
            direction,
            &name,
            options,
            options.default_kind,
        );
        write_atomic(&default, text.as_bytes())?;
        configs.push(default);
        for kind in InstanceKind::ALL {
            let file = dir.join("configs").join(format!("{}.pbtxt", kind.name()));
            let text = model_config(flow.metadata(), direction, &name, options, kind);
            write_atomic(&file, text.as_bytes())?;
            configs.push(file);
        }
        models.push(TritonModel {
            name,
            direction,
            dir,
            configs,
            graph,
        });
    }
    Ok(models)
}

fn check_options(options: &TritonOptions) -> Result<(), TritonError> {
    let bad_name = options.name.is_empty()
        || options.name.starts_with('.')
        || !options
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if bad_name {
        return Err(TritonError::InvalidOption {
            name: "name",
            reason: format!(
                "`{}`: a model name is a folder name of ASCII letters, digits, '_', '-' and '.', not starting \
                 with '.' (e.g. fmnist)",
                options.name
            ),
        });
    }
    if options.max_batch_size == 0 || options.max_batch_size > i32::MAX as usize {
        return Err(TritonError::InvalidOption {
            name: "max_batch_size",
            reason: format!(
                "{}: must be at least 1 (the graphs take a batch dimension) and fit in an int32; {} is the \
                 runtime's default batch",
                options.max_batch_size,
                crate::DEFAULT_BATCH_SIZE
            ),
        });
    }
    if options.instances == 0 {
        return Err(TritonError::InvalidOption {
            name: "instances",
            reason: "must be at least 1 instance per group".into(),
        });
    }
    Ok(())
}

/// The per-item dims of `tensor` in Triton's convention (batch dimension left out), and whether it needs a
/// `reshape: { shape: [] }` (a tensor that is only the batch dimension is declared as `[1]`).
fn triton_dims(tensor: Tensor, meta: &BundleMetadata) -> (Vec<usize>, bool) {
    match tensor {
        Tensor::X => (meta.data_shape.dims(), false),
        Tensor::Z => (vec![meta.latent_dim()], false),
        Tensor::LogProb | Tensor::BitsPerDim => (vec![1], true),
    }
}

fn tensor_entries(tensors: &[Tensor], meta: &BundleMetadata) -> String {
    let entries: Vec<String> = tensors
        .iter()
        .map(|&t| {
            let (dims, reshape) = triton_dims(t, meta);
            let dims: Vec<String> = dims.iter().map(ToString::to_string).collect();
            let mut entry = format!(
                "  {{\n    name: \"{}\"\n    data_type: TYPE_FP32\n    dims: [ {} ]\n",
                t.name(),
                dims.join(", ")
            );
            if reshape {
                entry.push_str("    reshape: { shape: [ ] }\n");
            }
            entry.push_str("  }");
            entry
        })
        .collect();
    entries.join(",\n")
}

/// The text of one `config.pbtxt` (protobuf text format of Triton's `ModelConfig`).
pub fn model_config(
    meta: &BundleMetadata,
    direction: Direction,
    name: &str,
    options: &TritonOptions,
    kind: InstanceKind,
) -> String {
    let mut s = String::new();
    let what = match direction {
        Direction::Forward => {
            "scoring: send x as float32 in pixel units (a u8 pixel p as p + 0.5); bits_per_dim is the score"
        }
        Direction::Inverse => {
            "sampling: send z ~ N(0, T^2 I) (temperature T); clamp x to [0, 256], then floor(min(x, 255)) for u8"
        }
    };
    // Writing into a String cannot fail.
    let _ = writeln!(
        s,
        "# realnvp-rs bundle {} ({}), written by realnvp_runtime::triton\n# {what}",
        meta.pair_id,
        direction.file()
    );
    let _ = writeln!(s, "name: \"{name}\"");
    let _ = writeln!(s, "platform: \"onnxruntime_onnx\"");
    let _ = writeln!(s, "max_batch_size: {}", options.max_batch_size);
    let _ = writeln!(
        s,
        "input [\n{}\n]",
        tensor_entries(direction.inputs(), meta)
    );
    let _ = writeln!(
        s,
        "output [\n{}\n]",
        tensor_entries(direction.outputs(), meta)
    );
    let _ = writeln!(
        s,
        "dynamic_batching {{\n  max_queue_delay_microseconds: {}\n}}",
        options.max_queue_delay_us
    );
    let _ = writeln!(
        s,
        "instance_group [\n  {{\n    count: {}\n    kind: {}\n  }}\n]",
        options.instances,
        kind.proto()
    );
    let _ = writeln!(
        s,
        "parameters {{\n  key: \"realnvp.pair_id\"\n  value: {{ string_value: \"{}\" }}\n}}",
        meta.pair_id
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let ok = TritonOptions::default();
        assert!(check_options(&ok).is_ok());
        for name in ["", ".hidden", "a/b", "sp ace"] {
            let o = TritonOptions {
                name: name.into(),
                ..ok.clone()
            };
            assert!(matches!(
                check_options(&o),
                Err(TritonError::InvalidOption { name: "name", .. })
            ));
        }
        let o = TritonOptions {
            max_batch_size: 0,
            ..ok.clone()
        };
        let err = check_options(&o).unwrap_err().to_string();
        assert!(
            err.contains("max_batch_size") && err.contains("at least 1"),
            "{err}"
        );
        let o = TritonOptions { instances: 0, ..ok };
        assert!(check_options(&o).is_err());
    }
}

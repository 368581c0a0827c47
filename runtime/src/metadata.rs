//! The bundle's `metadata_props` (docs/bundle.md, format version 1): parsing and cross-checks.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Result, RuntimeError};

/// The only bundle format major version this runtime reads.
pub const FORMAT_VERSION: u32 = 1;

/// Every key that both graphs must carry.
pub const REQUIRED_KEYS: [&str; 11] = [
    "realnvp.format_version",
    "realnvp.direction",
    "realnvp.pair_id",
    "realnvp.data_kind",
    "realnvp.data_shape",
    "realnvp.latent_dim",
    "realnvp.opset",
    "realnvp.preprocessing",
    "realnvp.config",
    "realnvp.training",
    "realnvp.export_errors",
];

/// What the model's data are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// Images `[C, H, W]` in pixel units `[0, 256)`.
    Image,
    /// Vectors `[D]` in the original feature units.
    Vector,
}

impl DataKind {
    /// `"image"` or `"vector"`, as in the metadata.
    pub fn as_str(&self) -> &'static str {
        match self {
            DataKind::Image => "image",
            DataKind::Vector => "vector",
        }
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The validated metadata of a bundle (identical in both graphs, except the direction).
#[derive(Debug, Clone, PartialEq)]
pub struct BundleMetadata {
    /// Format version string as stored (major version [`FORMAT_VERSION`]).
    pub format_version: String,
    /// 32 hex digits shared by the two graphs of one export.
    pub pair_id: String,
    /// Image or vector model.
    pub data_kind: DataKind,
    /// Per-item data shape without the batch dimension: `[C, H, W]` or `[D]`.
    pub data_shape: Vec<usize>,
    /// Latent size `L` (the product of `data_shape`).
    pub latent_dim: usize,
    /// ONNX opset, as stored.
    pub opset: String,
    /// Preprocessing description (JSON).
    pub preprocessing: Value,
    /// The model config the bundle was exported from (JSON).
    pub config: Value,
    /// Training summary (JSON).
    pub training: Value,
    /// Errors measured at export (JSON).
    pub export_errors: Value,
    /// Every `metadata_props` entry of forward.onnx, including keys this runtime does not interpret.
    pub raw: BTreeMap<String, String>,
}

impl BundleMetadata {
    /// The model layout of the exported config (`config.layout`; absent in bundles exported
    /// before it existed, which are layout 1). Layout-1 models score u8 images at the bin centre
    /// up to a bit/dim worse than they deserve (docs/model.md, "Which half goes on").
    pub fn model_layout(&self) -> u64 {
        self.config
            .get("layout")
            .and_then(Value::as_u64)
            .unwrap_or(1)
    }
}

/// Reads one graph's metadata through `get` and validates it on its own.
pub(crate) fn parse_graph(
    file: &Path,
    expected_direction: &str,
    raw: BTreeMap<String, String>,
) -> Result<BundleMetadata> {
    let get = |key: &str| -> Result<&str> {
        raw.get(key)
            .map(String::as_str)
            .ok_or_else(|| RuntimeError::MissingMetadata {
                key: key.into(),
                file: file.into(),
            })
    };
    for key in REQUIRED_KEYS {
        get(key)?;
    }
    let invalid = |key: &str, reason: String| RuntimeError::InvalidMetadata {
        key: key.into(),
        file: file.into(),
        reason,
    };

    let format_version = get("realnvp.format_version")?.trim().to_string();
    let major = format_version.split('.').next().unwrap_or_default();
    if major.parse::<u32>().ok() != Some(FORMAT_VERSION) {
        return Err(RuntimeError::UnsupportedFormatVersion {
            found: format_version,
            file: file.into(),
        });
    }

    let direction = get("realnvp.direction")?;
    if direction != expected_direction {
        return Err(RuntimeError::WrongDirection {
            file: file.into(),
            expected: expected_direction.into(),
            found: direction.into(),
        });
    }

    let pair_id = get("realnvp.pair_id")?.to_string();
    if pair_id.len() != 32 || !pair_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "realnvp.pair_id",
            format!("`{pair_id}` is not 32 hex digits"),
        ));
    }

    let data_kind = match get("realnvp.data_kind")? {
        "image" => DataKind::Image,
        "vector" => DataKind::Vector,
        other => {
            return Err(invalid(
                "realnvp.data_kind",
                format!("`{other}` is neither `image` nor `vector`"),
            ));
        }
    };

    let shape_text = get("realnvp.data_shape")?;
    let data_shape: Vec<usize> = serde_json::from_str(shape_text).map_err(|e| {
        invalid(
            "realnvp.data_shape",
            format!("`{shape_text}` is not a JSON array of sizes: {e}"),
        )
    })?;
    let rank_ok = match data_kind {
        DataKind::Image => data_shape.len() == 3,
        DataKind::Vector => data_shape.len() == 1,
    };
    if !rank_ok || data_shape.contains(&0) {
        return Err(invalid(
            "realnvp.data_shape",
            format!("{data_shape:?} is not a valid {data_kind} shape ([C, H, W] or [D], all > 0)"),
        ));
    }
    let latent_text = get("realnvp.latent_dim")?;
    let latent_dim: usize = latent_text.trim().parse().map_err(|_| {
        invalid(
            "realnvp.latent_dim",
            format!("`{latent_text}` is not a decimal integer"),
        )
    })?;
    let product: usize = data_shape.iter().product();
    if latent_dim != product {
        return Err(invalid(
            "realnvp.latent_dim",
            format!("{latent_dim} differs from the size of data_shape {data_shape:?} ({product})"),
        ));
    }

    let json = |key: &str| -> Result<Value> {
        let text = get(key)?;
        serde_json::from_str(text).map_err(|e| invalid(key, format!("not valid JSON: {e}")))
    };
    Ok(BundleMetadata {
        format_version,
        pair_id,
        data_kind,
        data_shape,
        latent_dim,
        opset: get("realnvp.opset")?.to_string(),
        preprocessing: json("realnvp.preprocessing")?,
        config: json("realnvp.config")?,
        training: json("realnvp.training")?,
        export_errors: json("realnvp.export_errors")?,
        raw: raw.clone(),
    })
}

/// Checks that forward and inverse metadata describe the same export.
pub(crate) fn check_pair(
    dir: &Path,
    forward: &BundleMetadata,
    inverse: &BundleMetadata,
) -> Result<()> {
    if forward.pair_id != inverse.pair_id {
        return Err(RuntimeError::PairMismatch {
            forward: forward.pair_id.clone(),
            inverse: inverse.pair_id.clone(),
        });
    }
    let inconsistent =
        |what: &str, f: &dyn fmt::Debug, i: &dyn fmt::Debug| RuntimeError::InconsistentBundle {
            dir: dir.into(),
            reason: format!("forward.onnx has {what} {f:?} but inverse.onnx has {i:?}"),
        };
    if forward.format_version != inverse.format_version {
        return Err(inconsistent(
            "format_version",
            &forward.format_version,
            &inverse.format_version,
        ));
    }
    if forward.data_kind != inverse.data_kind {
        return Err(inconsistent(
            "data_kind",
            &forward.data_kind,
            &inverse.data_kind,
        ));
    }
    if forward.data_shape != inverse.data_shape {
        return Err(inconsistent(
            "data_shape",
            &forward.data_shape,
            &inverse.data_shape,
        ));
    }
    Ok(())
}

/// Compares model.json (when present) with the graphs' metadata; the graphs are authoritative, so any
/// disagreement refuses the bundle rather than guessing which one is right.
pub(crate) fn check_model_json(dir: &Path, meta: &BundleMetadata) -> Result<()> {
    let file: PathBuf = dir.join("model.json");
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RuntimeError::io(file, e)),
    };
    let card: Value = serde_json::from_str(&text).map_err(|e| RuntimeError::InvalidMetadata {
        key: "model.json".into(),
        file: file.clone(),
        reason: format!("not valid JSON: {e}"),
    })?;
    let disagree = |key: &str, card_value: &Value, graph_value: String| {
        RuntimeError::InconsistentBundle {
            dir: dir.into(),
            reason: format!(
                "model.json has {key} = {card_value} but the graphs' metadata say {graph_value}; the graphs are \
             authoritative: re-export the bundle or fix model.json"
            ),
        }
    };
    let checks: [(&str, Value); 5] = [
        ("format_version", Value::from(meta.format_version.clone())),
        ("pair_id", Value::from(meta.pair_id.clone())),
        ("data_kind", Value::from(meta.data_kind.as_str())),
        ("data_shape", Value::from(meta.data_shape.clone())),
        ("latent_dim", Value::from(meta.latent_dim)),
    ];
    for (key, expected) in checks {
        let Some(found) = card.get(key) else { continue };
        // format_version is a number in model.json and a string in the graphs: compare as text.
        let same = match (found, &expected) {
            (Value::Number(n), Value::String(s)) => n.to_string() == *s,
            (a, b) => a == b,
        };
        if !same {
            return Err(disagree(key, found, expected.to_string()));
        }
    }
    Ok(())
}

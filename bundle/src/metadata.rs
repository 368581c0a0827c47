//! [`BundleMetadata`] and its two stored forms: the graphs' `metadata_props` and `model.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{BundleError, Result};
use crate::names::{
    CARD_FILE, CARD_FILES_FIELD, Direction, FORMAT_VERSION, Key, OPSET, is_pair_id,
};
use crate::shape::{DataKind, DataShape};

/// The metadata of one export, identical in both graphs (but for the direction) and in `model.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleMetadata {
    /// Format major version ([`FORMAT_VERSION`] for everything this crate accepts).
    pub format_version: u32,
    /// 32 hex digits shared by the two graphs of one export, new for every export.
    pub pair_id: String,
    /// Per-item data shape; the latent size is its [`DataShape::numel`].
    pub data_shape: DataShape,
    /// ONNX opset of both graphs.
    pub opset: i64,
    /// The preprocessing, e.g. `{"kind": "logit", "alpha": 0.05}`.
    pub preprocessing: Value,
    /// The complete model config the bundle was exported from.
    pub config: Value,
    /// The training summary (readers ignore fields they do not know).
    pub training: Value,
    /// Errors measured at export (candle model vs graphs).
    pub export_errors: Value,
}

impl BundleMetadata {
    /// Metadata of a new export in the current format version and opset.
    pub fn new(
        pair_id: impl Into<String>,
        data_shape: DataShape,
        preprocessing: Value,
        config: Value,
        training: Value,
        export_errors: Value,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            pair_id: pair_id.into(),
            data_shape,
            opset: OPSET,
            preprocessing,
            config,
            training,
            export_errors,
        }
    }

    /// Latent size `L`.
    pub fn latent_dim(&self) -> usize {
        self.data_shape.numel()
    }

    /// Image or vector model.
    pub fn data_kind(&self) -> DataKind {
        self.data_shape.kind()
    }

    /// The model layout of the exported config (`config.layout`; absent in bundles exported before
    /// it existed, which are layout 1). Layout-1 models score u8 images at the bin centre up to a
    /// bit/dim worse than they deserve (docs/model.md, "Which half goes on").
    pub fn model_layout(&self) -> u64 {
        self.config
            .get("layout")
            .and_then(Value::as_u64)
            .unwrap_or(1)
    }

    /// The value of `key` as JSON (numbers as numbers, names as strings).
    fn value(&self, key: Key, direction: Option<Direction>) -> Value {
        match key {
            Key::FormatVersion => self.format_version.into(),
            Key::Direction => direction.map_or(Value::Null, |d| d.as_str().into()),
            Key::PairId => self.pair_id.clone().into(),
            Key::DataKind => self.data_kind().as_str().into(),
            Key::DataShape => self.data_shape.dims().into(),
            Key::LatentDim => self.latent_dim().into(),
            Key::Opset => self.opset.into(),
            Key::Preprocessing => self.preprocessing.clone(),
            Key::Config => self.config.clone(),
            Key::Training => self.training.clone(),
            Key::ExportErrors => self.export_errors.clone(),
        }
    }

    /// The `metadata_props` of the `direction` graph: `realnvp.NAME` → text (names as they are,
    /// numbers in decimal, everything else compact JSON).
    pub fn to_props(&self, direction: Direction) -> Vec<(String, String)> {
        Key::ALL
            .iter()
            .map(|&key| {
                // Only the keys stored as bare text (see `from_props`) write a string bare: a JSON key
                // whose value is a string (`"training": "abc"`) must stay quoted to read back.
                let text = match self.value(key, Some(direction)) {
                    Value::String(s) if key.is_text() => s,
                    other => other.to_string(),
                };
                (key.prop(), text)
            })
            .collect()
    }

    /// Reads and validates the `metadata_props` of `file`, which must be the `expected` graph.
    pub fn from_props(
        file: &Path,
        expected: Direction,
        props: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let get = |key: Key| -> Result<Value> {
            let prop = key.prop();
            let text = props.get(&prop).ok_or_else(|| BundleError::MissingKey {
                key: prop.clone(),
                file: file.into(),
            })?;
            Ok(match key {
                _ if key.is_text() => Value::String(text.clone()),
                _ => serde_json::from_str(text).map_err(|e| BundleError::InvalidKey {
                    key: prop,
                    file: file.into(),
                    reason: format!("`{text}` is not valid JSON: {e}"),
                })?,
            })
        };
        let meta = Self::from_values(file, &get, Key::prop)?;
        let found = get(Key::Direction)?;
        if found.as_str() != Some(expected.as_str()) {
            return Err(BundleError::WrongDirection {
                file: file.into(),
                expected: expected.as_str().into(),
                found: found.as_str().unwrap_or_default().into(),
            });
        }
        Ok(meta)
    }

    /// `model.json`: every key but the direction, plus the graph files by direction.
    pub fn to_card(&self) -> Value {
        let mut card: serde_json::Map<String, Value> = Key::ALL
            .iter()
            .filter(|key| key.in_card())
            .map(|&key| (key.name().to_string(), self.value(key, None)))
            .collect();
        let files = Direction::BOTH
            .iter()
            .map(|d| (d.as_str().to_string(), Value::from(d.file())))
            .collect();
        card.insert(CARD_FILES_FIELD.into(), Value::Object(files));
        Value::Object(card)
    }

    /// Reads and validates `model.json` (its text is `text`, read from `file`).
    pub fn from_card(file: &Path, text: &str) -> Result<Self> {
        let card: Value = serde_json::from_str(text).map_err(|e| BundleError::InvalidKey {
            key: CARD_FILE.into(),
            file: file.into(),
            reason: format!("not valid JSON: {e}"),
        })?;
        let get = |key: Key| -> Result<Value> {
            card.get(key.name())
                .cloned()
                .ok_or_else(|| BundleError::MissingKey {
                    key: key.name().into(),
                    file: file.into(),
                })
        };
        Self::from_values(file, &get, |k| k.name().to_string())
    }

    /// The typed metadata from `get`, which yields each key's value as JSON; `stored` names a key
    /// as the file spells it, for errors.
    fn from_values(
        file: &Path,
        get: &dyn Fn(Key) -> Result<Value>,
        stored: fn(Key) -> String,
    ) -> Result<Self> {
        let invalid = |key: Key, reason: String| BundleError::InvalidKey {
            key: stored(key),
            file: file.into(),
            reason,
        };
        // The version first: a newer format may have other keys, and that is the error to report.
        let version = get(Key::FormatVersion)?;
        let format_version = version
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v == FORMAT_VERSION)
            .ok_or_else(|| BundleError::UnsupportedFormatVersion {
                found: match &version {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                file: file.into(),
            })?;

        let pair_id = get(Key::PairId)?;
        let pair_id = pair_id
            .as_str()
            .filter(|s| is_pair_id(s))
            .ok_or_else(|| invalid(Key::PairId, format!("{pair_id} is not 32 hex digits")))?
            .to_string();

        let kind = get(Key::DataKind)?;
        let kind = kind.as_str().and_then(DataKind::parse).ok_or_else(|| {
            invalid(
                Key::DataKind,
                format!("{kind} is neither `image` nor `vector`"),
            )
        })?;
        let dims_value = get(Key::DataShape)?;
        let dims: Vec<usize> = serde_json::from_value(dims_value.clone()).map_err(|_| {
            invalid(
                Key::DataShape,
                format!("{dims_value} is not a JSON array of sizes"),
            )
        })?;
        let data_shape = DataShape::from_dims(kind, &dims).ok_or_else(|| {
            invalid(
                Key::DataShape,
                format!("{dims:?} is not a valid {kind} shape ([C, H, W] or [D], all > 0)"),
            )
        })?;
        let latent = get(Key::LatentDim)?;
        if latent.as_u64() != Some(data_shape.numel() as u64) {
            return Err(invalid(
                Key::LatentDim,
                format!(
                    "{latent} differs from the size of data_shape {dims:?} ({})",
                    data_shape.numel()
                ),
            ));
        }
        let opset = get(Key::Opset)?;
        let opset = opset
            .as_i64()
            .ok_or_else(|| invalid(Key::Opset, format!("{opset} is not an integer")))?;
        Ok(Self {
            format_version,
            pair_id,
            data_shape,
            opset,
            preprocessing: get(Key::Preprocessing)?,
            config: get(Key::Config)?,
            training: get(Key::Training)?,
            export_errors: get(Key::ExportErrors)?,
        })
    }

    /// The first key (in format order) whose value differs between `self` and `other`, with both values.
    fn first_difference(&self, other: &Self, keys: &[Key]) -> Option<(Key, Value, Value)> {
        keys.iter().find_map(|&key| {
            let (a, b) = (self.value(key, None), other.value(key, None));
            (a != b).then_some((key, a, b))
        })
    }

    /// Checks that `forward` and `inverse` (the graphs of the bundle in `dir`) come from one export.
    pub fn check_pair(dir: &Path, forward: &Self, inverse: &Self) -> Result<()> {
        if forward.pair_id != inverse.pair_id {
            return Err(BundleError::PairMismatch {
                forward: forward.pair_id.clone(),
                inverse: inverse.pair_id.clone(),
            });
        }
        let keys: Vec<Key> = Key::ALL.into_iter().filter(|k| k.in_card()).collect();
        match forward.first_difference(inverse, &keys) {
            None => Ok(()),
            Some((key, f, i)) => Err(BundleError::Inconsistent {
                dir: dir.into(),
                reason: format!(
                    "forward.onnx has {key} {f} but inverse.onnx has {i}; re-export the bundle"
                ),
            }),
        }
    }

    /// Checks that `card` (read from `model.json` in `dir`) says what the graphs (`self`) say. The
    /// graphs are authoritative, so any difference refuses the bundle rather than guessing.
    pub fn check_card(&self, dir: &Path, card: &Self) -> Result<()> {
        let keys: Vec<Key> = Key::ALL.into_iter().filter(|k| k.in_card()).collect();
        match card.first_difference(self, &keys) {
            None => Ok(()),
            Some((key, c, g)) => Err(BundleError::Inconsistent {
                dir: dir.into(),
                reason: format!(
                    "model.json has {key} = {c} but the graphs' metadata say {g}; the graphs are \
                     authoritative: re-export the bundle or fix model.json"
                ),
            }),
        }
    }
}

//! Every name of the format, spelled once: format version, file names, graph tensors, metadata keys.

use std::fmt;

/// The bundle format major version written by this crate and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// ONNX opset of both graphs.
pub const OPSET: i64 = 17;

/// ONNX `ir_version` of both graphs.
pub const IR_VERSION: i64 = 8;

/// The scoring graph: data → latent, log-likelihood, bits/dim.
pub const FORWARD_FILE: &str = "forward.onnx";

/// The sampling graph: latent → data.
pub const INVERSE_FILE: &str = "inverse.onnx";

/// The human-readable card with the same metadata as the graphs.
pub const CARD_FILE: &str = "model.json";

/// Every file a bundle directory holds; nothing else belongs there.
pub const BUNDLE_FILES: [&str; 3] = [FORWARD_FILE, INVERSE_FILE, CARD_FILE];

/// The out-of-distribution threshold `runtime calibrate` writes for one export (optional; a new export
/// into the directory removes it, since it belongs to the old graphs).
pub const CALIBRATION_FILE: &str = "calibration.json";

/// Every file a bundle directory may hold: what an export replaces without losing anything of the user's.
pub const KNOWN_FILES: [&str; 4] = [FORWARD_FILE, INVERSE_FILE, CARD_FILE, CALIBRATION_FILE];

/// The most values (samples × values per sample) one sampling call draws, in the trainer and the runtime:
/// 2^28 f32, 1 GiB.
pub const MAX_SAMPLE_VALUES: usize = 1 << 28;

/// Whether `id` is a pair id: 32 hex digits.
pub fn is_pair_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Prefix of every `metadata_props` key.
pub const PROP_PREFIX: &str = "realnvp.";

/// Which of the two graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// [`FORWARD_FILE`]: `x` → `z`, `log_prob`, `bits_per_dim`.
    Forward,
    /// [`INVERSE_FILE`]: `z` → `x`.
    Inverse,
}

impl Direction {
    /// Both directions, forward first.
    pub const BOTH: [Direction; 2] = [Direction::Forward, Direction::Inverse];

    /// `"forward"` or `"inverse"`, as stored in the metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Inverse => "inverse",
        }
    }

    /// The graph's file name inside a bundle.
    pub fn file(self) -> &'static str {
        match self {
            Direction::Forward => FORWARD_FILE,
            Direction::Inverse => INVERSE_FILE,
        }
    }

    /// The graph's inputs, in order.
    pub fn inputs(self) -> &'static [Tensor] {
        match self {
            Direction::Forward => &[Tensor::X],
            Direction::Inverse => &[Tensor::Z],
        }
    }

    /// The graph's outputs, in order.
    pub fn outputs(self) -> &'static [Tensor] {
        match self {
            Direction::Forward => &[Tensor::Z, Tensor::LogProb, Tensor::BitsPerDim],
            Direction::Inverse => &[Tensor::X],
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The named inputs and outputs of the graphs (all `float32`, batch dimension first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tensor {
    /// Data, `[N, C, H, W]` or `[N, D]`: forward input, inverse output.
    X,
    /// Latent, `[N, L]`: forward output, inverse input.
    Z,
    /// `log p(x)` in nats, `[N]`.
    LogProb,
    /// `-log p(x) / (L ln 2)`, `[N]`.
    BitsPerDim,
}

impl Tensor {
    /// The tensor's name in the graphs.
    pub fn name(self) -> &'static str {
        match self {
            Tensor::X => "x",
            Tensor::Z => "z",
            Tensor::LogProb => "log_prob",
            Tensor::BitsPerDim => "bits_per_dim",
        }
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metadata key. In the graphs it is stored as [`Key::prop`] (`realnvp.NAME`), in `model.json` as
/// [`Key::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// [`FORMAT_VERSION`].
    FormatVersion,
    /// [`Direction`] (graphs only; `model.json` describes both).
    Direction,
    /// 32 hex digits shared by the two graphs of one export.
    PairId,
    /// [`crate::DataKind`].
    DataKind,
    /// Per-item dimensions, JSON array.
    DataShape,
    /// Latent size `L`.
    LatentDim,
    /// [`OPSET`].
    Opset,
    /// The preprocessing (JSON).
    Preprocessing,
    /// The full model config (JSON).
    Config,
    /// The training summary (JSON).
    Training,
    /// Errors measured at export (JSON).
    ExportErrors,
}

impl Key {
    /// Every key, in the order the format lists them.
    pub const ALL: [Key; 11] = [
        Key::FormatVersion,
        Key::Direction,
        Key::PairId,
        Key::DataKind,
        Key::DataShape,
        Key::LatentDim,
        Key::Opset,
        Key::Preprocessing,
        Key::Config,
        Key::Training,
        Key::ExportErrors,
    ];

    /// The key's name (its `model.json` field).
    pub fn name(self) -> &'static str {
        match self {
            Key::FormatVersion => "format_version",
            Key::Direction => "direction",
            Key::PairId => "pair_id",
            Key::DataKind => "data_kind",
            Key::DataShape => "data_shape",
            Key::LatentDim => "latent_dim",
            Key::Opset => "opset",
            Key::Preprocessing => "preprocessing",
            Key::Config => "config",
            Key::Training => "training",
            Key::ExportErrors => "export_errors",
        }
    }

    /// The `metadata_props` key: `realnvp.NAME`.
    pub fn prop(self) -> String {
        format!("{PROP_PREFIX}{}", self.name())
    }

    /// Whether the graphs store this key's value as bare text (the direction, pair id and data kind);
    /// every other value is stored as JSON, a JSON string in quotes.
    pub fn is_text(self) -> bool {
        matches!(self, Key::Direction | Key::PairId | Key::DataKind)
    }

    /// Whether `model.json` carries this key (the direction is per graph).
    pub fn in_card(self) -> bool {
        self != Key::Direction
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `model.json` field listing the graph files by direction.
pub const CARD_FILES_FIELD: &str = "files";

/// Every name of the format as one JSON object, for tools outside Rust (the Python test fixture
/// receives it instead of keeping a copy).
pub fn as_json() -> serde_json::Value {
    let tensors = [
        ("data", Tensor::X),
        ("latent", Tensor::Z),
        ("log_prob", Tensor::LogProb),
        ("bits_per_dim", Tensor::BitsPerDim),
    ];
    serde_json::json!({
        "format_version": FORMAT_VERSION,
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "files": Direction::BOTH.iter().map(|d| (d.as_str().to_string(), d.file().into())).collect::<serde_json::Map<_, _>>(),
        "card_file": CARD_FILE,
        "calibration_file": CALIBRATION_FILE,
        "card_files_field": CARD_FILES_FIELD,
        "tensors": tensors.iter().map(|(role, t)| (role.to_string(), t.name().into())).collect::<serde_json::Map<_, _>>(),
        "keys": Key::ALL.iter().map(|k| (k.name().to_string(), k.prop().into())).collect::<serde_json::Map<_, _>>(),
        "directions": Direction::BOTH.map(Direction::as_str),
        "data_kinds": crate::DataKind::ALL.map(crate::DataKind::as_str),
    })
}

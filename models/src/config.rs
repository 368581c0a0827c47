//! Model configuration: everything needed to rebuild a flow, kept apart from the weights.

use serde::{Deserialize, Serialize};

use crate::{ModelError, Result};

/// What one example looks like: the format's one data-shape type (`realnvp_bundle::DataShape`).
pub use realnvp_bundle::DataShape;

/// The fixed bijection from data space to the space the couplings work in; its log-det is part of
/// every likelihood.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Preprocessing {
    /// `logit(α + (1-2α)·x/256)` for images in `[0, 256)`.
    Logit {
        /// Keeps the logit away from ±∞ at pixel values 0 and 256. The paper uses 0.05.
        alpha: f64,
    },
    /// `x/256` for images.
    Scale,
    /// `(x - mean)/std` per feature for vectors, fitted on the training set.
    Standardize,
}

/// Normalization inside the s/t ResNets (not on the flow path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetNorm {
    /// Batch norm with running statistics (frozen at eval and export).
    Batch,
    /// Instance norm: per example and channel over the spatial dimensions.
    Instance,
}

/// Batch norm on the flow path (a bijection with its own log-det).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormConfig {
    /// Weight of the batch statistic in the running average:
    /// `running = (1 - momentum)·running + momentum·batch`.
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub eps: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        Self {
            momentum: 0.05,
            eps: 1e-5,
        }
    }
}

/// The multi-scale convolutional architecture for images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiScaleConfig {
    /// Number of scales, the last one included (`2`: one scale with squeeze and factor-out, then
    /// the final scale). Height and width must be divisible by `2^(num_scales-1)`.
    pub num_scales: usize,
    /// Width of the s/t ResNets at the first scale; it doubles at each scale.
    pub hidden_channels: usize,
    /// Residual blocks per s/t ResNet.
    pub num_blocks: usize,
    /// Normalization inside the s/t ResNets.
    pub net_norm: NetNorm,
    /// Checkerboard couplings before each squeeze (the paper: 3).
    pub checkerboard_couplings: usize,
    /// Channel-wise couplings after each squeeze (the paper: 3).
    pub channel_couplings: usize,
    /// Checkerboard couplings at the final scale (the paper: 4).
    pub final_couplings: usize,
}

/// The architecture for vectors: couplings with MLP s/t networks on alternating halves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Number of affine couplings.
    pub num_couplings: usize,
    /// Width of each hidden layer.
    pub hidden: usize,
    /// Number of hidden layers.
    pub hidden_layers: usize,
}

/// The coupling stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// Convolutional multi-scale RealNVP for images.
    MultiScale(MultiScaleConfig),
    /// MLP couplings for vectors.
    Mlp(MlpConfig),
}

/// The model layout this version builds; see [`FlowConfig::layout`].
///
/// - 1: each scale's last channel coupling transformed the half of the channels that goes on to
///   the next scale (parities 0, 1, 0). Its models score u8 images up to a bit/dim worse at the
///   bin centre than with random dequantization (docs/model.md, "Which half goes on").
/// - 2: that coupling transforms the half that is factored out, conditioned on the half that goes
///   on (parities 1, 0, 1 for three channel couplings).
pub const MODEL_LAYOUT: u32 = 2;

/// Configs written before the field existed are layout 1.
fn legacy_layout() -> u32 {
    1
}

/// A complete description of a flow; with the weights it rebuilds the model exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowConfig {
    /// How the layers are arranged ([`MODEL_LAYOUT`]): the same weights in another layout are
    /// another model, so a config of another layout is refused rather than misread.
    #[serde(default = "legacy_layout")]
    pub layout: u32,
    /// Shape of one example.
    pub data: DataShape,
    /// The data-space preprocessing bijection.
    pub preprocessing: Preprocessing,
    /// The coupling stack.
    pub architecture: Architecture,
    /// Batch norm after every coupling, or none.
    pub flow_batch_norm: Option<BatchNormConfig>,
    /// L2 penalty on the couplings' learned `s` scales, added to the loss.
    pub s_scale_l2: f64,
}

/// Names accepted by [`FlowConfig::preset`].
pub const PRESETS: [&str; 7] = [
    "moons",
    "tiny",
    "fmnist-small",
    "fmnist-medium",
    "fmnist-paper",
    "cifar-small",
    "cifar-paper",
];

impl FlowConfig {
    /// A multi-scale image model with the paper's choices: logit preprocessing (α = 0.05),
    /// 3 checkerboard + 3 channel-wise couplings per scale and 4 at the last, batch norm inside
    /// the s/t ResNets and after every coupling, L2 5e-5 on the `s` scales. Fields can be
    /// changed afterwards.
    pub fn multi_scale_image(
        (channels, height, width): (usize, usize, usize),
        num_scales: usize,
        hidden_channels: usize,
        num_blocks: usize,
    ) -> Self {
        FlowConfig {
            layout: MODEL_LAYOUT,
            data: DataShape::Image {
                channels,
                height,
                width,
            },
            preprocessing: Preprocessing::Logit { alpha: 0.05 },
            architecture: Architecture::MultiScale(MultiScaleConfig {
                num_scales,
                hidden_channels,
                num_blocks,
                net_norm: NetNorm::Batch,
                checkerboard_couplings: 3,
                channel_couplings: 3,
                final_couplings: 4,
            }),
            flow_batch_norm: Some(BatchNormConfig::default()),
            s_scale_l2: 5e-5,
        }
    }

    /// A named preset: `moons` (2-D, 8 MLP couplings of 256×2), `tiny` (28×28×1, 2 scales,
    /// 8 channels, 1 block: for tests), `fmnist-small` (28×28×1, 2 scales, 32 channels,
    /// 2 blocks), `fmnist-medium` (64 channels, 4 blocks), `fmnist-paper` (64 channels, 8 blocks);
    /// colour 3×32×32 with one downscale (2 scales): `cifar-small` (32 channels, 2 blocks, trains on
    /// 2 cores) and `cifar-paper` (64 channels, 8 blocks: the paper's CIFAR-10 model).
    pub fn preset(name: &str) -> Result<Self> {
        let image = |hidden_channels, num_blocks| {
            Self::multi_scale_image((1, 28, 28), 2, hidden_channels, num_blocks)
        };
        let colour = |hidden_channels, num_blocks| {
            Self::multi_scale_image((3, 32, 32), 2, hidden_channels, num_blocks)
        };
        let config = match name {
            "moons" => FlowConfig {
                layout: MODEL_LAYOUT,
                data: DataShape::Vector { dim: 2 },
                preprocessing: Preprocessing::Standardize,
                architecture: Architecture::Mlp(MlpConfig {
                    num_couplings: 8,
                    hidden: 256,
                    hidden_layers: 2,
                }),
                flow_batch_norm: None,
                s_scale_l2: 5e-5,
            },
            "tiny" => image(8, 1),
            "fmnist-small" => image(32, 2),
            "fmnist-medium" => image(64, 4),
            "fmnist-paper" => image(64, 8),
            "cifar-small" => colour(32, 2),
            "cifar-paper" => colour(64, 8),
            other => {
                return Err(ModelError::InvalidConfig(format!(
                    "unknown preset {other:?}; choose one of {}",
                    PRESETS.join(", ")
                )));
            }
        };
        Ok(config)
    }

    /// Checks that the pieces fit together (divisibility, matching data and architecture).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::InvalidConfig(m));
        if self.layout != MODEL_LAYOUT {
            return Err(ModelError::LayoutVersion {
                found: self.layout,
                supported: MODEL_LAYOUT,
            });
        }
        match (&self.data, &self.architecture) {
            (
                DataShape::Image {
                    channels,
                    height,
                    width,
                },
                Architecture::MultiScale(ms),
            ) => {
                if ms.num_scales == 0 {
                    return bad("multi_scale.num_scales must be at least 1".into());
                }
                let f = 1usize << (ms.num_scales - 1);
                if *channels == 0
                    || height % f != 0
                    || width % f != 0
                    || *height == 0
                    || *width == 0
                {
                    return bad(format!(
                        "image {channels}x{height}x{width}: height and width must be positive and divisible by 2^(num_scales-1) = {f}"
                    ));
                }
                if ms.hidden_channels == 0 {
                    return bad("multi_scale.hidden_channels must be positive".into());
                }
                if ms.num_scales > 1 && ms.channel_couplings > 0 && *channels * 4 < 2 {
                    return bad("channel-wise couplings need at least 2 channels".into());
                }
                if matches!(self.preprocessing, Preprocessing::Standardize) {
                    return bad("standardize preprocessing is for vector data; use logit or scale for images".into());
                }
                if let Preprocessing::Logit { alpha } = self.preprocessing
                    && !(0.0..0.5).contains(&alpha)
                {
                    return bad(format!("logit alpha {alpha} must be in [0, 0.5)"));
                }
            }
            (DataShape::Vector { dim }, Architecture::Mlp(mlp)) => {
                if *dim < 2 {
                    return bad(format!(
                        "vector dim {dim}: couplings need at least 2 features"
                    ));
                }
                if mlp.hidden == 0 || mlp.hidden_layers == 0 {
                    return bad("mlp.hidden and mlp.hidden_layers must be positive".into());
                }
                if !matches!(self.preprocessing, Preprocessing::Standardize) {
                    return bad("vector data uses standardize preprocessing".into());
                }
            }
            (data, _) => {
                return bad(format!(
                    "{} data needs the {} architecture",
                    data.kind(),
                    if matches!(data, DataShape::Image { .. }) {
                        "multi_scale"
                    } else {
                        "mlp"
                    }
                ));
            }
        }
        if let Some(bn) = &self.flow_batch_norm
            && (!(0.0..=1.0).contains(&bn.momentum) || bn.eps <= 0.0)
        {
            return bad("flow_batch_norm: momentum must be in [0, 1] and eps positive".into());
        }
        Ok(())
    }

    /// Reads a config from a JSON file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self =
            serde_json::from_str(&text).map_err(|source| ModelError::ConfigJson {
                path: path.to_path_buf(),
                source,
            })?;
        config.validate()?;
        Ok(config)
    }
}

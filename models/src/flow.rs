//! The whole model: preprocessing and the coupling stack, the likelihood, the loss, sampling,
//! saving and loading, and the two exported graphs.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_onnx::onnx::ModelProto;
use realnvp_bundle::Tensor as TensorName;
use realnvp_bundle::density::{bits_per_dim_per_nat, standard_normal_log_norm};
use realnvp_bundle::files::write_atomic_with as write_atomic;

use crate::config::{
    Architecture, DataShape, FlowConfig, MlpConfig, MultiScaleConfig, Preprocessing,
};
use crate::layers::{
    AffineCoupling, FlowBatchNorm, Logit, Mask, MultiScale, Scale, Sequence, Squeeze, Standardize,
};
use crate::nets::{Mlp, ResNet, StNet};
use crate::onnx::{Graph, ValueShape};
use crate::{Bijection, Mode, ModelError, Result};

/// `log N(z; 0, I)` per example: `z` `[N, L]` → `[N]`.
pub fn standard_normal_log_prob(z: &Tensor) -> Result<Tensor> {
    let norm = standard_normal_log_norm(z.dim(1)?);
    Ok(((z.sqr()?.sum(1)? * -0.5)? + norm)?)
}

/// A RealNVP flow. Shapes: data `x` `[N, C, H, W]` (pixel units) or `[N, D]`; latent `z`
/// `[N, L]`; log-likelihoods `[N]` in nats.
pub struct RealNvp {
    config: FlowConfig,
    preprocess: Box<dyn Bijection>,
    flow: Box<dyn Bijection>,
    standardize: Option<std::sync::Arc<Standardize>>,
    s_scales: Vec<Tensor>,
}

/// File names inside a saved model directory.
const CONFIG_FILE: &str = "config.json";
const WEIGHTS_FILE: &str = "model.safetensors";

impl RealNvp {
    /// The variables the forward pass sets (running statistics) or that are fitted once
    /// (standardization): everything in the VarMap but these is trained.
    pub fn buffers(&self) -> Vec<candle_core::Var> {
        let mut all = self.preprocess.buffers();
        all.extend(self.flow.buffers());
        all
    }

    /// Builds the model described by `config` with weights from `vb` (a VarMap-backed builder
    /// creates fresh ones).
    pub fn new(config: &FlowConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let dims = config.data.dims();
        let mut standardize = None;
        let preprocess: Box<dyn Bijection> = match config.preprocessing {
            Preprocessing::Logit { alpha } => Box::new(Logit::new(alpha, &dims)),
            Preprocessing::Scale => Box::new(Scale::new(&dims)),
            Preprocessing::Standardize => {
                let s = std::sync::Arc::new(Standardize::new(dims[0], &vb.pp("standardize"))?);
                standardize = Some(s.clone());
                Box::new(SharedBijection(s))
            }
        };
        let mut stacks = StackBuilder {
            config,
            s_scales: Vec::new(),
        };
        let flow: Box<dyn Bijection> = match (&config.architecture, config.data) {
            (
                Architecture::MultiScale(ms),
                DataShape::Image {
                    channels,
                    height,
                    width,
                },
            ) => Box::new(stacks.scale(ms, 0, (channels, height, width), vb.pp("scale0"))?),
            (Architecture::Mlp(mlp), DataShape::Vector { dim }) => {
                Box::new(stacks.mlp_stack(mlp, dim, vb.pp("couplings"))?)
            }
            _ => unreachable!("validate() rejects mismatched data and architecture"),
        };
        Ok(Self {
            config: config.clone(),
            preprocess,
            flow,
            standardize,
            s_scales: stacks.s_scales,
        })
    }

    /// A freshly initialised model and the VarMap holding its weights.
    pub fn init(config: &FlowConfig, dtype: DType, device: &Device) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        Ok((Self::new(config, vb)?, varmap))
    }

    /// The config the model was built from.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// Fits the standardization of a vector model on training data `[N, D]`; a no-op for images.
    pub fn fit_preprocessing(&self, train: &Tensor) -> Result<()> {
        match &self.standardize {
            Some(s) => s.fit(train),
            None => Ok(()),
        }
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let dims = self.config.data.dims();
        if x.rank() != dims.len() + 1 || x.dims()[1..] != dims[..] {
            return Err(ModelError::InputShape {
                got: x.dims().to_vec(),
                expected: format!(
                    "[N, {}]",
                    dims.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        Ok(())
    }

    /// Data → latent: `x` `[N, ...]` → (`z` `[N, L]`, `log|det ∂z/∂x|` `[N]`, preprocessing
    /// included).
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        self.check_input(x)?;
        let (h, ld0) = self.preprocess.forward(x, mode)?;
        let (z, ld1) = self.flow.forward(&h, mode)?;
        let z = z.flatten_from(1)?;
        Ok((z, (ld0 + ld1)?))
    }

    /// Latent → data (eval mode): `z` `[N, L]` → `x` `[N, ...]`.
    pub fn inverse(&self, z: &Tensor) -> Result<Tensor> {
        let l = self.config.data.numel();
        if z.rank() != 2 || z.dim(1)? != l {
            return Err(ModelError::InputShape {
                got: z.dims().to_vec(),
                expected: format!("[N, {l}]"),
            });
        }
        // Both stacks take the flat latent: the multi-scale one splits it by scale itself.
        let h = self.flow.inverse(z)?;
        self.preprocess.inverse(&h)
    }

    /// `log p(x)` in nats per example, `[N]`.
    pub fn log_prob(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (z, ld) = self.forward(x, mode)?;
        Ok((standard_normal_log_prob(&z)? + ld)?)
    }

    /// `-log p / (L ln 2)`: converts `[N]` log-likelihoods to bits per dimension.
    pub fn bits_per_dim(&self, log_prob: &Tensor) -> Result<Tensor> {
        Ok((log_prob * -bits_per_dim_per_nat(self.config.data.numel()))?)
    }

    /// The training objective on a batch: `(loss, mean bits/dim)`, both scalars, where
    /// `loss = mean bits/dim + s_scale_l2 · Σ scale²`.
    pub fn loss(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let bpd = self
            .bits_per_dim(&self.log_prob(x, Mode::Train)?)?
            .mean_all()?;
        let mut l2 = Tensor::zeros((), bpd.dtype(), bpd.device())?;
        for s in &self.s_scales {
            l2 = (l2 + s.sqr()?.sum_all()?)?;
        }
        let loss = (&bpd + (l2 * self.config.s_scale_l2)?)?;
        Ok((loss, bpd))
    }

    /// The forward (scoring) graph: `x` → `z`, `log_prob`, `bits_per_dim`, frozen statistics.
    pub fn forward_onnx(&self, metadata: &[(String, String)]) -> Result<ModelProto> {
        let mut g = Graph::new();
        let x = g.input(TensorName::X.name());
        let rank = self.config.data.dims().len() + 1;
        let (h, ld0) = g.scoped("preprocess", |g| self.preprocess.emit_forward(g, &x))?;
        let (z, ld1) = g.scoped("flow", |g| self.flow.emit_forward(g, &h))?;
        let ld = ld0.plus(&mut g, ld1).into_value(&mut g, &x, rank);
        let l = self.config.data.numel();
        let zz = g.mul(&z, &z);
        let sq = g.sum_per_example(&zz, 2);
        let prior = g.mul_scalar(&sq, -0.5);
        let prior = g.add_scalar(&prior, standard_normal_log_norm(l) as f32);
        let log_prob = g.add(&prior, &ld);
        let bpd = g.mul_scalar(&log_prob, -bits_per_dim_per_nat(l) as f32);
        g.rename(&z, TensorName::Z.name());
        g.rename(&log_prob, TensorName::LogProb.name());
        g.rename(&bpd, TensorName::BitsPerDim.name());
        Ok(g.into_model(
            "realnvp_forward",
            &[self.data_shape()],
            &[
                latent_shape(l),
                batch_shape(TensorName::LogProb),
                batch_shape(TensorName::BitsPerDim),
            ],
            metadata,
        ))
    }

    /// The inverse (sampling) graph: `z` `[N, L]` → `x`, frozen statistics, no randomness.
    pub fn inverse_onnx(&self, metadata: &[(String, String)]) -> Result<ModelProto> {
        let mut g = Graph::new();
        let z = g.input(TensorName::Z.name());
        let h = g.scoped("flow", |g| self.flow.emit_inverse(g, &z))?;
        let x = g.scoped("preprocess", |g| self.preprocess.emit_inverse(g, &h))?;
        g.rename(&x, TensorName::X.name());
        Ok(g.into_model(
            "realnvp_inverse",
            &[latent_shape(self.config.data.numel())],
            &[self.data_shape()],
            metadata,
        ))
    }

    fn data_shape(&self) -> ValueShape {
        let mut dims = vec![None];
        dims.extend(self.config.data.dims().into_iter().map(Some));
        ValueShape {
            name: TensorName::X.name().into(),
            dims,
        }
    }

    /// Writes `config.json` and `model.safetensors` into `dir` (created if needed), each
    /// atomically (temporary file, then rename).
    pub fn save(&self, varmap: &VarMap, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
            path: dir.into(),
            source,
        })?;
        let json = serde_json::to_string_pretty(&self.config).expect("config serializes");
        write_atomic(&dir.join(CONFIG_FILE), |tmp| {
            std::fs::write(tmp, &json).map_err(|source| ModelError::Io {
                path: tmp.into(),
                source,
            })
        })?;
        write_atomic(&dir.join(WEIGHTS_FILE), |tmp| Ok(varmap.save(tmp)?))
    }

    /// Loads a model saved with [`RealNvp::save`].
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, VarMap)> {
        let config = FlowConfig::from_file(&dir.join(CONFIG_FILE))?;
        let (model, mut varmap) = Self::init(&config, DType::F32, device)?;
        let weights = dir.join(WEIGHTS_FILE);
        if !weights.exists() {
            return Err(ModelError::Io {
                path: weights,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "weights file missing"),
            });
        }
        varmap.load(&weights)?;
        Ok((model, varmap))
    }
}

fn latent_shape(l: usize) -> ValueShape {
    ValueShape {
        name: TensorName::Z.name().into(),
        dims: vec![None, Some(l)],
    }
}

fn batch_shape(tensor: TensorName) -> ValueShape {
    ValueShape {
        name: tensor.name().into(),
        dims: vec![None],
    }
}

/// Lets the model keep a handle on its standardization (to fit it) while the chain owns it.
struct SharedBijection<B>(std::sync::Arc<B>);

impl<B: Bijection> Bijection for SharedBijection<B> {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        self.0.forward(x, mode)
    }
    fn inverse(&self, y: &Tensor) -> Result<Tensor> {
        self.0.inverse(y)
    }
    fn emit_forward(
        &self,
        g: &mut Graph,
        x: &crate::onnx::Value,
    ) -> Result<(crate::onnx::Value, crate::onnx::LogDet)> {
        self.0.emit_forward(g, x)
    }
    fn emit_inverse(&self, g: &mut Graph, y: &crate::onnx::Value) -> Result<crate::onnx::Value> {
        self.0.emit_inverse(g, y)
    }
    fn buffers(&self) -> Vec<candle_core::Var> {
        self.0.buffers()
    }
}

/// Mask parity of channel coupling `i` of `n` before a factor-out, which takes the first half of
/// the channels into the latent. The last coupling keeps the second half (parity 1), the one that
/// goes on to the next scale, and transforms the half that leaves. The other way round (layout 1)
/// left a density with a hole at perfectly flat backgrounds: u8 images scored up to a bit/dim
/// worse at the bin centre than under random dequantization (docs/model.md).
fn factor_out_parity(i: usize, n: usize) -> usize {
    (n - i) % 2
}

/// Builds the coupling stacks, collecting the `s` scales for the L2 penalty on the way.
struct StackBuilder<'a> {
    config: &'a FlowConfig,
    s_scales: Vec<Tensor>,
}

impl StackBuilder<'_> {
    /// Appends a coupling (and its batch norm, when configured) to `seq`.
    fn push_coupling(
        &mut self,
        seq: &mut Sequence,
        name: &str,
        dims: &[usize],
        mask: Mask,
        net: StNet,
        vb: &VarBuilder,
    ) -> Result<()> {
        let coupling = AffineCoupling::new(dims, mask, net, vb.pp(name))?;
        self.s_scales.push(coupling.s_scale().clone());
        seq.push(name, coupling);
        if let Some(bn) = self.config.flow_batch_norm {
            let bn_name = format!("{name}_bn");
            seq.push(
                bn_name.clone(),
                FlowBatchNorm::new(dims, bn, vb.pp(bn_name))?,
            );
        }
        Ok(())
    }

    /// Scale `index` of a multi-scale model on `[C, H, W]` inputs, and the scales after it.
    fn scale(
        &mut self,
        ms: &MultiScaleConfig,
        index: usize,
        (c, h, w): (usize, usize, usize),
        vb: VarBuilder,
    ) -> Result<MultiScale> {
        let width = ms.hidden_channels << index;
        let resnet = |ch: usize, hw: (usize, usize), vb: VarBuilder| -> Result<StNet> {
            Ok(StNet::ResNet(ResNet::new(
                ch,
                hw,
                width,
                ms.num_blocks,
                ms.net_norm,
                vb.pp("net"),
            )?))
        };
        let mut seq = Sequence::new();
        let last = index + 1 == ms.num_scales;
        let n_checker = if last {
            ms.final_couplings
        } else {
            ms.checkerboard_couplings
        };
        for i in 0..n_checker {
            let name = format!("checker{i}");
            let net = resnet(c, (h, w), vb.pp(&name))?;
            self.push_coupling(
                &mut seq,
                &name,
                &[c, h, w],
                Mask::Checkerboard { parity: i % 2 },
                net,
                &vb,
            )?;
        }
        if last {
            return Ok(MultiScale::last(seq, (c, h, w)));
        }
        let (c2, h2, w2) = (4 * c, h / 2, w / 2);
        seq.push("squeeze", Squeeze::new(c, h, w));
        for i in 0..ms.channel_couplings {
            let name = format!("channel{i}");
            let net = resnet(c2, (h2, w2), vb.pp(&name))?;
            self.push_coupling(
                &mut seq,
                &name,
                &[c2, h2, w2],
                Mask::Channel {
                    parity: factor_out_parity(i, ms.channel_couplings),
                },
                net,
                &vb,
            )?;
        }
        let next_vb = vb.pp(format!("scale{}", index + 1));
        let next = self.scale(ms, index + 1, (c2 - c2 / 2, h2, w2), next_vb)?;
        Ok(MultiScale::with_next(seq, (c2, h2, w2), next))
    }

    /// The coupling stack of a vector model: MLP couplings on alternating halves.
    fn mlp_stack(&mut self, mlp: &MlpConfig, dim: usize, vb: VarBuilder) -> Result<Sequence> {
        let mut seq = Sequence::new();
        for i in 0..mlp.num_couplings {
            let name = format!("coupling{i}");
            let net = StNet::Mlp(Mlp::new(
                dim,
                mlp.hidden,
                mlp.hidden_layers,
                vb.pp(&name).pp("net"),
            )?);
            self.push_coupling(
                &mut seq,
                &name,
                &[dim],
                Mask::Half { parity: i % 2 },
                net,
                &vb,
            )?;
        }
        Ok(seq)
    }
}

//! Adam (Kingma & Ba 2015) with state that can be saved and restored exactly, and gradient
//! clipping by global norm.
//!
//! candle_nn's `AdamW` keeps its moments private, so a resumed run could not continue the same
//! trajectory; this one exposes them. No weight decay: the model's loss already carries the L2
//! term on the coupling scales.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use crate::flags;
use crate::{Result, TrainError};

/// The learning rate's course after the warm-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrDecay {
    /// The base rate until the end.
    #[default]
    Constant,
    /// Half a cosine from the base rate down to 0 at step `until`, and 0 after it. The horizon is
    /// fixed when the run starts, so a run stopped and resumed with other `--steps` keeps its
    /// curve.
    Cosine {
        /// The step at which the rate reaches 0.
        until: u64,
    },
}

impl LrDecay {
    /// `--lr-decay cosine`: down to 0 at the run's last step, a horizon filled in when the run starts
    /// ([`crate::request::new_run`]) and kept on every resume.
    pub const COSINE_TO_END: LrDecay = LrDecay::Cosine { until: 0 };
}

impl std::str::FromStr for LrDecay {
    type Err = TrainError;
    /// `constant`, `cosine` (until the run's last step: `until` 0, filled in when the run
    /// starts) or `cosine:N`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            TrainError::Invalid(format!(
                "{} {s:?}: use constant, cosine (down to 0 at the run's last step) or cosine:STEP",
                flags::LR_DECAY
            ))
        };
        match s.split_once(':') {
            None if s == "constant" => Ok(Self::Constant),
            None if s == "cosine" => Ok(Self::COSINE_TO_END),
            Some(("cosine", n)) => match n.parse() {
                Ok(until) if until > 0 => Ok(Self::Cosine { until }),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// The factor on the base learning rate for the update after `done` steps: a linear warm-up
/// over the first `warmup` steps (from `1/warmup` to 1), then `decay`.
pub fn lr_factor(done: u64, warmup: u64, decay: LrDecay) -> f64 {
    if done < warmup {
        return (done + 1) as f64 / warmup as f64;
    }
    match decay {
        LrDecay::Constant => 1.0,
        LrDecay::Cosine { until } => {
            let span = until.saturating_sub(warmup).max(1) as f64;
            let progress = ((done - warmup) as f64 / span).min(1.0);
            0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to `sqrt(v̂)` in the denominator.
    pub eps: f64,
}

impl AdamConfig {
    /// The usual betas (0.9, 0.999) and eps 1e-8 with learning rate `lr`.
    pub fn with_lr(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam over a fixed, named list of variables. The update of step `t` (1-based) is
/// `m ← β₁m + (1-β₁)g`, `v ← β₂v + (1-β₂)g²`, `p ← p - lr·(m/(1-β₁ᵗ)) / (sqrt(v/(1-β₂ᵗ)) + ε)`.
pub struct Adam {
    config: AdamConfig,
    t: u64,
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

/// Prefixes of the moment tensors in [`Adam::state_tensors`].
pub const M_PREFIX: &str = "adam.m.";
/// See [`M_PREFIX`].
pub const V_PREFIX: &str = "adam.v.";

impl Adam {
    /// Adam over `params` (name, variable), with zero moments. Names must be unique; they key
    /// the saved state.
    pub fn new(params: Vec<(String, Var)>, config: AdamConfig) -> Result<Self> {
        let zeros = |(_, p): &(String, Var)| p.as_tensor().zeros_like();
        let m = params
            .iter()
            .map(zeros)
            .collect::<candle_core::Result<_>>()?;
        let v = params
            .iter()
            .map(zeros)
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            config,
            t: 0,
            params,
            m,
            v,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> AdamConfig {
        self.config
    }

    /// Changes the learning rate (moments are kept).
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// Updates taken so far (the `t` of the bias correction).
    pub fn step_count(&self) -> u64 {
        self.t
    }

    /// The optimized variables, in the order given to [`Adam::new`].
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// One update from `grads`. A variable without a gradient is left alone (moments too), as
    /// PyTorch does for parameters whose `.grad` is `None`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let hyper = Hyper::at_step(&self.config, self.t as i32);
        for (i, (_, p)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            // Gradients carry the backward graph (and through it the step's activations);
            // moments kept from step to step must not, or every step's graph stays alive.
            let g = g.detach();
            let cpu_f32 = [p.as_tensor(), &g, &self.m[i], &self.v[i]]
                .iter()
                .all(|t| t.device().is_cpu() && t.dtype() == DType::F32);
            let (m, v) = match cpu_f32 {
                true => hyper.update_cpu_f32(p, &g, &self.m[i], &self.v[i])?,
                false => hyper.update(p, &g, &self.m[i], &self.v[i])?,
            };
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// The moments as named tensors: `adam.m.NAME` and `adam.v.NAME` for every variable.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len());
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("{M_PREFIX}{name}"), self.m[i].clone()));
            out.push((format!("{V_PREFIX}{name}"), self.v[i].clone()));
        }
        out
    }

    /// Restores what [`Adam::state_tensors`] and [`Adam::step_count`] gave. Every variable's
    /// moments must be present with the variable's shape.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, t: u64) -> Result<()> {
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (prefix, slot) in [(M_PREFIX, &mut self.m[i]), (V_PREFIX, &mut self.v[i])] {
                let key = format!("{prefix}{name}");
                let s = tensors
                    .get(&key)
                    .ok_or_else(|| TrainError::Invalid(format!("optimizer state lacks `{key}`")))?;
                if s.dims() != p.dims() {
                    return Err(TrainError::Invalid(format!(
                        "optimizer state `{key}` has shape {:?}, the variable {:?}",
                        s.dims(),
                        p.dims()
                    )));
                }
                *slot = s.to_device(p.device())?.to_dtype(p.dtype())?;
            }
        }
        self.t = t;
        Ok(())
    }
}

/// The L2 norm of all gradients of `params` together (missing gradients count as zero).
pub fn global_grad_norm(grads: &GradStore, params: &[(String, Var)]) -> Result<f64> {
    let mut sum = 0.0f64;
    for (_, p) in params {
        if let Some(g) = grads.get(p.as_tensor()) {
            sum += g
                .sqr()?
                .sum_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
        }
    }
    Ok(sum.sqrt())
}

/// One step's constants: `m ← β₁m + (1-β₁)g`, `v ← β₂v + (1-β₂)g²`,
/// `p ← p - step_size·m / (√(v·inv_bc2) + ε)` with `step_size = lr/(1-β₁ᵗ)`, `inv_bc2 = 1/(1-β₂ᵗ)`.
struct Hyper {
    beta1: f64,
    beta2: f64,
    step_size: f64,
    inv_bc2: f64,
    eps: f64,
}

impl Hyper {
    /// The constants of step `t` (counted from 1).
    fn at_step(config: &AdamConfig, t: i32) -> Self {
        Self {
            beta1: config.beta1,
            beta2: config.beta2,
            step_size: config.lr / (1.0 - config.beta1.powi(t)),
            inv_bc2: 1.0 / (1.0 - config.beta2.powi(t)),
            eps: config.eps,
        }
    }

    /// The update with candle ops (any device or dtype); returns the new moments, detached.
    fn update(&self, p: &Var, g: &Tensor, m: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let m = ((m * self.beta1)? + (g * (1.0 - self.beta1))?)?;
        let v = ((v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
        let denom = ((&v * self.inv_bc2)?.sqrt()? + self.eps)?;
        let update = ((&m * self.step_size)? / denom)?;
        p.set(&p.as_tensor().sub(&update)?)?;
        Ok((m.detach(), v.detach()))
    }

    /// The same update in one loop over CPU f32 data, rounding exactly as [`Hyper::update`]
    /// (the same f32 operations in the same order): a dozen candle ops per variable cost more
    /// than the arithmetic for the few hundred small variables of a flow (≈ 0.1 s per step).
    fn update_cpu_f32(
        &self,
        p: &Var,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let flat = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        let (g, mut m, mut v, mut pv) = (flat(g)?, flat(m)?, flat(v)?, flat(p.as_tensor())?);
        let f = |x: f64| x as f32;
        let (b1, b1c, b2, b2c) = (
            f(self.beta1),
            f(1.0 - self.beta1),
            f(self.beta2),
            f(1.0 - self.beta2),
        );
        let (step, inv_bc2, eps) = (f(self.step_size), f(self.inv_bc2), f(self.eps));
        for (((p, m), v), &g) in pv.iter_mut().zip(&mut m).zip(&mut v).zip(&g) {
            *m = *m * b1 + g * b1c;
            *v = *v * b2 + g * g * b2c;
            *p -= *m * step / ((*v * inv_bc2).sqrt() + eps);
        }
        let shape = p.as_tensor().shape().clone();
        let device = p.as_tensor().device().clone();
        p.set(&Tensor::from_vec(pv, shape.clone(), &device)?)?;
        Ok((
            Tensor::from_vec(m, shape.clone(), &device)?,
            Tensor::from_vec(v, shape, &device)?,
        ))
    }
}

/// Scales every gradient by `max_norm / norm` when the global `norm` exceeds `max_norm`.
pub fn clip_grads(
    grads: &mut GradStore,
    params: &[(String, Var)],
    norm: f64,
    max_norm: f64,
) -> Result<()> {
    if norm <= max_norm || norm == 0.0 {
        return Ok(());
    }
    let scale = max_norm / norm;
    for (_, p) in params {
        if let Some(g) = grads.get(p.as_tensor()) {
            let clipped = (g * scale)?;
            grads.insert(p.as_tensor(), clipped);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// The update written out in scalar f64 arithmetic.
    fn textbook(p: &mut [f64], m: &mut [f64], v: &mut [f64], g: &[f64], t: i32, c: AdamConfig) {
        for i in 0..p.len() {
            m[i] = c.beta1 * m[i] + (1.0 - c.beta1) * g[i];
            v[i] = c.beta2 * v[i] + (1.0 - c.beta2) * g[i] * g[i];
            let mh = m[i] / (1.0 - c.beta1.powi(t));
            let vh = v[i] / (1.0 - c.beta2.powi(t));
            p[i] -= c.lr * mh / (vh.sqrt() + c.eps);
        }
    }

    /// Gradient of `Σ w_i p_i² + p_i` at `p` (distinct per coordinate, changing every step).
    fn loss(p: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        (p.sqr()?.mul(w)? + p)?.sum_all()
    }

    /// The CPU f32 loop rounds exactly as the candle ops it replaces (bit for bit), so resumed
    /// and uninterrupted runs, and runs on either path, agree.
    #[test]
    fn fused_f32_update_equals_the_candle_ops() -> TestResult {
        let dev = Device::Cpu;
        let rand = |seed: u64| -> candle_core::Result<Tensor> {
            // Irregular values over several binades, so that any reordering of the f32
            // arithmetic changes some result's last bit.
            let v: Vec<f32> = (0..257)
                .map(|i| ((i as f32 + 1.0) * 0.754_877_7 * seed as f32).sin() * 3.0)
                .collect();
            Tensor::from_vec(v, (257,), &dev)
        };
        // v small against g² (as early in training), so the new term decides its rounding.
        let (g, m, v) = (rand(1)?, rand(2)?, (rand(3)?.abs()? * 1e-4)?);
        let hyper = Hyper::at_step(&AdamConfig::with_lr(3e-3), 7);
        let (p_fused, p_plain) = (Var::from_tensor(&rand(4)?)?, Var::from_tensor(&rand(4)?)?);
        let fused = hyper.update_cpu_f32(&p_fused, &g, &m, &v)?;
        let plain = hyper.update(&p_plain, &g, &m, &v)?;
        let bits = |t: &Tensor| -> candle_core::Result<Vec<u32>> {
            Ok(t.to_vec1::<f32>()?.iter().map(|x| x.to_bits()).collect())
        };
        assert_eq!(bits(&fused.0)?, bits(&plain.0)?, "m");
        assert_eq!(bits(&fused.1)?, bits(&plain.1)?, "v");
        assert_eq!(bits(p_fused.as_tensor())?, bits(p_plain.as_tensor())?, "p");
        assert_ne!(
            bits(p_fused.as_tensor())?,
            bits(&rand(4)?)?,
            "p was updated"
        );
        Ok(())
    }

    #[test]
    fn matches_the_textbook_update() -> TestResult {
        let dev = Device::Cpu;
        let p0 = [0.5f64, -1.5, 2.0, 0.0, 3e-4];
        let w = Tensor::new(&[1.0f64, 0.1, 3.0, -2.0, 10.0], &dev)?;
        let var = Var::new(&p0, &dev)?;
        let c = AdamConfig::with_lr(0.05);
        let mut adam = Adam::new(vec![("p".into(), var.clone())], c)?;
        let (mut p, mut m, mut v) = (p0.to_vec(), vec![0.0; 5], vec![0.0; 5]);
        for t in 1..=20 {
            let g: Vec<f64> = (0..5)
                .map(|i| 2.0 * w.to_vec1::<f64>().unwrap()[i] * p[i] + 1.0)
                .collect();
            textbook(&mut p, &mut m, &mut v, &g, t, c);
            adam.step(&loss(var.as_tensor(), &w)?.backward()?)?;
            for (a, b) in var.to_vec1::<f64>()?.iter().zip(&p) {
                assert!((a - b).abs() < 1e-12, "step {t}: {a} vs textbook {b}");
            }
        }
        assert_eq!(adam.step_count(), 20);
        Ok(())
    }

    #[test]
    fn moments_do_not_keep_the_backward_graph_alive() -> TestResult {
        // A moment that tracked its gradient's graph would chain every step's activations
        // together: memory grew by a whole step's graph per step until the process was killed.
        let dev = Device::Cpu;
        let w = Tensor::new(&[1.0f32, 0.5, -3.0], &dev)?;
        let var = Var::new(&[0.1f32, 0.2, 0.3], &dev)?;
        let mut adam = Adam::new(vec![("p".into(), var.clone())], AdamConfig::with_lr(0.01))?;
        for _ in 0..3 {
            adam.step(&loss(var.as_tensor(), &w)?.backward()?)?;
        }
        for (name, t) in adam.state_tensors() {
            assert!(!t.track_op(), "{name} still references the autograd graph");
        }
        Ok(())
    }

    #[test]
    fn saved_state_continues_exactly() -> TestResult {
        let dev = Device::Cpu;
        let w = Tensor::new(&[1.0f32, 0.5, -3.0], &dev)?;
        let run = |steps: usize, adam: &mut Adam, var: &Var| -> TestResult {
            for _ in 0..steps {
                adam.step(&loss(var.as_tensor(), &w)?.backward()?)?;
            }
            Ok(())
        };
        let c = AdamConfig::with_lr(0.1);
        let a = Var::new(&[1.0f32, 2.0, -1.0], &dev)?;
        let mut full = Adam::new(vec![("a".into(), a.clone())], c)?;
        run(10, &mut full, &a)?;

        let b = Var::new(&[1.0f32, 2.0, -1.0], &dev)?;
        let mut first = Adam::new(vec![("a".into(), b.clone())], c)?;
        run(4, &mut first, &b)?;
        let state: HashMap<String, Tensor> = first.state_tensors().into_iter().collect();
        let resumed_var = Var::from_tensor(&b.as_tensor().copy()?)?;
        let mut resumed = Adam::new(vec![("a".into(), resumed_var.clone())], c)?;
        resumed.load_state(&state, first.step_count())?;
        run(6, &mut resumed, &resumed_var)?;
        assert_eq!(a.to_vec1::<f32>()?, resumed_var.to_vec1::<f32>()?);

        // Without the state (fresh moments, t = 0) the trajectory differs: the test has teeth.
        let c2 = Var::from_tensor(&b.as_tensor().copy()?)?;
        let mut fresh = Adam::new(vec![("a".into(), c2.clone())], c)?;
        run(6, &mut fresh, &c2)?;
        assert_ne!(a.to_vec1::<f32>()?, c2.to_vec1::<f32>()?);

        let mut bad = state.clone();
        bad.remove("adam.v.a");
        assert!(resumed.load_state(&bad, 4).is_err());
        Ok(())
    }

    #[test]
    fn clipping_scales_to_the_global_norm() -> TestResult {
        let dev = Device::Cpu;
        let a = Var::new(&[3.0f32], &dev)?;
        let b = Var::new(&[4.0f32], &dev)?;
        // d/dp of p²/2 is p: gradients (3, 4), global norm 5.
        let l = ((a.as_tensor().sqr()? + b.as_tensor().sqr()?)? * 0.5)?.sum_all()?;
        let mut grads = l.backward()?;
        let params = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
        let norm = global_grad_norm(&grads, &params)?;
        assert!((norm - 5.0).abs() < 1e-6);
        clip_grads(&mut grads, &params, norm, 1.0)?;
        let ga = grads
            .get(a.as_tensor())
            .ok_or("no grad")?
            .to_dtype(DType::F32)?;
        assert!((ga.to_vec1::<f32>()?[0] - 0.6).abs() < 1e-6);
        assert!((global_grad_norm(&grads, &params)? - 1.0).abs() < 1e-6);
        Ok(())
    }
}

//! Test-set likelihood: the `u = 0.5` figure and the K-sample importance-weighted bound.

use candle_core::{DType, Device, Tensor};
use realnvp_bundle::ScoreStats;
use realnvp_bundle::density::bits_per_dim_per_nat;
use realnvp_models::{Mode, RealNvp};

use crate::data::{DataShape, Dataset, EvalNoise, Split};
use crate::flags;
use crate::{Result, TrainError};

/// A mean negative log-likelihood over a split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Examples scored.
    pub examples: usize,
    /// Mean `-log p(x)` per example, nats.
    pub nll_nats: f64,
    /// The same per dimension in bits: `nll_nats / (D ln 2)`.
    pub bits_per_dim: f64,
}

impl Score {
    fn from_nll(nll: &[f64], dims: usize) -> Self {
        let mean = nll.iter().sum::<f64>() / nll.len().max(1) as f64;
        Score {
            examples: nll.len(),
            nll_nats: mean,
            bits_per_dim: mean * bits_per_dim_per_nat(dims),
        }
    }
}

/// Number of examples of `split`, capped at `limit` when given: how many every evaluation, export check and
/// `trainer eval --limit` scores.
pub fn count(data: &Dataset, split: Split, limit: Option<usize>) -> usize {
    let n = match split {
        Split::Train => data.len_train(),
        Split::Test => data.len_test(),
    };
    limit.map_or(n, |l| l.min(n))
}

/// `log p(x)` in nats (eval mode: running statistics) for the first `limit` examples of
/// `split` (all when `None`), in stored order, with dequantization `noise` for images.
pub fn log_probs(
    model: &RealNvp,
    data: &Dataset,
    split: Split,
    noise: EvalNoise,
    batch_size: usize,
    limit: Option<usize>,
    device: &Device,
) -> Result<Vec<f64>> {
    let n = count(data, split, limit);
    let mut out = Vec::with_capacity(n);
    let mut b = 0;
    while out.len() < n {
        let x = data.eval_batch(split, b, batch_size, noise, device)?;
        let keep = (n - out.len()).min(x.dim(0)?);
        let x = x.narrow(0, 0, keep)?;
        let lp = model.log_prob(&x, Mode::Eval)?;
        out.extend(lp.to_dtype(DType::F64)?.to_vec1::<f64>()?);
        b += 1;
    }
    Ok(out)
}

/// Mean NLL of `split` with `u = 0.5` for images (deterministic; optimistic next to the
/// random-`u` figure), over the first `limit` examples when given.
pub fn score(
    model: &RealNvp,
    data: &Dataset,
    split: Split,
    batch_size: usize,
    limit: Option<usize>,
    device: &Device,
) -> Result<Score> {
    let nll: Vec<f64> = midpoint_log_probs(model, data, split, batch_size, limit, device)?
        .iter()
        .map(|v| -v)
        .collect();
    Ok(Score::from_nll(&nll, data.kind.numel()))
}

/// [`log_probs`] at `u = 0.5`.
fn midpoint_log_probs(
    model: &RealNvp,
    data: &Dataset,
    split: Split,
    batch_size: usize,
    limit: Option<usize>,
    device: &Device,
) -> Result<Vec<f64>> {
    log_probs(
        model,
        data,
        split,
        EvalNoise::Midpoint,
        batch_size,
        limit,
        device,
    )
}

/// Mean and spread of per-example bits/dim over the first `limit` examples of `split` (all when `None`) at
/// `u = 0.5`, the way the exported forward graph scores them: the in-distribution reference of the runtime's
/// typicality score. `None` when the split is empty or a score is not finite.
pub fn bits_per_dim_stats(
    model: &RealNvp,
    data: &Dataset,
    split: Split,
    batch_size: usize,
    limit: Option<usize>,
    device: &Device,
) -> Result<Option<ScoreStats>> {
    let lp = midpoint_log_probs(model, data, split, batch_size, limit, device)?;
    let per_nat = bits_per_dim_per_nat(data.kind.numel());
    let bpd: Vec<f64> = lp.iter().map(|v| -v * per_nat).collect();
    Ok(ScoreStats::from_scores(&bpd))
}

/// The K-sample importance-weighted estimate and its single-sample counterpart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IwScore {
    /// Noise draws per example.
    pub k: usize,
    /// `-log (1/K Σ_k p(x + u_k))`, averaged over examples: the IW-K bound.
    pub iw: Score,
    /// `-log p(x + u)` averaged over the same K draws and the examples: the K = 1 bound.
    pub single: Score,
}

/// `log (1/K) Σ exp(a_k)`, computed stably.
pub fn log_mean_exp(a: &[f64]) -> f64 {
    let m = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + (a.iter().map(|v| (v - m).exp()).sum::<f64>() / a.len() as f64).ln()
}

/// Scores `split` of an image data set with `k` random dequantization draws `u ~ U[0,1)^D`,
/// seeded by `(seed, draw, example index)`. Per example the IW-K value is never above the
/// mean of its K single-sample values (Jensen), and its expectation decreases with K towards
/// the discrete model's `-log P(pixels)`.
#[allow(clippy::too_many_arguments)]
pub fn importance_weighted(
    model: &RealNvp,
    data: &Dataset,
    split: Split,
    k: usize,
    seed: u64,
    batch_size: usize,
    limit: Option<usize>,
    device: &Device,
) -> Result<IwScore> {
    if !matches!(data.kind, DataShape::Image { .. }) {
        return Err(TrainError::Invalid(
            "importance-weighted scoring averages over dequantization noise, which only image data has"
                .into(),
        ));
    }
    if k == 0 {
        return Err(TrainError::Invalid(format!(
            "{} must be at least 1",
            flags::SAMPLES
        )));
    }
    let draws = (0..k as u64)
        .map(|draw| {
            let noise = EvalNoise::Random { seed, draw };
            log_probs(model, data, split, noise, batch_size, limit, device)
        })
        .collect::<Result<Vec<_>>>()?;
    let n = draws[0].len();
    let mut iw = Vec::with_capacity(n);
    let mut single = Vec::with_capacity(n);
    for i in 0..n {
        let per: Vec<f64> = draws.iter().map(|d| d[i]).collect();
        iw.push(-log_mean_exp(&per));
        single.push(-per.iter().sum::<f64>() / k as f64);
    }
    let dims = data.kind.numel();
    Ok(IwScore {
        k,
        iw: Score::from_nll(&iw, dims),
        single: Score::from_nll(&single, dims),
    })
}

/// All of `split` as one tensor `[N, ...]` with `u = 0.5` (vectors unchanged): for fitting the
/// standardization and for scatter plots.
pub fn split_tensor(data: &Dataset, split: Split, device: &Device) -> Result<Tensor> {
    let n = count(data, split, None);
    Ok(data.eval_batch(split, 0, n, EvalNoise::Midpoint, device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_mean_exp_is_stable_and_exact() {
        assert!((log_mean_exp(&[0.0, 0.0]) - 0.0).abs() < 1e-12);
        let v = log_mean_exp(&[-1000.0, -1000.0 + 2f64.ln()]);
        assert!((v - (-1000.0 + 1.5f64.ln())).abs() < 1e-9, "{v}");
        assert_eq!(log_mean_exp(&[f64::NEG_INFINITY]), f64::NEG_INFINITY);
    }
}

/// `RUN_DIR/eval.json`: the figures of `trainer eval --save` for one checkpoint, which `trainer export`
/// records in the bundle (`training.evaluation`). Fields in alphabetical order, as the file has always had
/// them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// The importance-weighted bound's bits/dim (with `samples`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_dim_iw: Option<f64>,
    /// Bits/dim with one random dequantization per example (K = 1, with `samples`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_dim_random_u: Option<f64>,
    /// Bits/dim at the bin centre (`u = 0.5`).
    pub bits_per_dim_u_half: f64,
    /// The data spec scored.
    pub data: String,
    /// Test examples scored.
    pub examples: usize,
    /// Mean NLL at the bin centre, nats per example.
    pub nll_nats_u_half: f64,
    /// The seed of the dequantization noise (with `samples`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_seed: Option<u64>,
    /// K, the noise draws per example of the importance-weighted bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// The checkpoint's step.
    pub step: u64,
}

impl Evaluation {
    /// The record of a bin-centre `score` of `data` at `step`, with the importance-weighted figures when
    /// given (`iw` drawn with `noise_seed`).
    pub fn new(step: u64, data: &str, score: &Score, iw: Option<(&IwScore, u64)>) -> Self {
        Evaluation {
            bits_per_dim_iw: iw.map(|(s, _)| s.iw.bits_per_dim),
            bits_per_dim_random_u: iw.map(|(s, _)| s.single.bits_per_dim),
            bits_per_dim_u_half: score.bits_per_dim,
            data: data.to_string(),
            examples: score.examples,
            nll_nats_u_half: score.nll_nats,
            noise_seed: iw.map(|(_, seed)| seed),
            samples: iw.map(|(s, _)| s.k),
            step,
        }
    }

    /// `run_dir`'s saved evaluation when it scores the checkpoint at `step`; otherwise `None`, saying why in
    /// the log (a stale evaluation must not be recorded as the bundle's).
    pub fn saved_for(run_dir: &std::path::Path, step: u64) -> Option<Evaluation> {
        let path = run_dir.join(crate::run::EVAL_FILE);
        let saved: Evaluation = crate::run::read_json(&path).ok()?;
        if saved.step == step {
            Some(saved)
        } else {
            tracing::warn!(
                "{} scores another step than the checkpoint's {step}: not recorded; run `trainer eval --save` again",
                path.display()
            );
            None
        }
    }
}

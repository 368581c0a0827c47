//! The stored parts of out-of-distribution scoring (docs/ood.md): the in-distribution bits/dim statistics
//! that `trainer export` records in the training summary, and the calibration file that
//! `runtime calibrate` writes next to the graphs.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{BundleError, Result};
use crate::files::write_atomic;
use crate::names::is_pair_id;

/// The training summary's field holding the exporter's [`ScoreStats`] (absent in bundles exported before
/// it existed).
pub const TEST_SCORES_FIELD: &str = "test_scores";

/// Mean and spread of per-item bits/dim over a data set, as the forward graph computes them (images at the
/// bin centre, `u = 0.5`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreStats {
    /// Items scored.
    pub count: usize,
    /// Mean bits/dim.
    pub mean: f64,
    /// Standard deviation of bits/dim (population, `1/N`).
    pub std: f64,
    /// Smallest bits/dim.
    pub min: f64,
    /// Largest bits/dim.
    pub max: f64,
}

impl ScoreStats {
    /// The statistics of `scores`; `None` when it is empty or holds a non-finite value.
    pub fn from_scores(scores: &[f64]) -> Option<Self> {
        if scores.is_empty() || scores.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let n = scores.len() as f64;
        let mean = scores.iter().sum::<f64>() / n;
        let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
        Some(Self {
            count: scores.len(),
            mean,
            std: var.sqrt(),
            min: scores.iter().copied().fold(f64::INFINITY, f64::min),
            max: scores.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// Reads the statistics from a bundle's training summary: `Ok(None)` when the field is absent.
    pub fn from_training(file: &Path, training: &serde_json::Value) -> Result<Option<Self>> {
        match training.get(TEST_SCORES_FIELD) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => {
                let stats: Self =
                    serde_json::from_value(v.clone()).map_err(|e| BundleError::InvalidKey {
                        key: format!("training.{TEST_SCORES_FIELD}"),
                        file: file.into(),
                        reason: e.to_string(),
                    })?;
                let finite = [stats.mean, stats.std, stats.min, stats.max]
                    .iter()
                    .all(|v| v.is_finite());
                if stats.count == 0 || !finite || stats.std < 0.0 {
                    return Err(BundleError::InvalidKey {
                        key: format!("training.{TEST_SCORES_FIELD}"),
                        file: file.into(),
                        reason: format!("{v} is not a summary of at least one finite score"),
                    });
                }
                Ok(Some(stats))
            }
        }
    }
}

/// Which per-item statistic an out-of-distribution flag thresholds; larger means less typical of the
/// training data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OodStatistic {
    /// Bits/dim, `-log p(x) / (L ln 2)`. Fails on simpler data than the training set (docs/ood.md).
    BitsPerDim,
    /// Serrà et al. (2020): `bits/dim(x) - complexity(x)`, the complexity being the length in bits per
    /// dimension of the item's PNG encoding at maximum compression. Images only.
    ComplexityCorrected,
    /// `|bits/dim(x) - mean|`, the mean from the bundle's [`ScoreStats`].
    Typicality,
}

impl OodStatistic {
    /// Every statistic.
    pub const ALL: [OodStatistic; 3] = [
        OodStatistic::BitsPerDim,
        OodStatistic::ComplexityCorrected,
        OodStatistic::Typicality,
    ];

    /// The name used on the command line and in `calibration.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            OodStatistic::BitsPerDim => "bits_per_dim",
            OodStatistic::ComplexityCorrected => "complexity_corrected",
            OodStatistic::Typicality => "typicality",
        }
    }

    /// The statistic named `name` ([`OodStatistic::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for OodStatistic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An out-of-distribution threshold fitted on in-distribution data for one export (`calibration.json`).
///
/// An item is flagged when its [`Calibration::statistic`] exceeds [`Calibration::threshold`]; on items from
/// the calibration data's distribution that happens with probability at most
/// [`Calibration::false_positive_rate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The pair id of the bundle it was fitted for; any other export refuses it.
    pub pair_id: String,
    /// The thresholded statistic.
    pub statistic: OodStatistic,
    /// The false-positive rate asked for, in `(0, 1)`.
    pub false_positive_rate: f64,
    /// Items above it are flagged.
    pub threshold: f64,
    /// In-distribution items it was fitted on.
    pub items: usize,
    /// The share of those items above the threshold (at most `false_positive_rate`).
    pub fitted_rate: f64,
}

impl Calibration {
    /// Whether `rate` can be a false-positive rate to fit a threshold for: strictly between 0 and 1 (NaN is
    /// not). The one rule for `runtime calibrate --false-positive-rate` and for a calibration file's field.
    pub fn is_valid_rate(rate: f64) -> bool {
        rate > 0.0 && rate < 1.0
    }

    /// Whether an item with statistic `score` is flagged as out of distribution. NaN is flagged.
    pub fn flags(&self, score: f64) -> bool {
        score.is_nan() || score > self.threshold
    }

    /// Reads and validates the calibration file at `path` ([`Calibration::parse`]).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| BundleError::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses and validates the text of a calibration file read from `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let invalid = |reason: String| BundleError::InvalidCalibration {
            file: path.into(),
            reason,
        };
        let cal: Self = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if !is_pair_id(&cal.pair_id) {
            return Err(invalid(format!(
                "pair_id `{}` is not 32 hex digits",
                cal.pair_id
            )));
        }
        if !Self::is_valid_rate(cal.false_positive_rate) {
            return Err(invalid(format!(
                "false_positive_rate {} is not in (0, 1)",
                cal.false_positive_rate
            )));
        }
        if !cal.threshold.is_finite() || cal.items == 0 || !(0.0..=1.0).contains(&cal.fitted_rate) {
            return Err(invalid(
                "threshold, items or fitted_rate is impossible".into(),
            ));
        }
        Ok(cal)
    }

    /// Writes the calibration to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("calibration serializes");
        write_atomic(path, format!("{text}\n").as_bytes())
    }

    /// Refuses a calibration fitted for another export than `pair_id`'s.
    pub fn check_pair(&self, file: &Path, pair_id: &str) -> Result<()> {
        if self.pair_id == pair_id {
            return Ok(());
        }
        Err(BundleError::InvalidCalibration {
            file: file.into(),
            reason: format!(
                "it was fitted for the export with pair id {}, but the bundle's pair id is {pair_id}; \
                 run `runtime calibrate` again on in-distribution data",
                self.pair_id
            ),
        })
    }
}

//! Input discovery: the items a list of paths names (folders expanded by
//! [`realnvp_bundle::data::image_files`], the one folder rule of trainer and runtime), read as the flow's
//! flat data, and their scores. `runtime score`, `calibrate`, `reconstruct` and the Python package all read
//! their inputs through here.

use std::path::{Path, PathBuf};

use realnvp_bundle::{Calibration, DataKind, data::image_files};

use crate::error::{Result, RuntimeError};
use crate::flow::Flow;
use crate::ood::OodScores;
use crate::vector_io;

/// Items read from files: one name per item and their values in the flow's flat layout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Per item: the image's path, or `path:ROW` (1-based) for a CSV row.
    pub names: Vec<String>,
    /// `names.len() × latent_dim` values in data units (images at their bin centres).
    pub values: Vec<f32>,
}

impl Batch {
    /// The number of items.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// What a list of paths gave: batches of readable items, and an error for each input that could not be read.
/// Images form one batch; each CSV file is a batch of its own, so that a bad file fails alone.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The readable items.
    pub batches: Vec<Batch>,
    /// One error per unreadable file or folder.
    pub failures: Vec<RuntimeError>,
}

/// The files `paths` name: each folder expanded into its image files, other paths kept as given.
/// A folder that cannot be listed or holds no image is a failure.
pub fn input_files(paths: &[impl AsRef<Path>]) -> (Vec<PathBuf>, Vec<RuntimeError>) {
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for path in paths {
        let path = path.as_ref();
        if !path.is_dir() {
            files.push(path.to_path_buf());
            continue;
        }
        match image_files(path) {
            Ok(found) if found.is_empty() => {
                failures.push(RuntimeError::NoImages { dir: path.into() })
            }
            Ok(found) => files.extend(found),
            Err(e) => failures.push(RuntimeError::io(path, e)),
        }
    }
    (files, failures)
}

/// One scored item: its name, its scores and, when a calibration was given, its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredItem {
    /// As in [`Batch::names`].
    pub name: String,
    /// Likelihood, and the out-of-distribution scores when asked for.
    pub scores: OodScores,
    /// The calibrated statistic's value and whether it flags the item.
    pub verdict: Option<Verdict>,
}

/// An item's out-of-distribution verdict under a [`Calibration`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The calibrated statistic's value (NaN where the item lacks it).
    pub score: f64,
    /// Whether the item is flagged: `score > threshold`.
    pub ood: bool,
}

impl Verdict {
    /// The verdict of `calibration` on `scores`.
    pub fn of(scores: &OodScores, calibration: &Calibration) -> Self {
        let score = scores
            .get(calibration.statistic)
            .map_or(f64::NAN, f64::from);
        Verdict {
            score,
            ood: calibration.flags(score),
        }
    }
}

impl Flow {
    /// Reads the items that `paths` name ([`input_files`]): images decoded and checked against the bundle's
    /// shape, CSV files parsed as rows of `latent_dim` values. Never stops at the first bad input.
    pub fn read_inputs(&self, paths: &[impl AsRef<Path>]) -> Inputs {
        let (files, mut failures) = input_files(paths);
        let batches = match self.data_kind() {
            DataKind::Image => {
                let mut images = Batch::default();
                for file in &files {
                    match self.load_image(file) {
                        Ok(x) => {
                            images.names.push(file.display().to_string());
                            images.values.extend(x);
                        }
                        Err(e) => failures.push(e),
                    }
                }
                vec![images]
            }
            DataKind::Vector => files
                .iter()
                .filter_map(|file| match vector_io::read_csv(file, self.latent_dim()) {
                    Ok((values, n)) => Some(Batch {
                        names: (1..=n).map(|r| format!("{}:{r}", file.display())).collect(),
                        values,
                    }),
                    Err(e) => {
                        failures.push(e);
                        None
                    }
                })
                .collect(),
        };
        Inputs { batches, failures }
    }

    /// Every item that `paths` name as one batch, for callers that must use every item given or none. An
    /// unreadable input is the error; with several, [`RuntimeError::UnreadableInputs`] holds the first and
    /// counts the others.
    pub fn read_all_inputs(&self, paths: &[impl AsRef<Path>]) -> Result<Batch> {
        let Inputs { batches, failures } = self.read_inputs(paths);
        let mut failures = failures.into_iter();
        if let Some(first) = failures.next() {
            return Err(match failures.count() {
                0 => first,
                more => RuntimeError::UnreadableInputs {
                    first: Box::new(first),
                    more,
                },
            });
        }
        let mut all = Batch::default();
        for b in batches {
            all.names.extend(b.names);
            all.values.extend(b.values);
        }
        Ok(all)
    }

    /// Scores every item that `paths` name, as `runtime score` does: the likelihood, and with a calibration
    /// every out-of-distribution score and the verdict. Returns the scored items in input order and an error
    /// for each input that could not be read or scored.
    pub fn score_inputs(
        &self,
        paths: &[impl AsRef<Path>],
        calibration: Option<&Calibration>,
    ) -> (Vec<ScoredItem>, Vec<RuntimeError>) {
        let Inputs {
            batches,
            mut failures,
        } = self.read_inputs(paths);
        let mut items = Vec::new();
        for batch in batches.into_iter().filter(|b| !b.is_empty()) {
            match self.scores(&batch.values, batch.len(), calibration.is_some()) {
                Ok(scores) => {
                    items.extend(batch.names.into_iter().zip(scores).map(|(name, scores)| {
                        ScoredItem {
                            name,
                            verdict: calibration.map(|c| Verdict::of(&scores, c)),
                            scores,
                        }
                    }))
                }
                Err(e) => failures.push(e),
            }
        }
        (items, failures)
    }
}

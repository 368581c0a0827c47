//! One sampling call's rule, shared by `trainer sample` (candle) and `runtime sample` (ONNX Runtime):
//! which requests are accepted, the seeded latent draw, and which file a sample goes to
//! ([`SampleOutput`]). Because both draw through [`draw_latent`], the same
//! model, seed and temperature give the same latents, and so the same samples, in both programs.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use std::path::{Path, PathBuf};

use crate::DataKind;
use crate::names::MAX_SAMPLE_VALUES;

/// Why a sampling request is refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum SampleRequestError {
    /// The temperature is not a finite number > 0.
    #[error("temperature must be a finite number > 0, got {value}")]
    Temperature {
        /// The temperature asked for.
        value: f64,
    },
    /// No samples were asked for.
    #[error("no samples asked for: draw at least 1")]
    Empty,
    /// More values than one call may allocate ([`MAX_SAMPLE_VALUES`]).
    #[error("{n} samples: at most {most} per call with this model ({dim} values each)")]
    TooMany {
        /// Samples asked for.
        n: usize,
        /// The most one call draws with this model.
        most: usize,
        /// Values per sample.
        dim: usize,
    },
}

/// The most samples of `dim` values one call may draw: [`MAX_SAMPLE_VALUES`] / `dim`.
pub fn max_samples(dim: usize) -> usize {
    MAX_SAMPLE_VALUES / dim.max(1)
}

/// Accepts `n` samples of `dim` values at `temperature` when `1 ≤ n ≤ max_samples(dim)` and the temperature
/// is a finite number > 0 (the temperature is checked first).
pub fn check_request(n: usize, dim: usize, temperature: f64) -> Result<(), SampleRequestError> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(SampleRequestError::Temperature { value: temperature });
    }
    if n == 0 {
        return Err(SampleRequestError::Empty);
    }
    let most = max_samples(dim);
    if n > most {
        return Err(SampleRequestError::TooMany { n, most, dim });
    }
    Ok(())
}

/// `n × dim` latent values `z ~ N(0, temperature² I)` in row-major order: `StdRng::seed_from_u64(seed)`
/// drawing f32 standard normals, each multiplied by `temperature`. Deterministic for a given seed; callers
/// check the request first ([`check_request`]).
pub fn draw_latent(n: usize, dim: usize, temperature: f32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * dim)
        .map(|_| {
            let e: f32 = StandardNormal.sample(&mut rng);
            e * temperature
        })
        .collect()
}

/// What a file of samples holds, chosen by the model's data and the file's extension (in any case): the rule
/// of `trainer sample --out` and `runtime sample --out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleOutput {
    /// An image grid (`.png`, image models).
    Grid,
    /// A scatter plot of the first two coordinates (`.png`, vector models), [`SCATTER_SIZE`] pixels square.
    Scatter,
    /// The vectors as CSV (`.csv`, vector models), as [`crate::data::vectors_csv`] writes them.
    Csv,
}

/// The side of a [`SampleOutput::Scatter`] picture, in pixels.
pub const SCATTER_SIZE: u32 = 512;

/// A file of samples whose extension does not suit the model's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} must end in {} for {} model", .path.display(), suited_extensions(*.kind), a_kind(*.kind))]
pub struct UnsuitedSampleFile {
    /// The file asked for.
    pub path: PathBuf,
    /// The model's data.
    pub kind: DataKind,
}

fn suited_extensions(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Image => ".png",
        DataKind::Vector => ".csv or .png",
    }
}

fn a_kind(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Image => "an image",
        DataKind::Vector => "a vector",
    }
}

impl SampleOutput {
    /// The output for `path` and a model of `kind`; callers refuse anything else before sampling.
    pub fn for_path(path: &Path, kind: DataKind) -> Result<Self, UnsuitedSampleFile> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match (kind, ext.as_str()) {
            (DataKind::Image, "png") => Ok(SampleOutput::Grid),
            (DataKind::Vector, "png") => Ok(SampleOutput::Scatter),
            (DataKind::Vector, "csv") => Ok(SampleOutput::Csv),
            _ => Err(UnsuitedSampleFile {
                path: path.to_path_buf(),
                kind,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_file_is_chosen_by_data_and_extension_in_any_case() {
        use DataKind::{Image, Vector};
        for (name, kind, want) in [
            ("grid.png", Image, SampleOutput::Grid),
            ("GRID.PNG", Image, SampleOutput::Grid),
            ("points.Png", Vector, SampleOutput::Scatter),
            ("points.csv", Vector, SampleOutput::Csv),
            ("POINTS.CSV", Vector, SampleOutput::Csv),
        ] {
            assert_eq!(
                SampleOutput::for_path(Path::new(name), kind),
                Ok(want),
                "{name}"
            );
        }
        for (name, kind, says) in [
            (
                "grid.csv",
                Image,
                "grid.csv must end in .png for an image model",
            ),
            ("grid", Image, "grid must end in .png for an image model"),
            (
                "points.jpg",
                Vector,
                "points.jpg must end in .csv or .png for a vector model",
            ),
        ] {
            let err = SampleOutput::for_path(Path::new(name), kind).expect_err(name);
            assert_eq!(err.to_string(), says);
        }
    }

    #[test]
    fn requests_outside_the_limits_are_refused() {
        assert!(matches!(
            check_request(1, 4, f64::NAN),
            Err(SampleRequestError::Temperature { .. })
        ));
        assert!(matches!(
            check_request(1, 4, f64::INFINITY),
            Err(SampleRequestError::Temperature { .. })
        ));
        assert!(matches!(
            check_request(1, 4, 0.0),
            Err(SampleRequestError::Temperature { .. })
        ));
        assert!(matches!(
            check_request(1, 4, -0.7),
            Err(SampleRequestError::Temperature { .. })
        ));
        assert_eq!(check_request(0, 4, 1.0), Err(SampleRequestError::Empty));
        // 2^28 values: 2^26 samples of 4 pass, one more does not.
        assert_eq!(check_request(1 << 26, 4, 1.0), Ok(()));
        assert_eq!(
            check_request((1 << 26) + 1, 4, 1.0),
            Err(SampleRequestError::TooMany {
                n: (1 << 26) + 1,
                most: 1 << 26,
                dim: 4
            })
        );
    }

    #[test]
    fn the_draw_is_seeded_and_scaled_by_the_temperature() {
        let a = draw_latent(500, 8, 1.0, 7);
        assert_eq!(a, draw_latent(500, 8, 1.0, 7));
        assert_ne!(a, draw_latent(500, 8, 1.0, 8));
        let half = draw_latent(500, 8, 0.5, 7);
        for (x, y) in a.iter().zip(&half) {
            assert_eq!(x * 0.5, *y);
        }
        // 4,000 standard normals: mean within 4 standard errors of 0, variance within 10% of 1.
        let n = a.len() as f64;
        let mean = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = a
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 4.0 / n.sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 0.1, "variance {var}");
    }
}

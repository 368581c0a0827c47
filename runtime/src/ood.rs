//! Out-of-distribution scores (docs/ood.md): the input-complexity-corrected score of Serrà et al. (2020),
//! a typicality score, and thresholds calibrated on in-distribution data at a chosen false-positive rate.
//!
//! A flow's likelihood alone ranks simple inputs (MNIST digits for a Fashion-MNIST model) as *more* likely
//! than its own test data. Subtracting the input's complexity, the length of its lossless PNG encoding in bits
//! per dimension, removes most of that bias.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::ExtendedColorType;
use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use realnvp_bundle::{CALIBRATION_FILE, Calibration, DataKind, DataShape, OodStatistic};

use crate::error::{Result, RuntimeError};
use crate::flow::Flow;
use crate::image_io::to_u8;

/// The deflate level of the complexity's PNG encoding: the maximum.
pub const COMPLEXITY_PNG_LEVEL: u8 = 9;

/// The default false-positive rate of `runtime calibrate`.
pub const DEFAULT_FALSE_POSITIVE_RATE: f64 = 0.05;

/// The PNG row filters tried for the complexity; the shortest file counts. One fixed filter can cost a sparse
/// digit 20% more bytes than another, and the adaptive heuristic is not always the best, so maximum
/// compression means trying each (as optipng does).
pub const COMPLEXITY_PNG_FILTERS: [FilterType; 6] = [
    FilterType::NoFilter,
    FilterType::Sub,
    FilterType::Up,
    FilterType::Avg,
    FilterType::Paeth,
    FilterType::Adaptive,
];

/// The length in bits per dimension of the shortest PNG file (headers included) that encodes `pixels` at
/// maximum compression (deflate level [`COMPLEXITY_PNG_LEVEL`], each of [`COMPLEXITY_PNG_FILTERS`]):
/// Serrà et al.'s complexity `L(x)`.
///
/// `pixels` is one image of `shape = [C, H, W]` (`C` = 1 or 3) in planar `C, H, W` order. The encoding is
/// lossless, so `L(x)` is an upper bound on the bits an image compressor needs; constant images come out
/// far below 1 bit/dim, uniform noise above 8.
pub fn png_complexity(pixels: &[u8], shape: DataShape) -> Result<f32> {
    let DataShape::Image {
        channels,
        height,
        width,
    } = shape
    else {
        return Err(RuntimeError::WrongDataKind {
            operation: "the PNG complexity",
            expected: "image",
            found: "vector",
        });
    };
    let color = match channels {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        _ => {
            return Err(RuntimeError::InvalidOption {
                name: "shape",
                reason: format!("PNG complexity needs 1 or 3 channels, got {channels}"),
            });
        }
    };
    let hw = height * width;
    if pixels.len() != channels * hw {
        return Err(RuntimeError::InputLength {
            what: "pixels",
            got: pixels.len(),
            expected: channels * hw,
            n: 1,
            per_item: channels * hw,
            shape: shape.dims(),
        });
    }
    // PNG stores pixels interleaved (H, W, C).
    let interleaved: Vec<u8> = (0..hw)
        .flat_map(|p| (0..channels).map(move |c| pixels[c * hw + p]))
        .collect();
    let mut shortest = usize::MAX;
    for filter in COMPLEXITY_PNG_FILTERS {
        let mut png = Vec::new();
        PngEncoder::new_with_quality(
            Cursor::new(&mut png),
            CompressionType::Level(COMPLEXITY_PNG_LEVEL),
            filter,
        )
        .write_image(&interleaved, width as u32, height as u32, color)
        .map_err(|e| RuntimeError::ImageDecode {
            path: PathBuf::from("<in-memory PNG>"),
            reason: format!("encoding failed: {e}"),
        })?;
        shortest = shortest.min(png.len());
    }
    Ok((shortest * 8) as f32 / pixels.len() as f32)
}

/// The scores of one item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OodScores {
    /// `log p(x)` in nats.
    pub log_prob: f32,
    /// Bits per dimension.
    pub bits_per_dim: f32,
    /// [`png_complexity`] of the item's `u8` pixels (images only).
    pub complexity_bits_per_dim: Option<f32>,
    /// `bits_per_dim - complexity_bits_per_dim` (images only).
    pub complexity_corrected: Option<f32>,
    /// `|bits_per_dim - mean|`, the mean of the bundle's test scores (bundles that record them).
    pub typicality: Option<f32>,
}

impl OodScores {
    /// The value of `statistic` (`None` where the item or bundle lacks it).
    pub fn get(&self, statistic: OodStatistic) -> Option<f32> {
        match statistic {
            OodStatistic::BitsPerDim => Some(self.bits_per_dim),
            OodStatistic::ComplexityCorrected => self.complexity_corrected,
            OodStatistic::Typicality => self.typicality,
        }
    }
}

/// The threshold that flags at most `false_positive_rate` of new items exchangeable with `scores`, and the
/// share of `scores` above it.
///
/// It is the `⌈(1 − α)(n + 1)⌉`-th smallest of the `n` scores (the split-conformal quantile): a new in-distribution
/// item exceeds it with probability at most `α` whatever the scores' distribution, and at least
/// `α − 1/(n + 1)` when there are no ties. That needs `n ≥ (1 − α)/α` items (19 at 5%).
pub fn fit_threshold(scores: &[f64], false_positive_rate: f64) -> Result<(f64, f64)> {
    let alpha = false_positive_rate;
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(RuntimeError::InvalidOption {
            name: "false_positive_rate",
            reason: format!("{alpha} is not in (0, 1); 0.05 flags 5% of in-distribution items"),
        });
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(RuntimeError::Calibration {
            reason: format!("item {i} has a non-finite score ({})", scores[i]),
        });
    }
    let n = scores.len();
    // The small slack keeps (1 − 0.05)·20 = 19.000000000000004 from rounding up to 20.
    let rank = (((1.0 - alpha) * (n + 1) as f64) - 1e-9).ceil() as usize;
    if rank > n || n == 0 {
        let needed = ((1.0 - alpha) / alpha - 1e-9).ceil() as usize;
        return Err(RuntimeError::Calibration {
            reason: format!(
                "{n} items cannot set a threshold at a {alpha} false-positive rate: pass at least {needed} \
                 in-distribution items (hundreds give a stable threshold), or a larger rate"
            ),
        });
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    let threshold = sorted[rank.max(1) - 1];
    let above = scores.iter().filter(|&&s| s > threshold).count();
    Ok((threshold, above as f64 / n as f64))
}

impl Flow {
    /// Whether this bundle can compute `statistic`, and why not.
    pub fn check_statistic(&self, statistic: OodStatistic) -> Result<()> {
        let reason = match statistic {
            OodStatistic::ComplexityCorrected if self.data_kind() != DataKind::Image => {
                "the PNG complexity exists for image models only; use typicality or bits_per_dim"
            }
            OodStatistic::Typicality if self.test_scores().is_none() => {
                "the bundle records no test bits/dim statistics; re-export it with this release's `trainer \
                 export`"
            }
            _ => return Ok(()),
        };
        Err(RuntimeError::StatisticUnavailable {
            statistic,
            reason: reason.into(),
        })
    }

    /// Likelihood, complexity, complexity-corrected and typicality scores of the `n` items of `x` (data units;
    /// images at their bin centres, as [`Flow::load_image`] gives them).
    pub fn ood_scores(&self, x: &[f32], n: usize) -> Result<Vec<OodScores>> {
        self.scores(x, n, true)
    }

    /// [`Flow::ood_scores`], with the PNG complexity (six encodings per image) only when `complexity` is set.
    pub(crate) fn scores(&self, x: &[f32], n: usize, complexity: bool) -> Result<Vec<OodScores>> {
        let enc = self.encode(x, n)?;
        let mean = self.test_scores().map(|s| s.mean as f32);
        let shape = self.data_shape();
        let per_item = self.latent_dim();
        (0..n)
            .map(|i| {
                let bits_per_dim = enc.bits_per_dim[i];
                let complexity = if complexity && shape.kind() == DataKind::Image {
                    let item = &x[i * per_item..(i + 1) * per_item];
                    Some(png_complexity(&to_u8(item), shape)?)
                } else {
                    None
                };
                Ok(OodScores {
                    log_prob: enc.log_prob[i],
                    bits_per_dim,
                    complexity_bits_per_dim: complexity,
                    complexity_corrected: complexity.map(|c| bits_per_dim - c),
                    typicality: mean.map(|m| (bits_per_dim - m).abs()),
                })
            })
            .collect()
    }

    /// A threshold on `statistic` fitted on the `n` in-distribution items of `x` so that about
    /// `false_positive_rate` of such items are flagged ([`fit_threshold`]). Only `x` and this bundle are used.
    pub fn calibrate(
        &self,
        x: &[f32],
        n: usize,
        statistic: OodStatistic,
        false_positive_rate: f64,
    ) -> Result<Calibration> {
        self.check_statistic(statistic)?;
        let scores: Vec<f64> = self
            .scores(x, n, statistic == OodStatistic::ComplexityCorrected)?
            .iter()
            .map(|s| f64::from(s.get(statistic).unwrap_or(f32::NAN)))
            .collect();
        let (threshold, fitted_rate) = fit_threshold(&scores, false_positive_rate)?;
        Ok(Calibration {
            pair_id: self.metadata().pair_id.clone(),
            statistic,
            false_positive_rate,
            threshold,
            items: n,
            fitted_rate,
        })
    }

    /// Where `runtime calibrate` writes this bundle's calibration by default: `calibration.json` in the bundle.
    pub fn default_calibration_path(&self) -> PathBuf {
        self.dir().join(CALIBRATION_FILE)
    }

    /// Reads the calibration at `path` and checks that it was fitted for this export and that this bundle can
    /// compute its statistic.
    pub fn load_calibration(&self, path: &Path) -> Result<Calibration> {
        if !path.is_file() {
            return Err(RuntimeError::MissingCalibration {
                file: path.to_path_buf(),
            });
        }
        let calibration = Calibration::read(path)?;
        calibration.check_pair(path, &self.metadata().pair_id)?;
        self.check_statistic(calibration.statistic)?;
        Ok(calibration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_conformal_order_statistic() -> Result<()> {
        let scores: Vec<f64> = (1..=19).rev().map(f64::from).collect();
        // ⌈0.95 · 20⌉ = 19: the largest of 19 scores, nothing above it.
        assert_eq!(fit_threshold(&scores, 0.05)?, (19.0, 0.0));
        // ⌈0.5 · 10⌉ = 5 of 1..=9: four of nine above.
        let nine: Vec<f64> = (1..=9).map(f64::from).collect();
        assert_eq!(fit_threshold(&nine, 0.5)?, (5.0, 4.0 / 9.0));
        // ⌈0.9 · 101⌉ = 91 of 1..=100: nine above, at most the 10% asked for.
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(fit_threshold(&hundred, 0.1)?, (91.0, 0.09));
        Ok(())
    }

    #[test]
    fn threshold_refuses_what_cannot_set_it() {
        let eighteen: Vec<f64> = (1..=18).map(f64::from).collect();
        let err = fit_threshold(&eighteen, 0.05).unwrap_err().to_string();
        assert!(err.contains("at least 19"), "{err}");
        for bad in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(matches!(
                fit_threshold(&eighteen, bad),
                Err(RuntimeError::InvalidOption {
                    name: "false_positive_rate",
                    ..
                })
            ));
        }
        let err = fit_threshold(&[1.0, f64::NAN, 2.0], 0.5).unwrap_err();
        assert!(err.to_string().contains("item 1"), "{err}");
        assert!(fit_threshold(&[], 0.5).is_err());
    }

    #[test]
    fn complexity_of_known_images() -> Result<()> {
        let shape = DataShape::Image {
            channels: 1,
            height: 28,
            width: 28,
        };
        let blank = png_complexity(&[0u8; 784], shape)?;
        // Signature, IHDR, IDAT and IEND framing alone are 57 bytes = 0.58 bits/dim.
        assert!(blank > 0.5 && blank < 1.0, "{blank}");
        // Seeded uniform bytes do not compress: at least 8 bits/dim plus the framing.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..784)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        let noisy = png_complexity(&noise, shape)?;
        assert!(noisy > 8.5, "{noisy}");
        // A ring, as sparse as a digit: the adaptive filter heuristic costs it more bytes than no filter at all,
        // so the shortest of the filters must beat adaptive alone.
        let ring: Vec<u8> = (0..784)
            .map(|i| {
                let (r, c) = ((i / 28) as f32 - 13.5, (i % 28) as f32 - 13.5);
                let d = (r * r + c * c).sqrt();
                if (7.0..10.0).contains(&d) { 255 } else { 0 }
            })
            .collect();
        let length = |filter| {
            let mut png = Vec::new();
            PngEncoder::new_with_quality(
                Cursor::new(&mut png),
                CompressionType::Level(COMPLEXITY_PNG_LEVEL),
                filter,
            )
            .write_image(&ring, 28, 28, ExtendedColorType::L8)
            .expect("encodes");
            (png.len() * 8) as f32 / 784.0
        };
        let ring_bits = png_complexity(&ring, shape)?;
        assert!(ring_bits < length(FilterType::Adaptive), "{ring_bits}");
        let planar_rgb: Vec<u8> = [noise.clone(), vec![0; 784], vec![0; 784]].concat();
        let rgb = DataShape::Image {
            channels: 3,
            height: 28,
            width: 28,
        };
        let rgb_bits = png_complexity(&planar_rgb, rgb)?;
        // One noisy plane of three: at least its 8/3 bits per dimension, less than noise everywhere.
        assert!(rgb_bits > 8.0 / 3.0 && rgb_bits < noisy, "{rgb_bits}");
        assert!(matches!(
            png_complexity(&[0u8; 783], shape),
            Err(RuntimeError::InputLength { .. })
        ));
        assert!(png_complexity(&[0u8; 4], DataShape::Vector { dim: 4 }).is_err());
        Ok(())
    }
}

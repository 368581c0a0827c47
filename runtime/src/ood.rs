//! Out-of-distribution scores (docs/ood.md): the input-complexity-corrected score of Serrà et al. (2020),
//! a typicality score, and thresholds calibrated on in-distribution data at a chosen false-positive rate.
//!
//! A flow's likelihood alone ranks simple inputs (MNIST digits for a Fashion-MNIST model) as *more* likely
//! than its own test data. Subtracting the input's complexity, the length of its lossless PNG encoding in bits
//! per dimension, removes most of that bias.

use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress, Status};
use realnvp_bundle::{CALIBRATION_FILE, Calibration, DataKind, DataShape, OodStatistic};

use crate::error::{Result, RuntimeError};
use crate::flow::Flow;
use crate::image_io::to_u8;

/// The zlib level of the complexity's encoding: the maximum (with windowBits 15, memLevel 8 and the default
/// strategy, what `zlib.compress(data, 9)` in Python and `pako.deflate(data, {level: 9})` use).
pub const COMPLEXITY_ZLIB_LEVEL: u32 = 9;

/// The bytes a PNG file with one IDAT chunk adds around its zlib stream: the signature (8), the IHDR chunk
/// (25), the IDAT chunk's length, type and CRC (12) and the IEND chunk (12).
pub const PNG_FRAMING_BYTES: usize = 57;

/// The default false-positive rate of `runtime calibrate`.
pub const DEFAULT_FALSE_POSITIVE_RATE: f64 = 0.05;

/// A PNG row filter (PNG specification, section 9), by its filter-type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PngFilter {
    /// Type 0: the row as it is.
    None = 0,
    /// Type 1: each byte minus the byte one pixel to its left.
    Sub = 1,
    /// Type 2: each byte minus the byte above it.
    Up = 2,
    /// Type 3: each byte minus the floor of the mean of the left and upper bytes.
    Average = 3,
    /// Type 4: each byte minus the Paeth predictor of the left, upper and upper-left bytes.
    Paeth = 4,
}

impl PngFilter {
    /// The five filters in the order of their type bytes.
    pub const ALL: [PngFilter; 5] = [Self::None, Self::Sub, Self::Up, Self::Average, Self::Paeth];
}

/// How the rows of one encoding are filtered: one filter for every row, or the adaptive heuristic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFilters {
    /// This filter on every row.
    Fixed(PngFilter),
    /// Per row, the filter whose filtered bytes have the smallest sum of `|byte as i8|` (libpng's "minimum sum
    /// of absolute differences" heuristic); ties go to the lowest filter type.
    Adaptive,
}

/// The six encodings tried for the complexity; the shortest counts. One fixed filter can cost a sparse digit 20%
/// more bytes than another, and the adaptive heuristic is not always the best, so maximum compression means
/// trying each (as optipng does).
pub const COMPLEXITY_ROW_FILTERS: [RowFilters; 6] = [
    RowFilters::Fixed(PngFilter::None),
    RowFilters::Fixed(PngFilter::Sub),
    RowFilters::Fixed(PngFilter::Up),
    RowFilters::Fixed(PngFilter::Average),
    RowFilters::Fixed(PngFilter::Paeth),
    RowFilters::Adaptive,
];

/// Filters one row of bytes: `out[i] = row[i] − predictor(left, up, up_left)` (mod 256), where left is the byte
/// `bpp` before `i` in this row, up the byte at `i` in `prior` (the previous row; zeros for the first row), and
/// bytes before the start of a row are 0.
fn filter_row(filter: PngFilter, row: &[u8], prior: &[u8], bpp: usize, out: &mut [u8]) {
    for i in 0..row.len() {
        let a = if i >= bpp { row[i - bpp] } else { 0 };
        let b = prior[i];
        let c = if i >= bpp { prior[i - bpp] } else { 0 };
        let predictor = match filter {
            PngFilter::None => 0,
            PngFilter::Sub => a,
            PngFilter::Up => b,
            PngFilter::Average => ((u16::from(a) + u16::from(b)) / 2) as u8,
            PngFilter::Paeth => {
                let p = i16::from(a) + i16::from(b) - i16::from(c);
                let (pa, pb, pc) = (
                    (p - i16::from(a)).abs(),
                    (p - i16::from(b)).abs(),
                    (p - i16::from(c)).abs(),
                );
                if pa <= pb && pa <= pc {
                    a
                } else if pb <= pc {
                    b
                } else {
                    c
                }
            }
        };
        out[i] = row[i].wrapping_sub(predictor);
    }
}

/// The sum of `|byte as i8|` over a filtered row: the adaptive heuristic's cost.
fn row_cost(filtered: &[u8]) -> u32 {
    filtered
        .iter()
        .map(|&v| u32::from((v as i8).unsigned_abs()))
        .sum()
}

/// The PNG scanlines of an image: for each of `rows` rows of `stride` bytes, its filter-type byte and the
/// filtered row. `bpp` is the bytes per pixel (the channel count at 8 bits).
pub fn png_scanlines(bytes: &[u8], stride: usize, bpp: usize, filters: RowFilters) -> Vec<u8> {
    let rows = bytes.len().checked_div(stride).unwrap_or(0);
    let zeros = vec![0u8; stride];
    let mut out = Vec::with_capacity(rows * (stride + 1));
    let mut filtered = vec![0u8; stride];
    let mut best = vec![0u8; stride];
    for r in 0..rows {
        let row = &bytes[r * stride..(r + 1) * stride];
        let prior = if r == 0 {
            &zeros[..]
        } else {
            &bytes[(r - 1) * stride..r * stride]
        };
        let filter = match filters {
            RowFilters::Fixed(filter) => {
                filter_row(filter, row, prior, bpp, &mut best);
                filter
            }
            RowFilters::Adaptive => {
                let mut chosen = (PngFilter::None, u32::MAX);
                for filter in PngFilter::ALL {
                    filter_row(filter, row, prior, bpp, &mut filtered);
                    let cost = row_cost(&filtered);
                    // Strictly smaller: a tie keeps the lower filter type.
                    if cost < chosen.1 {
                        chosen = (filter, cost);
                        best.copy_from_slice(&filtered);
                    }
                }
                chosen.0
            }
        };
        out.push(filter as u8);
        out.extend_from_slice(&best);
    }
    out
}

/// The length of the zlib stream (RFC 1950) of `data` at level [`COMPLEXITY_ZLIB_LEVEL`], windowBits 15,
/// memLevel 8 and the default strategy, compressed in one call by C zlib (flate2's `zlib` backend, zlib's own
/// sources built into the binary by libz-sys), whose bytes Python's `zlib` and JavaScript's pako also give.
pub fn zlib_length(data: &[u8]) -> usize {
    zlib_stream(data).len()
}

/// The zlib stream whose length [`zlib_length`] is.
fn zlib_stream(data: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::new(COMPLEXITY_ZLIB_LEVEL), true);
    // deflateBound for these parameters is len + len/4096 + len/16384 + len/2^25 + 13 (+ 6 header/trailer);
    // the loop below only grows the buffer if that were ever short.
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
    loop {
        let consumed = compress.total_in() as usize;
        match compress.compress_vec(&data[consumed..], &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return out,
            Ok(_) => out.reserve(out.capacity().max(64)),
            Err(e) => unreachable!("zlib refused a level-9 stream of plain bytes: {e}"),
        }
    }
}

/// The length in bits per dimension of the shortest single-IDAT PNG file that encodes `pixels` at maximum
/// compression: Serrà et al.'s complexity `L(x)`, defined by this project so that any host can compute it exactly.
///
/// For each of [`COMPLEXITY_ROW_FILTERS`] (the five PNG row filters on every row, and the adaptive heuristic),
/// the image's scanlines (filter-type byte + filtered row, [`png_scanlines`], `bpp` = channels) are deflated
/// into a zlib stream ([`zlib_length`]: level 9, windowBits 15, memLevel 8, default strategy); with the
/// shortest stream, `L = 8 · (zlib length + 57) / D` ([`PNG_FRAMING_BYTES`]: the PNG file's signature and
/// chunks around it), `D` = `pixels.len()`, computed in `f32`.
///
/// `pixels` is one image of `shape = [C, H, W]` (`C` = 1 or 3) in planar `C, H, W` order; PNG rows interleave
/// the channels (`H, W, C`). The encoding is lossless, so `L(x)` is an upper bound on the bits an image
/// compressor needs; constant images come out far below 1 bit/dim, uniform noise above 8.
pub fn png_complexity(pixels: &[u8], shape: DataShape) -> Result<f32> {
    let DataShape::Image {
        channels,
        height: _,
        width,
    } = shape
    else {
        return Err(RuntimeError::WrongDataKind {
            operation: "the PNG complexity",
            expected: "image",
            found: "vector",
        });
    };
    if channels != 1 && channels != 3 {
        return Err(RuntimeError::InvalidOption {
            name: "shape",
            reason: format!("PNG complexity needs 1 or 3 channels, got {channels}"),
        });
    }
    let numel = shape.numel();
    if pixels.len() != numel {
        return Err(RuntimeError::InputLength {
            what: "pixels",
            got: pixels.len(),
            expected: numel,
            n: 1,
            per_item: numel,
            shape: shape.dims(),
        });
    }
    let hw = numel / channels;
    let interleaved: Vec<u8> = (0..hw)
        .flat_map(|p| (0..channels).map(move |c| pixels[c * hw + p]))
        .collect();
    let shortest = COMPLEXITY_ROW_FILTERS
        .iter()
        .map(|&filters| {
            zlib_length(&png_scanlines(
                &interleaved,
                width * channels,
                channels,
                filters,
            ))
        })
        .min()
        .unwrap_or(0);
    Ok(((shortest + PNG_FRAMING_BYTES) * 8) as f32 / numel as f32)
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
    if !Calibration::is_valid_rate(alpha) {
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

    /// [`Flow::ood_scores`], with the PNG complexity (six encodings per image) only when `with_complexity` is
    /// set. Typicality is filled wherever the bundle records test scores: it costs one subtraction per item.
    pub(crate) fn scores(
        &self,
        x: &[f32],
        n: usize,
        with_complexity: bool,
    ) -> Result<Vec<OodScores>> {
        let enc = self.encode(x, n)?;
        let mean = self.test_scores().map(|s| s.mean as f32);
        let shape = self.data_shape();
        let per_item = self.latent_dim();
        (0..n)
            .map(|i| {
                let bits_per_dim = enc.bits_per_dim[i];
                let complexity = if with_complexity && shape.kind() == DataKind::Image {
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

    const GREY: DataShape = DataShape::Image {
        channels: 1,
        height: 28,
        width: 28,
    };

    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect()
    }

    /// A ring, as sparse as a digit.
    fn ring() -> Vec<u8> {
        (0..784)
            .map(|i| {
                let (r, c) = ((i / 28) as f32 - 13.5, (i % 28) as f32 - 13.5);
                let d = (r * r + c * c).sqrt();
                if (7.0..10.0).contains(&d) { 255 } else { 0 }
            })
            .collect()
    }

    /// A smooth gradient with a little noise: every filter predicts something.
    fn gradient() -> Vec<u8> {
        let n = noise(784);
        (0..784)
            .map(|i| ((i / 28) * 5 + (i % 28) * 3) as u8 ^ (n[i] & 3))
            .collect()
    }

    #[test]
    fn complexity_of_known_images() -> Result<()> {
        let blank = png_complexity(&[0u8; 784], GREY)?;
        // Signature, IHDR, IDAT and IEND framing alone are 57 bytes = 0.58 bits/dim.
        assert!(blank > 0.5 && blank < 1.0, "{blank}");
        // Seeded uniform bytes do not compress: at least 8 bits/dim plus the framing.
        let noise = noise(784);
        let noisy = png_complexity(&noise, GREY)?;
        assert!(noisy > 8.5, "{noisy}");
        // The ring: the adaptive filter heuristic costs it more bytes than no filter at all, so the shortest of the
        // filters must beat adaptive alone.
        let ring = ring();
        let adaptive = zlib_length(&png_scanlines(&ring, 28, 1, RowFilters::Adaptive));
        let ring_bits = png_complexity(&ring, GREY)?;
        assert!(
            ring_bits < ((adaptive + PNG_FRAMING_BYTES) * 8) as f32 / 784.0,
            "{ring_bits}"
        );
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
            png_complexity(&[0u8; 783], GREY),
            Err(RuntimeError::InputLength { .. })
        ));
        assert!(png_complexity(&[0u8; 4], DataShape::Vector { dim: 4 }).is_err());
        Ok(())
    }

    /// A PNG file (8-bit, colour type 0 or 2, one IDAT chunk) around `scanlines`.
    fn png_file(width: u32, height: u32, channels: usize, scanlines: &[u8]) -> Vec<u8> {
        fn chunk(file: &mut Vec<u8>, tag: &[u8; 4], data: &[u8]) {
            file.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut crc = flate2::Crc::new();
            crc.update(tag);
            crc.update(data);
            file.extend_from_slice(tag);
            file.extend_from_slice(data);
            file.extend_from_slice(&crc.sum().to_be_bytes());
        }
        let mut file = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = [width.to_be_bytes(), height.to_be_bytes()].concat();
        ihdr.extend_from_slice(&[8, if channels == 3 { 2 } else { 0 }, 0, 0, 0]);
        chunk(&mut file, b"IHDR", &ihdr);
        chunk(&mut file, b"IDAT", &zlib_stream(scanlines));
        chunk(&mut file, b"IEND", &[]);
        file
    }

    #[test]
    fn every_encoding_is_a_png_file_a_decoder_reads_back() {
        // The filters are the PNG specification's (an independent decoder, the `image` crate's, undoes them), and
        // the file is the zlib stream plus exactly PNG_FRAMING_BYTES.
        let rgb: Vec<u8> = [gradient(), ring(), noise(784)].concat(); // interleaved: any bytes will do
        for (bytes, channels) in [(ring(), 1), (gradient(), 1), (noise(784), 1), (rgb, 3)] {
            for filters in COMPLEXITY_ROW_FILTERS {
                let scanlines = png_scanlines(&bytes, 28 * channels, channels, filters);
                assert_eq!(scanlines.len(), 28 * (28 * channels + 1));
                let file = png_file(28, 28, channels, &scanlines);
                assert_eq!(file.len(), zlib_length(&scanlines) + PNG_FRAMING_BYTES);
                let decoded = image::load_from_memory_with_format(&file, image::ImageFormat::Png)
                    .unwrap_or_else(|e| panic!("{filters:?}, {channels} channels: {e}"));
                assert_eq!(
                    decoded.as_bytes(),
                    &bytes[..],
                    "{filters:?}, {channels} channels"
                );
            }
        }
    }

    #[test]
    fn adaptive_filter_takes_the_cheapest_row_ties_to_the_lowest_type() {
        let types = |bytes: &[u8]| -> Vec<u8> {
            png_scanlines(bytes, 28, 1, RowFilters::Adaptive)
                .chunks(29)
                .map(|row| row[0])
                .collect()
        };
        // Blank: every filter costs 0, so None (type 0) everywhere.
        assert_eq!(types(&[0u8; 784]), vec![0; 28]);
        // Every row the same ramp: Sub costs 28·1 on each row; from the second row on Up costs 0 (and so does
        // Paeth, which then predicts the byte above: the tie goes to Up, type 2).
        let ramp: Vec<u8> = (0..784).map(|i| (i % 28) as u8 * 9).collect();
        let t = types(&ramp);
        assert_eq!(t[0], 1, "{t:?}");
        assert!(t[1..].iter().all(|&f| f == 2), "{t:?}");
        // On every row the chosen filter's cost is the minimum over the five.
        let g = gradient();
        let scanlines = png_scanlines(&g, 28, 1, RowFilters::Adaptive);
        for (r, row) in scanlines.chunks(29).enumerate() {
            let cost_of = |f: PngFilter| {
                let one = png_scanlines(&g, 28, 1, RowFilters::Fixed(f));
                row_cost(&one[r * 29 + 1..(r + 1) * 29])
            };
            let min = PngFilter::ALL.iter().map(|&f| cost_of(f)).min().unwrap();
            assert_eq!(row_cost(&row[1..]), min, "row {r}");
            let lowest = PngFilter::ALL.iter().find(|&&f| cost_of(f) == min).unwrap();
            assert_eq!(row[0], *lowest as u8, "row {r}");
        }
    }

    /// Python's `zlib.compress(data, 9)` (C zlib: level 9, windowBits 15, memLevel 8, default strategy) of each
    /// buffer, run now: the project venv's Python when `make setup` made it, else the system `python3`.
    fn python_zlib(buffers: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
        let python = if Path::new(venv).exists() {
            venv
        } else {
            "python3"
        };
        let input: String = buffers
            .iter()
            .map(|b| b.iter().map(|v| format!("{v:02x}")).collect::<String>() + "\n")
            .collect();
        let mut child = std::process::Command::new(python)
            .args(["-c", "import sys, zlib\nfor line in sys.stdin: print(zlib.compress(bytes.fromhex(line.strip()), 9).hex())"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{python} is needed to check the zlib backend (run `make setup`): {e}"));
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{python}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                (0..line.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn zlib_streams_are_c_zlibs() {
        // Which deflate implementation flate2 compiled in is decided by features unified over the whole build
        // (miniz_oxide and zlib-rs give other bytes); the complexity's contract is C zlib's stream, byte for byte.
        let mut buffers = vec![vec![], vec![0u8; 812], noise(5000)];
        for bytes in [ring(), gradient(), noise(784)] {
            for filters in COMPLEXITY_ROW_FILTERS {
                buffers.push(png_scanlines(&bytes, 28, 1, filters));
            }
        }
        let expected = python_zlib(&buffers);
        assert_eq!(expected.len(), buffers.len());
        for (i, (buffer, want)) in buffers.iter().zip(&expected).enumerate() {
            assert_eq!(
                &zlib_stream(buffer),
                want,
                "buffer {i} ({} bytes)",
                buffer.len()
            );
        }
    }
}

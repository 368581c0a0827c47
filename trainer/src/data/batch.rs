//! Mini-batches: shuffled, dequantized and optionally flipped for training, fixed for evaluation.
//!
//! Reproducibility: the order of epoch `e` is a shuffle seeded by `(seed, e)`; the noise and flips
//! of batch `i` of epoch `e` are seeded by `(seed, e, i)`. Nothing depends on what was drawn
//! before, so [`Batcher::seek`] to `(e, i)` continues exactly where an uninterrupted run would be.

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{DataError, DataShape, Dataset, Samples, derive_seed};

const TAG_ORDER: u64 = 1;
const TAG_NOISE: u64 = 2;
const TAG_EVAL_TRAIN: u64 = 3;
const TAG_EVAL_TEST: u64 = 4;

/// Which split of a [`Dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training split.
    Train,
    /// The held-out split.
    Test,
}

/// Dequantization noise `u` for evaluation batches of images (ignored for vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalNoise {
    /// `u = 0.5` for every pixel: deterministic, slightly optimistic bits/dim.
    Midpoint,
    /// `u ~ U[0, 1)` seeded per example by `(seed, draw, example index)`, so it does not depend
    /// on the batch size. Use `draw = 0..K` for a K-sample importance-weighted estimate.
    Random {
        /// Base seed.
        seed: u64,
        /// Which of the K noise draws.
        draw: u64,
    },
}

/// Adds `u ~ U[0, 1)` to pixel values, keeping `p + u < p + 1` after f32 rounding (near 255 the
/// sum of `p` and a `u` just below 1 would otherwise round up to `p + 1`).
fn add_noise(x: &mut [f32], rng: &mut StdRng) {
    for v in x {
        let p = *v;
        let y = p + rng.random::<f32>();
        *v = if y >= p + 1.0 {
            (p + 1.0).next_down()
        } else {
            y
        };
    }
}

/// Copies example `i` of `pixels` (`[C, H, W]` each) to `out` as f32, mirrored left-right if `flip`.
fn push_image(
    out: &mut Vec<f32>,
    pixels: &[u8],
    (c, h, w): (usize, usize, usize),
    i: usize,
    flip: bool,
) {
    let src = &pixels[i * c * h * w..(i + 1) * c * h * w];
    for row in src.chunks_exact(w) {
        if flip {
            out.extend(row.iter().rev().map(|&p| p as f32));
        } else {
            out.extend(row.iter().map(|&p| p as f32));
        }
    }
}

fn values_batch(values: &[f32], d: usize, indices: &[usize]) -> Vec<f32> {
    super::gather(values, d, indices)
}

fn samples(data: &Dataset, split: Split) -> &Samples {
    match split {
        Split::Train => &data.train,
        Split::Test => &data.test,
    }
}

fn to_tensor(data: &Dataset, x: Vec<f32>, b: usize, device: &Device) -> Result<Tensor, DataError> {
    let mut shape = vec![b];
    shape.extend(data.shape());
    Ok(Tensor::from_vec(x, shape, device)?)
}

fn mismatch(data: &Dataset) -> DataError {
    DataError::Invalid(format!(
        "{}: samples do not match the data kind {:?}",
        data.name, data.kind
    ))
}

/// Shuffled training batches, epoch after epoch, reproducible and resumable from a seed.
///
/// Each epoch yields `len_train / batch_size` batches (the remainder is left out so every batch
/// has the same size). Images come out as `[B, C, H, W]` f32 `x = p + u`, `u ~ U[0, 1)`, optionally
/// mirrored left-right (each example with probability 1/2); vectors as `[B, D]`, unchanged.
#[derive(Debug, Clone)]
pub struct Batcher<'a> {
    data: &'a Dataset,
    batch_size: usize,
    seed: u64,
    flip: bool,
    epoch: u64,
    index: usize,
    order: Vec<usize>,
}

impl<'a> Batcher<'a> {
    /// Starts at epoch 0, batch 0. `flip` mirrors images at random (ignored for vectors).
    /// Fails when `batch_size` is 0 or larger than the training split.
    pub fn new(
        data: &'a Dataset,
        batch_size: usize,
        seed: u64,
        flip: bool,
    ) -> Result<Self, DataError> {
        let n = data.len_train();
        if batch_size == 0 || batch_size > n {
            return Err(DataError::Invalid(format!(
                "batch size {batch_size} must be between 1 and the {n} training examples of {}",
                data.name
            )));
        }
        let mut b = Batcher {
            data,
            batch_size,
            seed,
            flip,
            epoch: 0,
            index: 0,
            order: Vec::new(),
        };
        b.order = b.epoch_order(0);
        Ok(b)
    }

    fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.data.len_train()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(derive_seed(
            self.seed, TAG_ORDER, epoch, 0,
        )));
        order
    }

    /// Batches in one epoch: `len_train / batch_size`.
    pub fn batches_per_epoch(&self) -> usize {
        self.data.len_train() / self.batch_size
    }

    /// Examples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// `(epoch, index within the epoch)` of the batch [`Batcher::next_batch`] returns next.
    pub fn position(&self) -> (u64, usize) {
        (self.epoch, self.index)
    }

    /// Batches returned so far since (epoch 0, batch 0): `epoch * batches_per_epoch + index`.
    pub fn step(&self) -> u64 {
        self.epoch * self.batches_per_epoch() as u64 + self.index as u64
    }

    /// Moves to batch `index` of `epoch` (an index past the epoch's end carries into later epochs).
    pub fn seek(&mut self, epoch: u64, index: usize) {
        let per = self.batches_per_epoch();
        let epoch = epoch + (index / per) as u64;
        let index = index % per;
        if epoch != self.epoch {
            self.order = self.epoch_order(epoch);
        }
        self.epoch = epoch;
        self.index = index;
    }

    /// Moves to the `step`-th batch counted from (epoch 0, batch 0), as [`Batcher::step`] reports.
    pub fn seek_step(&mut self, step: u64) {
        let per = self.batches_per_epoch() as u64;
        self.seek(step / per, (step % per) as usize);
    }

    /// The next training batch, `[B, C, H, W]` or `[B, D]` f32 on `device`.
    pub fn next_batch(&mut self, device: &Device) -> Result<Tensor, DataError> {
        let start = self.index * self.batch_size;
        let indices = &self.order[start..start + self.batch_size];
        let mut rng = StdRng::seed_from_u64(derive_seed(
            self.seed,
            TAG_NOISE,
            self.epoch,
            self.index as u64,
        ));
        let x = match (&self.data.train, self.data.kind) {
            (
                Samples::Pixels(p),
                DataShape::Image {
                    channels: c,
                    height: h,
                    width: w,
                },
            ) => {
                let mut x = Vec::with_capacity(indices.len() * c * h * w);
                for &i in indices {
                    let flip = self.flip && rng.random_bool(0.5);
                    push_image(&mut x, p, (c, h, w), i, flip);
                }
                add_noise(&mut x, &mut rng);
                x
            }
            (Samples::Values(v), DataShape::Vector { dim: d }) => values_batch(v, d, indices),
            _ => return Err(mismatch(self.data)),
        };
        let t = to_tensor(self.data, x, indices.len(), device)?;
        self.seek(self.epoch, self.index + 1);
        Ok(t)
    }
}

impl Dataset {
    /// Batch `batch` (0-based) of `split` for evaluation, in stored order, no flips: examples
    /// `batch * batch_size ..` up to the end of the split, so the last batch may be smaller.
    /// Images are `p + u` with `u` from `noise`, `[B, C, H, W]`; vectors `[B, D]`.
    pub fn eval_batch(
        &self,
        split: Split,
        batch: usize,
        batch_size: usize,
        noise: EvalNoise,
        device: &Device,
    ) -> Result<Tensor, DataError> {
        let n = match split {
            Split::Train => self.len_train(),
            Split::Test => self.len_test(),
        };
        let start = batch.saturating_mul(batch_size);
        if batch_size == 0 || start >= n {
            return Err(DataError::Invalid(format!(
                "eval batch {batch} of size {batch_size} is outside the {n} examples of {}",
                self.name
            )));
        }
        let indices: Vec<usize> = (start..n.min(start + batch_size)).collect();
        let x = match (samples(self, split), self.kind) {
            (
                Samples::Pixels(p),
                DataShape::Image {
                    channels: c,
                    height: h,
                    width: w,
                },
            ) => {
                let dim = c * h * w;
                let mut x = Vec::with_capacity(indices.len() * dim);
                for &i in &indices {
                    push_image(&mut x, p, (c, h, w), i, false);
                }
                match noise {
                    EvalNoise::Midpoint => x.iter_mut().for_each(|v| *v += 0.5),
                    EvalNoise::Random { seed, draw } => {
                        let tag = match split {
                            Split::Train => TAG_EVAL_TRAIN,
                            Split::Test => TAG_EVAL_TEST,
                        };
                        for (one, &i) in x.chunks_mut(dim).zip(&indices) {
                            let s = derive_seed(seed, tag, draw, i as u64);
                            add_noise(one, &mut StdRng::seed_from_u64(s));
                        }
                    }
                }
                x
            }
            (Samples::Values(v), DataShape::Vector { dim: d }) => values_batch(v, d, &indices),
            _ => return Err(mismatch(self)),
        };
        to_tensor(self, x, indices.len(), device)
    }

    /// All of `split` in order as evaluation batches of at most `batch_size` (see [`Dataset::eval_batch`]).
    pub fn eval_batches<'a>(
        &'a self,
        split: Split,
        batch_size: usize,
        noise: EvalNoise,
        device: &'a Device,
    ) -> EvalBatches<'a> {
        let n = match split {
            Split::Train => self.len_train(),
            Split::Test => self.len_test(),
        };
        EvalBatches {
            data: self,
            split,
            batch_size,
            noise,
            device,
            next: 0,
            count: if batch_size == 0 {
                0
            } else {
                n.div_ceil(batch_size)
            },
        }
    }

    /// The test split as evaluation batches with `u = 0.5` (see [`Dataset::eval_batches`]).
    pub fn test_batches<'a>(&'a self, batch_size: usize, device: &'a Device) -> EvalBatches<'a> {
        self.eval_batches(Split::Test, batch_size, EvalNoise::Midpoint, device)
    }
}

/// Iterator over the evaluation batches of one split; see [`Dataset::eval_batches`].
#[derive(Debug)]
pub struct EvalBatches<'a> {
    data: &'a Dataset,
    split: Split,
    batch_size: usize,
    noise: EvalNoise,
    device: &'a Device,
    next: usize,
    count: usize,
}

impl Iterator for EvalBatches<'_> {
    type Item = Result<Tensor, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count {
            return None;
        }
        let b = self.next;
        self.next += 1;
        Some(
            self.data
                .eval_batch(self.split, b, self.batch_size, self.noise, self.device),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for EvalBatches<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// 20 train and 7 test images of 1x2x3; pixel (k, row, col) = 10k + 3row + col, and row 1
    /// of train image 19 is saturated (255) to exercise the top of the range.
    fn images() -> Result<Dataset, DataError> {
        let px = |n: usize| -> Vec<u8> {
            (0..n)
                .flat_map(|k| (0..6).map(move |i| (10 * k + i) as u8))
                .collect()
        };
        let mut train = px(20);
        train[19 * 6 + 3..20 * 6].fill(255);
        Dataset::images("fixture", (1, 2, 3), train, px(7))
    }

    fn collect(b: &mut Batcher, n: usize) -> Result<Vec<Vec<f32>>, DataError> {
        (0..n)
            .map(|_| {
                Ok(b.next_batch(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_batches_other_seed_different() -> TestResult {
        let data = images()?;
        let a = collect(&mut Batcher::new(&data, 4, 9, true)?, 12)?;
        let b = collect(&mut Batcher::new(&data, 4, 9, true)?, 12)?;
        let c = collect(&mut Batcher::new(&data, 4, 10, true)?, 12)?;
        assert_eq!(a, b);
        assert_ne!(a, c);
        let shape = Batcher::new(&data, 4, 9, true)?.next_batch(&Device::Cpu)?;
        assert_eq!(shape.dims(), [4, 1, 2, 3]);
        Ok(())
    }

    #[test]
    fn resuming_equals_continuing() -> TestResult {
        let data = images()?;
        // 20 / 6 = 3 batches per epoch (2 examples left out each epoch); run 4 epochs.
        let mut full = Batcher::new(&data, 6, 5, true)?;
        assert_eq!(full.batches_per_epoch(), 3);
        let all = collect(&mut full, 12)?;
        assert_eq!((full.position(), full.step()), ((4, 0), 12));
        for step in [0u64, 1, 4, 7, 11] {
            let mut resumed = Batcher::new(&data, 6, 5, true)?;
            resumed.seek_step(step);
            assert_eq!(resumed.step(), step);
            assert_eq!(
                collect(&mut resumed, 12 - step as usize)?,
                all[step as usize..]
            );
        }
        let mut resumed = Batcher::new(&data, 6, 5, true)?;
        resumed.seek(1, 2);
        assert_eq!(collect(&mut resumed, 7)?, all[5..]);
        Ok(())
    }

    #[test]
    fn epochs_are_permutations_with_noise_in_unit_interval() -> TestResult {
        let data = images()?;
        let mut b = Batcher::new(&data, 5, 3, false)?;
        let mut firsts = Vec::new();
        let mut u_sum = 0.0f64;
        for _ in 0..2 {
            let mut seen = Vec::new();
            for batch in collect(&mut b, 4)? {
                for ex in batch.chunks(6) {
                    for (i, &x) in ex.iter().enumerate() {
                        let p = x.floor();
                        let k = (ex[0].floor() / 10.0) as usize;
                        let want = if k == 19 && i >= 3 {
                            255.0
                        } else {
                            (10 * k + i) as f32
                        };
                        assert_eq!(p, want, "pixel {i} of example {k}: {x}");
                        assert!(x - p >= 0.0 && x - p < 1.0 && x < 256.0, "{x}");
                        u_sum += (x - p) as f64;
                    }
                    seen.push((ex[0].floor() / 10.0) as usize);
                }
            }
            firsts.push(seen.clone());
            seen.sort_unstable();
            assert_eq!(seen, (0..20).collect::<Vec<_>>());
        }
        assert_ne!(firsts[0], firsts[1], "each epoch has its own order");
        let mean_u = u_sum / (2.0 * 20.0 * 6.0);
        assert!((mean_u - 0.5).abs() < 0.08, "mean noise {mean_u}");
        Ok(())
    }

    #[test]
    fn flips_mirror_rows_and_only_when_asked() -> TestResult {
        let data = images()?;
        let mut flipped = 0;
        for (flip, batches) in [
            (true, collect(&mut Batcher::new(&data, 4, 1, true)?, 20)?),
            (false, collect(&mut Batcher::new(&data, 4, 1, false)?, 20)?),
        ] {
            for ex in batches.iter().flat_map(|b| b.chunks(6)) {
                let p: Vec<f32> = ex.iter().map(|x| x.floor()).collect();
                let k = (p.iter().cloned().fold(f32::MAX, f32::min) / 10.0) as usize;
                if k == 19 {
                    continue; // its saturated row hides the order
                }
                let base = (10 * k) as f32;
                let plain: Vec<f32> = (0..6).map(|i| base + i as f32).collect();
                let mirror: Vec<f32> = [2, 1, 0, 5, 4, 3]
                    .iter()
                    .map(|&i| base + i as f32)
                    .collect();
                if p == mirror {
                    assert!(flip, "mirrored without flips");
                    flipped += 1;
                } else {
                    assert_eq!(p, plain);
                }
            }
        }
        // 80 flip-enabled examples (about 76 checked): about half mirrored.
        assert!((20..60).contains(&flipped), "{flipped} mirrored");
        Ok(())
    }

    #[test]
    fn eval_batches_cover_the_split_in_order() -> TestResult {
        let data = images()?;
        let dev = Device::Cpu;
        let mid: Vec<Vec<f32>> = data
            .test_batches(3, &dev)
            .map(|b| Ok::<_, DataError>(b?.flatten_all()?.to_vec1::<f32>()?))
            .collect::<Result<_, _>>()?;
        assert_eq!(
            mid.iter().map(|b| b.len() / 6).collect::<Vec<_>>(),
            [3, 3, 1]
        );
        let flat: Vec<f32> = mid.concat();
        let pixels: Vec<f32> = (0..7)
            .flat_map(|k| (0..6).map(move |i| (10 * k + i) as f32))
            .collect();
        let want: Vec<f32> = pixels.iter().map(|p| p + 0.5).collect();
        assert_eq!(flat, want);

        let random = |draw, bs| -> Result<Vec<f32>, DataError> {
            let noise = EvalNoise::Random { seed: 4, draw };
            let mut out = Vec::new();
            for b in data.eval_batches(Split::Test, bs, noise, &dev) {
                out.extend(b?.flatten_all()?.to_vec1::<f32>()?);
            }
            Ok(out)
        };
        let (r0, r1) = (random(0, 3)?, random(1, 3)?);
        assert_eq!(r0, random(0, 5)?, "noise does not depend on the batch size");
        assert_ne!(r0, r1);
        for (x, p) in r0.iter().zip(&pixels) {
            let u = x - p;
            assert!((0.0..1.0).contains(&u), "{u}");
        }
        assert!(
            data.eval_batch(Split::Test, 3, 3, EvalNoise::Midpoint, &dev)
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn vectors_pass_through_unchanged() -> TestResult {
        let train: Vec<f32> = (0..20).map(|i| i as f32 * 0.25).collect();
        let data = Dataset::vectors("v", 2, train.clone(), vec![1.5, -2.0])?;
        let mut b = Batcher::new(&data, 5, 0, true)?;
        let mut rows: Vec<f32> = collect(&mut b, 2)?.concat();
        assert_eq!(b.next_batch(&Device::Cpu)?.dims(), [5, 2]);
        rows.sort_by(f32::total_cmp);
        assert_eq!(rows, train);
        let t = data
            .test_batches(8, &Device::Cpu)
            .next()
            .ok_or("no batch")??;
        assert_eq!(t.to_vec2::<f32>()?, [[1.5, -2.0]]);
        assert!(Batcher::new(&data, 11, 0, false).is_err());
        Ok(())
    }
}

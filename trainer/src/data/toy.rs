//! 2-D toy data sets, generated as scikit-learn's `make_moons`, `make_circles` and `make_blobs`
//! do (same construction and defaults; the random streams are our own), plus a uniform square.
//!
//! Train and test are drawn from independent streams of the seed; blob centres come from a third
//! stream, so both splits share them.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::{DataError, ToyKind, ToySpec, derive_seed};

const TAG: u64 = 0x70_79;

/// `n` evenly spaced values from `a` to `b` (`b` included when `endpoint`), as `numpy.linspace`.
fn linspace(a: f64, b: f64, n: usize, endpoint: bool) -> impl Iterator<Item = f64> {
    let steps = if endpoint { n.saturating_sub(1) } else { n };
    let step = if steps == 0 {
        0.0
    } else {
        (b - a) / steps as f64
    };
    (0..n).map(move |i| a + step * i as f64)
}

fn normal(std: f64) -> Result<Normal<f64>, DataError> {
    Normal::new(0.0, std).map_err(|e| DataError::Invalid(format!("noise std {std}: {e}")))
}

/// Draws `n` points of `kind` with `rng`; `centers` are the blob centres.
fn draw(
    kind: &ToyKind,
    n: usize,
    centers: &[(f64, f64)],
    rng: &mut StdRng,
) -> Result<Vec<f32>, DataError> {
    let (n_out, n_in) = (n / 2, n - n / 2);
    let pi = std::f64::consts::PI;
    let (mut pts, noise): (Vec<(f64, f64)>, f64) = match *kind {
        ToyKind::Moons { noise } => {
            let outer = linspace(0.0, pi, n_out, true).map(|t| (t.cos(), t.sin()));
            let inner = linspace(0.0, pi, n_in, true).map(|t| (1.0 - t.cos(), 1.0 - t.sin() - 0.5));
            (outer.chain(inner).collect(), noise)
        }
        ToyKind::Circles { noise, factor } => {
            let outer = linspace(0.0, 2.0 * pi, n_out, false).map(|t| (t.cos(), t.sin()));
            let inner =
                linspace(0.0, 2.0 * pi, n_in, false).map(|t| (t.cos() * factor, t.sin() * factor));
            (outer.chain(inner).collect(), noise)
        }
        ToyKind::Blobs { std, .. } => {
            // As make_blobs: n / k points per centre, the first n % k centres one more.
            let k = centers.len();
            let pts = (0..k)
                .flat_map(|c| std::iter::repeat_n(centers[c], n / k + usize::from(c < n % k)))
                .collect();
            (pts, std)
        }
        ToyKind::Random => {
            let pts = (0..n)
                .map(|_| (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
                .collect();
            (pts, 0.0)
        }
    };
    pts.shuffle(rng);
    let gauss = normal(noise)?;
    Ok(pts
        .into_iter()
        .flat_map(|(x, y)| {
            let (dx, dy) = if noise > 0.0 {
                (gauss.sample(rng), gauss.sample(rng))
            } else {
                (0.0, 0.0)
            };
            [(x + dx) as f32, (y + dy) as f32]
        })
        .collect())
}

/// Generates `(train [n_train, 2], test [n_test, 2])` for `spec` from `seed`.
pub(crate) fn generate(spec: &ToySpec, seed: u64) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    let centers: Vec<(f64, f64)> = match spec.kind {
        ToyKind::Blobs { centers, .. } => {
            let mut rng = StdRng::seed_from_u64(derive_seed(seed, TAG, 2, 0));
            (0..centers)
                .map(|_| (rng.random_range(-10.0..10.0), rng.random_range(-10.0..10.0)))
                .collect()
        }
        _ => Vec::new(),
    };
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, TAG, 0, 0));
    let train = draw(&spec.kind, spec.n_train, &centers, &mut rng)?;
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, TAG, 1, 0));
    let test = draw(&spec.kind, spec.n_test, &centers, &mut rng)?;
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ToyKind, n: usize) -> ToySpec {
        ToySpec {
            kind,
            n_train: n,
            n_test: n / 5,
        }
    }

    fn mean(v: &[f32]) -> (f64, f64) {
        let n = (v.len() / 2) as f64;
        let sx: f64 = v.iter().step_by(2).map(|&x| x as f64).sum();
        let sy: f64 = v.iter().skip(1).step_by(2).map(|&y| y as f64).sum();
        (sx / n, sy / n)
    }

    #[test]
    fn moons_without_noise_lie_on_the_two_half_circles() -> Result<(), DataError> {
        let (train, test) = generate(&spec(ToyKind::Moons { noise: 0.0 }, 1000), 7)?;
        assert_eq!((train.len(), test.len()), (2000, 400));
        let (mut outer, mut inner) = (0, 0);
        for p in train.chunks(2) {
            let (x, y) = (p[0] as f64, p[1] as f64);
            if ((x * x + y * y).sqrt() - 1.0).abs() < 1e-6 && y >= -1e-6 {
                outer += 1;
            } else if (((x - 1.0).powi(2) + (y - 0.5).powi(2)).sqrt() - 1.0).abs() < 1e-6
                && y <= 0.5 + 1e-6
            {
                inner += 1;
            } else {
                return Err(DataError::Invalid(format!("({x}, {y}) is on neither moon")));
            }
        }
        assert_eq!((outer, inner), (500, 500));
        // Exact for evenly spaced angles: centroid (0.5, 0.25).
        let (mx, my) = mean(&train);
        assert!(
            (mx - 0.5).abs() < 1e-6 && (my - 0.25).abs() < 1e-5,
            "{mx} {my}"
        );
        Ok(())
    }

    #[test]
    fn moons_noise_has_the_requested_spread() -> Result<(), DataError> {
        let (train, _) = generate(&spec(ToyKind::Moons { noise: 0.1 }, 20_000), 1)?;
        // Distance to the nearer moon's circle is |N(0, 0.1)|-ish: mean about 0.1 * sqrt(2/pi).
        let d: f64 = train
            .chunks(2)
            .map(|p| {
                let (x, y) = (p[0] as f64, p[1] as f64);
                let a = ((x * x + y * y).sqrt() - 1.0).abs();
                let b = (((x - 1.0).powi(2) + (y - 0.5).powi(2)).sqrt() - 1.0).abs();
                a.min(b)
            })
            .sum::<f64>()
            / 20_000.0;
        assert!((0.06..0.09).contains(&d), "mean distance {d}");
        let (mx, my) = mean(&train);
        assert!(
            (mx - 0.5).abs() < 0.01 && (my - 0.25).abs() < 0.01,
            "{mx} {my}"
        );
        Ok(())
    }

    #[test]
    fn circles_radii_blobs_and_square() -> Result<(), DataError> {
        let circles = ToyKind::Circles {
            noise: 0.0,
            factor: 0.5,
        };
        let (train, _) = generate(&spec(circles, 101), 3)?;
        let radii: Vec<f64> = train
            .chunks(2)
            .map(|p| ((p[0] as f64).powi(2) + (p[1] as f64).powi(2)).sqrt())
            .collect();
        let outer = radii.iter().filter(|r| (*r - 1.0).abs() < 1e-6).count();
        let inner = radii.iter().filter(|r| (*r - 0.5).abs() < 1e-6).count();
        assert_eq!((outer, inner), (50, 51));

        let blobs = ToyKind::Blobs {
            centers: 3,
            std: 0.0,
        };
        let (train, test) = generate(&spec(blobs, 10), 3)?;
        let mut pts: Vec<(f32, f32)> = train.chunks(2).map(|p| (p[0], p[1])).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts.dedup();
        assert_eq!(pts.len(), 3, "three distinct centres");
        assert!(pts.iter().all(|p| p.0.abs() < 10.0 && p.1.abs() < 10.0));
        assert!(
            test.chunks(2).all(|p| pts.contains(&(p[0], p[1]))),
            "shared centres"
        );

        let (train, _) = generate(&spec(ToyKind::Random, 10_000), 3)?;
        assert!(train.iter().all(|v| (-1.0..1.0).contains(v)));
        let var = train.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 20_000.0;
        assert!((var - 1.0 / 3.0).abs() < 0.01, "uniform variance {var}");
        Ok(())
    }

    #[test]
    fn seeded_and_splits_independent() -> Result<(), DataError> {
        let s = spec(ToyKind::Moons { noise: 0.05 }, 100);
        let (a, at) = generate(&s, 1)?;
        assert_eq!(generate(&s, 1)?, (a.clone(), at.clone()));
        assert_ne!(generate(&s, 2)?.0, a);
        assert_ne!(&a[..at.len()], &at[..]);
        Ok(())
    }
}

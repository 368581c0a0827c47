//! The fused residual block's per-channel ops on pixel-major activations `[pixels, c]` (channels
//! contiguous, `pixels = n·h·w`): the layout the Winograd convolutions read and write, so that
//! the block's inner activations (`conv₁`'s output, `relu(bn₂(·))` and their gradients) are never
//! transposed. Each op computes what its channel-major counterpart in [`super::channel_ops`] and
//! [`super::batch_norm_train`] does, with the sums in the same f32-blocks-into-f64 scheme.

use rayon::prelude::*;

use super::batch_norm_train::{affine_coefficients, gradient_coefficients};
use super::channel_ops::{collect_uninit, collect_uninit_with_capacity, relu_mask};

/// Pixels per rayon task.
const TASK_PIXELS: usize = 2048;
/// Pixels summed in f32 before their sums are added in f64 (see `channel_ops::lanes`).
const BLOCK_PIXELS: usize = 128;

/// Per channel, `Σ f(ch, a, b)` over the pixels of `a` and `b` `[pixels, c]`: f32 within blocks
/// of [`BLOCK_PIXELS`], f64 across blocks and tasks, always in the same order. `[c][K]`.
fn channel_sums<const K: usize>(
    a: &[f32],
    b: &[f32],
    c: usize,
    f: impl Fn(usize, f32, f32) -> [f32; K] + Sync,
) -> Vec<[f64; K]> {
    let partial: Vec<Vec<[f64; K]>> = a
        .par_chunks(TASK_PIXELS * c)
        .zip(b.par_chunks(TASK_PIXELS * c))
        .map(|(a, b)| {
            let mut total = vec![[0f64; K]; c];
            let mut acc = vec![[0f32; K]; c];
            for (a, b) in a.chunks(BLOCK_PIXELS * c).zip(b.chunks(BLOCK_PIXELS * c)) {
                acc.iter_mut().for_each(|v| *v = [0.0; K]);
                for (a, b) in a.chunks_exact(c).zip(b.chunks_exact(c)) {
                    for (ch, ((acc, &a), &b)) in acc.iter_mut().zip(a).zip(b).enumerate() {
                        let t = f(ch, a, b);
                        for k in 0..K {
                            acc[k] += t[k];
                        }
                    }
                }
                for (total, acc) in total.iter_mut().zip(&acc) {
                    for k in 0..K {
                        total[k] += acc[k] as f64;
                    }
                }
            }
            total
        })
        .collect();
    let mut sums = vec![[0f64; K]; c];
    for part in &partial {
        for (s, p) in sums.iter_mut().zip(part) {
            for k in 0..K {
                s[k] += p[k];
            }
        }
    }
    sums
}

/// Per-channel mean and biased variance of `x` `[pixels, c]`: `[mean; var]`, `2c` values, shifted
/// by each channel's first value against cancellation.
pub(super) fn moments(x: &[f32], c: usize) -> Vec<f32> {
    let shift = &x[..c];
    let sums = channel_sums(x, x, c, |ch, v, _| {
        let d = v - shift[ch];
        [d, d * d]
    });
    let count = (x.len() / c) as f64;
    let mut out = vec![0f32; 2 * c];
    for (ch, [s1, s2]) in sums.into_iter().enumerate() {
        let d = s1 / count;
        out[ch] = (shift[ch] as f64 + d) as f32;
        out[c + ch] = (s2 / count - d * d).max(0.0) as f32;
    }
    out
}

/// `Σ dy` per channel of `dy` `[pixels, c]`.
pub(super) fn sums(dy: &[f32], c: usize) -> Vec<f32> {
    channel_sums(dy, dy, c, |_, v, _| [v])
        .into_iter()
        .map(|[s]| s as f32)
        .collect()
}

/// The training batch norm's forward map (then the ReLU when `relu`) on `x` `[pixels, c]`, for
/// the statistics `mean`, `var` and the affine `gamma`, `beta` `[c]`.
pub(super) fn batch_norm_forward(
    x: &[f32],
    c: usize,
    (gamma, beta): (&[f32], &[f32]),
    (mean, var): (&[f32], &[f32]),
    eps: f64,
    relu: bool,
) -> Vec<f32> {
    let (a, b): (Vec<f32>, Vec<f32>) = (0..c)
        .map(|ch| affine_coefficients(gamma[ch], beta[ch], mean[ch], var[ch], eps))
        .unzip();
    collect_uninit(x.len(), TASK_PIXELS * c, |start, out| {
        let x = &x[start..][..out.len()];
        for (out, x) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            for (((y, &x), &a), &b) in out.iter_mut().zip(x).zip(&a).zip(&b) {
                let v = x * a + b;
                y.write(if relu { v.max(0.0) } else { v });
            }
        }
    })
}

/// The closed-form backward of [`batch_norm_forward`]: `x` its input, `y` its output (for the
/// ReLU's mask), `dy` the output's gradient, all `[pixels, c]`. Returns `dx` `[pixels, c]`
/// followed by `dγ` and `dβ` (`c` each) in one buffer.
pub(super) fn batch_norm_backward(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    c: usize,
    (gamma, mean, var): (&[f32], &[f32], &[f32]),
    eps: f64,
    relu: bool,
) -> Vec<f32> {
    let masked;
    let g: &[f32] = match relu {
        true => {
            masked = relu_mask(dy, y);
            &masked
        }
        false => dy,
    };
    let sums = channel_sums(g, x, c, |ch, g, x| [g, g * (x - mean[ch])]);
    let count = (x.len() / c) as f64;
    let (coef, d_gamma, d_beta) = gradient_coefficients(&sums, count, (gamma, mean, var), eps);
    // Per-channel vectors, so that the loop over a pixel's channels vectorizes.
    let a: Vec<f32> = coef.iter().map(|k| k.0).collect();
    let q: Vec<f32> = coef.iter().map(|k| k.2).collect();
    let r: Vec<f32> = coef.iter().map(|k| k.3).collect();
    let mut out =
        collect_uninit_with_capacity(x.len(), x.len() + 2 * c, TASK_PIXELS * c, |start, out| {
            let (g, x) = (&g[start..][..out.len()], &x[start..][..out.len()]);
            let rows = out
                .chunks_exact_mut(c)
                .zip(g.chunks_exact(c))
                .zip(x.chunks_exact(c));
            for ((out, g), x) in rows {
                for (ch, ((dx, &g), &x)) in out.iter_mut().zip(g).zip(x).enumerate() {
                    dx.write(g * a[ch] + (x - mean[ch]) * q[ch] + r[ch]);
                }
            }
        });
    out.extend_from_slice(&d_gamma);
    out.extend_from_slice(&d_beta);
    out
}

#[cfg(test)]
mod tests {
    use super::super::batch_norm_train::{backward, forward};
    use super::super::channel_ops::{moments as moments_chw, sums as sums_chw};
    use super::super::transpose::transpose;
    use super::{batch_norm_backward, batch_norm_forward, moments, sums};

    /// Seeded values in `[lo, hi)` (a xorshift).
    fn values(len: usize, mut seed: u64, (lo, hi): (f32, f32)) -> Vec<f32> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                lo + (hi - lo) * ((seed >> 40) as f32 / (1u64 << 24) as f32)
            })
            .collect()
    }

    /// Each image `[c, s]` of `x` made `[s, c]`.
    fn pixel_major(x: &[f32], c: usize, s: usize) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for (src, dst) in x.chunks_exact(c * s).zip(out.chunks_exact_mut(c * s)) {
            transpose(src, c, s, dst);
        }
        out
    }

    fn assert_close(a: &[f32], b: &[f32], tolerance: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!(
                (a - b).abs() <= tolerance * scale,
                "{what}[{i}]: {a} vs {b}"
            );
        }
    }

    /// Every op against its channel-major counterpart on the same numbers (the forward map
    /// exactly: the same two roundings per element).
    #[test]
    fn pixel_major_ops_match_the_channel_major_ones() {
        for (n, c, s) in [(1, 3, 5), (4, 16, 49), (3, 40, 12), (2, 32, 4500)] {
            let x = values(n * c * s, 3, (-1.0, 3.0));
            let dy = values(n * c * s, 5, (-1.0, 1.0));
            let gamma = values(c, 7, (0.5, 1.5));
            let beta = values(c, 9, (-0.5, 0.5));
            let (xp, dyp) = (pixel_major(&x, c, s), pixel_major(&dy, c, s));
            let case = format!("n {n} c {c} s {s}");

            let stats = moments_chw(&x, n, c, s);
            assert_close(&moments(&xp, c), &stats, 1e-6, &format!("{case}: moments"));
            assert_close(
                &sums(&dyp, c),
                &sums_chw(&dy, n, c, s),
                1e-6,
                &format!("{case}: sums"),
            );

            let (mean, var) = stats.split_at(c);
            let y = forward(&x, (c, s), (&gamma, &beta), (mean, var), 1e-5, true);
            let yp = batch_norm_forward(&xp, c, (&gamma, &beta), (mean, var), 1e-5, true);
            assert_eq!(yp, pixel_major(&y, c, s), "{case}: forward");

            let back = backward(
                &x,
                &y,
                &dy,
                None,
                (n, c, s),
                (&gamma, mean, var),
                1e-5,
                true,
            );
            let back_p = batch_norm_backward(&xp, &yp, &dyp, c, (&gamma, mean, var), 1e-5, true);
            let len = n * c * s;
            let dx = pixel_major(&back[..len], c, s);
            assert_close(&back_p[..len], &dx, 1e-5, &format!("{case}: dx"));
            assert_close(
                &back_p[len..],
                &back[len..],
                1e-5,
                &format!("{case}: dγ, dβ"),
            );
        }
    }
}

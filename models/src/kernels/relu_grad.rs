//! The training batch norm's backward passes through its ReLU, with the mask recomputed from the
//! pre-activation `x·a + b` (the forward's own arithmetic, so exactly the same elements pass)
//! inside the passes that read `x` anyway, instead of a pass of its own that read the output and
//! wrote a masked copy of `dy`.
//!
//! Compiled for baseline x86-64, the select became a branch per lane and the fused passes were
//! slower than the separate mask pass (docs/benchmarks.md); so x86-64 CPUs with AVX-512F take
//! copies written with its mask registers, which give the same sums in the same order as the
//! portable loops (equal to the last bit: the test below).

use std::mem::MaybeUninit;

use super::channel_ops::{BLOCK, LANES, lanes, scale_shift};

/// `dy` through a ReLU whose input was `x·a + b`: `dy` where that is positive, else 0 (the
/// forward's `max(x·a + b, 0)` passes exactly those elements).
#[inline(always)]
fn through_relu(dy: f32, x: f32, (a, b): (f32, f32)) -> f32 {
    if scale_shift(x, a, b) > 0.0 { dy } else { 0.0 }
}

/// One plane of `dx = g·a + (x - mean)·q + r` (plus `res`), `g = grad(dy, x)` the output gradient
/// through the ReLU or `dy` itself; `coef` is `(a, mean, q, r)`.
#[inline(always)]
pub(super) fn dx_plane(
    out: &mut [MaybeUninit<f32>],
    dy: &[f32],
    x: &[f32],
    res: Option<&[f32]>,
    (a, m, q, r): (f32, f32, f32, f32),
    grad: impl Fn(f32, f32) -> f32,
) {
    match res {
        Some(res) => {
            for (((dx, &d), &x), &res) in out.iter_mut().zip(dy).zip(x).zip(res) {
                dx.write((grad(d, x) * a + (x - m) * q + r) + res);
            }
        }
        None => {
            for ((dx, &d), &x) in out.iter_mut().zip(dy).zip(x) {
                dx.write(grad(d, x) * a + (x - m) * q + r);
            }
        }
    }
}

/// `[Σ g, Σ g·(x - m)]` over a plane, `g` = `dy` through the ReLU of `x·a + b` (`ab`), summed as
/// [`lanes`] sums.
pub(super) fn masked_sums(dy: &[f32], x: &[f32], ab: (f32, f32), m: f32) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::masked_sums(dy, x, ab, m) };
    }
    masked_sums_portable(dy, x, ab, m)
}

fn masked_sums_portable(dy: &[f32], x: &[f32], ab: (f32, f32), m: f32) -> [f64; 2] {
    lanes(dy, x, |d, x| {
        let g = through_relu(d, x, ab);
        [g, g * (x - m)]
    })
}

/// [`dx_plane`] with `g` = `dy` through the ReLU of `x·a + b` (`ab`).
pub(super) fn masked_dx_plane(
    out: &mut [MaybeUninit<f32>],
    dy: &[f32],
    x: &[f32],
    res: Option<&[f32]>,
    coef: (f32, f32, f32, f32),
    ab: (f32, f32),
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::masked_dx_plane(out, dy, x, res, coef, ab) };
    }
    dx_plane(out, dy, x, res, coef, |d, x| through_relu(d, x, ab))
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::{BLOCK, LANES, through_relu};

    /// `dy` where `x·a + b > 0`, else 0, for 16 lanes.
    #[target_feature(enable = "avx512f")]
    fn through_relu16(d: __m512, x: __m512, a: __m512, b: __m512) -> __m512 {
        // Multiply, then add: `channel_ops::scale_shift`'s two roundings, not a fused multiply-add.
        let pre = _mm512_add_ps(_mm512_mul_ps(x, a), b);
        let keep = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(pre, _mm512_setzero_ps());
        _mm512_maskz_mov_ps(keep, d)
    }

    /// [`super::masked_sums`]: per block of [`BLOCK`] elements, 16 f32 lanes (the remainder in
    /// lane 0, element by element), then the lanes added in f64 in order, as `lanes` does.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn masked_sums(
        dy: &[f32],
        x: &[f32],
        (a, b): (f32, f32),
        m: f32,
    ) -> [f64; 2] {
        let (va, vb, vm) = (_mm512_set1_ps(a), _mm512_set1_ps(b), _mm512_set1_ps(m));
        let mut total = [0f64; 2];
        for (bd, bx) in dy.chunks(BLOCK).zip(x.chunks(BLOCK)) {
            let (mut s1, mut s2) = (_mm512_setzero_ps(), _mm512_setzero_ps());
            let (mut cd, mut cx) = (bd.chunks_exact(LANES), bx.chunks_exact(LANES));
            for (d, xs) in (&mut cd).zip(&mut cx) {
                // SAFETY: both chunks hold 16 floats.
                let (d, xs) =
                    unsafe { (_mm512_loadu_ps(d.as_ptr()), _mm512_loadu_ps(xs.as_ptr())) };
                let g = through_relu16(d, xs, va, vb);
                s1 = _mm512_add_ps(s1, g);
                s2 = _mm512_add_ps(s2, _mm512_mul_ps(g, _mm512_sub_ps(xs, vm)));
            }
            let (mut acc1, mut acc2) = ([0f32; LANES], [0f32; LANES]);
            // SAFETY: each array holds 16 floats.
            unsafe {
                _mm512_storeu_ps(acc1.as_mut_ptr(), s1);
                _mm512_storeu_ps(acc2.as_mut_ptr(), s2);
            }
            for (&d, &xv) in cd.remainder().iter().zip(cx.remainder()) {
                let g = through_relu(d, xv, (a, b));
                acc1[0] += g;
                acc2[0] += g * (xv - m);
            }
            total[0] += acc1.iter().map(|&v| v as f64).sum::<f64>();
            total[1] += acc2.iter().map(|&v| v as f64).sum::<f64>();
        }
        total
    }

    /// [`super::masked_dx_plane`], 16 elements at a time (the tail element by element).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn masked_dx_plane(
        out: &mut [MaybeUninit<f32>],
        dy: &[f32],
        x: &[f32],
        res: Option<&[f32]>,
        (a, m, q, r): (f32, f32, f32, f32),
        ab: (f32, f32),
    ) {
        let n = out.len().min(dy.len()).min(x.len());
        let n = res.map_or(n, |res| n.min(res.len()));
        let (va, vb) = (_mm512_set1_ps(ab.0), _mm512_set1_ps(ab.1));
        let (vsa, vm, vq, vr) = (
            _mm512_set1_ps(a),
            _mm512_set1_ps(m),
            _mm512_set1_ps(q),
            _mm512_set1_ps(r),
        );
        let full = n / LANES * LANES;
        for i in (0..full).step_by(LANES) {
            // SAFETY: i + 16 <= n, within every slice.
            unsafe {
                let d = _mm512_loadu_ps(dy.as_ptr().add(i));
                let xs = _mm512_loadu_ps(x.as_ptr().add(i));
                let g = through_relu16(d, xs, va, vb);
                let mut v = _mm512_add_ps(
                    _mm512_add_ps(
                        _mm512_mul_ps(g, vsa),
                        _mm512_mul_ps(_mm512_sub_ps(xs, vm), vq),
                    ),
                    vr,
                );
                if let Some(res) = res {
                    v = _mm512_add_ps(v, _mm512_loadu_ps(res.as_ptr().add(i)));
                }
                _mm512_storeu_ps(out.as_mut_ptr().add(i).cast(), v);
            }
        }
        for i in full..n {
            let g = through_relu(dy[i], x[i], ab);
            let v = g * a + (x[i] - m) * q + r;
            out[i].write(res.map_or(v, |res| v + res[i]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::xorshift_values as values;
    use std::mem::MaybeUninit;

    use super::{dx_plane, masked_dx_plane, masked_sums, masked_sums_portable, through_relu};

    /// Values of `x` next to the ReLU's threshold whose pre-activation `x·a + b` has one sign when
    /// rounded twice (multiply, then add: the forward's arithmetic) and the other when fused into
    /// one multiply-add: a mask computed with an FMA would let the wrong ones through.
    fn rounding_sensitive((a, b): (f32, f32)) -> Vec<f32> {
        let threshold = (-b / a).to_bits();
        let found: Vec<f32> = (threshold - 64..threshold + 64)
            .map(f32::from_bits)
            .filter(|&x| (x * a + b > 0.0) != (x.mul_add(a, b) > 0.0))
            .collect();
        assert!(
            !found.is_empty(),
            "no rounding-sensitive input near {}",
            -b / a
        );
        found
    }

    /// The dispatched passes (AVX-512 on a CPU with it) equal the portable ones to the last bit,
    /// on planes of odd lengths (remainders within a block and across blocks), with and without
    /// a residual; and the mask lets through exactly the elements whose pre-activation is
    /// positive, half of the inputs placed where rounding decides that. On a CPU without AVX-512F
    /// both sides are the portable code, and the mask check still runs.
    #[test]
    fn dispatched_passes_equal_the_portable_ones() {
        // x·3 - 1 at x = 1/3 rounded to f32 is 0 with two roundings and 3e-8 with one.
        let ab = (3.0f32, -1.0f32);
        let coef = (0.7f32, 0.1f32, -0.3f32, 0.05f32);
        for (i, len) in [1usize, 15, 16, 17, 255, 256, 257, 784, 1000]
            .into_iter()
            .enumerate()
        {
            let dy = values(len, 3 + i as u64);
            let mut x = values(len, 11 + i as u64);
            // Every other element at the threshold, where only the forward's rounding decides.
            let sensitive = rounding_sensitive(ab);
            for (x, &t) in x.iter_mut().step_by(2).zip(sensitive.iter().cycle()) {
                *x = t;
            }
            let res = values(len, 17 + i as u64);
            let m = 0.05f32;
            assert_eq!(
                masked_sums(&dy, &x, ab, m),
                masked_sums_portable(&dy, &x, ab, m),
                "sums, {len} elements"
            );
            // Against the definition in f64: the mask decides which elements count.
            let kept: f64 = dy
                .iter()
                .zip(&x)
                .filter(|&(_, &x)| x * ab.0 + ab.1 > 0.0)
                .map(|(&d, _)| d as f64)
                .sum();
            let [sum_g, _] = masked_sums(&dy, &x, ab, m);
            assert!((sum_g - kept).abs() < 1e-4, "{len}: Σ g {sum_g} vs {kept}");
            for r in [None, Some(res.as_slice())] {
                let mut fast = vec![MaybeUninit::new(f32::NAN); len];
                let mut portable = vec![MaybeUninit::new(f32::NAN); len];
                masked_dx_plane(&mut fast, &dy, &x, r, coef, ab);
                dx_plane(&mut portable, &dy, &x, r, coef, |d, x| {
                    through_relu(d, x, ab)
                });
                // SAFETY: every element was initialised (NaN, then overwritten).
                let (fast, portable): (Vec<f32>, Vec<f32>) = unsafe {
                    (
                        fast.iter().map(|v| v.assume_init()).collect(),
                        portable.iter().map(|v| v.assume_init()).collect(),
                    )
                };
                assert!(
                    fast.iter().all(|v| v.is_finite()),
                    "{len}: an element unwritten"
                );
                assert_eq!(
                    fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    portable.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "dx, {len} elements, residual {}",
                    r.is_some()
                );
            }
        }
    }
}

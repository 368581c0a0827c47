//! Winograd's F(2×2, 3×3) for the same-size 3×3 convolutions (stride 1, padding 1): the forward
//! pass, the input gradient (such a convolution too, of `dy` with the flipped kernel) and the
//! weight gradient, the two gradients in one sweep over the batch ([`backward`]).
//!
//! Each 2×2 block of outputs is computed from the 4×4 input tile around it as
//! `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`: 16 multiplications per input channel instead of 36, so the
//! gemms that do the multiplying shrink 2.25× (Lavin & Gray 2016). Per image the tiles are
//! transformed into `V [16][tiles][C]`, the kernel into `U [16][C][O]`, and 16 gemms
//! `M_ξ = V_ξ · U_ξ` give the transformed outputs `[16][tiles][O]`. Everything is tile-major
//! (channels contiguous), the layout in which gemm reads every operand in place, and in which the
//! transforms are plain vector arithmetic over a block of channels.
//!
//! The weight gradient follows from the same factorization: `dU_ξ = V_ξᵀ · dM_ξ` with
//! `dM = A dY Aᵀ` per tile, summed over tiles and images, then `dW = Gᵀ dU G`: again 16 gemms,
//! now with the tiles as the inner dimension.
//!
//! The transforms' coefficients are 0, ±1 and ±½, so the results differ from a direct
//! convolution's by a few float roundings (measured in docs/benchmarks.md).
//!
//! This file holds the passes over the batch; [`tiling`] the sizes, where each tile lies and how
//! tiles are chunked; the tile transforms are in [`portable`] Rust and, for x86-64 CPUs with
//! AVX-512F, in `avx512` registers (the same sums in the same order).

use gemm::Parallelism;
use rayon::prelude::*;

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use super::channel_ops::{RowAffineRelu, combine_moments, combine_sums, plane_moments, plane_sum};
use super::geometry::flip_kernel;
use super::matmul::{MatRef, matmul};
use super::scratch::with_scratch;
use super::transpose::{transpose_images, transpose_images_map, transpose_uninit};

#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;
mod tiling;

pub(super) use tiling::Winograd;
use tiling::XI;

/// `G`, the kernel transform's matrix (4×3).
const G: [[f32; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// Passes that ran Winograd's algorithm in this process ([`winograd_passes`]).
static PASSES: AtomicU64 = AtomicU64::new(0);

/// How many convolution passes in this process have run Winograd's algorithm: each forward
/// convolution counts one, and so does each backward sweep (the kernel gradient, with the input
/// gradient when it is needed).
///
/// A diagnostic: the losses are the same whichever algorithm runs, so this count is what shows
/// that [`set_conv_algorithm`](crate::set_conv_algorithm) and the channel threshold sent the
/// convolutions where they were meant to go.
pub fn winograd_passes() -> u64 {
    PASSES.load(Ordering::Relaxed)
}

/// The convolution of the tiles `range` of the pixel-major images `hwc` with the transformed
/// kernel `u` `[16][c][o]`: input transform into `v`, 16 gemms `M_ξ = V_ξ · U_ξ` into `m`,
/// output transform (plus `bias`) into the pixel-major images `out`.
#[allow(clippy::too_many_arguments)]
fn convolve_chunk(
    p: &Winograd,
    hwc: &[f32],
    u: &[f32],
    range: Range<usize>,
    bias: Option<&[f32]>,
    (v, m): (&mut Vec<f32>, &mut Vec<f32>),
    out: &mut [f32],
    par: Parallelism,
) {
    let (rows, c, o) = (range.len(), p.c, p.o);
    v.resize(XI * rows * c, 0.0);
    m.resize(XI * rows * o, 0.0);
    input_tiles(p, hwc, v, range.clone());
    for xi in 0..XI {
        let lhs = MatRef::row_major(&v[xi * rows * c..][..rows * c], rows, c);
        let rhs = MatRef::row_major(&u[xi * c * o..][..c * o], c, o);
        matmul(&mut m[xi * rows * o..][..rows * o], lhs, rhs, false, par);
    }
    output_tiles(p, m, range, bias, out);
}

/// Writes `Bᵀ d B` of the tiles `range` of the pixel-major images `hwc` `[images][h·w][c]`
/// as `v` `[16][range.len()][c]`.
fn input_tiles(p: &Winograd, hwc: &[f32], v: &mut [f32], range: Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::input_tiles(p, hwc, v, range) };
    }
    portable::input_tiles(p, hwc, v, range)
}

/// Writes `Aᵀ m A` (plus `bias`) of the tiles `range` from `m` `[16][range.len()][o]` into
/// the pixel-major images `hwc` `[images][h·w][o]`.
fn output_tiles(
    p: &Winograd,
    m: &[f32],
    range: Range<usize>,
    bias: Option<&[f32]>,
    hwc: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::output_tiles(p, m, range, bias, hwc) };
    }
    portable::output_tiles(p, m, range, bias, hwc)
}

/// Writes `A dY Aᵀ` of the output gradients of the tiles `range`, from the pixel-major
/// images `hwc` `[images][h·w][o]`, as `dm` `[16][range.len()][o]`: the adjoint of
/// [`output_tiles`].
fn output_tiles_adjoint(p: &Winograd, hwc: &[f32], dm: &mut [f32], range: Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::output_tiles_adjoint(p, hwc, dm, range) };
    }
    portable::output_tiles_adjoint(p, hwc, dm, range)
}

/// Whether the CPU has AVX-512F (cached by the standard library).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// `U [16][c][o]`, `U_(r,s) = (G w Gᵀ)[r][s]` of each `w [o, c, 3, 3]` filter.
fn transform_kernel(w: &[f32], c: usize, o: usize) -> Vec<f32> {
    let mut u = vec![0f32; XI * c * o];
    for (oc, w_o) in w.chunks_exact(c * 9).enumerate() {
        for (ci, k) in w_o.chunks_exact(9).enumerate() {
            for (r, g_r) in G.iter().enumerate() {
                for (s, g_s) in G.iter().enumerate() {
                    let mut sum = 0.0;
                    for a in 0..3 {
                        for b in 0..3 {
                            sum += g_r[a] * k[a * 3 + b] * g_s[b];
                        }
                    }
                    u[((r * 4 + s) * c + ci) * o + oc] = sum;
                }
            }
        }
    }
    u
}

/// `dW [o, c, 3, 3] = Gᵀ dU G` from `dU [16][c][o]`: the adjoint of [`transform_kernel`].
fn transform_kernel_adjoint(du: &[f32], c: usize, o: usize) -> Vec<f32> {
    let mut dw = vec![0f32; o * c * 9];
    for (oc, dw_o) in dw.chunks_exact_mut(c * 9).enumerate() {
        for (ci, k) in dw_o.chunks_exact_mut(9).enumerate() {
            for (r, g_r) in G.iter().enumerate() {
                for (s, g_s) in G.iter().enumerate() {
                    let d = du[((r * 4 + s) * c + ci) * o + oc];
                    for a in 0..3 {
                        for b in 0..3 {
                            k[a * 3 + b] += g_r[a] * d * g_s[b];
                        }
                    }
                }
            }
        }
    }
    dw
}

/// The correlation `x [n, c, h, w] ⋆ w [o, c, 3, 3]` with one zero of padding on every side,
/// plus `bias[o]` when given: `[n, o, h, w]`. With `input_map`, the correlation of
/// `relu(x·a[c] + b[c])` instead, mapped as each image is made pixel-major (a batch norm and
/// ReLU before the convolution that never stores its output).
///
/// With `residual` `[n, o, h, w]` the output is `residual + conv(x)` (a residual block's skip,
/// added while the output is transposed back instead of in a pass of its own). With
/// `moments`, also the output's per-channel `[mean; var]` (`2o` values, as
/// [`moments`](super::channel_ops::moments) gives them), taken from each image while it is still
/// in cache.
pub(super) fn forward(
    p: &Winograd,
    x: &[f32],
    input_map: Option<RowAffineRelu>,
    w: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    moments: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    PASSES.fetch_add(1, Ordering::Relaxed);
    let u = transform_kernel(w, p.c, p.o);
    let len = p.n * p.out_len();
    assert!(
        residual.is_none_or(|r| r.len() == len),
        "winograd: residual of the wrong size"
    );
    let mut y = Vec::with_capacity(len);
    // One entry per output plane, filled only when `moments` (a few KiB: allocated regardless,
    // so that the parallel chunks below line up with the images).
    let mut partial = vec![[0f64; 3]; p.n * p.o];
    let threads = rayon::current_num_threads();
    let images = |i: usize,
                  x_g: &[f32],
                  y_g: &mut [MaybeUninit<f32>],
                  part_g: &mut [[f64; 3]],
                  par: Parallelism| {
        with_scratch(|[hwc, v, m, out]: &mut [Vec<f32>; 4]| {
            let count = x_g.len() / p.in_len();
            transpose_images_map(x_g, p.c, p.pixels(), input_map, hwc);
            out.resize(y_g.len(), 0.0);
            for range in p.chunks(count) {
                convolve_chunk(p, hwc, &u, range, bias, (v, m), out, par);
            }
            let outputs = out.chunks_exact(p.out_len());
            let images = outputs
                .zip(y_g.chunks_exact_mut(p.out_len()))
                .zip(part_g.chunks_exact_mut(p.o));
            for (j, ((o_n, y_n), part_n)) in images.enumerate() {
                let skip = residual.map(|r| &r[(i + j) * p.out_len()..][..p.out_len()]);
                transpose_uninit(o_n, p.pixels(), p.o, y_n, skip);
                if moments {
                    // SAFETY: `transpose_uninit` wrote every element of `y_n`.
                    let y_n = unsafe { &*(y_n as *const [MaybeUninit<f32>] as *const [f32]) };
                    for (plane, part) in y_n.chunks_exact(p.pixels()).zip(part_n.iter_mut()) {
                        *part = plane_moments(plane);
                    }
                }
            }
        })
    };
    let group = p.group(threads);
    let y_all = &mut y.spare_capacity_mut()[..len];
    if p.n >= threads {
        y_all
            .par_chunks_mut(group * p.out_len())
            .zip(x.par_chunks(group * p.in_len()))
            .zip(partial.par_chunks_mut(group * p.o))
            .enumerate()
            .for_each(|(g, ((y_g, x_g), part_g))| {
                images(g * group, x_g, y_g, part_g, Parallelism::None)
            });
    } else {
        images(0, x, y_all, &mut partial, Parallelism::Rayon(threads));
    }
    // SAFETY: every image's output was written by `transpose_uninit`, which writes each of its
    // elements, and the images cover all `len` elements.
    unsafe { y.set_len(len) };
    let moments = moments.then(|| combine_moments(&partial, p.n, p.o, p.pixels()));
    (y, moments)
}

/// The kernel gradient of [`forward`]: `x` `[n, c, h, w]`, `dy` `[n, o, h, w]` ->
/// `dW [o, c, 3, 3]`.
pub(super) fn weight_grad(p: &Winograd, x: &[f32], dy: &[f32]) -> Vec<f32> {
    gradients(p, x, None, dy, None, false).dw
}

/// All gradients of [`forward`] with a bias: `(dx [n, c, h, w], dW [o, c, 3, 3], db [o])`
/// from `x` (with `input_map`, the convolution's input is `relu(x·a + b)`, and `dx` is the
/// gradient with respect to that input), `dy` and the kernel `w` `[o, c, 3, 3]`.
pub(super) fn backward(
    p: &Winograd,
    x: &[f32],
    input_map: Option<RowAffineRelu>,
    dy: &[f32],
    w: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let g = gradients(p, x, input_map, dy, Some(w), true);
    (g.dx.unwrap_or_default(), g.dw, g.db.unwrap_or_default())
}

/// What one sweep of [`gradients`] computed.
struct Gradients {
    dx: Option<Vec<f32>>,
    dw: Vec<f32>,
    db: Option<Vec<f32>>,
}

/// The kernel gradient and, given the kernel, the input gradient, in one sweep over the batch.
///
/// Each thread takes a share of the images and, a chunk of tiles at a time, sums
/// `dU_ξ += V_ξᵀ · dM_ξ` in the Winograd domain (the sums are added and transformed back
/// once) and runs `dy` through the flipped kernel (the input gradient, a same-size 3×3
/// convolution itself), both from one pixel-major copy of `dy`. With `bias`, also `Σ dy` per
/// channel (`db`), summed from each image of `dy` as it is transposed.
fn gradients(
    p: &Winograd,
    x: &[f32],
    x_map: Option<RowAffineRelu>,
    dy: &[f32],
    w: Option<&[f32]>,
    bias: bool,
) -> Gradients {
    PASSES.fetch_add(1, Ordering::Relaxed);
    let back = Winograd::new(p.n, p.o, p.h, p.w, p.c);
    let u_back = w.map(|w| transform_kernel(&flip_kernel(w, p.o, p.c, 3, 3), p.o, p.c));
    let len = p.n * p.in_len();
    let mut dx = u_back.as_ref().map(|_| Vec::with_capacity(len));
    // One entry per plane of `dy`, filled only with `bias` (allocated regardless, so that the
    // parallel shares below line up with the images).
    let mut db_partial = vec![[0f64; 1]; p.n * p.o];
    let threads = rayon::current_num_threads();
    let group = p.group(threads);
    let share = |xs: &[f32],
                 dys: &[f32],
                 mut dxs: Option<&mut [MaybeUninit<f32>]>,
                 db_part: &mut [[f64; 1]],
                 par: Parallelism| {
        let mut du = vec![0f32; XI * p.c * p.o];
        with_scratch(|[hwc_x, hwc_dy, v, dm, out]: &mut [Vec<f32>; 5]| {
            let groups = xs
                .chunks(group * p.in_len())
                .zip(dys.chunks(group * p.out_len()))
                .enumerate();
            for (i, (x_g, dy_g)) in groups {
                transpose_images_map(x_g, p.c, p.pixels(), x_map, hwc_x);
                transpose_images(dy_g, p.o, p.pixels(), hwc_dy);
                if bias {
                    let db_g = &mut db_part[i * group * p.o..][..dy_g.len() / p.pixels()];
                    for (plane, part) in dy_g.chunks_exact(p.pixels()).zip(db_g) {
                        *part = plane_sum(plane);
                    }
                }
                if u_back.is_some() {
                    out.resize(x_g.len(), 0.0);
                }
                for range in p.chunks(x_g.len() / p.in_len()) {
                    let rows = range.len();
                    v.resize(XI * rows * p.c, 0.0);
                    dm.resize(XI * rows * p.o, 0.0);
                    input_tiles(p, hwc_x, v, range.clone());
                    output_tiles_adjoint(p, hwc_dy, dm, range.clone());
                    for xi in 0..XI {
                        // V_ξᵀ [c, rows]: V_ξ is tile-major, so this view is column-major.
                        let lhs = MatRef {
                            data: &v[xi * rows * p.c..][..rows * p.c],
                            rows: p.c,
                            cols: rows,
                            rs: 1,
                            cs: p.c,
                        };
                        let rhs =
                            MatRef::row_major(&dm[xi * rows * p.o..][..rows * p.o], rows, p.o);
                        matmul(&mut du[xi * p.c * p.o..][..p.c * p.o], lhs, rhs, true, par);
                    }
                    if let Some(u) = &u_back {
                        convolve_chunk(&back, hwc_dy, u, range, None, (v, dm), out, par);
                    }
                }
                if let Some(dxs) = dxs.as_deref_mut() {
                    let dx_g = &mut dxs[i * group * p.in_len()..][..x_g.len()];
                    for (o_n, dx_n) in out
                        .chunks_exact(p.in_len())
                        .zip(dx_g.chunks_exact_mut(p.in_len()))
                    {
                        transpose_uninit(o_n, p.pixels(), p.c, dx_n, None);
                    }
                }
            }
        });
        du
    };
    let du = if p.n >= threads {
        let per = p.n.div_ceil(threads);
        let dx_shares: Vec<Option<&mut [MaybeUninit<f32>]>> = match dx.as_mut() {
            Some(dx) => dx.spare_capacity_mut()[..len]
                .chunks_mut(per * p.in_len())
                .map(Some)
                .collect(),
            None => (0..p.n.div_ceil(per)).map(|_| None).collect(),
        };
        x.par_chunks(per * p.in_len())
            .zip(dy.par_chunks(per * p.out_len()))
            .zip(dx_shares)
            .zip(db_partial.par_chunks_mut(per * p.o))
            .map(|(((xs, dys), dxs), db_part)| share(xs, dys, dxs, db_part, Parallelism::None))
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| vec![0f32; XI * p.c * p.o])
    } else {
        let dxs = dx.as_mut().map(|dx| &mut dx.spare_capacity_mut()[..len]);
        share(x, dy, dxs, &mut db_partial, Parallelism::Rayon(threads))
    };
    if let Some(dx) = dx.as_mut() {
        // SAFETY: every image's input gradient was written by `transpose_uninit`, which writes
        // each of its elements, and the images cover all `len` elements.
        unsafe { dx.set_len(len) };
    }
    Gradients {
        dx,
        dw: transform_kernel_adjoint(&du, p.c, p.o),
        db: bias.then(|| combine_sums(&db_partial, p.n, p.o)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::xorshift_values as values;
    use super::super::transpose::transpose_images;
    use super::tiling::{CHUNK_TILES, LANES, Winograd, XI};
    use super::{input_tiles, output_tiles, output_tiles_adjoint, portable};

    /// Whether the transforms dispatch to the AVX-512 code on this CPU.
    fn has_avx512() -> bool {
        #[cfg(target_arch = "x86_64")]
        return super::avx512();
        #[cfg(not(target_arch = "x86_64"))]
        return false;
    }

    /// The dispatched transforms, which are the AVX-512 ones, equal the portable ones exactly,
    /// on partial channel blocks, odd sizes and chunks across images. Skipped (with a message) on
    /// a CPU without AVX-512F, where both sides would be the portable code.
    #[test]
    fn simd_transforms_equal_the_portable_ones() {
        if !has_avx512() {
            eprintln!(
                "skipped: this CPU has no AVX-512F, so there are no SIMD transforms to compare; \
                 the portable transforms are checked against the direct convolution instead \
                 (kernels/tests/winograd.rs)"
            );
            return;
        }
        for (i, &(n, c, h, w, o)) in [(3, 5, 7, 9, 21), (2, 16, 6, 6, 16), (2, 40, 14, 3, 33)]
            .iter()
            .enumerate()
        {
            let p = Winograd::new(n, c, h, w, o);
            let mut hwc_x = Vec::new();
            let mut hwc_dy = Vec::new();
            transpose_images(&values(n * c * h * w, 1 + i as u64), c, h * w, &mut hwc_x);
            transpose_images(&values(n * o * h * w, 7 + i as u64), o, h * w, &mut hwc_dy);
            let bias = values(o, 11);
            for range in p.chunks(n) {
                assert!(range.len() <= CHUNK_TILES);
                let rows = range.len();
                let (mut v, mut v_portable) = (vec![0.0; XI * rows * c], vec![1.0; XI * rows * c]);
                input_tiles(&p, &hwc_x, &mut v, range.clone());
                portable::input_tiles(&p, &hwc_x, &mut v_portable, range.clone());
                assert_eq!(v, v_portable, "input transform, {n}×{c}×{h}×{w}");

                let (mut dm, mut dm_portable) =
                    (vec![0.0; XI * rows * o], vec![1.0; XI * rows * o]);
                output_tiles_adjoint(&p, &hwc_dy, &mut dm, range.clone());
                portable::output_tiles_adjoint(&p, &hwc_dy, &mut dm_portable, range.clone());
                assert_eq!(
                    dm, dm_portable,
                    "output transform's adjoint, {n}×{o}×{h}×{w}"
                );

                let m = values(XI * rows * o, 13);
                let (mut y, mut y_portable) = (vec![0.0; n * o * h * w], vec![0.0; n * o * h * w]);
                output_tiles(&p, &m, range.clone(), Some(&bias), &mut y);
                portable::output_tiles(&p, &m, range.clone(), Some(&bias), &mut y_portable);
                assert_eq!(y, y_portable, "output transform, {n}×{o}×{h}×{w}");
            }
        }
        assert_eq!(LANES, 16);
    }
}

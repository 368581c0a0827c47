//! The direct convolution: every product of the definition, as gemms over shifted copies of each
//! image. It runs every kernel shape; `conv` sends the wide same-size 3×3 ones to
//! Winograd's algorithm instead, unless the process chose `ConvAlgorithm::Direct`.
//!
//! Images are spread over rayon's threads, each gemm single-threaded, unless the batch is smaller
//! than the thread count, in which case gemm itself goes parallel.

use gemm::Parallelism;
use rayon::prelude::*;

use super::geometry::Geom;
use super::matmul::{GEMM_SIMD_F32, MatRef, matmul};
use super::scratch::with_scratch;
use super::transpose::transpose_images;

/// The correlation `[n, c, h, w] ⋆ w [o, c, kh, kw] -> [n, o, oh, ow]`, plus `bias[o]` on
/// every pixel of channel `o` when given, whatever the kernel.
///
/// Per image, not a full im2col (`kh·kw` shifted copies of the image) but only the `kw`
/// column-shifted copies of each channel, over all `oh + kh - 1` rows the kernel reaches: the
/// kernel's row `a` then sees those copies `a` rows further on, a strided view gemm reads in
/// place. So `kh` gemms `y += W_a [o, c·kw] · shifted(x)ₐ [c·kw, oh·ow]` replace one over a
/// matrix `kh` times larger, whose writing cost as much as the gemm for 3×3 kernels.
pub(super) fn conv_forward_direct(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    // The column shifts: an im2col with the kernel's rows collapsed to one.
    let shifts = Geom {
        kh: 1,
        oh: g.oh + g.kh - 1,
        ..*g
    };
    let k = shifts.rows();
    // Each kernel row's taps `[o, c·kw]`, row-major: gemm (which computes `yᵀ = shiftedᵀ · Wₐᵀ`)
    // then reads them in place as a right-hand side with unit stride along the inner dimension;
    // with `o` contiguous instead it repacked them on every call.
    let mut w_rows = vec![0f32; w.len()];
    for (oc, w_o) in w.chunks_exact(g.rows()).enumerate() {
        for (ci, w_oc) in w_o.chunks_exact(g.kh * g.kw).enumerate() {
            for (a, w_oca) in w_oc.chunks_exact(g.kw).enumerate() {
                for (b, &v) in w_oca.iter().enumerate() {
                    w_rows[(a * g.o + oc) * k + ci * g.kw + b] = v;
                }
            }
        }
    }
    let mut y = vec![0f32; g.n * g.out_len()];
    // gemm copies its operand whole unless the pixel count is a multiple of its SIMD width (a
    // 14×14 image's is not): the shifted copies then get a zero tail, the gemm runs over `m`
    // pixels into a scratch buffer, and the real ones are copied out.
    let m = match shifts.im2col_is_identity() {
        true => g.pixels(),
        false => g.pixels().next_multiple_of(GEMM_SIMD_F32),
    };
    let image = |[cols, out]: &mut [Vec<f32>; 2], x_n: &[f32], y_n: &mut [f32], par| {
        let rhs: &[f32] = if shifts.im2col_is_identity() {
            x_n
        } else {
            im2col(&shifts, x_n, cols);
            cols.resize(cols.len() + m - g.pixels(), 0.0);
            cols
        };
        let dst = match m == g.pixels() {
            true => &mut *y_n,
            false => {
                out.resize(g.o * m, 0.0);
                &mut out[..]
            }
        };
        if let Some(bias) = bias {
            for (row, &b) in dst.chunks_exact_mut(m).zip(bias) {
                row.fill(b);
            }
        }
        for a in 0..g.kh {
            let lhs = MatRef::row_major(&w_rows[a * k * g.o..][..k * g.o], g.o, k);
            let rhs = MatRef {
                data: &rhs[a * g.ow..],
                rows: k,
                cols: m,
                rs: shifts.pixels(),
                cs: 1,
            };
            matmul(dst, lhs, rhs, bias.is_some() || a > 0, par);
        }
        if m != g.pixels() {
            for (y_row, row) in y_n.chunks_exact_mut(g.pixels()).zip(out.chunks_exact(m)) {
                y_row.copy_from_slice(&row[..g.pixels()]);
            }
        }
    };
    let threads = rayon::current_num_threads();
    if g.n >= threads {
        y.par_chunks_mut(g.out_len())
            .zip(x.par_chunks(g.in_len()))
            .for_each(|(y_n, x_n)| {
                with_scratch(|buffers| image(buffers, x_n, y_n, Parallelism::None))
            });
    } else {
        with_scratch(|buffers| {
            for (y_n, x_n) in y.chunks_mut(g.out_len()).zip(x.chunks(g.in_len())) {
                image(buffers, x_n, y_n, Parallelism::Rayon(threads));
            }
        });
    }
    y
}

/// The kernel gradient of [`conv_forward_direct`], whatever the kernel:
/// `dW [o, c·kh·kw] = Σₙ dyₙ [o, oh·ow] · im2col(xₙ)ᵀ`. Each thread sums its share of the batch
/// into its own buffer, then the buffers are added.
///
/// The im2col matrix is written pixel-major ([`im2col_t`]): gemm then reads it in place, where
/// the channel-major [`im2col`] had to be repacked by gemm for every image. The sum comes out in
/// the `(a, b, ci)` column order of that matrix and is permuted to the kernel's `(ci, a, b)` at
/// the end. (Writing only the `kw` column shifts, as the forward does, and one gemm per kernel
/// row was slower here: the gemms get too narrow, `kw·c` rows.)
pub(super) fn conv_backward_weight_direct(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let images = |xs: &[f32], dys: &[f32], par: Parallelism| {
        let mut acc = vec![0f32; g.o * g.rows()];
        with_scratch(|[cols, hwc]| {
            let pairs = xs
                .chunks_exact(g.in_len())
                .zip(dys.chunks_exact(g.out_len()));
            for (i, (x_n, dy_n)) in pairs.enumerate() {
                im2col_t(g, x_n, hwc, cols);
                let lhs = MatRef::row_major(dy_n, g.o, g.pixels());
                let rhs = MatRef::row_major(cols, g.pixels(), g.rows());
                matmul(&mut acc, lhs, rhs, i > 0, par);
            }
        });
        acc
    };
    let threads = rayon::current_num_threads();
    let acc = if g.n >= threads {
        let per = g.n.div_ceil(threads);
        x.par_chunks(per * g.in_len())
            .zip(dy.par_chunks(per * g.out_len()))
            .map(|(xs, dys)| images(xs, dys, Parallelism::None))
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| vec![0f32; g.o * g.rows()])
    } else {
        images(x, dy, Parallelism::Rayon(threads))
    };
    // [o, kh, kw, c] -> [o, c, kh, kw]
    let taps = g.kh * g.kw;
    let mut dw = vec![0f32; acc.len()];
    for (src, dst) in acc
        .chunks_exact(g.rows())
        .zip(dw.chunks_exact_mut(g.rows()))
    {
        for (tap, values) in src.chunks_exact(g.c).enumerate() {
            for (ci, &v) in values.iter().enumerate() {
                dst[ci * taps + tap] = v;
            }
        }
    }
    dw
}

/// Writes one image `x` `[c, h, w]` as the matrix `[c·kh·kw, oh·ow]` whose row `(ci, a, b)`
/// holds `x[ci, oy + a - ph, ox + b - pw]` (zero outside the image) at column `(oy, ox)`.
fn im2col(g: &Geom, x: &[f32], cols: &mut Vec<f32>) {
    cols.resize(g.rows() * g.pixels(), 0.0);
    let (h, w, oh, ow) = (g.h as isize, g.w as isize, g.oh as isize, g.ow as isize);
    for (row, dst) in cols.chunks_exact_mut(g.pixels()).enumerate() {
        let (ci, a, b) = (
            row / (g.kh * g.kw),
            (row / g.kw % g.kh) as isize,
            (row % g.kw) as isize,
        );
        let plane = &x[ci * g.h * g.w..][..g.h * g.w];
        // Output columns whose source column ox + b - pw lies inside the image.
        let lo = (g.pw - b).clamp(0, ow);
        let hi = (w + g.pw - b).clamp(lo, ow);
        if g.ow == g.w {
            // Same width: the valid rows are one shifted block of the plane, copied at once
            // (rows are short, so a copy per row is mostly call overhead); the columns that
            // wrapped around from the neighbouring row are zeroed after.
            let oy_lo = (g.ph - a).clamp(0, oh);
            let oy_hi = (h + g.ph - a).clamp(oy_lo, oh);
            let shift = (a - g.ph) * w + b - g.pw;
            let j_lo = (oy_lo * w).max(-shift).min(oy_hi * w);
            let j_hi = (oy_hi * w).min(h * w - shift).max(j_lo);
            let (j_lo, j_hi) = (j_lo as usize, j_hi as usize);
            dst[..j_lo].fill(0.0);
            if j_hi > j_lo {
                // Not empty, so j_lo was not clamped below -shift: src >= 0.
                let src = (j_lo as isize + shift) as usize;
                dst[j_lo..j_hi].copy_from_slice(&plane[src..src + j_hi - j_lo]);
            }
            dst[j_hi..].fill(0.0);
            let (lo, hi) = (lo as usize, hi as usize);
            for d in dst.chunks_exact_mut(g.ow) {
                zero_small(&mut d[..lo]);
                zero_small(&mut d[hi..]);
            }
            continue;
        }
        // Both are within 0..=w when the range is not empty.
        let (src_lo, src_hi) = ((lo + b - g.pw) as usize, (hi + b - g.pw) as usize);
        let (lo, hi) = (lo as usize, hi as usize);
        for (oy, d) in dst.chunks_exact_mut(g.ow).enumerate() {
            let iy = oy as isize + a - g.ph;
            if iy < 0 || iy >= h || lo == hi {
                d.fill(0.0);
                continue;
            }
            let src = &plane[iy as usize * g.w..][..g.w];
            d[..lo].fill(0.0);
            d[lo..hi].copy_from_slice(&src[src_lo..src_hi]);
            d[hi..].fill(0.0);
        }
    }
}

/// Zeroes a slice that is usually empty or 1 element long (a padded row's edge): a `fill`
/// would be a `memset` call per row even when empty, which cost more than the copies themselves.
#[inline(always)]
fn zero_small(d: &mut [f32]) {
    match d {
        [] => {}
        [v] => *v = 0.0,
        d => d.fill(0.0),
    }
}

/// Writes one image `x` `[c, h, w]` as the pixel-major matrix `[oh·ow, kh·kw·c]` whose row
/// `(oy, ox)` holds `x[ci, oy + a - ph, ox + b - pw]` (zero outside the image) at column
/// `(a, b, ci)`: the transpose of [`im2col`], with the kernel taps outermost.
///
/// The image is first transposed to `[h, w, c]` in `hwc`, so that each `(oy, ox, a)` is one
/// contiguous run of `kw·c` values.
fn im2col_t(g: &Geom, x: &[f32], hwc: &mut Vec<f32>, cols: &mut Vec<f32>) {
    let c = g.c;
    transpose_images(x, c, g.h * g.w, hwc);
    cols.resize(g.pixels() * g.rows(), 0.0);
    let (h, w, kw) = (g.h as isize, g.w as isize, g.kw as isize);
    for (p, row) in cols.chunks_exact_mut(g.rows()).enumerate() {
        let (oy, ox) = ((p / g.ow) as isize, (p % g.ow) as isize);
        // Taps b whose source column ox + b - pw lies inside the image.
        let b_lo = (g.pw - ox).clamp(0, kw);
        let b_hi = (w + g.pw - ox).clamp(b_lo, kw);
        let (lo, hi) = (b_lo as usize * c, b_hi as usize * c);
        for (a, run) in row.chunks_exact_mut(g.kw * c).enumerate() {
            let iy = oy + a as isize - g.ph;
            if iy < 0 || iy >= h || lo == hi {
                run.fill(0.0);
                continue;
            }
            // Not empty, so ox + b_lo - pw >= 0.
            let start = (iy * w + ox + b_lo - g.pw) as usize * c;
            zero_small(&mut run[..lo]);
            run[lo..hi].copy_from_slice(&hwc[start..start + hi - lo]);
            zero_small(&mut run[hi..]);
        }
    }
}

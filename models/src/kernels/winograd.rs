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

use gemm::Parallelism;
use rayon::prelude::*;

use std::mem::MaybeUninit;
use std::ops::Range;

use super::fast_conv::{MatRef, flip_kernel, matmul, with_scratch};
use super::transpose::{transpose_images, transpose_uninit};

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Winograd-domain positions per tile, `ξ = 4r + s`.
const XI: usize = 16;
/// Channels per block in the transforms: one AVX-512 vector of f32.
const LANES: usize = 16;
/// Tiles per gemm, at least: small images are grouped until their tiles reach it (a 14×14 image
/// has 49 tiles, which would leave gemm short rows).
const MIN_TILES: usize = 160;
/// Tiles per gemm, at most: a chunk's transformed inputs and outputs (16 × 96 tiles × 32
/// channels each, 196 KiB) then stay in L2 between the transforms and the gemms; whole 28×28
/// images (401 KiB each) did not, and the transforms' stores missed.
const CHUNK_TILES: usize = 96;

/// `G`, the kernel transform's matrix (4×3).
const G: [[f32; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// A 3×3 same-size convolution: `[n, c, h, w]` with an `[o, c, 3, 3]` kernel -> `[n, o, h, w]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Winograd {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
}

/// One block of up to [`LANES`] channels of a 4×4 tile.
type Tile = [[[f32; LANES]; 4]; 4];

impl Winograd {
    pub(super) fn new(n: usize, c: usize, h: usize, w: usize, o: usize) -> Self {
        Self { n, c, h, w, o }
    }

    /// Output tiles per image, `⌈h/2⌉ × ⌈w/2⌉`.
    fn tiles(&self) -> usize {
        self.h.div_ceil(2) * self.w.div_ceil(2)
    }

    fn pixels(&self) -> usize {
        self.h * self.w
    }

    fn in_len(&self) -> usize {
        self.c * self.pixels()
    }

    fn out_len(&self) -> usize {
        self.o * self.pixels()
    }

    /// Images per task when `threads` share the batch: enough for [`MIN_TILES`], but no fewer
    /// tasks than threads.
    fn group(&self, threads: usize) -> usize {
        MIN_TILES
            .div_ceil(self.tiles())
            .min(self.n.div_ceil(threads))
            .max(1)
    }

    /// The tiles of `images` images in chunks of at most [`CHUNK_TILES`], of equal size.
    fn chunks(&self, images: usize) -> impl Iterator<Item = Range<usize>> {
        let total = images * self.tiles();
        let size = total.div_ceil(total.div_ceil(CHUNK_TILES).max(1)).max(1);
        (0..total)
            .step_by(size)
            .map(move |start| start..(start + size).min(total))
    }

    /// Tile `t` of a group of images: its image and its top-left output pixel.
    fn tile(&self, t: usize) -> (usize, usize, usize) {
        let (image, t) = (t / self.tiles(), t % self.tiles());
        let tw = self.w.div_ceil(2);
        (image, 2 * (t / tw), 2 * (t % tw))
    }

    /// The convolution of the tiles `range` of the pixel-major images `hwc` with the transformed
    /// kernel `u` `[16][c][o]`: input transform into `v`, 16 gemms `M_ξ = V_ξ · U_ξ` into `m`,
    /// output transform (plus `bias`) into the pixel-major images `out`.
    #[allow(clippy::too_many_arguments)]
    fn convolve_chunk(
        &self,
        hwc: &[f32],
        u: &[f32],
        range: Range<usize>,
        bias: Option<&[f32]>,
        (v, m): (&mut Vec<f32>, &mut Vec<f32>),
        out: &mut [f32],
        par: Parallelism,
    ) {
        let (rows, c, o) = (range.len(), self.c, self.o);
        v.resize(XI * rows * c, 0.0);
        m.resize(XI * rows * o, 0.0);
        self.input_tiles(hwc, v, range.clone());
        for xi in 0..XI {
            let lhs = MatRef::row_major(&v[xi * rows * c..][..rows * c], rows, c);
            let rhs = MatRef::row_major(&u[xi * c * o..][..c * o], c, o);
            matmul(&mut m[xi * rows * o..][..rows * o], lhs, rhs, false, par);
        }
        self.output_tiles(m, range, bias, out);
    }

    /// Writes `Bᵀ d B` of the tiles `range` of the pixel-major images `hwc` `[images][h·w][c]`
    /// as `v` `[16][range.len()][c]`.
    fn input_tiles(&self, hwc: &[f32], v: &mut [f32], range: Range<usize>) {
        #[cfg(target_arch = "x86_64")]
        if avx512() {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512::input_tiles(self, hwc, v, range) };
        }
        self.input_tiles_portable(hwc, v, range)
    }

    /// [`Self::input_tiles`] without SIMD intrinsics (the compiler vectorizes what it can).
    fn input_tiles_portable(&self, hwc: &[f32], v: &mut [f32], range: Range<usize>) {
        let (c, rows) = (self.c, range.len());
        // Lanes past a partial block's `cb` hold stale values, never stored.
        let mut d: Tile = [[[0.0; LANES]; 4]; 4];
        for (row, t) in range.enumerate() {
            let (image, y0, x0) = self.tile(t);
            let image = &hwc[image * self.in_len()..][..self.in_len()];
            for c0 in (0..c).step_by(LANES) {
                let cb = LANES.min(c - c0);
                for (r, d_r) in d.iter_mut().enumerate() {
                    let y = (y0 + r).wrapping_sub(1);
                    for (s, d_rs) in d_r.iter_mut().enumerate() {
                        let x = (x0 + s).wrapping_sub(1);
                        // Row and column -1 wrapped around, so one test each.
                        match y < self.h && x < self.w {
                            true => load(d_rs, &image[(y * self.w + x) * c + c0..], cb),
                            false => *d_rs = [0.0; LANES],
                        }
                    }
                }
                input_transform(&mut d);
                for (xi, d_xi) in d.iter().flatten().enumerate() {
                    store(&mut v[(xi * rows + row) * c + c0..], d_xi, cb);
                }
            }
        }
    }

    /// Writes `Aᵀ m A` (plus `bias`) of the tiles `range` from `m` `[16][range.len()][o]` into
    /// the pixel-major images `hwc` `[images][h·w][o]`.
    fn output_tiles(&self, m: &[f32], range: Range<usize>, bias: Option<&[f32]>, hwc: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx512() {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512::output_tiles(self, m, range, bias, hwc) };
        }
        self.output_tiles_portable(m, range, bias, hwc)
    }

    /// [`Self::output_tiles`] without SIMD intrinsics (the compiler vectorizes what it can).
    fn output_tiles_portable(
        &self,
        m: &[f32],
        range: Range<usize>,
        bias: Option<&[f32]>,
        hwc: &mut [f32],
    ) {
        let (o, rows) = (self.o, range.len());
        let (mut tile, mut out): (Tile, [[[f32; LANES]; 2]; 2]) = Default::default();
        for (row, t) in range.enumerate() {
            let (image, y0, x0) = self.tile(t);
            let image = &mut hwc[image * self.out_len()..][..self.out_len()];
            for o0 in (0..o).step_by(LANES) {
                let ob = LANES.min(o - o0);
                for (xi, m_xi) in tile.iter_mut().flatten().enumerate() {
                    load(m_xi, &m[(xi * rows + row) * o + o0..], ob);
                }
                output_transform(&tile, &mut out);
                let mut b = [0.0; LANES];
                if let Some(bias) = bias {
                    load(&mut b, &bias[o0..], ob);
                }
                for (r, out_r) in out.iter_mut().enumerate() {
                    for (s, out_rs) in out_r.iter_mut().enumerate() {
                        let (y, x) = (y0 + r, x0 + s);
                        if y < self.h && x < self.w {
                            out_rs.iter_mut().zip(b).for_each(|(v, b)| *v += b);
                            store(&mut image[(y * self.w + x) * o + o0..], out_rs, ob);
                        }
                    }
                }
            }
        }
    }

    /// Writes `A dY Aᵀ` of the output gradients of the tiles `range`, from the pixel-major
    /// images `hwc` `[images][h·w][o]`, as `dm` `[16][range.len()][o]`: the adjoint of
    /// [`Self::output_tiles`].
    fn output_tiles_adjoint(&self, hwc: &[f32], dm: &mut [f32], range: Range<usize>) {
        #[cfg(target_arch = "x86_64")]
        if avx512() {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512::output_tiles_adjoint(self, hwc, dm, range) };
        }
        self.output_tiles_adjoint_portable(hwc, dm, range)
    }

    /// [`Self::output_tiles_adjoint`] without SIMD intrinsics (the compiler vectorizes what it can).
    fn output_tiles_adjoint_portable(&self, hwc: &[f32], dm: &mut [f32], range: Range<usize>) {
        let (o, rows) = (self.o, range.len());
        let (mut g, mut tile): ([[[f32; LANES]; 2]; 2], Tile) = Default::default();
        for (row, t) in range.enumerate() {
            let (image, y0, x0) = self.tile(t);
            let image = &hwc[image * self.out_len()..][..self.out_len()];
            for o0 in (0..o).step_by(LANES) {
                let ob = LANES.min(o - o0);
                for (r, g_r) in g.iter_mut().enumerate() {
                    for (s, g_rs) in g_r.iter_mut().enumerate() {
                        let (y, x) = (y0 + r, x0 + s);
                        match y < self.h && x < self.w {
                            true => load(g_rs, &image[(y * self.w + x) * o + o0..], ob),
                            false => *g_rs = [0.0; LANES],
                        }
                    }
                }
                output_transform_adjoint(&g, &mut tile);
                for (xi, g_xi) in tile.iter().flatten().enumerate() {
                    store(&mut dm[(xi * rows + row) * o + o0..], g_xi, ob);
                }
            }
        }
    }
}

/// Whether the CPU has AVX-512F (cached by the standard library).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// `dst[..n] = src[..n]` for a channel block of `n ≤ LANES`; a full block is one fixed-size copy
/// (a `copy_from_slice` of variable length is a `memmove` call, which cost more than the
/// arithmetic).
#[inline(always)]
fn load(dst: &mut [f32; LANES], src: &[f32], n: usize) {
    match src.first_chunk::<LANES>() {
        Some(block) if n == LANES => *dst = *block,
        _ => dst[..n].iter_mut().zip(src).for_each(|(d, s)| *d = *s),
    }
}

/// `dst[..n] = src[..n]`, the other way round from [`load`].
#[inline(always)]
fn store(dst: &mut [f32], src: &[f32; LANES], n: usize) {
    match dst.first_chunk_mut::<LANES>() {
        Some(block) if n == LANES => *block = *src,
        _ => dst.iter_mut().zip(&src[..n]).for_each(|(d, s)| *d = *s),
    }
}

/// `Bᵀ d B` of a 4×4 tile in place, `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0],
/// [0, 1, 0, -1]]`. (In place and lane by lane: whole-tile temporaries became `memcpy` calls.)
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the same lane of four rows at once
fn input_transform(d: &mut Tile) {
    let b = |v: [f32; 4]| [v[0] - v[2], v[1] + v[2], v[2] - v[1], v[1] - v[3]];
    for s in 0..4 {
        for l in 0..LANES {
            let v = b([d[0][s][l], d[1][s][l], d[2][s][l], d[3][s][l]]);
            (d[0][s][l], d[1][s][l], d[2][s][l], d[3][s][l]) = (v[0], v[1], v[2], v[3]);
        }
    }
    for d_r in d.iter_mut() {
        for l in 0..LANES {
            let v = b([d_r[0][l], d_r[1][l], d_r[2][l], d_r[3][l]]);
            (d_r[0][l], d_r[1][l], d_r[2][l], d_r[3][l]) = (v[0], v[1], v[2], v[3]);
        }
    }
}

/// `Aᵀ m A` of a 4×4 tile: the 2×2 outputs, `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the same lane of four rows at once
fn output_transform(m: &Tile, out: &mut [[[f32; LANES]; 2]; 2]) {
    let a = |v: [f32; 4]| [v[0] + v[1] + v[2], v[1] - v[2] - v[3]];
    let mut rows = [[[0.0; LANES]; 4]; 2];
    for s in 0..4 {
        for l in 0..LANES {
            let v = a([m[0][s][l], m[1][s][l], m[2][s][l], m[3][s][l]]);
            (rows[0][s][l], rows[1][s][l]) = (v[0], v[1]);
        }
    }
    for (out_r, rows_r) in out.iter_mut().zip(&rows) {
        for l in 0..LANES {
            let v = a([rows_r[0][l], rows_r[1][l], rows_r[2][l], rows_r[3][l]]);
            (out_r[0][l], out_r[1][l]) = (v[0], v[1]);
        }
    }
}

/// `A g Aᵀ` of a 2×2 output gradient: the adjoint of [`output_transform`].
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the same lane of four rows at once
fn output_transform_adjoint(g: &[[[f32; LANES]; 2]; 2], out: &mut Tile) {
    let a = |v: [f32; 2]| [v[0], v[0] + v[1], v[0] - v[1], -v[1]];
    let mut cols = [[[0.0; LANES]; 2]; 4];
    for s in 0..2 {
        for l in 0..LANES {
            let v = a([g[0][s][l], g[1][s][l]]);
            for r in 0..4 {
                cols[r][s][l] = v[r];
            }
        }
    }
    for (out_r, cols_r) in out.iter_mut().zip(&cols) {
        for l in 0..LANES {
            let v = a([cols_r[0][l], cols_r[1][l]]);
            (out_r[0][l], out_r[1][l], out_r[2][l], out_r[3][l]) = (v[0], v[1], v[2], v[3]);
        }
    }
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
/// plus `bias[o]` when given: `[n, o, h, w]`.
///
/// With `residual` `[n, o, h, w]` the output is `residual + conv(x)` (a residual block's skip,
/// added while the output is transposed back instead of in a pass of its own).
pub(super) fn forward(
    p: &Winograd,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Vec<f32> {
    let u = transform_kernel(w, p.c, p.o);
    let len = p.n * p.out_len();
    assert!(
        residual.is_none_or(|r| r.len() == len),
        "winograd: residual of the wrong size"
    );
    let mut y = Vec::with_capacity(len);
    let threads = rayon::current_num_threads();
    let images = |i: usize, x_g: &[f32], y_g: &mut [MaybeUninit<f32>], par: Parallelism| {
        with_scratch(|[hwc, v, m, out]: &mut [Vec<f32>; 4]| {
            let count = x_g.len() / p.in_len();
            transpose_images(x_g, p.c, p.pixels(), hwc);
            out.resize(y_g.len(), 0.0);
            for range in p.chunks(count) {
                p.convolve_chunk(hwc, &u, range, bias, (v, m), out, par);
            }
            let outputs = out.chunks_exact(p.out_len());
            for (j, (o_n, y_n)) in outputs.zip(y_g.chunks_exact_mut(p.out_len())).enumerate() {
                let skip = residual.map(|r| &r[(i + j) * p.out_len()..][..p.out_len()]);
                transpose_uninit(o_n, p.pixels(), p.o, y_n, skip);
            }
        })
    };
    let group = p.group(threads);
    let y_all = &mut y.spare_capacity_mut()[..len];
    if p.n >= threads {
        y_all
            .par_chunks_mut(group * p.out_len())
            .zip(x.par_chunks(group * p.in_len()))
            .enumerate()
            .for_each(|(g, (y_g, x_g))| images(g * group, x_g, y_g, Parallelism::None));
    } else {
        images(0, x, y_all, Parallelism::Rayon(threads));
    }
    // SAFETY: every image's output was written by `transpose_uninit`, which writes each of its
    // elements, and the images cover all `len` elements.
    unsafe { y.set_len(len) };
    y
}

/// The kernel gradient of [`forward`]: `x` `[n, c, h, w]`, `dy` `[n, o, h, w]` ->
/// `dW [o, c, 3, 3]`.
pub(super) fn weight_grad(p: &Winograd, x: &[f32], dy: &[f32]) -> Vec<f32> {
    gradients(p, x, dy, None).1
}

/// Both gradients of [`forward`]: `(dx [n, c, h, w], dW [o, c, 3, 3])` from `x`, `dy` and the
/// kernel `w` `[o, c, 3, 3]`.
pub(super) fn backward(p: &Winograd, x: &[f32], dy: &[f32], w: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (dx, dw) = gradients(p, x, dy, Some(w));
    (dx.unwrap_or_default(), dw)
}

/// The kernel gradient and, given the kernel, the input gradient, in one sweep over the batch.
///
/// Each thread takes a share of the images and, a chunk of tiles at a time, sums
/// `dU_ξ += V_ξᵀ · dM_ξ` in the Winograd domain (the sums are added and transformed back
/// once) and runs `dy` through the flipped kernel (the input gradient, a same-size 3×3
/// convolution itself), both from one pixel-major copy of `dy`.
fn gradients(
    p: &Winograd,
    x: &[f32],
    dy: &[f32],
    w: Option<&[f32]>,
) -> (Option<Vec<f32>>, Vec<f32>) {
    let back = Winograd::new(p.n, p.o, p.h, p.w, p.c);
    let u_back = w.map(|w| transform_kernel(&flip_kernel(w, p.o, p.c, 3, 3), p.o, p.c));
    let len = p.n * p.in_len();
    let mut dx = u_back.as_ref().map(|_| Vec::with_capacity(len));
    let threads = rayon::current_num_threads();
    let group = p.group(threads);
    let share =
        |xs: &[f32], dys: &[f32], mut dxs: Option<&mut [MaybeUninit<f32>]>, par: Parallelism| {
            let mut du = vec![0f32; XI * p.c * p.o];
            with_scratch(|[hwc_x, hwc_dy, v, dm, out]: &mut [Vec<f32>; 5]| {
                let groups = xs
                    .chunks(group * p.in_len())
                    .zip(dys.chunks(group * p.out_len()))
                    .enumerate();
                for (i, (x_g, dy_g)) in groups {
                    transpose_images(x_g, p.c, p.pixels(), hwc_x);
                    transpose_images(dy_g, p.o, p.pixels(), hwc_dy);
                    if u_back.is_some() {
                        out.resize(x_g.len(), 0.0);
                    }
                    for range in p.chunks(x_g.len() / p.in_len()) {
                        let rows = range.len();
                        v.resize(XI * rows * p.c, 0.0);
                        dm.resize(XI * rows * p.o, 0.0);
                        p.input_tiles(hwc_x, v, range.clone());
                        p.output_tiles_adjoint(hwc_dy, dm, range.clone());
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
                            back.convolve_chunk(hwc_dy, u, range, None, (v, dm), out, par);
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
            .map(|((xs, dys), dxs)| share(xs, dys, dxs, Parallelism::None))
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| vec![0f32; XI * p.c * p.o])
    } else {
        let dxs = dx.as_mut().map(|dx| &mut dx.spare_capacity_mut()[..len]);
        share(x, dy, dxs, Parallelism::Rayon(threads))
    };
    if let Some(dx) = dx.as_mut() {
        // SAFETY: every image's input gradient was written by `transpose_uninit`, which writes
        // each of its elements, and the images cover all `len` elements.
        unsafe { dx.set_len(len) };
    }
    (dx, transform_kernel_adjoint(&du, p.c, p.o))
}

#[cfg(test)]
mod tests {
    use super::super::transpose::transpose_images;
    use super::{CHUNK_TILES, LANES, Winograd, XI};

    /// Seeded values in `[-1, 1)` (a xorshift: no need for statistical quality).
    fn values(len: usize, mut seed: u64) -> Vec<f32> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// The dispatched transforms (AVX-512 where the CPU has it) equal the portable ones exactly,
    /// on partial channel blocks, odd sizes and chunks across images. (On a CPU without AVX-512
    /// both sides are the portable code.)
    #[test]
    fn simd_transforms_equal_the_portable_ones() {
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
                p.input_tiles(&hwc_x, &mut v, range.clone());
                p.input_tiles_portable(&hwc_x, &mut v_portable, range.clone());
                assert_eq!(v, v_portable, "input transform, {n}×{c}×{h}×{w}");

                let (mut dm, mut dm_portable) =
                    (vec![0.0; XI * rows * o], vec![1.0; XI * rows * o]);
                p.output_tiles_adjoint(&hwc_dy, &mut dm, range.clone());
                p.output_tiles_adjoint_portable(&hwc_dy, &mut dm_portable, range.clone());
                assert_eq!(
                    dm, dm_portable,
                    "output transform's adjoint, {n}×{o}×{h}×{w}"
                );

                let m = values(XI * rows * o, 13);
                let (mut y, mut y_portable) = (vec![0.0; n * o * h * w], vec![0.0; n * o * h * w]);
                p.output_tiles(&m, range.clone(), Some(&bias), &mut y);
                p.output_tiles_portable(&m, range.clone(), Some(&bias), &mut y_portable);
                assert_eq!(y, y_portable, "output transform, {n}×{o}×{h}×{w}");
            }
        }
        assert_eq!(LANES, 16);
    }
}

//! The three tile transforms without SIMD intrinsics (the compiler vectorizes what it can): the
//! code for CPUs without AVX-512, and the reference that `avx512` equals bit for bit.
//!
//! A tile's channel block is a `[f32; LANES]` per tile position, transformed in place and lane by
//! lane.

use std::ops::Range;

use super::tiling::{LANES, Winograd};

/// One block of up to [`LANES`] channels of a 4×4 tile.
type Tile = [[[f32; LANES]; 4]; 4];

/// Writes `Bᵀ d B` of the tiles `range` of the pixel-major images `hwc` `[images][h·w][c]`
/// as `v` `[16][range.len()][c]`.
pub(super) fn input_tiles(p: &Winograd, hwc: &[f32], v: &mut [f32], range: Range<usize>) {
    let (c, rows) = (p.c, range.len());
    // Lanes past a partial block's `cb` hold stale values, never stored.
    let mut d: Tile = [[[0.0; LANES]; 4]; 4];
    for (row, t) in range.enumerate() {
        let (image, y0, x0) = p.tile(t);
        let image = &hwc[image * p.in_len()..][..p.in_len()];
        for c0 in (0..c).step_by(LANES) {
            let cb = LANES.min(c - c0);
            for (r, d_r) in d.iter_mut().enumerate() {
                let y = (y0 + r).wrapping_sub(1);
                for (s, d_rs) in d_r.iter_mut().enumerate() {
                    let x = (x0 + s).wrapping_sub(1);
                    // Row and column -1 wrapped around, so one test each.
                    match y < p.h && x < p.w {
                        true => load(d_rs, &image[(y * p.w + x) * c + c0..], cb),
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
pub(super) fn output_tiles(
    p: &Winograd,
    m: &[f32],
    range: Range<usize>,
    bias: Option<&[f32]>,
    hwc: &mut [f32],
) {
    let (o, rows) = (p.o, range.len());
    let (mut tile, mut out): (Tile, [[[f32; LANES]; 2]; 2]) = Default::default();
    for (row, t) in range.enumerate() {
        let (image, y0, x0) = p.tile(t);
        let image = &mut hwc[image * p.out_len()..][..p.out_len()];
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
                    if y < p.h && x < p.w {
                        out_rs.iter_mut().zip(b).for_each(|(v, b)| *v += b);
                        store(&mut image[(y * p.w + x) * o + o0..], out_rs, ob);
                    }
                }
            }
        }
    }
}

/// Writes `A dY Aᵀ` of the output gradients of the tiles `range`, from the pixel-major
/// images `hwc` `[images][h·w][o]`, as `dm` `[16][range.len()][o]`: the adjoint of
/// [`output_tiles`].
pub(super) fn output_tiles_adjoint(p: &Winograd, hwc: &[f32], dm: &mut [f32], range: Range<usize>) {
    let (o, rows) = (p.o, range.len());
    let (mut g, mut tile): ([[[f32; LANES]; 2]; 2], Tile) = Default::default();
    for (row, t) in range.enumerate() {
        let (image, y0, x0) = p.tile(t);
        let image = &hwc[image * p.out_len()..][..p.out_len()];
        for o0 in (0..o).step_by(LANES) {
            let ob = LANES.min(o - o0);
            for (r, g_r) in g.iter_mut().enumerate() {
                for (s, g_rs) in g_r.iter_mut().enumerate() {
                    let (y, x) = (y0 + r, x0 + s);
                    match y < p.h && x < p.w {
                        true => load(g_rs, &image[(y * p.w + x) * o + o0..], ob),
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

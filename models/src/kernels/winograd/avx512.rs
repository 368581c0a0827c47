//! The three tile transforms in AVX-512 registers: one vector per tile position and block of 16
//! channels, masked loads and stores for a partial block. The versions in [`super::portable`]
//! compute the same sums in the same order (a test compares them bit for bit); these only avoid
//! their round trips through the stack.

// Indexed loops over constant bounds keep each tile position in a register of its own.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;
use std::ops::Range;

use super::tiling::{LANES, Winograd, XI};

// A channel block is one 16-lane register, its mask a u16.
const _: () = assert!(LANES == 16);

/// The first `n` (≤ 16) lanes.
fn mask(n: usize) -> __mmask16 {
    match n >= LANES {
        true => u16::MAX,
        false => (1u16 << n) - 1,
    }
}

/// `Bᵀ v` along one axis: `[v₀ - v₂, v₁ + v₂, v₂ - v₁, v₁ - v₃]`.
#[target_feature(enable = "avx512f")]
fn b(v: [__m512; 4]) -> [__m512; 4] {
    [
        _mm512_sub_ps(v[0], v[2]),
        _mm512_add_ps(v[1], v[2]),
        _mm512_sub_ps(v[2], v[1]),
        _mm512_sub_ps(v[1], v[3]),
    ]
}

/// `Aᵀ v` along one axis: `[v₀ + v₁ + v₂, v₁ - v₂ - v₃]`.
#[target_feature(enable = "avx512f")]
fn a_t(v: [__m512; 4]) -> [__m512; 2] {
    [
        _mm512_add_ps(_mm512_add_ps(v[0], v[1]), v[2]),
        _mm512_sub_ps(_mm512_sub_ps(v[1], v[2]), v[3]),
    ]
}

/// `A v` along one axis: `[v₀, v₀ + v₁, v₀ - v₁, -v₁]`.
#[target_feature(enable = "avx512f")]
fn a(v: [__m512; 2]) -> [__m512; 4] {
    [
        v[0],
        _mm512_add_ps(v[0], v[1]),
        _mm512_sub_ps(v[0], v[1]),
        _mm512_sub_ps(_mm512_setzero_ps(), v[1]),
    ]
}

/// `n` lanes of `src[at..]` (zero in the others).
#[target_feature(enable = "avx512f")]
fn load(src: &[f32], at: usize, n: usize) -> __m512 {
    let src = &src[at..at + n];
    // SAFETY: the mask reads only the first `n` lanes, all inside `src`.
    unsafe { _mm512_maskz_loadu_ps(mask(n), src.as_ptr()) }
}

/// `n` lanes of `v` into `dst[at..]`.
#[target_feature(enable = "avx512f")]
fn store(dst: &mut [f32], at: usize, n: usize, v: __m512) {
    let dst = &mut dst[at..at + n];
    // SAFETY: the mask writes only the first `n` lanes, all inside `dst`.
    unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask(n), v) }
}

/// [`super::portable::input_tiles`] in registers.
#[target_feature(enable = "avx512f")]
pub(super) fn input_tiles(p: &Winograd, hwc: &[f32], v: &mut [f32], range: Range<usize>) {
    let (c, rows) = (p.c, range.len());
    let images = range.end.div_ceil(p.tiles());
    assert!(
        v.len() >= XI * rows * c && hwc.len() >= images * p.in_len(),
        "winograd: buffers too small for tiles {range:?}"
    );
    let (pixel, image_row) = (c as isize, (p.w * c) as isize);
    for (row, t) in range.enumerate() {
        let (image, y0, x0) = p.tile(t);
        // Row and column -1 wrap around, so one test each.
        let rows_in: [bool; 4] = std::array::from_fn(|r| (y0 + r).wrapping_sub(1) < p.h);
        let cols_in: [bool; 4] = std::array::from_fn(|s| (x0 + s).wrapping_sub(1) < p.w);
        // The patch's top-left corner, one pixel up and left of the tile (outside the image
        // for the first row or column of tiles: only offsets of pixels inside are used).
        let corner = (image * p.in_len()) as isize
            + (y0 as isize - 1) * image_row
            + (x0 as isize - 1) * pixel;
        for c0 in (0..c).step_by(LANES) {
            let k = mask(c - c0);
            // Plain loops over constant bounds, not `array::from_fn`: its closures were not
            // inlined, and the tile went through the stack.
            let mut d = [[_mm512_setzero_ps(); 4]; 4];
            for r in 0..4 {
                for s in 0..4 {
                    if rows_in[r] && cols_in[s] {
                        let at = corner + r as isize * image_row + s as isize * pixel;
                        // SAFETY: pixel (y0 + r - 1, x0 + s - 1) lies inside image `image`,
                        // whose `c` channels from `at` lie inside `hwc` (asserted above); the
                        // mask reads channels c0.. below c only.
                        d[r][s] = unsafe {
                            _mm512_maskz_loadu_ps(k, hwc.as_ptr().offset(at + c0 as isize))
                        };
                    }
                }
            }
            let mut cols = [[_mm512_setzero_ps(); 4]; 4];
            for s in 0..4 {
                cols[s] = b([d[0][s], d[1][s], d[2][s], d[3][s]]);
            }
            // cols[s][r] = (Bᵀ d)[r][s]; transform each row r along s.
            let dst = row * c + c0;
            for r in 0..4 {
                let out = b([cols[0][r], cols[1][r], cols[2][r], cols[3][r]]);
                for (s, value) in out.into_iter().enumerate() {
                    // SAFETY: ((4r + s)·rows + row)·c + c0 plus the masked lanes stays below
                    // 16·rows·c <= v.len() (asserted above).
                    unsafe {
                        _mm512_mask_storeu_ps(
                            v.as_mut_ptr().add((4 * r + s) * rows * c + dst),
                            k,
                            value,
                        )
                    };
                }
            }
        }
    }
}

/// [`super::portable::output_tiles`] in registers.
#[target_feature(enable = "avx512f")]
pub(super) fn output_tiles(
    p: &Winograd,
    m: &[f32],
    range: Range<usize>,
    bias: Option<&[f32]>,
    hwc: &mut [f32],
) {
    let (o, rows) = (p.o, range.len());
    for (row, t) in range.enumerate() {
        let (image, y0, x0) = p.tile(t);
        let image = &mut hwc[image * p.out_len()..][..p.out_len()];
        for o0 in (0..o).step_by(LANES) {
            let n = LANES.min(o - o0);
            let mut tile = [[_mm512_setzero_ps(); 4]; 4];
            for r in 0..4 {
                for s in 0..4 {
                    tile[r][s] = load(m, ((4 * r + s) * rows + row) * o + o0, n);
                }
            }
            let mut cols = [[_mm512_setzero_ps(); 2]; 4];
            for s in 0..4 {
                cols[s] = a_t([tile[0][s], tile[1][s], tile[2][s], tile[3][s]]);
            }
            let b = bias.map_or(_mm512_setzero_ps(), |bias| load(bias, o0, n));
            for r in 0..2 {
                let y = y0 + r;
                let out = a_t([cols[0][r], cols[1][r], cols[2][r], cols[3][r]]);
                for (s, value) in out.into_iter().enumerate() {
                    let x = x0 + s;
                    if y < p.h && x < p.w {
                        store(image, (y * p.w + x) * o + o0, n, _mm512_add_ps(value, b));
                    }
                }
            }
        }
    }
}

/// [`super::portable::output_tiles_adjoint`] in registers.
#[target_feature(enable = "avx512f")]
pub(super) fn output_tiles_adjoint(p: &Winograd, hwc: &[f32], dm: &mut [f32], range: Range<usize>) {
    let (o, rows) = (p.o, range.len());
    for (row, t) in range.enumerate() {
        let (image, y0, x0) = p.tile(t);
        let image = &hwc[image * p.out_len()..][..p.out_len()];
        for o0 in (0..o).step_by(LANES) {
            let n = LANES.min(o - o0);
            let mut g = [[_mm512_setzero_ps(); 2]; 2];
            for r in 0..2 {
                for s in 0..2 {
                    let (y, x) = (y0 + r, x0 + s);
                    if y < p.h && x < p.w {
                        g[r][s] = load(image, (y * p.w + x) * o + o0, n);
                    }
                }
            }
            let mut cols = [[_mm512_setzero_ps(); 4]; 2];
            for s in 0..2 {
                cols[s] = a([g[0][s], g[1][s]]);
            }
            for r in 0..4 {
                let out = a([cols[0][r], cols[1][r]]);
                for (s, value) in out.into_iter().enumerate() {
                    store(dm, ((4 * r + s) * rows + row) * o + o0, n, value);
                }
            }
        }
    }
}

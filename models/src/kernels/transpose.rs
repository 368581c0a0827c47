//! Matrix transposes between the channel-major images candle holds (`[c, h·w]`) and the
//! pixel-major ones (`[h·w, c]`) that the convolutions' gemms read in place.

use std::mem::MaybeUninit;

use super::channel_ops::RowAffineRelu;

/// `dst [cols, rows] = src [rows, cols]ᵀ`, into memory not yet initialised, plus `add`
/// `[cols, rows]` when given: every element of `dst[..rows·cols]` is written. (A zero-filled
/// output cost a `memset` pass.)
///
/// With AVX, in 8×8 blocks of eight loads, 24 shuffles and eight stores (a scalar transpose
/// costs a load and a strided store per element, a large share of a Winograd training step in
/// `perf`: docs/benchmarks.md); the edges and other CPUs go element by element.
pub(super) fn transpose_uninit(
    src: &[f32],
    rows: usize,
    cols: usize,
    dst: &mut [MaybeUninit<f32>],
    add: Option<&[f32]>,
) {
    assert!(
        dst.len() >= rows * cols && add.is_none_or(|a| a.len() >= rows * cols),
        "transpose: {rows}×{cols} does not fit the output"
    );
    // SAFETY: `dst` has room for rows·cols floats, `add` holds as many (asserted above).
    unsafe { transpose_to(src, rows, cols, dst.as_mut_ptr().cast(), add, None) }
}

/// Each `[rows, cols]` image of `src` transposed into `dst` (resized to fit).
pub(super) fn transpose_images(src: &[f32], rows: usize, cols: usize, dst: &mut Vec<f32>) {
    transpose_images_map(src, rows, cols, None, dst)
}

/// [`transpose_images`], each element first mapped by its row's [`RowAffineRelu`] when given.
pub(super) fn transpose_images_map(
    src: &[f32],
    rows: usize,
    cols: usize,
    map: Option<RowAffineRelu>,
    dst: &mut Vec<f32>,
) {
    assert!(
        map.is_none_or(|m| m.a.len() >= rows && m.b.len() >= rows),
        "transpose: the row map has fewer than {rows} rows"
    );
    dst.resize(src.len(), 0.0);
    let len = rows * cols;
    for (s, d) in src.chunks_exact(len).zip(dst.chunks_exact_mut(len)) {
        // SAFETY: `d` has room for rows·cols floats (`dst` was resized to `src`'s length).
        unsafe { transpose_to(s, rows, cols, d.as_mut_ptr(), None, map) }
    }
}

/// Writes `dst[j·rows + i] = map_i(src[i·cols + j]) (+ add[j·rows + i])` for every `i < rows`,
/// `j < cols`, `map_i` row `i`'s [`RowAffineRelu`] or the identity.
///
/// # Safety
/// `dst` must be valid for writes of `rows·cols` floats, `add`, when given, must hold as
/// many, and `map`, when given, must have `rows` coefficients.
unsafe fn transpose_to(
    src: &[f32],
    rows: usize,
    cols: usize,
    dst: *mut f32,
    add: Option<&[f32]>,
    map: Option<RowAffineRelu>,
) {
    assert!(
        src.len() >= rows * cols,
        "transpose: {rows}×{cols} does not fit the input"
    );
    let (mut rows8, mut cols8) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        (rows8, cols8) = (rows / 8 * 8, cols / 8 * 8);
        for i in (0..rows8).step_by(8) {
            for j in (0..cols8).step_by(8) {
                let at = j * rows + i;
                // SAFETY: the CPU has AVX (checked above); rows i..i+8 of columns j..j+8 lie
                // inside `src` (asserted above) and rows j..j+8 of columns i..i+8 inside `dst`
                // and `add` (the caller's promise): i + 8 <= rows, j + 8 <= cols.
                unsafe {
                    block8(
                        src.as_ptr().add(i * cols + j),
                        cols,
                        dst.add(at),
                        add.map(|a| a.as_ptr().add(at)),
                        rows,
                        map.map(|m| (m.a.as_ptr().add(i), m.b.as_ptr().add(i))),
                    )
                };
            }
        }
    }
    let scalar = |i_range: std::ops::Range<usize>, j_range: std::ops::Range<usize>| {
        for i in i_range {
            for j in j_range.clone() {
                let at = j * rows + i;
                let v = map.map_or(src[i * cols + j], |m| m.apply(i, src[i * cols + j]));
                let v = v + add.map_or(0.0, |a| a[at]);
                // SAFETY: at < rows·cols, inside `dst` (the caller's promise).
                unsafe { dst.add(at).write(v) };
            }
        }
    };
    scalar(0..rows8, cols8..cols);
    scalar(rows8..rows, 0..cols);
}

/// The 8×8 block at `src` (row stride `ss`), each row `k` first mapped to
/// `max(v·a[k] + b[k], 0)` when `map` gives `(a, b)`, transposed to `dst` (row stride `ds`), plus
/// the block at `add` (row stride `ds`) when given.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn block8(
    src: *const f32,
    ss: usize,
    dst: *mut f32,
    add: Option<*const f32>,
    ds: usize,
    map: Option<(*const f32, *const f32)>,
) {
    use std::arch::x86_64::*;
    // SAFETY (all loads and stores): the caller guarantees 8 rows of 8 floats at each pointer,
    // and 8 coefficients at each of `map`'s.
    unsafe {
        let mut r: [__m256; 8] = std::array::from_fn(|k| _mm256_loadu_ps(src.add(k * ss)));
        if let Some((a, b)) = map {
            for (k, row) in r.iter_mut().enumerate() {
                // Multiply, then add (`channel_ops::scale_shift`'s two roundings), then max.
                let v = _mm256_add_ps(
                    _mm256_mul_ps(*row, _mm256_set1_ps(*a.add(k))),
                    _mm256_set1_ps(*b.add(k)),
                );
                *row = _mm256_max_ps(v, _mm256_setzero_ps());
            }
        }
        let r = r;
        // Interleave row pairs, then pairs of pairs, then 128-bit halves.
        let t: [__m256; 8] = std::array::from_fn(|k| {
            let (a, b) = (r[k / 2 * 2], r[k / 2 * 2 + 1]);
            match k % 2 {
                0 => _mm256_unpacklo_ps(a, b),
                _ => _mm256_unpackhi_ps(a, b),
            }
        });
        // t = [lo01, hi01, lo23, hi23, lo45, hi45, lo67, hi67]
        let s: [__m256; 8] = std::array::from_fn(|k| {
            let base = k / 4 * 4;
            let (a, b) = (t[base + k % 4 / 2], t[base + 2 + k % 4 / 2]);
            match k % 2 {
                0 => _mm256_shuffle_ps::<0x44>(a, b),
                _ => _mm256_shuffle_ps::<0xEE>(a, b),
            }
        });
        // s = columns {0,1,2,3} (with 4..7 in the high halves) of rows 0–3, then of rows 4–7
        for k in 0..8 {
            let mut row = match k < 4 {
                true => _mm256_permute2f128_ps::<0x20>(s[k], s[k + 4]),
                false => _mm256_permute2f128_ps::<0x31>(s[k - 4], s[k]),
            };
            if let Some(add) = add {
                row = _mm256_add_ps(row, _mm256_loadu_ps(add.add(k * ds)));
            }
            _mm256_storeu_ps(dst.add(k * ds), row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RowAffineRelu, transpose_images, transpose_images_map};
    use crate::kernels::channel_ops::scale_shift;

    /// Every element lands where the definition puts it (the AVX blocks and the scalar edges),
    /// for two images at once, and with a row map each is mapped by its own row's coefficients
    /// (rows with negative, zero and positive outputs).
    #[test]
    fn matches_the_definition_on_every_edge_case() {
        for (rows, cols) in [
            (1, 1),
            (3, 5),
            (8, 8),
            (9, 17),
            (32, 196),
            (196, 64),
            (16, 7),
        ] {
            let len = rows * cols;
            let src: Vec<f32> = (0..2 * len).map(|v| v as f32 - len as f32).collect();
            let a: Vec<f32> = (0..rows).map(|r| 0.5 + r as f32 * 0.25).collect();
            let b: Vec<f32> = (0..rows).map(|r| r as f32 - 3.0).collect();
            let (mut plain, mut mapped) = (vec![f32::NAN; 3], vec![f32::NAN; 3]);
            transpose_images(&src, rows, cols, &mut plain);
            let map = RowAffineRelu { a: &a, b: &b };
            transpose_images_map(&src, rows, cols, Some(map), &mut mapped);
            for image in 0..2 {
                for i in 0..rows {
                    for j in 0..cols {
                        let (at, from) = (image * len + j * rows + i, image * len + i * cols + j);
                        assert_eq!(plain[at], src[from], "{rows}×{cols} at {i},{j}");
                        let want = scale_shift(src[from], a[i], b[i]).max(0.0);
                        assert_eq!(mapped[at], want, "{rows}×{cols} mapped at {i},{j}");
                    }
                }
            }
        }
    }
}

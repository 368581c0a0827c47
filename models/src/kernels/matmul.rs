//! The one call into the `gemm` crate (the matmul candle itself uses), behind a bounds-checked
//! strided view, so that the convolutions hold no `unsafe` of their own.

use gemm::Parallelism;

/// f32 lanes of gemm's widest kernels (AVX-512): an operand whose row length is not a multiple
/// of it is copied whole by gemm before it multiplies.
pub(super) const GEMM_SIMD_F32: usize = 16;

/// A read-only strided matrix: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(super) struct MatRef<'a> {
    pub(super) data: &'a [f32],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

impl<'a> MatRef<'a> {
    pub(super) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// Panics unless every element lies inside `data`: what makes the gemm call sound.
    fn assert_in_bounds(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `dst [m, n]` (row-major) `= lhs [m, k] · rhs [k, n]`, or `+=` with `accumulate`.
pub(super) fn matmul(
    dst: &mut [f32],
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
    par: Parallelism,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    assert_eq!(dst.len(), m * n, "destination has the wrong size");
    lhs.assert_in_bounds();
    rhs.assert_in_bounds();
    // SAFETY: gemm reads lhs at i·rs + j·cs for i < m, j < k and rhs likewise for k × n, all
    // inside their slices (asserted just above); it writes dst at i·n + j for i < m, j < n,
    // inside `dst` (its length is m·n), and reads it only when `accumulate`, when it holds
    // initialised floats. `dst` is a unique borrow, so it cannot alias lhs or rhs. gemm computes
    // `dst = alpha·dst + beta·lhs·rhs`, hence alpha = beta = 1.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

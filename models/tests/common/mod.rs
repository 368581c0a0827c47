//! Shared test helpers: brute-force Jacobians and tensor comparisons.
#![allow(dead_code)]

use candle_core::Tensor;
use realnvp_models::Result;

pub use realnvp_models::testing::{max_abs_diff, uniform};

/// `log |det J|` of `f` at the single example `x` (`[1, ...]`), with `J` from central finite
/// differences over every input dimension (evaluated as one batch: `f` must treat examples
/// independently, i.e. run in eval mode). `f` returns `[N, ...]` with the same element count.
pub fn brute_force_log_det(
    f: impl Fn(&Tensor) -> Result<Tensor>,
    x: &Tensor,
    eps: f64,
) -> Result<f64> {
    let d = x.elem_count();
    let base = x.flatten_all()?.to_vec1::<f64>()?;
    let mut rows = Vec::with_capacity(2 * d * d);
    for sign in [1.0, -1.0] {
        for i in 0..d {
            let mut v = base.clone();
            v[i] += sign * eps;
            rows.extend(v);
        }
    }
    let mut shape = x.dims().to_vec();
    shape[0] = 2 * d;
    let xs = Tensor::from_vec(rows, shape, x.device())?;
    let ys = f(&xs)?.flatten_from(1)?.to_vec2::<f64>()?;
    // jac[j][i] = ∂y_j / ∂x_i
    let mut jac = vec![vec![0.0; d]; d];
    for i in 0..d {
        for j in 0..d {
            jac[j][i] = (ys[i][j] - ys[d + i][j]) / (2.0 * eps);
        }
    }
    Ok(log_abs_det(jac))
}

/// `log |det A|` by LU decomposition with partial pivoting.
pub fn log_abs_det(mut a: Vec<Vec<f64>>) -> f64 {
    let n = a.len();
    let mut total = 0.0;
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        let p = a[col][col];
        if p == 0.0 {
            return f64::NEG_INFINITY;
        }
        total += p.abs().ln();
        let (top, bottom) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for row in bottom.iter_mut() {
            let factor = row[col] / p;
            for (x, &y) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= factor * y;
            }
        }
    }
    total
}

#[test]
fn log_abs_det_matches_a_known_matrix() {
    // det [[2, 1], [1, 3]] = 5; det of a permutation times diag(2, -4) = 8 in absolute value.
    assert!((log_abs_det(vec![vec![2.0, 1.0], vec![1.0, 3.0]]) - 5f64.ln()).abs() < 1e-12);
    assert!((log_abs_det(vec![vec![0.0, -4.0], vec![2.0, 0.0]]) - 8f64.ln()).abs() < 1e-12);
}

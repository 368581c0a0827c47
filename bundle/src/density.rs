//! The units of a flow's density, one home for the model (candle and its ONNX graph) and the trainer's
//! evaluation: the standard normal prior's normalizer, and nats per item to bits per dimension (the forward
//! graph's `bits_per_dim` output, docs/bundle.md).

/// `−½·L·ln 2π`, the log of the standard normal's normalizer in `dims` = L dimensions:
/// `log N(z; 0, I) = −½‖z‖² + standard_normal_log_norm(L)`.
pub fn standard_normal_log_norm(dims: usize) -> f64 {
    -0.5 * dims as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// `1 / (L ln 2)`: bits per dimension per nat of negative log-likelihood, so that
/// bits/dim = `−log p(x) · bits_per_dim_per_nat(L)`.
pub fn bits_per_dim_per_nat(dims: usize) -> f64 {
    1.0 / (dims as f64 * std::f64::consts::LN_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definitions on numbers worked by hand: the 1-D normal's density at 0 is 1/√(2π), and
    /// −log p = 784·ln 2 nats over 784 dimensions is one bit per dimension.
    #[test]
    fn the_units_match_their_definitions() {
        let p0 = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        assert!((standard_normal_log_norm(1) - p0.ln()).abs() < 1e-15);
        assert!((standard_normal_log_norm(784) - 784.0 * p0.ln()).abs() < 1e-10);
        let nats = 784.0 * std::f64::consts::LN_2;
        assert!((nats * bits_per_dim_per_nat(784) - 1.0).abs() < 1e-15);
    }
}

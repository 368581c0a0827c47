//! Test support: weights that make every layer do something, seeded data and tensor comparisons.
//!
//! A fresh model is the identity (zero-initialised output layers) with batch-norm statistics at
//! (0, 1), which hides most bugs; tests perturb it with [`randomize`] first.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::Result;

/// Overwrites every variable with seeded random values of a sensible scale: batch-norm
/// statistics far from (0, 1) (means ±0.5, variances in [0.3, 3]), gains and `s` scales in
/// [0.5, 1.5], flow batch-norm log-gains in ±0.2, the s/t nets' output gains in [0.05, 0.2], other
/// weights uniform in ±0.17 (standard deviation ≈ 0.1). Fitted standardization is left as it is.
pub fn randomize(varmap: &VarMap, seed: u64) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let data = varmap.data().lock().expect("varmap lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort(); // HashMap order is random; sorting makes the seed reproducible.
    for name in names {
        let var = &data[name];
        let n = var.elem_count();
        let values: Vec<f64> = (0..n)
            .map(|_| {
                if name.ends_with("running_var") {
                    rng.random_range(0.3..3.0)
                } else if name.ends_with("running_mean") {
                    rng.random_range(-0.5..0.5)
                } else if name.ends_with("out_conv.weight_g") {
                    // The last layer of a trained s/t net stays small (it starts at zero);
                    // large random ones make f32 round trips ill-conditioned.
                    rng.random_range(0.05..0.2)
                } else if name.ends_with("log_gamma") {
                    rng.random_range(-0.2..0.2)
                } else if name.ends_with("weight_g")
                    || name.ends_with("s_scale")
                    || name.ends_with("gamma")
                {
                    rng.random_range(0.5..1.5)
                } else if name.ends_with("data_mean") || name.ends_with("data_std") {
                    f64::NAN // marker: keep
                } else {
                    let u: f64 = rng.random_range(-1.0..1.0);
                    0.17 * u // uniform with std ≈ 0.1
                }
            })
            .collect();
        if values.first().is_some_and(|v| v.is_nan()) {
            continue;
        }
        let t = Tensor::from_vec(values, var.shape(), var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// `max |a - b|` over all elements.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok((a - b)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?)
}

/// Seeded uniform values in `[lo, hi)` of the given shape, f64.
pub fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Result<Tensor> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

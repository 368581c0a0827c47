//! Seeded weight initialisation.
//!
//! candle's CPU random generator cannot be seeded (`Device::set_seed` fails on CPU), so
//! `RealNvp::init` draws different weights every run. Building the model through a VarBuilder
//! whose backend draws each variable from a generator seeded by `(seed, variable name)` makes
//! two runs with the same seed start from the same weights, and does not depend on the order in
//! which layers create their variables.

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::init::{FanInOut, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use realnvp_models::{FlowConfig, RealNvp};

use crate::Result;

/// A freshly initialised model whose random weights are a function of `seed` only.
/// Same distributions as candle's `Init` hints (constants stay constants).
pub fn seeded_init(config: &FlowConfig, seed: u64, device: &Device) -> Result<(RealNvp, VarMap)> {
    let varmap = VarMap::new();
    let backend = SeededBackend {
        varmap: varmap.clone(),
        seed,
    };
    let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone());
    let model = RealNvp::new(config, vb)?;
    Ok((model, varmap))
}

/// FNV-1a: a stable hash of the variable name (std's hasher may change between releases).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

struct SeededBackend {
    varmap: VarMap,
    seed: u64,
}

impl SeededBackend {
    fn draw(&self, shape: &Shape, name: &str, init: Init) -> Vec<f32> {
        let n = shape.elem_count();
        let mut rng = StdRng::seed_from_u64(self.seed ^ fnv1a(name).rotate_left(17));
        let normal = |rng: &mut StdRng, mean: f64, std: f64| -> Vec<f32> {
            let d = Normal::new(mean, std.max(0.0)).unwrap_or(Normal::new(mean, 0.0).unwrap());
            (0..n).map(|_| d.sample(rng) as f32).collect()
        };
        let uniform = |rng: &mut StdRng, lo: f64, up: f64| -> Vec<f32> {
            (0..n)
                .map(|_| (lo + (up - lo) * rng.random::<f64>()) as f32)
                .collect()
        };
        match init {
            Init::Const(c) => vec![c as f32; n],
            Init::Randn { mean, stdev } => normal(&mut rng, mean, stdev),
            Init::Uniform { lo, up } => uniform(&mut rng, lo, up),
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let fan = match fan {
                    FanInOut::FanIn | FanInOut::FanOut => fan.for_shape(shape),
                };
                let std = non_linearity.gain() / (fan.max(1) as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => normal(&mut rng, 0.0, std),
                    NormalOrUniform::Uniform => {
                        let b = 3f64.sqrt() * std;
                        uniform(&mut rng, -b, b)
                    }
                }
            }
        }
    }
}

impl SimpleBackend for SeededBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut data = self.varmap.data().lock().expect("varmap lock");
        if let Some(var) = data.get(name) {
            if var.shape() != &s {
                candle_core::bail!(
                    "variable {name}: shape {:?} requested, {:?} exists",
                    s,
                    var.shape()
                );
            }
            return Ok(var.as_tensor().clone());
        }
        let values = self.draw(&s, name, h);
        let var = Var::from_tensor(&Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?)?;
        let t = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(t)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let data = self.varmap.data().lock().expect("varmap lock");
        match data.get(name) {
            Some(v) => Ok(v.as_tensor().clone()),
            None => candle_core::bail!("variable {name} does not exist"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap
            .data()
            .lock()
            .expect("varmap lock")
            .contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(varmap: &VarMap) -> Vec<(String, Vec<f32>)> {
        let data = varmap.data().lock().expect("lock");
        let mut v: Vec<_> = data
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn same_seed_same_weights() -> Result<()> {
        let config = FlowConfig::preset("tiny")?;
        let (_, a) = seeded_init(&config, 3, &Device::Cpu)?;
        let (_, b) = seeded_init(&config, 3, &Device::Cpu)?;
        let (_, c) = seeded_init(&config, 4, &Device::Cpu)?;
        let (wa, wb, wc) = (weights(&a), weights(&b), weights(&c));
        assert_eq!(wa, wb);
        assert_ne!(wa, wc);
        // Same variables as candle's own init, and the random ones are not constant.
        let (_, plain) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
        let names: Vec<_> = weights(&plain).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, wa.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
        let v = wa
            .iter()
            .find(|(k, _)| k.ends_with("weight_v"))
            .expect("conv");
        assert!(v.1.iter().any(|&x| x != v.1[0]));
        Ok(())
    }
}

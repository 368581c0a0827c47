//! An exponential moving average of the trainable weights (Polyak averaging): the weights that
//! evaluation, sampling and export use when a run asks for one (`--ema-decay`).
//!
//! After update `t` (counted from 1) the average is `a ← d·a + (1-d)·p` with
//! `d = min(decay, (1+t)/(10+t))`, so the first updates do not keep the random initial weights
//! alive for thousands of steps. Batch-norm running statistics are not averaged: they already are
//! moving averages, of the live weights' activations.

use std::collections::HashMap;

use candle_core::{Tensor, Var};

use crate::flags;
use crate::{Result, TrainError};

/// Prefix of the averaged weights in a checkpoint: `ema.NAME`.
pub const PREFIX: &str = "ema.";

/// Accepts a weight-average decay in `[0, 1)` (0.999 is typical): the one check of `--ema-decay`, made
/// when the options are validated and again by [`Ema::new`].
pub fn check_decay(decay: f64) -> Result<()> {
    if (0.0..1.0).contains(&decay) {
        return Ok(());
    }
    Err(TrainError::Invalid(format!(
        "{} must be in [0, 1), e.g. 0.999 (got {decay})",
        flags::EMA_DECAY
    )))
}

/// The averages of a fixed, named list of variables (the optimizer's, in its order).
pub struct Ema {
    decay: f64,
    average: Vec<Tensor>,
}

impl Ema {
    /// Averages starting at the current values of `params`.
    pub fn new(decay: f64, params: &[(String, Var)]) -> Result<Self> {
        check_decay(decay)?;
        let average = params
            .iter()
            .map(|(_, p)| p.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?;
        Ok(Self { decay, average })
    }

    /// Folds the current values of `params` in, after optimizer update `t` (from 1).
    pub fn update(&mut self, params: &[(String, Var)], t: u64) -> Result<()> {
        let d = self.decay.min((1.0 + t as f64) / (10.0 + t as f64));
        for (a, (_, p)) in self.average.iter_mut().zip(params) {
            *a = ((&*a * d)? + (p.as_tensor() * (1.0 - d))?)?.detach();
        }
        Ok(())
    }

    /// Exchanges the values of `params` and the averages: call it twice to get back.
    pub fn swap(&mut self, params: &[(String, Var)]) -> Result<()> {
        for (a, (_, p)) in self.average.iter_mut().zip(params) {
            let live = p.as_tensor().copy()?;
            p.set(a)?;
            *a = live;
        }
        Ok(())
    }

    /// The averages as named tensors, `ema.NAME`.
    pub fn state_tensors(&self, params: &[(String, Var)]) -> Vec<(String, Tensor)> {
        params
            .iter()
            .zip(&self.average)
            .map(|((name, _), a)| (format!("{PREFIX}{name}"), a.clone()))
            .collect()
    }

    /// Restores what [`Ema::state_tensors`] gave; every variable's average must be present
    /// with the variable's shape.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        params: &[(String, Var)],
    ) -> Result<()> {
        for (slot, (name, p)) in self.average.iter_mut().zip(params) {
            *slot = averaged(tensors, name, p)?;
        }
        Ok(())
    }
}

/// The average of variable `name` stored in checkpoint `tensors`, checked against `var`.
pub fn averaged(tensors: &HashMap<String, Tensor>, name: &str, var: &Var) -> Result<Tensor> {
    let key = format!("{PREFIX}{name}");
    let t = tensors.get(&key).ok_or_else(|| {
        TrainError::Invalid(format!(
            "checkpoint lacks `{key}` although its run averages the weights (--ema-decay)"
        ))
    })?;
    if t.dims() != var.dims() {
        return Err(TrainError::Invalid(format!(
            "checkpoint tensor `{key}` has shape {:?}, the variable {:?}",
            t.dims(),
            var.dims()
        )));
    }
    Ok(t.to_device(var.device())?.to_dtype(var.dtype())?)
}

//! Accumulating log-determinants while emitting a graph.

use super::{Graph, Value};

/// A per-example log-determinant under construction: a `[N]` tensor (when some layer's log-det
/// depends on its input) plus a constant (frozen batch norm, scaling, …) folded in at the end,
/// so constant log-dets cost no nodes per layer.
#[derive(Clone, Debug, Default)]
pub struct LogDet {
    per_example: Option<Value>,
    constant: f64,
}

impl LogDet {
    /// Zero.
    pub fn zero() -> Self {
        Self::default()
    }

    /// A log-det that is the same for every example.
    pub fn constant(c: f64) -> Self {
        Self {
            per_example: None,
            constant: c,
        }
    }

    /// A log-det given per example, shape `[N]`.
    pub fn per_example(v: Value) -> Self {
        Self {
            per_example: Some(v),
            constant: 0.0,
        }
    }

    /// The sum of two log-dets.
    pub fn plus(self, g: &mut Graph, other: LogDet) -> Self {
        let per_example = match (self.per_example, other.per_example) {
            (Some(a), Some(b)) => Some(g.add(&a, &b)),
            (a, b) => a.or(b),
        };
        Self {
            per_example,
            constant: self.constant + other.constant,
        }
    }

    /// Materializes the `[N]` tensor. `batch_ref` is any value whose first dimension is `N` and
    /// whose rank is `rank`; it is only used when no layer produced a per-example term.
    pub fn into_value(self, g: &mut Graph, batch_ref: &Value, rank: usize) -> Value {
        let base = match self.per_example {
            Some(v) => v,
            None => {
                let zeros = g.mul_scalar(batch_ref, 0.0);
                g.sum_per_example(&zeros, rank)
            }
        };
        if self.constant == 0.0 {
            base
        } else {
            g.add_scalar(&base, self.constant as f32)
        }
    }
}

//! Each kernel against the candle composition it replaces (values and gradients, f64 references).

mod channel_ops;
mod fast_conv;
mod res_block;
mod winograd;

/// Seeded values in `[-1, 1)` (a xorshift: no need for statistical quality), for the kernels'
/// own unit tests next to their code.
pub(super) fn xorshift_values(len: usize, mut seed: u64) -> Vec<f32> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

//! Each kernel against the candle composition it replaces (values and gradients, f64 references).

mod channel_ops;
mod fast_conv;
mod res_block;
mod winograd;

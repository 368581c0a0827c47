//! The project's own CPU kernels for training, as candle custom ops: convolutions (Winograd's
//! F(2×2, 3×3) for the wide 3×3 ones, gemms over column-shifted copies for the others), the
//! training-mode batch norm (+ReLU) with its closed-form gradient, per-channel affine maps and
//! moments, and the whole training-mode residual block in one op.
//!
//! Private to the crate: the networks in [`crate::nets`] and the flow layers call them; on other devices
//! and dtypes each falls back to the composition of candle ops it replaces (docs/benchmarks.md).

mod batch_norm_train;
mod channel_ops;
mod fast_conv;
mod res_block_train;
mod transpose;
mod winograd;

pub(crate) use batch_norm_train::batch_norm_train;
pub(crate) use channel_ops::{channel_affine, channel_affine_relu, channel_moments};
pub(crate) use fast_conv::fast_conv2d_bias;
pub use fast_conv::{
    CONV_ALGORITHM_VAR, ConvAlgorithm, UnknownConvAlgorithm, conv_algorithm,
    conv_algorithm_from_env, set_conv_algorithm,
};
pub(crate) use res_block_train::{ResBlockParams, res_block_train};

#[cfg(test)]
mod tests;

//! The project's own CPU kernels for training, as candle custom ops: convolutions (Winograd's
//! F(2×2, 3×3) for the wide 3×3 ones, gemms over column-shifted copies for the others), the
//! training-mode batch norm (+ReLU) with its closed-form gradient, per-channel affine maps and
//! moments, and the whole training-mode residual block in one op.
//!
//! Private to the crate: the networks in [`crate::nets`] and the flow layers call them; on other devices
//! and dtypes each falls back to the composition of candle ops it replaces (docs/benchmarks.md).
//!
//! The modules, each using only those after its arrow (every arrow points down the list, so
//! there is no circle):
//! - `res_block_train` (the fused residual block) → `fast_conv`, `conv`, `geometry`,
//!   `batch_norm_train`, `channel_ops`
//! - `fast_conv` (the convolution as candle ops) → `conv`, `geometry`, `channel_ops`
//! - `conv` (picks Winograd or direct per convolution) → `conv_algorithm`, `winograd`,
//!   `direct_conv`, `geometry`, `channel_ops`
//! - `winograd` (the passes over the batch) → `winograd/tiling`, `winograd/portable`,
//!   `winograd/avx512`, `geometry`, `matmul`, `scratch`, `transpose`, `channel_ops` (the
//!   per-plane moments and sums it takes while an image is in cache);
//!   `winograd/portable` and `winograd/avx512` (the tile transforms) → `winograd/tiling`
//! - `direct_conv` (gemms over shifted copies) → `geometry`, `matmul`, `scratch`, `transpose`
//! - `batch_norm_train` → `relu_grad`, `channel_ops`
//! - `relu_grad` (the backward's passes through the ReLU, portable and AVX-512) → `channel_ops`
//! - `transpose` (plain, or each element mapped by a batch norm + ReLU on the way) →
//!   `channel_ops` (`RowAffineRelu`, the map, and `scale_shift`, its rounding rule)
//! - leaves: `conv_algorithm` (the process-wide switch and its environment variable),
//!   `geometry` (one convolution's sizes), `matmul` (the `gemm` call), `scratch` (per-thread
//!   buffers), `channel_ops`

mod batch_norm_train;
mod channel_ops;
mod conv;
mod conv_algorithm;
mod direct_conv;
mod fast_conv;
mod geometry;
mod matmul;
mod relu_grad;
mod res_block_train;
mod scratch;
mod transpose;
mod winograd;

pub(crate) use batch_norm_train::batch_norm_train;
pub(crate) use channel_ops::{channel_affine, channel_affine_relu, channel_moments};
pub use conv_algorithm::{
    CONV_ALGORITHM_VAR, ConvAlgorithm, UnknownConvAlgorithm, conv_algorithm,
    conv_algorithm_from_env, set_conv_algorithm,
};
pub(crate) use fast_conv::fast_conv2d_bias;
pub(crate) use res_block_train::{ResBlockParams, res_block_train};
pub use winograd::winograd_passes;

#[cfg(test)]
mod tests;

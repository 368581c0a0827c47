//! The convolutions on f32 slices that the candle ops (`fast_conv`) and the fused
//! residual block run: each sends a wide same-size 3×3 convolution to Winograd's algorithm
//! (unless the process chose [`ConvAlgorithm::Direct`]) and every other one to the direct
//! convolution.

use candle_core::Result;
use rayon::prelude::*;

use std::borrow::Cow;

use super::channel_ops::{RowAffineRelu, affine_planes, moments, sums};
use super::conv_algorithm::{ConvAlgorithm, conv_algorithm};
use super::direct_conv::{conv_backward_weight_direct, conv_forward_direct};
use super::geometry::{Geom, flip_kernel};
use super::winograd::{self, Winograd};

/// Channels in and out from which same-size 3×3 convolutions run Winograd's algorithm.
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// The Winograd form of `g` if it is a same-size 3×3 convolution with at least
/// [`WINOGRAD_MIN_CHANNELS`] channels in and out, unless [`ConvAlgorithm::Direct`] is set.
///
/// Fewer channels leave the transforms' 16-lane vectors part empty and gemm's inner dimension
/// tiny, so the nets' input and output convolutions (1–8 channels on one side) were slower in
/// Winograd form than direct (docs/benchmarks.md).
pub(super) fn winograd_form(g: &Geom) -> Option<Winograd> {
    let same_3x3 = (g.kh, g.kw, g.ph, g.pw) == (3, 3, 1, 1);
    let wide = g.c >= WINOGRAD_MIN_CHANNELS && g.o >= WINOGRAD_MIN_CHANNELS;
    (same_3x3 && wide && conv_algorithm() == ConvAlgorithm::Winograd)
        .then(|| Winograd::new(g.n, g.c, g.h, g.w, g.o))
}

/// The correlation `[n, c, h, w] ⋆ w [o, c, kh, kw] -> [n, o, oh, ow]`, plus `bias[o]` on
/// every pixel of channel `o` when given: in Winograd form where [`winograd_form`] allows,
/// otherwise [`conv_forward_direct`].
pub(super) fn conv_forward(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    match winograd_form(g) {
        Some(p) => winograd::forward(&p, x, None, w, bias, None, false).0,
        None => conv_forward_direct(g, x, w, bias),
    }
}

/// [`conv_forward`] of `relu(x·a + b)` (per input channel, `map`) when `map` is given, of `x`
/// otherwise, and the output's per-channel `[mean; var]` (`2o` values, as [`moments`] gives
/// them): in Winograd form the map is applied as each image is made pixel-major and the moments
/// are taken from each output image while it is still in cache, instead of in passes of their
/// own.
pub(super) fn conv_forward_moments(
    g: &Geom,
    x: &[f32],
    map: Option<RowAffineRelu>,
    w: &[f32],
    bias: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>) {
    let (y, m) = match winograd_form(g) {
        Some(p) => winograd::forward(&p, x, map, w, bias, None, true),
        None => (conv_forward_direct(g, &mapped(g, x, map), w, bias), None),
    };
    let m = m.unwrap_or_else(|| moments(&y, g.n, g.o, g.oh * g.ow));
    (y, m)
}

/// `residual + conv_forward(g, x, w, bias)`, `x` mapped by `map` as in
/// [`conv_forward_moments`]: a residual block's second convolution and skip.
pub(super) fn conv_forward_residual(
    g: &Geom,
    x: &[f32],
    map: Option<RowAffineRelu>,
    w: &[f32],
    bias: Option<&[f32]>,
    residual: &[f32],
) -> Vec<f32> {
    match winograd_form(g) {
        Some(p) => winograd::forward(&p, x, map, w, bias, Some(residual), false).0,
        None => {
            let mut y = conv_forward_direct(g, &mapped(g, x, map), w, bias);
            add_assign(&mut y, residual);
            y
        }
    }
}

/// `x`, or `relu(x·a + b)` per channel when `map` is given, as one buffer (the direct
/// convolution reads its input in place, so the map cannot ride on a copy it makes anyway).
fn mapped<'a>(g: &Geom, x: &'a [f32], map: Option<RowAffineRelu>) -> Cow<'a, [f32]> {
    match map {
        Some(m) => Cow::Owned(affine_planes(x, g.c, g.h * g.w, m.a, m.b, true)),
        None => Cow::Borrowed(x),
    }
}

/// `dst += src` elementwise, in parallel.
fn add_assign(dst: &mut [f32], src: &[f32]) {
    const CHUNK: usize = 1 << 15;
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += s));
}

/// The input gradient of the correlation `g`: `dy` `[n, o, oh, ow]` -> `dx` `[n, c, h, w]`.
///
/// `dx[i, y, x] = Σ_{o,a,b} dy[o, y + p - a, x + p - b] · w[o, i, a, b]`: with `a' = kh-1-a`
/// that is a correlation of `dy` with the flipped, transposed kernel, padded `kh-1-p`.
pub(super) fn conv_backward_input(g: &Geom, dy: &[f32], w: &[f32]) -> Result<Vec<f32>> {
    let (o, c, kh, kw) = (g.o, g.c, g.kh, g.kw);
    let wt = flip_kernel(w, o, c, kh, kw);
    let back = Geom::new(
        g.n,
        o,
        g.oh,
        g.ow,
        c,
        kh,
        kw,
        (kh as isize - 1 - g.ph, kw as isize - 1 - g.pw),
    )?;
    Ok(conv_forward(&back, dy, &wt, None))
}

/// All gradients of [`conv_forward`] with a bias at once: `(dx, dW, db)` from `x` (mapped by
/// `map` as in [`conv_forward_moments`]: `dx` is then the gradient with respect to the mapped
/// input), `dy` and the kernel `w`, `db` being `Σ dy` per output channel.
///
/// In Winograd form the input and kernel gradients share the pixel-major copy of `dy` and each
/// chunk of its tiles while they are in cache, and `db` is summed from `dy` as it is copied
/// ([`winograd::backward`]).
pub(super) fn conv_backward(
    g: &Geom,
    x: &[f32],
    map: Option<RowAffineRelu>,
    dy: &[f32],
    w: &[f32],
) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    match winograd_form(g) {
        Some(p) => Ok(winograd::backward(&p, x, map, dy, w)),
        None => Ok((
            conv_backward_input(g, dy, w)?,
            conv_backward_weight_direct(g, &mapped(g, x, map), dy),
            sums(dy, g.n, g.o, g.oh * g.ow),
        )),
    }
}

/// The kernel gradient of [`conv_forward`]: `x` `[n, c, h, w]`, `dy` `[n, o, oh, ow]` ->
/// `dW [o, c, kh, kw]`, in Winograd form where [`winograd_form`] allows, otherwise
/// [`conv_backward_weight_direct`].
pub(super) fn conv_backward_weight(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    match winograd_form(g) {
        Some(p) => winograd::weight_grad(&p, x, dy),
        None => conv_backward_weight_direct(g, x, dy),
    }
}

//! Winograd's F(2×2, 3×3) against the direct convolution over shifted copies: the forward pass
//! (which is also the input gradient) and the kernel gradient, on odd sizes, partial channel
//! blocks and batches below the thread count.

use rand::{Rng, SeedableRng};

use crate::kernels::channel_ops::{RowAffineRelu, affine_planes, moments, sums};
use crate::kernels::conv::{
    conv_backward, conv_backward_weight, conv_forward, conv_forward_moments, winograd_form,
};
use crate::kernels::direct_conv::{conv_backward_weight_direct, conv_forward_direct};
use crate::kernels::geometry::{Geom, flip_kernel};

/// Seeded values in `[-1, 1)`.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// `max |a - b| / max(1, max |b|)`.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    diff / b.iter().map(|b| b.abs()).fold(1.0, f32::max)
}

/// `(n, c, o, h, w)`.
const SHAPES: &[(usize, usize, usize, usize, usize)] = &[
    (1, 16, 16, 5, 5),
    (3, 16, 20, 9, 13),
    (4, 40, 24, 7, 6),
    (5, 16, 33, 1, 2),
    (64, 32, 32, 14, 14),
    (6, 64, 64, 28, 28),
];

#[test]
fn forward_and_kernel_gradient_match_the_direct_convolution() {
    for (i, &(n, c, o, h, w)) in SHAPES.iter().enumerate() {
        let g = Geom::new(n, c, h, w, o, 3, 3, (1, 1)).expect("valid geometry");
        assert!(
            winograd_form(&g).is_some(),
            "{c}→{o} channels should run Winograd"
        );
        let seed = 10 * i as u64;
        let x = values(n * c * h * w, seed);
        let k = values(o * c * 9, seed + 1);
        let bias = values(o, seed + 2);
        let dy = values(n * o * h * w, seed + 3);
        let (y, y_direct) = (
            conv_forward(&g, &x, &k, Some(&bias)),
            conv_forward_direct(&g, &x, &k, Some(&bias)),
        );
        let (dk, dk_direct) = (
            conv_backward_weight(&g, &x, &dy),
            conv_backward_weight_direct(&g, &x, &dy),
        );
        // Sums of up to 9·64 products of values in [-1, 1): a few float roundings apart.
        let (ey, ek) = (rel_err(&y, &y_direct), rel_err(&dk, &dk_direct));
        println!("{n}×{c}→{o}×{h}×{w}: forward {ey:.1e}, kernel gradient {ek:.1e}");
        assert!(
            ey < 1e-5,
            "{n}×{c}→{o}×{h}×{w}: forward relative error {ey}"
        );
        assert!(
            ek < 1e-5,
            "{n}×{c}→{o}×{h}×{w}: kernel gradient relative error {ek}"
        );
    }
}

/// The input gradient of the one-sweep backward (its own loop, over each thread's share of the
/// batch) against the direct convolution of `dy` with the flipped kernel, and its kernel gradient
/// against the kernel-gradient-only path.
#[test]
fn one_sweep_backward_matches_the_direct_input_gradient() {
    for (i, &(n, c, o, h, w)) in SHAPES.iter().enumerate() {
        let g = Geom::new(n, c, h, w, o, 3, 3, (1, 1)).expect("valid geometry");
        let back = Geom::new(n, o, h, w, c, 3, 3, (1, 1)).expect("valid geometry");
        let seed = 100 + 10 * i as u64;
        let x = values(n * c * h * w, seed);
        let k = values(o * c * 9, seed + 1);
        let dy = values(n * o * h * w, seed + 3);
        let (dx, dk, _) = conv_backward(&g, &x, None, &dy, &k).expect("backward");
        let dx_direct = conv_forward_direct(&back, &dy, &flip_kernel(&k, o, c, 3, 3), None);
        let ex = rel_err(&dx, &dx_direct);
        assert!(
            ex < 1e-5,
            "{n}×{c}→{o}×{h}×{w}: input gradient relative error {ex}"
        );
        assert_eq!(
            dk,
            conv_backward_weight(&g, &x, &dy),
            "{n}×{c}→{o}×{h}×{w}: kernel gradient"
        );
    }
}

/// The output moments taken inside the Winograd forward and the bias gradient summed inside its
/// backward equal the separate passes over the output and over `dy` to the last bit: the same
/// planes summed in the same order, so any plane given to the wrong image or channel shows. And a
/// batch norm's `relu(x·a + b)` applied as the input is made pixel-major gives, to the last bit,
/// what the convolution of the stored activations gives (forward and kernel gradient).
/// Batches below and above the thread count, 14×14 images (several per group) and 28×28 ones.
#[test]
fn folded_moments_bias_gradient_and_input_map_equal_their_own_passes() {
    for (i, &(n, c, o, h, w)) in SHAPES.iter().enumerate() {
        let g = Geom::new(n, c, h, w, o, 3, 3, (1, 1)).expect("valid geometry");
        let shape = format!("{n}×{c}→{o}×{h}×{w}");
        let seed = 200 + 10 * i as u64;
        let x = values(n * c * h * w, seed);
        let k = values(o * c * 9, seed + 1);
        // An offset mean, so a mistake in the shift or the combination shows in the variance.
        let bias: Vec<f32> = values(o, seed + 2).iter().map(|b| 3.0 + b).collect();
        let dy = values(n * o * h * w, seed + 3);
        let (y, m) = conv_forward_moments(&g, &x, None, &k, Some(&bias));
        assert_eq!(y, conv_forward(&g, &x, &k, Some(&bias)), "{shape}: output");
        assert_eq!(m, moments(&y, n, o, h * w), "{shape}: moments");
        let (_, _, db) = conv_backward(&g, &x, None, &dy, &k).expect("backward");
        assert_eq!(db, sums(&dy, n, o, h * w), "{shape}: bias gradient");

        // Scales of both signs and shifts that zero about a third of the inputs.
        let a = values(c, seed + 4);
        let b: Vec<f32> = values(c, seed + 5).iter().map(|b| b * 0.5).collect();
        let stored = affine_planes(&x, c, h * w, &a, &b, true);
        let map = Some(RowAffineRelu { a: &a, b: &b });
        let (y_map, m_map) = conv_forward_moments(&g, &x, map, &k, Some(&bias));
        assert_eq!(
            y_map,
            conv_forward(&g, &stored, &k, Some(&bias)),
            "{shape}: mapped output"
        );
        assert_eq!(
            m_map,
            moments(&y_map, n, o, h * w),
            "{shape}: mapped moments"
        );
        let (dx_map, dk_map, _) = conv_backward(&g, &x, map, &dy, &k).expect("backward");
        let (dx, dk, _) = conv_backward(&g, &stored, None, &dy, &k).expect("backward");
        assert_eq!(dk_map, dk, "{shape}: mapped kernel gradient");
        assert_eq!(
            dx_map, dx,
            "{shape}: the input gradient does not depend on the input"
        );
    }
}

#[test]
fn narrow_or_other_kernels_stay_direct() {
    let narrow = Geom::new(2, 8, 7, 7, 32, 3, 3, (1, 1)).expect("valid geometry");
    let valid = Geom::new(2, 32, 7, 7, 32, 3, 3, (0, 0)).expect("valid geometry");
    let five = Geom::new(2, 32, 7, 7, 32, 5, 5, (2, 2)).expect("valid geometry");
    for g in [narrow, valid, five] {
        assert!(
            winograd_form(&g).is_none(),
            "{g:?} should run the direct convolution"
        );
    }
}

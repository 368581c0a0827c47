//! The s/t ResNet's pre-activation residual block in training mode as one candle op:
//! `y = x + conv₂(relu(bn₂(conv₁(relu(bn₁(x))))))`, batch norms on batch statistics.
//!
//! Built from separate ops, candle's backward pass keeps every intermediate alive and, for each
//! op input, accumulates the gradient into a zero-filled buffer with an add: a dozen extra passes
//! over `[N, C, H, W]` activations per block (docs/benchmarks.md). Here the whole
//! block is one graph node over `x` and its parameters packed into one vector: the forward keeps
//! what the backward needs besides `x` (`conv₁`'s output and the batch statistics; each norm and
//! ReLU is applied inside its convolution's pixel-major copy, never stored, and mapped again in
//! the backward), and the backward runs the convolution and batch-norm gradients of the other
//! modules' slice functions back to back.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail};

use super::batch_norm_train::batch_norm_train;
use super::batch_norm_train::{affine_coefficient_vectors, backward as batch_norm_backward};
use super::channel_ops::{RowAffineRelu, f32_slice, is_fast, moments};
use super::conv::{conv_backward, conv_forward_moments, conv_forward_residual};
use super::fast_conv::fast_conv2d_bias;
use super::geometry::Geom;

/// One block's parameters: batch-norm affines `gamma*`, `beta*` `[C]`, kernels `w*`
/// `[C, C, K, K]` (odd `K`, same padding) and biases `b*` `[C]`.
pub struct ResBlockParams<'a> {
    /// First norm's scale.
    pub gamma1: &'a Tensor,
    /// First norm's shift.
    pub beta1: &'a Tensor,
    /// First kernel.
    pub w1: &'a Tensor,
    /// First bias.
    pub b1: &'a Tensor,
    /// Second norm's scale.
    pub gamma2: &'a Tensor,
    /// Second norm's shift.
    pub beta2: &'a Tensor,
    /// Second kernel.
    pub w2: &'a Tensor,
    /// Second bias.
    pub b2: &'a Tensor,
}

/// `x + conv₂(relu(bn₂(conv₁(relu(bn₁(x))))))` with both norms in training mode (batch mean and
/// biased variance, plus `eps.0` and `eps.1` respectively): `x` `[N, C, H, W]` ->
/// `(y [N, C, H, W], stats [4, C])`, the statistics `[mean₁; var₁; mean₂; var₂]` detached (for
/// running averages).
///
/// Differentiable in `x` and every parameter. CPU f32 runs the fused op; anything else the
/// same composition of [`batch_norm_train`] and [`fast_conv2d_bias`].
pub fn res_block_train(
    x: &Tensor,
    p: &ResBlockParams,
    eps: (f64, f64),
) -> Result<(Tensor, Tensor)> {
    let (_, c, _, _) = x.dims4()?;
    let k = p.w1.dim(2)?;
    for (name, t, dims) in [
        ("gamma1", p.gamma1, vec![c]),
        ("beta1", p.beta1, vec![c]),
        ("w1", p.w1, vec![c, c, k, k]),
        ("b1", p.b1, vec![c]),
        ("gamma2", p.gamma2, vec![c]),
        ("beta2", p.beta2, vec![c]),
        ("w2", p.w2, vec![c, c, k, k]),
        ("b2", p.b2, vec![c]),
    ] {
        if t.dims() != dims {
            bail!(
                "res_block_train: {name} must be {dims:?}, got {:?}",
                t.dims()
            );
        }
    }
    if k % 2 == 0 {
        bail!("res_block_train: the kernel must have an odd size for same padding, got {k}");
    }
    let all = [
        x, p.gamma1, p.beta1, p.w1, p.b1, p.gamma2, p.beta2, p.w2, p.b2,
    ];
    if !all.iter().all(|t| is_fast(t)) {
        let (h, mean1, var1) = batch_norm_train(x, p.gamma1, p.beta1, eps.0, true)?;
        let h = fast_conv2d_bias(&h, p.w1, p.b1, k / 2)?;
        let (h, mean2, var2) = batch_norm_train(&h, p.gamma2, p.beta2, eps.1, true)?;
        let h = fast_conv2d_bias(&h, p.w2, p.b2, k / 2)?;
        return Ok(((x + h)?, Tensor::stack(&[mean1, var1, mean2, var2], 0)?));
    }
    let packed = Tensor::cat(
        &[
            p.gamma1,
            p.beta1,
            &p.w1.flatten_all()?,
            p.b1,
            p.gamma2,
            p.beta2,
            &p.w2.flatten_all()?,
            p.b2,
        ],
        0,
    )?;
    let saved = Arc::new(Mutex::new(None));
    let op = ResBlockTrain {
        k,
        eps,
        saved: saved.clone(),
    };
    let y = x.contiguous()?.apply_op2(&packed, op)?;
    let stats = match saved.lock() {
        Ok(s) => s.as_ref().map(|s: &Saved| s.stats.clone()),
        Err(_) => None,
    };
    let Some(stats) = stats else {
        bail!("res_block_train: the forward pass kept no statistics");
    };
    Ok((y, Tensor::from_vec(stats, (4, c), x.device())?))
}

/// What the forward keeps for the backward besides the block's input: `conv₁`'s output and the
/// batch statistics (the convolutions' inputs `relu(bn(·))` are recomputed from these).
struct Saved {
    c1: Vec<f32>,
    /// `[mean₁; var₁; mean₂; var₂]`, `4C`.
    stats: Vec<f32>,
}

/// `(x, packed parameters) -> y`.
struct ResBlockTrain {
    k: usize,
    /// The two norms' `eps`.
    eps: (f64, f64),
    saved: Arc<Mutex<Option<Saved>>>,
}

/// `(x, packed parameters, dy) -> [dx (flattened); d(packed parameters)]`, without backward.
struct ResBlockTrainBackward<'a> {
    k: usize,
    eps: (f64, f64),
    saved: &'a Saved,
}

/// The packed parameter vector split into its parts, in packing order.
struct Parts<'a> {
    gamma1: &'a [f32],
    beta1: &'a [f32],
    w1: &'a [f32],
    b1: &'a [f32],
    gamma2: &'a [f32],
    beta2: &'a [f32],
    w2: &'a [f32],
    b2: &'a [f32],
}

impl<'a> Parts<'a> {
    fn split(p: &'a [f32], c: usize, k: usize) -> Result<Self> {
        let kernel = c * c * k * k;
        if p.len() != 6 * c + 2 * kernel {
            bail!(
                "res-block-train: {} parameters, expected {} for {c} channels and {k}×{k} kernels",
                p.len(),
                6 * c + 2 * kernel
            );
        }
        let (gamma1, rest) = p.split_at(c);
        let (beta1, rest) = rest.split_at(c);
        let (w1, rest) = rest.split_at(kernel);
        let (b1, rest) = rest.split_at(c);
        let (gamma2, rest) = rest.split_at(c);
        let (beta2, rest) = rest.split_at(c);
        let (w2, b2) = rest.split_at(kernel);
        Ok(Self {
            gamma1,
            beta1,
            w1,
            b1,
            gamma2,
            beta2,
            w2,
            b2,
        })
    }
}

/// The block's geometry from `x`'s layout: `(n, c, s)` planes and the same-size convolution.
fn geometry(l: &Layout, k: usize) -> Result<((usize, usize, usize), Geom)> {
    let (n, c, h, w) = l.shape().dims4()?;
    let p = (k / 2) as isize;
    Ok(((n, c, h * w), Geom::new(n, c, h, w, c, k, k, (p, p))?))
}

impl CustomOp2 for ResBlockTrain {
    fn name(&self) -> &'static str {
        "res-block-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, packed) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let ((n, c, s), g) = geometry(l1, self.k)?;
        let p = Parts::split(packed, c, self.k)?;
        // Each norm and ReLU is applied as its convolution makes the pixel-major copy of its input
        // (`RowAffineRelu`), so `relu(bn(·))` is never stored: the backward maps again.
        let stats1 = moments(x, n, c, s);
        let (a1, b1) =
            affine_coefficient_vectors((p.gamma1, p.beta1), stats1.split_at(c), self.eps.0);
        let map1 = RowAffineRelu { a: &a1, b: &b1 };
        let (c1, stats2) = conv_forward_moments(&g, x, Some(map1), p.w1, Some(p.b1));
        let (a2, b2) =
            affine_coefficient_vectors((p.gamma2, p.beta2), stats2.split_at(c), self.eps.1);
        let map2 = RowAffineRelu { a: &a2, b: &b2 };
        let y = conv_forward_residual(&g, &c1, Some(map2), p.w2, Some(p.b2), x);
        let stats = [stats1, stats2].concat();
        match self.saved.lock() {
            Ok(mut saved) => *saved = Some(Saved { c1, stats }),
            Err(_) => bail!("res-block-train: saved state poisoned by an earlier panic"),
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        packed: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        if !x.track_op() && !packed.track_op() {
            return Ok((None, None));
        }
        let saved = match self.saved.lock() {
            Ok(saved) => saved,
            Err(_) => bail!("res-block-train: saved state poisoned by an earlier panic"),
        };
        let Some(saved) = saved.as_ref() else {
            bail!("res-block-train: backward before forward");
        };
        let backward = ResBlockTrainBackward {
            k: self.k,
            eps: self.eps,
            saved,
        };
        let flat = x.apply_op3_no_bwd(packed, &dy.contiguous()?, &backward)?;
        let len = x.elem_count();
        let dx = flat.narrow(0, 0, len)?.reshape(x.shape())?;
        let dp = flat.narrow(0, len, packed.elem_count())?;
        Ok((x.track_op().then_some(dx), packed.track_op().then_some(dp)))
    }
}

impl CustomOp3 for ResBlockTrainBackward<'_> {
    fn name(&self) -> &'static str {
        "res-block-train-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, packed, dy) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let ((n, c, s), g) = geometry(l1, self.k)?;
        let p = Parts::split(packed, c, self.k)?;
        let Saved { c1, stats } = self.saved;
        if l3.shape() != l1.shape() || c1.len() != x.len() || stats.len() != 4 * c {
            bail!("res-block-train backward: gradient or saved state does not match the input");
        }
        let (mean1, var1) = (&stats[..c], &stats[c..2 * c]);
        let (mean2, var2) = (&stats[2 * c..3 * c], &stats[3 * c..]);
        let (a1, b1) = affine_coefficient_vectors((p.gamma1, p.beta1), (mean1, var1), self.eps.0);
        let (a2, b2) = affine_coefficient_vectors((p.gamma2, p.beta2), (mean2, var2), self.eps.1);
        let shape = (n, c, s);

        // Second half: conv₂ (its input relu(bn₂(c₁)) mapped again), then relu(bn₂).
        let map2 = RowAffineRelu { a: &a2, b: &b2 };
        let (dh2, dw2, db2) = conv_backward(&g, c1, Some(map2), dy, p.w2)?;
        let bn2 = batch_norm_backward(
            c1,
            &dh2,
            None,
            shape,
            p.gamma2,
            (mean2, var2),
            self.eps.1,
            Some(map2),
        );
        drop(dh2);
        let (dc1, d_gamma_beta2) = bn2.split_at(x.len());

        // First half: conv₁, then relu(bn₁).
        let map1 = RowAffineRelu { a: &a1, b: &b1 };
        let (dh1, dw1, db1) = conv_backward(&g, x, Some(map1), dc1, p.w1)?;
        // dx = the block's + dy (the identity path); then the parameters in packing order.
        let mut out = batch_norm_backward(
            x,
            &dh1,
            Some(dy),
            shape,
            p.gamma1,
            (mean1, var1),
            self.eps.0,
            Some(map1),
        );
        drop(dh1);
        out.reserve(packed.len() - 2 * c);
        out.extend_from_slice(&dw1);
        out.extend_from_slice(&db1);
        out.extend_from_slice(d_gamma_beta2);
        out.extend_from_slice(&dw2);
        out.extend_from_slice(&db2);
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

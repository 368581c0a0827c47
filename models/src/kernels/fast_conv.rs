//! A fast CPU 2-D convolution (stride 1, dilation 1, one group): im2col plus the `gemm` crate,
//! as a candle custom op whose gradients are custom ops of the same kind.
//!
//! candle 0.11.1's CPU convolutions run far below the machine's matmul peak, its input gradient
//! (`conv_transpose2d`) worst of all. Here all three passes are gemms over im2col-like copies of
//! each image: the forward `y = Σₐ W_a · shifted(x)ₐ` (one gemm per kernel row over the `kw`
//! column-shifted copies), the input gradient as the same convolution of `dy` with the flipped,
//! transposed kernel, and the weight gradient `dW = Σₙ dyₙ · im2col(xₙ)ᵀ` with a pixel-major
//! im2col. Every operand is laid out so that gemm reads it in place. Images are
//! spread over rayon's threads, each gemm single-threaded, unless the batch is smaller than the
//! thread count, in which case gemm itself goes parallel.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};
use std::sync::atomic::{AtomicBool, Ordering};

use gemm::Parallelism;
use rayon::prelude::*;

use super::channel_ops::{channel_sums, f32_slice};
use super::transpose::transpose_images;
use super::winograd::{self, Winograd};

/// `conv2d(x, w)` with stride 1, dilation 1, one group and `padding` zeros on every side:
/// `x` `[N, I, H, W]`, `w` `[O, I, KH, KW]` -> `[N, O, H + 2p - KH + 1, W + 2p - KW + 1]`
/// (with `KH = KW = 2p + 1`, a same-size convolution).
///
/// On CPU in f32 this is the im2col + gemm custom op, whose backward pass computes exact
/// gradients with the same machinery; any other device or dtype falls back to candle's own
/// `x.conv2d(w, padding, 1, 1, 1)`, so f64 tests and GPU builds keep working. The custom op
/// returns no gradient for an argument that tracks nothing (neither a variable nor computed
/// from one), which skips the useless input gradient of a network's first layer.
#[cfg(test)]
pub fn fast_conv2d(x: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    conv(x, w, None, padding)
}

/// [`fast_conv2d`] plus a per-output-channel `bias` `[O]`, in the same op: the output starts
/// as the bias and the gemm accumulates onto it, and the backward pass sums `dy` per channel
/// for the bias gradient, which saves a pass over the output each way (and a node of candle's
/// backward graph) compared with a separate add.
pub fn fast_conv2d_bias(x: &Tensor, w: &Tensor, bias: &Tensor, padding: usize) -> Result<Tensor> {
    conv(x, w, Some(bias), padding)
}

fn conv(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, padding: usize) -> Result<Tensor> {
    let o = w.dim(0)?;
    if let Some(b) = bias
        && b.dims() != [o]
    {
        bail!("fast-conv2d: bias must be [{o}], got {:?}", b.dims());
    }
    let fast = x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && bias.is_none_or(|b| b.dtype() == DType::F32)
        && x.elem_count() > 0
        && w.elem_count() > 0;
    if fast {
        let op = FastConv2d {
            padding,
            bias: bias.is_some(),
        };
        // Without a bias, a zero stand-in that tracks nothing (so gets no gradient).
        let b = match bias {
            Some(b) => b.contiguous()?,
            None => Tensor::zeros(o, DType::F32, x.device())?,
        };
        x.contiguous()?.apply_op3(&w.contiguous()?, &b, op)
    } else {
        let y = x.conv2d(w, padding, 1, 1, 1)?;
        match bias {
            Some(b) => y.broadcast_add(&b.reshape((1, o, 1, 1))?),
            None => Ok(y),
        }
    }
}

/// The gradient of [`fast_conv2d`] with respect to its input, CPU f32 only, without backward:
/// `dy` `[N, O, OH, OW]`, `w` `[O, I, KH, KW]` -> `[N, I, OH - 2p + KH - 1, OW - 2p + KW - 1]`.
pub fn fast_conv2d_backward_input(dy: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    dy.contiguous()?
        .apply_op2_no_bwd(&w.contiguous()?, &BackwardInput { padding })
}

/// The gradient of [`fast_conv2d`] with respect to its kernel, CPU f32 only, without backward:
/// `x` `[N, I, H, W]`, `dy` `[N, O, OH, OW]` -> `[O, I, H + 2p - OH + 1, W + 2p - OW + 1]`.
pub fn fast_conv2d_backward_weight(x: &Tensor, dy: &Tensor, padding: usize) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2_no_bwd(&dy.contiguous()?, &BackwardWeight { padding })
}

/// The forward op, `(x, w, bias) -> y`; `bias: false` means the bias argument is a zero
/// stand-in, not added.
struct FastConv2d {
    padding: usize,
    bias: bool,
}

/// `(dy, w) -> dx`.
struct BackwardInput {
    padding: usize,
}

/// `(x, dy) -> dw`.
struct BackwardWeight {
    padding: usize,
}

impl CustomOp3 for FastConv2d {
    fn name(&self) -> &'static str {
        "fast-conv2d"
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
        let (x, w, b) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let (n, c, h, wd) = l1.shape().dims4()?;
        let (o, wc, kh, kw) = l2.shape().dims4()?;
        if wc != c || b.len() != o {
            bail!("fast-conv2d: input has {c} channels, kernel expects {wc}, bias {o} values");
        }
        let p = self.padding as isize;
        let g = Geom::new(n, c, h, wd, o, kh, kw, (p, p))?;
        let y = conv_forward(&g, x, w, self.bias.then_some(b));
        Ok((CpuStorage::F32(y), Shape::from((n, o, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Built from the custom ops below: candle's own conv backward is what we are avoiding.
        let dx = match x.track_op() {
            true => Some(fast_conv2d_backward_input(dy, w, self.padding)?),
            false => None,
        };
        let dw = match w.track_op() {
            true => Some(fast_conv2d_backward_weight(x, dy, self.padding)?),
            false => None,
        };
        let db = match b.track_op() {
            true => Some(channel_sums(&dy.contiguous()?)?),
            false => None,
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for BackwardInput {
    fn name(&self) -> &'static str {
        "fast-conv2d-backward-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (dy, w) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (n, o, oh, ow) = l1.shape().dims4()?;
        let (wo, c, kh, kw) = l2.shape().dims4()?;
        if wo != o {
            bail!("fast-conv2d backward: gradient has {o} channels, kernel {wo} outputs");
        }
        let g = Geom::new(
            n,
            c,
            // The forward's input size.
            (oh + kh - 1).saturating_sub(2 * self.padding),
            (ow + kw - 1).saturating_sub(2 * self.padding),
            o,
            kh,
            kw,
            (self.padding as isize, self.padding as isize),
        )?;
        if (g.oh, g.ow) != (oh, ow) {
            bail!(
                "fast-conv2d backward: gradient {oh}×{ow} too small for padding {}",
                self.padding
            );
        }
        let dx = conv_backward_input(&g, dy, w)?;
        Ok((CpuStorage::F32(dx), Shape::from((n, c, g.h, g.w))))
    }
}

impl CustomOp2 for BackwardWeight {
    fn name(&self) -> &'static str {
        "fast-conv2d-backward-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, dy) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (n, c, h, wd) = l1.shape().dims4()?;
        let (dn, o, oh, ow) = l2.shape().dims4()?;
        let p = self.padding as isize;
        let (kh, kw) = (
            h as isize + 2 * p - oh as isize + 1,
            wd as isize + 2 * p - ow as isize + 1,
        );
        if dn != n || kh < 1 || kw < 1 {
            bail!(
                "fast-conv2d backward: input {n}×{h}×{wd} does not match gradient {dn}×{oh}×{ow}"
            );
        }
        let g = Geom::new(n, c, h, wd, o, kh as usize, kw as usize, (p, p))?;
        let dw = conv_backward_weight(&g, x, dy);
        Ok((CpuStorage::F32(dw), Shape::from((o, c, g.kh, g.kw))))
    }
}

/// One stride-1 correlation: `[n, c, h, w]` with an `[o, c, kh, kw]` kernel, padded by `ph` rows
/// above and below and `pw` columns left and right (negative crops), giving `[n, o, oh, ow]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    ph: isize,
    pw: isize,
    oh: usize,
    ow: usize,
}

impl Geom {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        o: usize,
        kh: usize,
        kw: usize,
        (ph, pw): (isize, isize),
    ) -> Result<Self> {
        let oh = h as isize + 2 * ph - kh as isize + 1;
        let ow = w as isize + 2 * pw - kw as isize + 1;
        if oh < 1 || ow < 1 || c == 0 || kh == 0 || kw == 0 {
            bail!(
                "fast-conv2d: empty output for input {h}×{w}, kernel {kh}×{kw}, padding {ph}×{pw}"
            );
        }
        let (oh, ow) = (oh as usize, ow as usize);
        Ok(Self {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            ph,
            pw,
            oh,
            ow,
        })
    }

    /// Elements of one input image.
    fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Elements of one output image.
    fn out_len(&self) -> usize {
        self.o * self.oh * self.ow
    }

    /// Rows of the im2col matrix, the gemm's inner dimension: `c·kh·kw`.
    fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the im2col matrix: output pixels per image.
    fn pixels(&self) -> usize {
        self.oh * self.ow
    }

    /// The Winograd form of a same-size 3×3 convolution with at least 16 channels in and out,
    /// unless [`ConvAlgorithm::Direct`] is set.
    ///
    /// Fewer channels leave the transforms' 16-lane vectors part empty and gemm's inner
    /// dimension tiny: with the nets' input and output convolutions (1–8 channels on one side)
    /// in Winograd form too, a `fmnist-small` step took 325–332 ms instead of 267–272
    /// (docs/benchmarks.md).
    pub(super) fn winograd(&self) -> Option<Winograd> {
        let same_3x3 = (self.kh, self.kw, self.ph, self.pw) == (3, 3, 1, 1);
        let wide = self.c >= WINOGRAD_MIN_CHANNELS && self.o >= WINOGRAD_MIN_CHANNELS;
        (same_3x3 && wide && conv_algorithm() == ConvAlgorithm::Winograd)
            .then(|| Winograd::new(self.n, self.c, self.h, self.w, self.o))
    }

    /// A 1×1 unpadded kernel's im2col matrix is the image itself.
    fn im2col_is_identity(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.ph == 0 && self.pw == 0
    }
}

/// How the CPU f32 convolutions compute same-size 3×3 kernels (all others run [`Self::Direct`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Winograd's F(2×2, 3×3): 2.25× fewer multiplications, the default.
    Winograd,
    /// Gemms over shifted copies of the image: every product of the convolution's definition.
    Direct,
}

impl std::str::FromStr for ConvAlgorithm {
    type Err = UnknownConvAlgorithm;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "winograd" => Ok(Self::Winograd),
            "direct" => Ok(Self::Direct),
            _ => Err(UnknownConvAlgorithm(s.to_string())),
        }
    }
}

/// A name that is not a [`ConvAlgorithm`].
#[derive(Debug, thiserror::Error)]
#[error("unknown convolution algorithm {0:?}: use \"winograd\" or \"direct\"")]
pub struct UnknownConvAlgorithm(pub String);

/// The environment variable that names the convolution algorithm in the project's binaries.
pub const CONV_ALGORITHM_VAR: &str = "REALNVP_CONV";

/// Sets the algorithm named by the environment variable [`CONV_ALGORITHM_VAR`] (`winograd` or
/// `direct`), if set: how the trainer and the benchmark programs let a user compare the two.
pub fn conv_algorithm_from_env() -> std::result::Result<(), UnknownConvAlgorithm> {
    if let Ok(name) = std::env::var(CONV_ALGORITHM_VAR) {
        set_conv_algorithm(name.parse()?);
    }
    Ok(())
}

static DIRECT: AtomicBool = AtomicBool::new(false);

/// Chooses the algorithm of every later same-size 3×3 convolution in the process (forward, input
/// and kernel gradients): for comparisons and benchmarks; [`ConvAlgorithm::Winograd`] is the
/// default.
pub fn set_conv_algorithm(algorithm: ConvAlgorithm) {
    DIRECT.store(algorithm == ConvAlgorithm::Direct, Ordering::Relaxed);
}

/// The algorithm [`set_conv_algorithm`] chose.
pub fn conv_algorithm() -> ConvAlgorithm {
    match DIRECT.load(Ordering::Relaxed) {
        true => ConvAlgorithm::Direct,
        false => ConvAlgorithm::Winograd,
    }
}

/// Channels in and out from which same-size 3×3 convolutions run Winograd's algorithm.
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// f32 lanes of gemm's widest kernels (AVX-512).
const GEMM_SIMD_F32: usize = 16;

thread_local! {
    /// Each thread's scratch buffers (im2col matrices, Winograd tiles), kept between calls: a
    /// fresh one per call (or per rayon split) is zero-filled on every resize, which cost ≈ 4% of
    /// a training step.
    static SCRATCH: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `K` of this thread's scratch buffers, or with fresh ones if they are in use (a
/// rayon worker waiting inside gemm may pick up another convolution).
pub(super) fn with_scratch<const K: usize, R>(f: impl FnOnce(&mut [Vec<f32>; K]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => {
            if buffers.len() < K {
                buffers.resize_with(K, Vec::new);
            }
            match buffers.first_chunk_mut::<K>() {
                Some(buffers) => f(buffers),
                None => unreachable!("resized to at least K buffers"),
            }
        }
        Err(_) => f(&mut std::array::from_fn(|_| Vec::new())),
    })
}

/// Writes one image `x` `[c, h, w]` as the matrix `[c·kh·kw, oh·ow]` whose row `(ci, a, b)`
/// holds `x[ci, oy + a - ph, ox + b - pw]` (zero outside the image) at column `(oy, ox)`.
fn im2col(g: &Geom, x: &[f32], cols: &mut Vec<f32>) {
    cols.resize(g.rows() * g.pixels(), 0.0);
    let (h, w, oh, ow) = (g.h as isize, g.w as isize, g.oh as isize, g.ow as isize);
    for (row, dst) in cols.chunks_exact_mut(g.pixels()).enumerate() {
        let (ci, a, b) = (
            row / (g.kh * g.kw),
            (row / g.kw % g.kh) as isize,
            (row % g.kw) as isize,
        );
        let plane = &x[ci * g.h * g.w..][..g.h * g.w];
        // Output columns whose source column ox + b - pw lies inside the image.
        let lo = (g.pw - b).clamp(0, ow);
        let hi = (w + g.pw - b).clamp(lo, ow);
        if g.ow == g.w {
            // Same width: the valid rows are one shifted block of the plane, copied at once
            // (rows are short, so a copy per row is mostly call overhead); the columns that
            // wrapped around from the neighbouring row are zeroed after.
            let oy_lo = (g.ph - a).clamp(0, oh);
            let oy_hi = (h + g.ph - a).clamp(oy_lo, oh);
            let shift = (a - g.ph) * w + b - g.pw;
            let j_lo = (oy_lo * w).max(-shift).min(oy_hi * w);
            let j_hi = (oy_hi * w).min(h * w - shift).max(j_lo);
            let (j_lo, j_hi) = (j_lo as usize, j_hi as usize);
            dst[..j_lo].fill(0.0);
            if j_hi > j_lo {
                // Not empty, so j_lo was not clamped below -shift: src >= 0.
                let src = (j_lo as isize + shift) as usize;
                dst[j_lo..j_hi].copy_from_slice(&plane[src..src + j_hi - j_lo]);
            }
            dst[j_hi..].fill(0.0);
            let (lo, hi) = (lo as usize, hi as usize);
            for d in dst.chunks_exact_mut(g.ow) {
                zero_small(&mut d[..lo]);
                zero_small(&mut d[hi..]);
            }
            continue;
        }
        // Both are within 0..=w when the range is not empty.
        let (src_lo, src_hi) = ((lo + b - g.pw) as usize, (hi + b - g.pw) as usize);
        let (lo, hi) = (lo as usize, hi as usize);
        for (oy, d) in dst.chunks_exact_mut(g.ow).enumerate() {
            let iy = oy as isize + a - g.ph;
            if iy < 0 || iy >= h || lo == hi {
                d.fill(0.0);
                continue;
            }
            let src = &plane[iy as usize * g.w..][..g.w];
            d[..lo].fill(0.0);
            d[lo..hi].copy_from_slice(&src[src_lo..src_hi]);
            d[hi..].fill(0.0);
        }
    }
}

/// Zeroes a slice that is usually empty or 1 element long (a padded row's edge): a `fill`
/// would be a `memset` call per row even when empty, which cost more than the copies themselves.
#[inline(always)]
fn zero_small(d: &mut [f32]) {
    match d {
        [] => {}
        [v] => *v = 0.0,
        d => d.fill(0.0),
    }
}

/// The correlation `[n, c, h, w] ⋆ w [o, c, kh, kw] -> [n, o, oh, ow]`, plus `bias[o]` on
/// every pixel of channel `o` when given.
///
/// Per image, not a full im2col (`kh·kw` shifted copies of the image) but only the `kw`
/// column-shifted copies of each channel, over all `oh + kh - 1` rows the kernel reaches: the
/// kernel's row `a` then sees those copies `a` rows further on, a strided view gemm reads in
/// place. So `kh` gemms `y += W_a [o, c·kw] · shifted(x)ₐ [c·kw, oh·ow]` replace one over a
/// matrix `kh` times larger, whose writing cost as much as the gemm for 3×3 kernels.
///
/// Same-size 3×3 kernels run Winograd's algorithm instead ([`Geom::winograd`]).
pub(super) fn conv_forward(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    match g.winograd() {
        Some(p) => winograd::forward(&p, x, w, bias, None),
        None => conv_forward_direct(g, x, w, bias),
    }
}

/// `residual + conv_forward(g, x, w, bias)`: a residual block's second convolution and skip.
pub(super) fn conv_forward_residual(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    residual: &[f32],
) -> Vec<f32> {
    match g.winograd() {
        Some(p) => winograd::forward(&p, x, w, bias, Some(residual)),
        None => {
            let mut y = conv_forward_direct(g, x, w, bias);
            add_assign(&mut y, residual);
            y
        }
    }
}

/// `dst += src` elementwise, in parallel.
fn add_assign(dst: &mut [f32], src: &[f32]) {
    const CHUNK: usize = 1 << 15;
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += s));
}

/// [`conv_forward`] over the shifted copies, whatever the kernel.
pub(super) fn conv_forward_direct(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    // The column shifts: an im2col with the kernel's rows collapsed to one.
    let shifts = Geom {
        kh: 1,
        oh: g.oh + g.kh - 1,
        ..*g
    };
    let k = shifts.rows();
    // Each kernel row's taps `[o, c·kw]`, row-major: gemm (which computes `yᵀ = shiftedᵀ · Wₐᵀ`)
    // then reads them in place as a right-hand side with unit stride along the inner dimension;
    // with `o` contiguous instead it repacked them on every call (≈ 2.5% of a training step in
    // `perf`; 64→64 channels at 14×14 ≈ 8% faster alone).
    let mut w_rows = vec![0f32; w.len()];
    for (oc, w_o) in w.chunks_exact(g.rows()).enumerate() {
        for (ci, w_oc) in w_o.chunks_exact(g.kh * g.kw).enumerate() {
            for (a, w_oca) in w_oc.chunks_exact(g.kw).enumerate() {
                for (b, &v) in w_oca.iter().enumerate() {
                    w_rows[(a * g.o + oc) * k + ci * g.kw + b] = v;
                }
            }
        }
    }
    let mut y = vec![0f32; g.n * g.out_len()];
    // gemm copies its operand whole unless the pixel count is a multiple of its SIMD width
    // (≈ 5% of a training step, at 14×14): the shifted copies then get a zero tail, the gemm
    // runs over `m` pixels into a scratch buffer, and the real ones are copied out.
    let m = match shifts.im2col_is_identity() {
        true => g.pixels(),
        false => g.pixels().next_multiple_of(GEMM_SIMD_F32),
    };
    let image = |[cols, out]: &mut [Vec<f32>; 2], x_n: &[f32], y_n: &mut [f32], par| {
        let rhs: &[f32] = if shifts.im2col_is_identity() {
            x_n
        } else {
            im2col(&shifts, x_n, cols);
            cols.resize(cols.len() + m - g.pixels(), 0.0);
            cols
        };
        let dst = match m == g.pixels() {
            true => &mut *y_n,
            false => {
                out.resize(g.o * m, 0.0);
                &mut out[..]
            }
        };
        if let Some(bias) = bias {
            for (row, &b) in dst.chunks_exact_mut(m).zip(bias) {
                row.fill(b);
            }
        }
        for a in 0..g.kh {
            let lhs = MatRef::row_major(&w_rows[a * k * g.o..][..k * g.o], g.o, k);
            let rhs = MatRef {
                data: &rhs[a * g.ow..],
                rows: k,
                cols: m,
                rs: shifts.pixels(),
                cs: 1,
            };
            matmul(dst, lhs, rhs, bias.is_some() || a > 0, par);
        }
        if m != g.pixels() {
            for (y_row, row) in y_n.chunks_exact_mut(g.pixels()).zip(out.chunks_exact(m)) {
                y_row.copy_from_slice(&row[..g.pixels()]);
            }
        }
    };
    let threads = rayon::current_num_threads();
    if g.n >= threads {
        y.par_chunks_mut(g.out_len())
            .zip(x.par_chunks(g.in_len()))
            .for_each(|(y_n, x_n)| {
                with_scratch(|buffers| image(buffers, x_n, y_n, Parallelism::None))
            });
    } else {
        with_scratch(|buffers| {
            for (y_n, x_n) in y.chunks_mut(g.out_len()).zip(x.chunks(g.in_len())) {
                image(buffers, x_n, y_n, Parallelism::Rayon(threads));
            }
        });
    }
    y
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

/// `w [o, c, kh, kw]` -> `[c, o, kh, kw]` rotated by 180°: the kernel of the input gradient.
pub(super) fn flip_kernel(w: &[f32], o: usize, c: usize, kh: usize, kw: usize) -> Vec<f32> {
    let mut wt = vec![0f32; c * o * kh * kw];
    for (oc, wo) in w.chunks_exact(c * kh * kw).enumerate() {
        for (ci, wi) in wo.chunks_exact(kh * kw).enumerate() {
            for (a, wa) in wi.chunks_exact(kw).enumerate() {
                for (b, &v) in wa.iter().enumerate() {
                    wt[((ci * o + oc) * kh + kh - 1 - a) * kw + kw - 1 - b] = v;
                }
            }
        }
    }
    wt
}

/// Both gradients of [`conv_forward`] at once: `(dx, dW)` from `x`, `dy` and the kernel `w`.
///
/// In Winograd form the two share the pixel-major copy of `dy` and each chunk of its tiles while
/// they are in cache ([`winograd::backward`]).
pub(super) fn conv_backward(
    g: &Geom,
    x: &[f32],
    dy: &[f32],
    w: &[f32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    match g.winograd() {
        Some(p) => Ok(winograd::backward(&p, x, dy, w)),
        None => Ok((
            conv_backward_input(g, dy, w)?,
            conv_backward_weight_direct(g, x, dy),
        )),
    }
}

/// `dW [o, c·kh·kw] = Σₙ dyₙ [o, oh·ow] · im2col(xₙ)ᵀ`: each thread sums its share of the
/// batch into its own buffer, then the buffers are added.
///
/// The im2col matrix is written pixel-major ([`im2col_t`]): gemm then reads it in place, where
/// the channel-major [`im2col`] had to be repacked by gemm for every image (≈ 10% of a training
/// step). The sum comes out in the `(a, b, ci)` column order of that matrix and is permuted to
/// the kernel's `(ci, a, b)` at the end. (Writing only the `kw` column shifts, as the forward
/// does, and one gemm per kernel row was slower here: the gemms get too narrow, `kw·c` rows.)
///
/// Same-size 3×3 kernels run Winograd's algorithm instead ([`Geom::winograd`]).
pub(super) fn conv_backward_weight(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    match g.winograd() {
        Some(p) => winograd::weight_grad(&p, x, dy),
        None => conv_backward_weight_direct(g, x, dy),
    }
}

/// [`conv_backward_weight`] over the pixel-major im2col, whatever the kernel.
pub(super) fn conv_backward_weight_direct(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let images = |xs: &[f32], dys: &[f32], par: Parallelism| {
        let mut acc = vec![0f32; g.o * g.rows()];
        with_scratch(|[cols, hwc]| {
            let pairs = xs
                .chunks_exact(g.in_len())
                .zip(dys.chunks_exact(g.out_len()));
            for (i, (x_n, dy_n)) in pairs.enumerate() {
                im2col_t(g, x_n, hwc, cols);
                let lhs = MatRef::row_major(dy_n, g.o, g.pixels());
                let rhs = MatRef::row_major(cols, g.pixels(), g.rows());
                matmul(&mut acc, lhs, rhs, i > 0, par);
            }
        });
        acc
    };
    let threads = rayon::current_num_threads();
    let acc = if g.n >= threads {
        let per = g.n.div_ceil(threads);
        x.par_chunks(per * g.in_len())
            .zip(dy.par_chunks(per * g.out_len()))
            .map(|(xs, dys)| images(xs, dys, Parallelism::None))
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| vec![0f32; g.o * g.rows()])
    } else {
        images(x, dy, Parallelism::Rayon(threads))
    };
    // [o, kh, kw, c] -> [o, c, kh, kw]
    let taps = g.kh * g.kw;
    let mut dw = vec![0f32; acc.len()];
    for (src, dst) in acc
        .chunks_exact(g.rows())
        .zip(dw.chunks_exact_mut(g.rows()))
    {
        for (tap, values) in src.chunks_exact(g.c).enumerate() {
            for (ci, &v) in values.iter().enumerate() {
                dst[ci * taps + tap] = v;
            }
        }
    }
    dw
}

/// Writes one image `x` `[c, h, w]` as the pixel-major matrix `[oh·ow, kh·kw·c]` whose row
/// `(oy, ox)` holds `x[ci, oy + a - ph, ox + b - pw]` (zero outside the image) at column
/// `(a, b, ci)`: the transpose of [`im2col`], with the kernel taps outermost.
///
/// The image is first transposed to `[h, w, c]` in `hwc`, so that each `(oy, ox, a)` is one
/// contiguous run of `kw·c` values.
fn im2col_t(g: &Geom, x: &[f32], hwc: &mut Vec<f32>, cols: &mut Vec<f32>) {
    let c = g.c;
    transpose_images(x, c, g.h * g.w, hwc);
    cols.resize(g.pixels() * g.rows(), 0.0);
    let (h, w, kw) = (g.h as isize, g.w as isize, g.kw as isize);
    for (p, row) in cols.chunks_exact_mut(g.rows()).enumerate() {
        let (oy, ox) = ((p / g.ow) as isize, (p % g.ow) as isize);
        // Taps b whose source column ox + b - pw lies inside the image.
        let b_lo = (g.pw - ox).clamp(0, kw);
        let b_hi = (w + g.pw - ox).clamp(b_lo, kw);
        let (lo, hi) = (b_lo as usize * c, b_hi as usize * c);
        for (a, run) in row.chunks_exact_mut(g.kw * c).enumerate() {
            let iy = oy + a as isize - g.ph;
            if iy < 0 || iy >= h || lo == hi {
                run.fill(0.0);
                continue;
            }
            // Not empty, so ox + b_lo - pw >= 0.
            let start = (iy * w + ox + b_lo - g.pw) as usize * c;
            zero_small(&mut run[..lo]);
            run[lo..hi].copy_from_slice(&hwc[start..start + hi - lo]);
            zero_small(&mut run[hi..]);
        }
    }
}

/// A read-only strided matrix: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(super) struct MatRef<'a> {
    pub(super) data: &'a [f32],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

impl<'a> MatRef<'a> {
    pub(super) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// Panics unless every element lies inside `data`: what makes the gemm call sound.
    fn assert_in_bounds(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `dst [m, n]` (row-major) `= lhs [m, k] · rhs [k, n]`, or `+=` with `accumulate`.
pub(super) fn matmul(
    dst: &mut [f32],
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
    par: Parallelism,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    assert_eq!(dst.len(), m * n, "destination has the wrong size");
    lhs.assert_in_bounds();
    rhs.assert_in_bounds();
    // SAFETY: gemm reads lhs at i·rs + j·cs for i < m, j < k and rhs likewise for k × n, all
    // inside their slices (asserted just above); it writes dst at i·n + j for i < m, j < n,
    // inside `dst` (its length is m·n), and reads it only when `accumulate`, when it holds
    // initialised floats. `dst` is a unique borrow, so it cannot alias lhs or rhs. gemm computes
    // `dst = alpha·dst + beta·lhs·rhs`, hence alpha = beta = 1.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

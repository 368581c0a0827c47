//! A fast CPU 2-D convolution (stride 1, dilation 1, one group): im2col plus the `gemm` crate,
//! as a candle custom op whose gradients are custom ops of the same kind.
//!
//! candle 0.11.1's CPU convolutions run far below the machine's matmul peak, its input gradient
//! (`conv_transpose2d`) worst of all. Here all three passes are one im2col and one gemm per
//! image: the forward `y = W · im2col(x)`, the input gradient as a convolution of `dy` with the
//! flipped, transposed kernel, and the weight gradient `dW = Σₙ dyₙ · im2col(xₙ)ᵀ`. Images are
//! spread over rayon's threads, each gemm single-threaded, unless the batch is smaller than the
//! thread count, in which case gemm itself goes parallel.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};
use gemm::Parallelism;
use rayon::prelude::*;

use super::channel_ops::channel_sums;

/// `conv2d(x, w)` with stride 1, dilation 1, one group and `padding` zeros on every side:
/// `x` `[N, I, H, W]`, `w` `[O, I, KH, KW]` -> `[N, O, H + 2p - KH + 1, W + 2p - KW + 1]`
/// (with `KH = KW = 2p + 1`, a same-size convolution).
///
/// On CPU in f32 this is the im2col + gemm custom op, whose backward pass computes exact
/// gradients with the same machinery; any other device or dtype falls back to candle's own
/// `x.conv2d(w, padding, 1, 1, 1)`, so f64 tests and GPU builds keep working. The custom op
/// returns no gradient for an argument that tracks nothing (neither a variable nor computed
/// from one), which skips the useless input gradient of a network's first layer.
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
/// Public so that benchmarks can time it alone.
pub fn fast_conv2d_backward_input(dy: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    dy.contiguous()?
        .apply_op2_no_bwd(&w.contiguous()?, &BackwardInput { padding })
}

/// The gradient of [`fast_conv2d`] with respect to its kernel, CPU f32 only, without backward:
/// `x` `[N, I, H, W]`, `dy` `[N, O, OH, OW]` -> `[O, I, H + 2p - OH + 1, W + 2p - OW + 1]`.
/// Public so that benchmarks can time it alone.
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
        // dx[i, y, x] = Σ_{o,a,b} dy[o, y + p - a, x + p - b] · w[o, i, a, b]: with a' = KH-1-a
        // that is a correlation of dy with the flipped, transposed kernel, padded KH-1-p.
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
        let p = self.padding as isize;
        let g = Geom::new(
            n,
            o,
            oh,
            ow,
            c,
            kh,
            kw,
            (kh as isize - 1 - p, kw as isize - 1 - p),
        )?;
        let dx = conv_forward(&g, dy, &wt, None);
        Ok((CpuStorage::F32(dx), Shape::from((n, c, g.oh, g.ow))))
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

/// The contiguous f32 data of a custom op argument.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        bail!("fast-conv2d: only f32, got {:?}", s.dtype());
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("fast-conv2d: arguments must be contiguous"),
    }
}

/// One stride-1 correlation: `[n, c, h, w]` with an `[o, c, kh, kw]` kernel, padded by `ph` rows
/// above and below and `pw` columns left and right (negative crops), giving `[n, o, oh, ow]`.
#[derive(Clone, Copy, Debug)]
struct Geom {
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
    fn new(
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

    /// A 1×1 unpadded kernel's im2col matrix is the image itself.
    fn im2col_is_identity(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.ph == 0 && self.pw == 0
    }
}

thread_local! {
    /// Each thread's im2col buffer, kept between calls: a fresh one per call (or per rayon
    /// split) is zero-filled on every resize, which cost ≈ 4% of a training step.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's im2col buffer, or with a fresh one if the buffer is in use
/// (a rayon worker waiting inside gemm may pick up another convolution).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut cols) => f(&mut cols),
        Err(_) => f(&mut Vec::new()),
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
            for d in dst.chunks_exact_mut(g.ow) {
                d[..lo as usize].fill(0.0);
                d[hi as usize..].fill(0.0);
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

/// The correlation `[n, c, h, w] ⋆ w [o, c, kh, kw] -> [n, o, oh, ow]`, per image
/// `W [o, c·kh·kw] · im2col(xₙ)`, plus `bias[o]` on every pixel of channel `o` when given.
fn conv_forward(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    // The kernel column-major ([c·kh·kw, o] contiguous): with o a multiple of the SIMD width,
    // gemm then reads it in place instead of packing it again for every image (≈ 5% of a
    // training step).
    let mut w_cm = vec![0f32; w.len()];
    for (i, row) in w.chunks_exact(g.rows()).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            w_cm[j * g.o + i] = v;
        }
    }
    let lhs = MatRef::row_major(&w_cm, g.rows(), g.o).transposed();
    let mut y = vec![0f32; g.n * g.out_len()];
    let image = |cols: &mut Vec<f32>, x_n: &[f32], y_n: &mut [f32], par| {
        if let Some(bias) = bias {
            for (row, &b) in y_n.chunks_exact_mut(g.pixels()).zip(bias) {
                row.fill(b);
            }
        }
        let rhs: &[f32] = if g.im2col_is_identity() {
            x_n
        } else {
            im2col(g, x_n, cols);
            cols
        };
        matmul(
            y_n,
            lhs,
            MatRef::row_major(rhs, g.rows(), g.pixels()),
            bias.is_some(),
            par,
        );
    };
    let threads = rayon::current_num_threads();
    if g.n >= threads {
        y.par_chunks_mut(g.out_len())
            .zip(x.par_chunks(g.in_len()))
            .for_each(|(y_n, x_n)| with_scratch(|cols| image(cols, x_n, y_n, Parallelism::None)));
    } else {
        with_scratch(|cols| {
            for (y_n, x_n) in y.chunks_mut(g.out_len()).zip(x.chunks(g.in_len())) {
                image(cols, x_n, y_n, Parallelism::Rayon(threads));
            }
        });
    }
    y
}

/// `dW [o, c·kh·kw] = Σₙ dyₙ [o, oh·ow] · im2col(xₙ)ᵀ`: each thread sums its share of the
/// batch into its own buffer, then the buffers are added.
fn conv_backward_weight(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let images = |xs: &[f32], dys: &[f32], par: Parallelism| {
        let mut acc = vec![0f32; g.o * g.rows()];
        with_scratch(|cols| {
            let pairs = xs
                .chunks_exact(g.in_len())
                .zip(dys.chunks_exact(g.out_len()));
            for (i, (x_n, dy_n)) in pairs.enumerate() {
                let cols_n: &[f32] = if g.im2col_is_identity() {
                    x_n
                } else {
                    im2col(g, x_n, cols);
                    cols
                };
                let lhs = MatRef::row_major(dy_n, g.o, g.pixels());
                let rhs = MatRef::row_major(cols_n, g.rows(), g.pixels()).transposed();
                matmul(&mut acc, lhs, rhs, i > 0, par);
            }
        });
        acc
    };
    let threads = rayon::current_num_threads();
    if g.n >= threads {
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
    }
}

/// A read-only strided matrix: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    fn transposed(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
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
fn matmul(dst: &mut [f32], lhs: MatRef<'_>, rhs: MatRef<'_>, accumulate: bool, par: Parallelism) {
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

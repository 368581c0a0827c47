//! The sizes of one stride-1 convolution, shared by every algorithm that computes it, and the
//! flipped kernel that turns its input gradient into another such convolution.

use candle_core::{Result, bail};

/// One stride-1 correlation: `[n, c, h, w]` with an `[o, c, kh, kw]` kernel, padded by `ph` rows
/// above and below and `pw` columns left and right (negative crops), giving `[n, o, oh, ow]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) ph: isize,
    pub(super) pw: isize,
    pub(super) oh: usize,
    pub(super) ow: usize,
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
    pub(super) fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Elements of one output image.
    pub(super) fn out_len(&self) -> usize {
        self.o * self.oh * self.ow
    }

    /// Rows of the im2col matrix, the gemm's inner dimension: `c·kh·kw`.
    pub(super) fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the im2col matrix: output pixels per image.
    pub(super) fn pixels(&self) -> usize {
        self.oh * self.ow
    }

    /// A 1×1 unpadded kernel's im2col matrix is the image itself.
    pub(super) fn im2col_is_identity(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.ph == 0 && self.pw == 0
    }
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

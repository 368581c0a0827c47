//! How a same-size 3×3 convolution is cut into Winograd tiles: the problem's sizes, which tile
//! lies where, and how a thread's images are grouped and chunked for the gemms. Shared by the
//! transforms (`portable`, `avx512`) and the passes in `winograd`.

use std::ops::Range;

/// Winograd-domain positions per tile, `ξ = 4r + s`.
pub(super) const XI: usize = 16;
/// Channels per block in the transforms: one AVX-512 vector of f32.
pub(super) const LANES: usize = 16;
/// Tiles per gemm, at least: small images are grouped until their tiles reach it (a 14×14 image
/// has 49 tiles, which would leave gemm short rows).
const MIN_TILES: usize = 160;
/// Tiles per gemm, at most: a chunk's transformed inputs and outputs (16 × 96 tiles × 32
/// channels each, 196 KiB) then stay in L2 between the transforms and the gemms; whole 28×28
/// images (401 KiB each) did not, and the transforms' stores missed.
pub(super) const CHUNK_TILES: usize = 96;

/// A 3×3 same-size convolution: `[n, c, h, w]` with an `[o, c, 3, 3]` kernel -> `[n, o, h, w]`.
#[derive(Clone, Copy, Debug)]
pub(in crate::kernels) struct Winograd {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
}

impl Winograd {
    pub(in crate::kernels) fn new(n: usize, c: usize, h: usize, w: usize, o: usize) -> Self {
        Self { n, c, h, w, o }
    }

    /// Output tiles per image, `⌈h/2⌉ × ⌈w/2⌉`.
    pub(super) fn tiles(&self) -> usize {
        self.h.div_ceil(2) * self.w.div_ceil(2)
    }

    pub(super) fn pixels(&self) -> usize {
        self.h * self.w
    }

    pub(super) fn in_len(&self) -> usize {
        self.c * self.pixels()
    }

    pub(super) fn out_len(&self) -> usize {
        self.o * self.pixels()
    }

    /// Images per task when `threads` share the batch: enough for [`MIN_TILES`], but no fewer
    /// tasks than threads.
    pub(super) fn group(&self, threads: usize) -> usize {
        MIN_TILES
            .div_ceil(self.tiles())
            .min(self.n.div_ceil(threads))
            .max(1)
    }

    /// The tiles of `images` images in chunks of at most [`CHUNK_TILES`], of equal size.
    pub(super) fn chunks(&self, images: usize) -> impl Iterator<Item = Range<usize>> {
        let total = images * self.tiles();
        let size = total.div_ceil(total.div_ceil(CHUNK_TILES).max(1)).max(1);
        (0..total)
            .step_by(size)
            .map(move |start| start..(start + size).min(total))
    }

    /// Tile `t` of a group of images: its image and its top-left output pixel.
    pub(super) fn tile(&self, t: usize) -> (usize, usize, usize) {
        let (image, t) = (t / self.tiles(), t % self.tiles());
        let tw = self.w.div_ceil(2);
        (image, 2 * (t / tw), 2 * (t % tw))
    }
}

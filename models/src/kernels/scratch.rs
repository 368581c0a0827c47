//! Per-thread scratch buffers (im2col matrices, Winograd tiles) that outlive each call.
//!
//! A fresh buffer per call (or per rayon split) is zero-filled on every resize, a pass over
//! memory as large as the data it stages (docs/benchmarks.md); kept buffers only grow.

use std::cell::RefCell;

thread_local! {
    /// Each thread's scratch buffers, kept between calls.
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
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

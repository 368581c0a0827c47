//! Process-wide tuning for training and benchmark binaries: the allocator and candle's CPU
//! worker threads. Both change process globals, which is why the library crates never call
//! these themselves.

/// Makes glibc's `malloc` keep freed memory for reuse instead of handing it back to the kernel.
///
/// A training step allocates and frees hundreds of activation and gradient buffers of a few MB
/// each. By default glibc serves blocks over its dynamic mmap threshold with fresh `mmap`s and
/// trims the heap top after frees, so every step page-faults its working set in again (≈ 14% of
/// a step's time in `perf`, and a step ran 15–20% faster with this setting, docs/benchmarks.md).
/// Here blocks up to 32 MiB (glibc's maximum threshold) come from the heap, the heap is not
/// trimmed, and it grows in 256 MiB steps. Peak memory is unchanged; idle memory is not
/// returned to the system while the process runs.
///
/// Call once at the start of a binary, before the first large allocation: it changes a global
/// of the C library, which is why the library crates never call it themselves. A no-op on
/// platforms other than Linux with glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        const TOP_PAD: libc::c_int = 256 << 20;
        // SAFETY: mallopt only adjusts allocator parameters; it is documented to be callable at
        // any time and returns 0 (ignored: the defaults stay) for an unsupported value.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
            libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        }
    }
}

/// The spin limit [`limit_candle_spinning`] sets unless the user chose one.
const CANDLE_SPIN_LIMIT: &str = "50";

/// Makes candle's CPU element-wise worker threads sleep soon after each parallel op instead of
/// spinning for the next one.
///
/// candle 0.11 runs its element-wise ops on a pool of its own (`candle-bp-*` threads, beside
/// rayon's), whose workers spin 25,000 times after every op before they park. Between two
/// element-wise ops a training step mostly runs convolutions on rayon's threads, so with as many
/// threads as cores the spinning worker takes a core from them: 8.5% of a step's CPU samples in
/// `perf` at 2 threads, 3.3% with this limit (docs/benchmarks.md). Sets
/// `CANDLE_BARRIER_POOL_SPIN_LIMIT` to 50 unless it is already set (an explicit choice wins).
///
/// # Safety
/// It sets an environment variable, which is only sound while no other thread reads or writes
/// the environment: call it first thing in `main`, before any thread (and any candle op) starts.
pub unsafe fn limit_candle_spinning() {
    const VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    if std::env::var_os(VAR).is_none() {
        // SAFETY: the caller guarantees no other thread touches the environment now.
        unsafe { std::env::set_var(VAR, CANDLE_SPIN_LIMIT) };
    }
}

//! Process-wide allocator tuning for training and benchmark binaries.

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

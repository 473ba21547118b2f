//! Keeping freed heap memory in the process, so the large activation buffers of every training
//! step reuse pages instead of faulting in fresh zeroed ones.
//!
//! glibc's `malloc` serves every allocation above its mmap threshold (at most 32 MiB) with a
//! fresh `mmap` and unmaps it on `free`. An event network's activations are hundreds of MiB per
//! layer, allocated and freed every step, so each step faults in and zeroes every page again:
//! 20% of a full-size Gesture training step went to page faults in the kernel
//! (`docs/performance.md`). Serving large blocks from the heap and never trimming it keeps the
//! pages mapped between steps; the heap's size then settles at the peak of one step.

/// Tells glibc's allocator to serve large blocks from the heap and to keep freed memory (no
/// `mmap` per block, no trimming). Call it once at the start of a program, before threads
/// start. Returns whether the settings were applied (only on Linux with glibc; elsewhere it
/// does nothing and returns `false`).
///
/// It changes process-wide allocator behaviour, so it is the program's decision: the `xtask`
/// workflows call it; a library never does.
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; the values are valid for both.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

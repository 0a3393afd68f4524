//! glibc allocator settings, applied once at start-up (main.rs), before any other thread.

/// Buffers from this size up are memory-mapped by glibc, and unmapped when freed.
/// 128 KiB is glibc's initial value; setting it fixes it (see below).
pub const MMAP_THRESHOLD_BYTES: usize = 128 * 1024;

/// Large buffers (uploads, SQLite's copies of them) must go back to the system when freed.
/// By default glibc raises its mmap threshold after the first large free, up to 32 MiB, so
/// later multi-MiB buffers come from the per-thread heaps instead and stay resident there:
/// eight 2 MiB uploads at once peaked at ~95 MiB and left ~60 MiB behind. Setting the
/// threshold turns that adjustment off.
pub fn return_large_buffers_to_the_system() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only sets an allocator parameter.
        let done = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES as i32) };
        if done != 1 {
            tracing::warn!("mallopt(M_MMAP_THRESHOLD) failed; large buffers may stay resident");
        }
    }
}

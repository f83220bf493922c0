//! Allocator tuning: the memory of big upstream bodies goes back to the OS once they are freed.
//!
//! glibc's malloc raises its mmap threshold each time a large mapped block is freed (up to
//! 32 MiB), so after one big answer the next big buffers come from the heap arenas, and the
//! arenas keep that memory after it is freed: a burst of 30 MB answers left the gateway at
//! ~160 MiB RSS for good. Setting the threshold (to glibc's own default, 128 KiB) turns that
//! adaptation off: every buffer of 128 KiB or more is its own mapping, unmapped when freed.
//! Figures and method: BENCHMARKS.md ("Big upstream bodies").

/// Called once at start-up, before the runtime starts. A no-op where the allocator is not
/// glibc's (macOS's allocator maps large blocks on its own; not measured here).
pub fn return_big_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets one of malloc's tuning parameters; it takes malloc's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

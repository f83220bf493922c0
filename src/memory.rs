//! Allocator tuning: the memory of big upstream bodies goes back to the OS once they are freed.
//!
//! glibc's malloc raises its mmap threshold each time a large mapped block is freed (up to
//! 32 MiB), so after one big answer the next big buffers come from the heap arenas, and the
//! arenas keep that memory after it is freed: a burst of 30 MB answers left the gateway at
//! ~160 MiB RSS for good. Setting the threshold (to glibc's own default, 128 KiB) turns that
//! adaptation off: every buffer of 128 KiB or more is its own mapping, unmapped when freed.
//! Figures and method: BENCHMARKS.md ("Big upstream bodies").
//!
//! And after a burst of requests, [`trim_when_idle`] hands back what the arenas keep free.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Called once at start-up, before the runtime starts. A no-op where the allocator is not
/// glibc's (macOS's allocator maps large blocks on its own; not measured here).
pub fn return_big_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets one of malloc's tuning parameters; it takes malloc's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Requests in progress, process-wide (every client connection counts its own with [`Busy`]).
static IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);
/// Requests begun since the process started.
static BEGUN: AtomicU64 = AtomicU64::new(0);

/// One request in progress, for [`trim_when_idle`]: counted until dropped.
#[derive(Debug)]
pub struct Busy(());

impl Busy {
    pub fn begin() -> Busy {
        IN_PROGRESS.fetch_add(1, Ordering::Relaxed);
        BEGUN.fetch_add(1, Ordering::Relaxed);
        Busy(())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        IN_PROGRESS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How often [`trim_when_idle`] looks.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Looks, once nothing is in progress, before the late trim: past the time an idle upstream
/// connection stays pooled, so the buffers of the connections a burst opened are handed back
/// too once the pools close them. A pool looks for expired connections once per idle
/// timeout, so one can stay up to twice that.
const LATE_TRIM_LOOKS: u32 =
    (2 * crate::egress::POOL_IDLE_TIMEOUT.as_secs() / TRIM_EVERY.as_secs()) as u32 + 2;

/// When to give memory back: at the first look after a whole interval with no request begun
/// and none in progress, if requests were served since the last trim, and once more
/// `LATE_TRIM_LOOKS` quiet looks later (past twice the pools' idle timeout); never under load
/// (a trim takes malloc's locks, so one during a burst made requests wait: p99 42 ms at
/// 1,000 req/s), never while idle otherwise.
#[derive(Debug, Default)]
pub struct Trimmer {
    /// Requests begun as of the previous look.
    seen: u64,
    /// Requests begun as of the last trim.
    trimmed: u64,
    /// Looks in a row with nothing begun or in progress.
    quiet: u32,
    late_owed: bool,
}

impl Trimmer {
    /// A trimmer for a process that has begun `begun` requests so far.
    pub fn new(begun: u64) -> Trimmer {
        Trimmer { seen: begun, trimmed: begun, ..Trimmer::default() }
    }

    /// One look, with the process's counts: whether to trim now.
    pub fn look(&mut self, in_progress: usize, begun: u64) -> bool {
        if in_progress > 0 || begun != self.seen {
            self.seen = begun;
            self.quiet = 0;
            return false;
        }
        self.quiet = self.quiet.saturating_add(1);
        if begun != self.trimmed {
            self.trimmed = begun;
            self.late_owed = true;
            return true;
        }
        if self.late_owed && self.quiet >= LATE_TRIM_LOOKS {
            self.late_owed = false;
            return true;
        }
        false
    }
}

/// For the life of a running gateway: after each burst of requests, once the gateway has
/// been idle for a whole look, hand the memory malloc keeps free back to the OS (glibc keeps what a burst freed in its
/// arenas: a gateway at 14 MiB idle stayed at ~40 MiB after a few seconds of load at
/// concurrency 64 to 256; BENCHMARKS.md). Looks every [`TRIM_EVERY`] (see [`Trimmer`]); the
/// trim runs on a blocking thread. Never returns; where the allocator is not glibc's it only
/// waits.
pub async fn trim_when_idle() -> std::convert::Infallible {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut tick = tokio::time::interval(TRIM_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut trimmer = Trimmer::new(BEGUN.load(Ordering::Relaxed));
        loop {
            tick.tick().await;
            let (in_progress, begun) =
                (IN_PROGRESS.load(Ordering::Relaxed), BEGUN.load(Ordering::Relaxed));
            if trimmer.look(in_progress, begun) {
                // SAFETY: malloc_trim only returns free memory of malloc's arenas to the OS,
                // under malloc's own locks.
                let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
            }
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_follows_each_burst_once_idle_and_once_more_after_the_pools_close() {
        let mut t = Trimmer::new(0);
        assert!(!t.look(0, 0), "never while nothing was served");
        assert!(!t.look(3, 3), "not while requests are in progress");
        assert!(!t.look(0, 5), "not right after requests began: the interval was not quiet");
        assert!(t.look(0, 5), "the first look after a quiet interval");
        let late: Vec<bool> = (0..LATE_TRIM_LOOKS + 5).map(|_| t.look(0, 5)).collect();
        let at: Vec<usize> = late.iter().enumerate().filter(|(_, d)| **d).map(|(i, _)| i).collect();
        assert_eq!(at, vec![LATE_TRIM_LOOKS as usize - 2], "one late trim, then none");
        assert!(LATE_TRIM_LOOKS * TRIM_EVERY.as_secs() as u32 > 180);

        // Steady traffic with nothing in progress at the looks: no trim until it stops.
        for begun in 6..40 {
            assert!(!t.look(0, begun));
        }
        assert!(t.look(0, 39));

        // A long stream keeps the late trim from coming while it runs.
        for _ in 0..LATE_TRIM_LOOKS * 2 {
            assert!(!t.look(1, 40));
        }
        let trims = (0..LATE_TRIM_LOOKS + 2).filter(|_| t.look(0, 40)).count();
        assert_eq!(trims, 2, "once idle, and the late one");
    }

    #[test]
    fn busy_counts_a_request_until_dropped() {
        let begun = BEGUN.load(Ordering::Relaxed);
        let busy = Busy::begin();
        assert!(IN_PROGRESS.load(Ordering::Relaxed) >= 1);
        assert!(BEGUN.load(Ordering::Relaxed) > begun);
        drop(busy);
    }
}

//! The open-file limit (RLIMIT_NOFILE): raised once at start from the soft limit to the most
//! the process may use, so client sockets and upstream connections do not run out at the
//! soft default (256 for a macOS LaunchAgent, 1024 on most Linux sessions).
//!
//! On macOS the hard limit is often `RLIM_INFINITY`, which `setrlimit` refuses as a soft
//! limit for files; the usable maximum is `kern.maxfilesperproc` (or `OPEN_MAX`, 10240, when
//! that cannot be read). The decision is the pure [`target`]; the calls are thin.

use std::sync::OnceLock;

/// `OPEN_MAX` of macOS's `<sys/syslimits.h>`: what `setrlimit` accepts there when nothing
/// better is known.
pub const MACOS_OPEN_MAX: u64 = 10_240;

/// Raise the soft limit (once per process; later calls return the first result). Returns the
/// soft limit in force afterwards, `None` where it cannot be read. The old and new values are
/// logged at debug level.
pub fn raise() -> Option<u64> {
    static RAISED: OnceLock<Option<u64>> = OnceLock::new();
    *RAISED.get_or_init(imp::raise)
}

/// The soft limit in force now, `None` where it cannot be read.
pub fn soft_limit() -> Option<u64> {
    imp::get().map(|(soft, _)| soft)
}

/// The soft limit to ask for: the hard limit (`None`: unlimited), bounded by the per-process
/// maximum when there is one. `None` when the soft limit is already there, or when nothing
/// bounds the hard limit (an unlimited soft limit is not asked for).
pub fn target(soft: u64, hard: Option<u64>, per_process: Option<u64>) -> Option<u64> {
    let want = match (hard, per_process) {
        (Some(h), Some(p)) => h.min(p),
        (Some(h), None) => h,
        (None, Some(p)) => p,
        (None, None) => return None,
    };
    (want > soft).then_some(want)
}

#[cfg(unix)]
mod imp {
    use super::target;

    /// (soft, hard) with `None` for an unlimited hard limit.
    pub fn get() -> Option<(u64, Option<u64>)> {
        let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit only writes the struct we pass, which we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
            return None;
        }
        let hard = (rl.rlim_max != libc::RLIM_INFINITY).then_some(rl.rlim_max);
        Some((rl.rlim_cur, hard))
    }

    fn set(soft: u64, hard: Option<u64>) -> std::io::Result<()> {
        let rl = libc::rlimit { rlim_cur: soft, rlim_max: hard.unwrap_or(libc::RLIM_INFINITY) };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    pub fn raise() -> Option<u64> {
        let Some((soft, hard)) = get() else {
            tracing::debug!("open-file limit: cannot read RLIMIT_NOFILE");
            return None;
        };
        let shown_hard = hard.map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
        let per_process = per_process_max();
        let Some(want) = target(soft, hard, per_process) else {
            tracing::debug!(
                "open-file limit: soft {soft} already at the maximum (hard {shown_hard})"
            );
            return Some(soft);
        };
        let mut result = set(want, hard).map(|()| want);
        if result.is_err() && cfg!(target_os = "macos") && want > super::MACOS_OPEN_MAX {
            // Older macOS releases refuse more than OPEN_MAX whatever sysctl says.
            let fallback = super::MACOS_OPEN_MAX.max(soft);
            result = set(fallback, hard).map(|()| fallback);
        }
        match result {
            Ok(new) => {
                tracing::debug!(
                    "open-file limit: soft raised from {soft} to {new} (hard {shown_hard})"
                );
                Some(new)
            }
            Err(e) => {
                tracing::debug!(
                    "open-file limit: cannot raise the soft limit {soft} to {want} (hard {shown_hard}): {e}"
                );
                Some(soft)
            }
        }
    }

    /// `kern.maxfilesperproc`, or `OPEN_MAX` when it cannot be read.
    #[cfg(target_os = "macos")]
    fn per_process_max() -> Option<u64> {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>();
        // SAFETY: the name is NUL-terminated; `value` and `len` describe a c_int we own.
        let rc = unsafe {
            libc::sysctlbyname(
                c"kern.maxfilesperproc".as_ptr(),
                (&raw mut value).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        match u64::try_from(value) {
            Ok(v) if rc == 0 && v > 0 => Some(v),
            _ => Some(super::MACOS_OPEN_MAX),
        }
    }

    /// Linux bounds the hard limit itself (`fs.nr_open`).
    #[cfg(not(target_os = "macos"))]
    fn per_process_max() -> Option<u64> {
        None
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn get() -> Option<(u64, Option<u64>)> {
        None
    }

    pub fn raise() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_goes_to_the_hard_limit() {
        assert_eq!(target(1024, Some(1_048_576), None), Some(1_048_576));
        assert_eq!(target(256, Some(256), None), None, "already there");
        assert_eq!(target(4096, Some(1024), None), None, "never lowered");
    }

    #[test]
    fn macos_unlimited_hard_limits_stop_at_the_per_process_maximum() {
        // A LaunchAgent: soft 256, hard unlimited, kern.maxfilesperproc 24576.
        assert_eq!(target(256, None, Some(24_576)), Some(24_576));
        assert_eq!(target(256, Some(10_240), Some(24_576)), Some(10_240));
        assert_eq!(target(256, None, Some(MACOS_OPEN_MAX)), Some(MACOS_OPEN_MAX));
        assert_eq!(target(256, None, None), None, "an unlimited soft limit is never asked for");
    }

    #[test]
    fn raising_is_idempotent_and_never_lowers() {
        let before = soft_limit();
        let first = raise();
        assert_eq!(raise(), first);
        if let (Some(b), Some(a)) = (before, first) {
            assert!(a >= b, "{a} < {b}");
        }
    }
}

//! When to try a failed call again: exponential backoff with jitter, the upstream's
//! `Retry-After` honoured up to a cap, and no wait at all when the next attempt goes to
//! another deployment. Pure: the caller passes the jitter and the clock.

use std::time::{Duration, SystemTime};

/// The first backoff step; each further attempt doubles it.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Backoff steps stop growing here.
pub const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// A `Retry-After` longer than this is not waited out: the caller gets the 429/503 with the
/// header and decides (Claude Code, the SDKs and Codex honour it themselves).
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

/// What to do after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again after this long (zero: at once).
    After(Duration),
    /// Do not try again: the upstream asked for a longer pause than [`RETRY_AFTER_CAP`].
    GiveUp,
}

/// The wait before retry number `retry` (1 for the first retry). `retry_after` is what the
/// failing upstream asked for; `other_deployment` says the next attempt goes elsewhere (which
/// needs no wait: the pause was asked for by the one that failed). `jitter` is in `[0, 1)`.
pub fn next(
    retry: u32,
    retry_after: Option<Duration>,
    other_deployment: bool,
    jitter: f64,
) -> Next {
    if other_deployment {
        return Next::After(Duration::ZERO);
    }
    match retry_after {
        Some(wait) if wait > RETRY_AFTER_CAP => Next::GiveUp,
        Some(wait) => Next::After(wait),
        None => {
            let step = BACKOFF_BASE
                .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
                .min(BACKOFF_MAX);
            // "Equal jitter": at least half the step, so waits still grow; spread over the
            // rest so clients that failed together do not come back together.
            Next::After(step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0))
        }
    }
}

/// A `Retry-After` value: delay seconds (`120`, also fractional) or an HTTP date, read
/// against `now`. A date in the past is no wait; text that is neither is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(RETRY_AFTER_CAP.as_secs_f64() * 1000.0)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_stops_growing() {
        let at = |retry, jitter| next(retry, None, false, jitter);
        assert_eq!(at(1, 0.0), Next::After(Duration::from_millis(250)));
        assert_eq!(at(1, 0.999_999), Next::After(Duration::from_nanos(499_999_750)));
        assert_eq!(at(2, 0.0), Next::After(Duration::from_millis(500)));
        assert_eq!(at(3, 0.0), Next::After(Duration::from_secs(1)));
        assert_eq!(at(5, 0.0), Next::After(Duration::from_secs(4)));
        assert_eq!(at(6, 0.0), Next::After(Duration::from_secs(4)));
        assert_eq!(at(60, 1.0), Next::After(Duration::from_secs(8)));
        for retry in 1..10 {
            let Next::After(lo) = at(retry, 0.0) else { panic!() };
            let Next::After(hi) = at(retry, 0.99) else { panic!() };
            assert!(lo <= hi && hi < lo * 2 + Duration::from_millis(1), "{retry}: {lo:?} {hi:?}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap_and_failover_does_not_wait() {
        let two = Some(Duration::from_secs(2));
        assert_eq!(next(1, two, false, 0.5), Next::After(Duration::from_secs(2)));
        assert_eq!(next(1, Some(Duration::from_secs(31)), false, 0.5), Next::GiveUp);
        assert_eq!(next(1, Some(Duration::from_secs(31)), true, 0.5), Next::After(Duration::ZERO));
        assert_eq!(next(3, None, true, 0.5), Next::After(Duration::ZERO));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").expect("date");
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert!(parse_retry_after("1e300", now).is_some_and(|d| d > RETRY_AFTER_CAP));
    }
}

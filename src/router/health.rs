//! A deployment's live state: requests in flight, its cooldown, its last upstream error,
//! recent latency and tokens used this minute. The router writes it on every call; the
//! readiness probe, `/health` and the tray read it. Reads on the request path are atomic
//! loads; only a failure takes the lock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::cooldown::{FailKind, Policy, Record};
use crate::providers::ProviderError;
use crate::redact::redact;

const MINUTE: Duration = Duration::from_secs(60);
/// Longest error text kept for display.
const MAX_ERROR_TEXT: usize = 300;

/// The live state of one deployment.
#[derive(Debug)]
pub struct Health {
    /// The origin of the nanosecond stamps below.
    epoch: Instant,
    /// When the cooldown ends, in ns after `epoch` (0: not cooling).
    cool_until: AtomicU64,
    in_flight: AtomicU32,
    /// Moving average of call latency in µs (0: none yet).
    latency_us: AtomicU64,
    /// Last answer and last counted error, in ns after `epoch` (0: never).
    last_success: AtomicU64,
    last_failure: AtomicU64,
    inner: Mutex<Inner>,
    /// Tokens this minute, kept for `usage-based-routing-v2` only.
    usage: Option<Mutex<(Instant, u64)>>,
}

#[derive(Debug, Default)]
struct Inner {
    record: Record,
    last_error: Option<LastError>,
}

/// The last upstream error of a deployment, as shown by `/health` and the tray.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    /// Redacted and shortened.
    pub message: String,
    /// The upstream's HTTP status, if it answered.
    pub status: Option<u16>,
    pub at: SystemTime,
}

/// What a deployment is doing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Ready,
    /// Skipped by the router until `until` (requests go to other deployments or fallbacks).
    CoolingDown {
        until: SystemTime,
        remaining: Duration,
    },
    /// Cannot serve at all; the reason says what to set.
    Unavailable {
        reason: String,
    },
}

/// One deployment's state as the readers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub state: State,
    pub last_error: Option<LastError>,
    /// No answer came after `last_error` (the error is current, not history).
    pub failing: bool,
    pub in_flight: u32,
}

impl Health {
    pub fn new(track_usage: bool) -> Health {
        Health {
            epoch: Instant::now(),
            cool_until: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            latency_us: AtomicU64::new(0),
            last_success: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
            inner: Mutex::new(Inner::default()),
            usage: track_usage.then(|| Mutex::new((Instant::now(), 0))),
        }
    }

    fn stamp(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
    }

    /// When the cooldown in force at `now` ends (`None`: not cooling).
    pub fn cooling_until(&self, now: Instant) -> Option<Instant> {
        let until = self.cool_until.load(Ordering::Relaxed);
        (until != 0 && self.stamp(now) < until).then(|| self.epoch + Duration::from_nanos(until))
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Take a slot for one call, unless `limit` calls are in flight already.
    pub fn try_enter(&self, limit: Option<u32>) -> bool {
        match limit {
            None => {
                self.in_flight.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(max) => self
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < max).then_some(n + 1))
                .is_ok(),
        }
    }

    pub fn leave(&self) {
        let _ =
            self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn latency_us(&self) -> u64 {
        self.latency_us.load(Ordering::Relaxed)
    }

    /// Add a latency sample (a moving average weighting the newest a third).
    pub fn record_latency(&self, took: Duration) {
        let sample = (took.as_micros() as u64).max(1);
        let old = self.latency_us.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { (old * 2 + sample) / 3 };
        self.latency_us.store(new, Ordering::Relaxed);
    }

    /// The deployment answered.
    pub fn on_success(&self, now: Instant) {
        self.last_success.store(self.stamp(now), Ordering::Relaxed);
    }

    /// The deployment failed with `err`. Counts it (when it is a kind that counts) and
    /// returns when its cooldown ends if it cools down now. `may_cool`: see
    /// [`Record::on_failure`].
    pub fn on_failure(
        &self,
        err: &ProviderError,
        retry_after: Option<Duration>,
        may_cool: bool,
        policy: &Policy,
        now: Instant,
    ) -> Option<Instant> {
        let kind = FailKind::of(err)?;
        let status = match err {
            ProviderError::Upstream { status, .. } => Some(*status),
            _ => None,
        };
        let message = crate::providers::http::truncate(&redact(&err.to_string()), MAX_ERROR_TEXT);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.last_error = Some(LastError { message, status, at: SystemTime::now() });
        self.last_failure.store(self.stamp(now), Ordering::Relaxed);
        let until = inner.record.on_failure(kind, retry_after, may_cool, policy, now)?;
        self.cool_until.store(self.stamp(until), Ordering::Relaxed);
        Some(until)
    }

    /// Tokens an answer reported (for `usage-based-routing-v2`).
    pub fn record_tokens(&self, tokens: u64) {
        if let Some(usage) = &self.usage {
            let mut u = usage.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if now.duration_since(u.0) >= MINUTE {
                *u = (now, 0);
            }
            u.1 = u.1.saturating_add(tokens);
        }
    }

    /// Tokens used in the current minute.
    pub fn tokens_this_minute(&self) -> u64 {
        let Some(usage) = &self.usage else { return 0 };
        let u = usage.lock().unwrap_or_else(|p| p.into_inner());
        if Instant::now().duration_since(u.0) >= MINUTE { 0 } else { u.1 }
    }

    /// The state at `now` for the readers (`unavailable`: why the deployment cannot serve).
    pub fn report(&self, unavailable: Option<&str>, now: Instant) -> Report {
        let last_error = self.inner.lock().unwrap_or_else(|p| p.into_inner()).last_error.clone();
        let failing = last_error.is_some()
            && self.last_failure.load(Ordering::Relaxed)
                > self.last_success.load(Ordering::Relaxed);
        let state = match (unavailable, self.cooling_until(now)) {
            (Some(reason), _) => State::Unavailable { reason: reason.to_owned() },
            (None, Some(until)) => {
                let remaining = until - now;
                State::CoolingDown { until: SystemTime::now() + remaining, remaining }
            }
            (None, None) => State::Ready,
        };
        Report { state, last_error, failing, in_flight: self.in_flight() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::routing::AllowedFailsPolicy;

    fn policy() -> Policy {
        Policy {
            allowed_fails: None,
            per_kind: AllowedFailsPolicy::default(),
            cooldown_time: Duration::from_secs(5),
            disabled: false,
        }
    }

    fn rate_limited() -> ProviderError {
        ProviderError::Upstream {
            status: 429,
            message: "slow down, key sk-secret-value".into(),
            kind: None,
            code: None,
            param: None,
            retry_after: None,
            details: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cooldown_is_entered_shown_and_left_with_the_clock() {
        crate::redact::remember("sk-secret-value");
        let h = Health::new(false);
        assert_eq!(h.report(None, Instant::now()).state, State::Ready);
        let until = h.on_failure(&rate_limited(), None, true, &policy(), Instant::now());
        assert_eq!(until, Some(Instant::now() + Duration::from_secs(5)));
        let r = h.report(None, Instant::now());
        assert!(
            matches!(r.state, State::CoolingDown { remaining, .. } if remaining == Duration::from_secs(5))
        );
        let err = r.last_error.expect("kept");
        assert_eq!(err.status, Some(429));
        assert!(!err.message.contains("sk-secret-value"), "redacted: {}", err.message);
        assert!(r.failing);
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert!(h.cooling_until(Instant::now()).is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(h.cooling_until(Instant::now()), None);
        let r = h.report(None, Instant::now());
        assert_eq!(r.state, State::Ready);
        assert!(r.failing, "still the latest news");
        h.on_success(Instant::now());
        assert!(!h.report(None, Instant::now()).failing);
        assert!(h.report(None, Instant::now()).last_error.is_some(), "kept as history");
    }

    #[test]
    fn in_flight_slots_respect_the_limit() {
        let h = Health::new(false);
        assert!(h.try_enter(Some(2)));
        assert!(h.try_enter(Some(2)));
        assert!(!h.try_enter(Some(2)));
        assert!(h.try_enter(None), "no limit");
        assert_eq!(h.in_flight(), 3);
        for _ in 0..5 {
            h.leave();
        }
        assert_eq!(h.in_flight(), 0, "never below zero");
    }

    #[tokio::test(start_paused = true)]
    async fn usage_is_counted_per_minute_when_tracked() {
        let h = Health::new(true);
        h.record_tokens(40);
        h.record_tokens(2);
        assert_eq!(h.tokens_this_minute(), 42);
        tokio::time::advance(MINUTE).await;
        assert_eq!(h.tokens_this_minute(), 0);
        let untracked = Health::new(false);
        untracked.record_tokens(5);
        assert_eq!(untracked.tokens_this_minute(), 0);
    }

    #[test]
    fn latency_is_a_moving_average() {
        let h = Health::new(false);
        h.record_latency(Duration::from_millis(300));
        assert_eq!(h.latency_us(), 300_000);
        h.record_latency(Duration::from_millis(0));
        assert_eq!(h.latency_us(), 200_000);
    }
}

//! When a failing deployment is skipped for a while (LiteLLM's cooldowns): which failures
//! count, how many a deployment may have, and how long it then rests. Pure: the caller
//! passes the clock and says whether the deployment may cool at all.
//!
//! Counted by default: 429, 5xx, timeouts and connection errors. A 429 cools a deployment
//! at once (LiteLLM's default); any other counted failure once more than `allowed_fails`
//! (default 3) happened with no pause of `cooldown_time` between them. `allowed_fails`, when
//! set, applies to 429s too; `allowed_fails_policy` sets the count per kind of failure and
//! also opts in kinds that are not counted by default (400, 401/403, 404, content filter).
//! The rest lasts `cooldown_time`, or the upstream's `Retry-After` when that is longer (up
//! to [`MAX_RETRY_AFTER_COOLDOWN`]).

use std::time::Duration;

use tokio::time::Instant;

use crate::config::routing::{AllowedFailsPolicy, DEFAULT_ALLOWED_FAILS};
use crate::providers::ProviderError;

/// A `Retry-After` sets a cooldown up to this long (a day-long header is more likely a quota
/// reset than a reason to forget the deployment; it is tried again after an hour).
pub const MAX_RETRY_AFTER_COOLDOWN: Duration = Duration::from_secs(3600);

/// A failure that may count against a deployment, named after LiteLLM's exception classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    RateLimit,
    Timeout,
    Connect,
    InternalServer,
    BadGateway,
    ServiceUnavailable,
    Authentication,
    NotFound,
    BadRequest,
    ContentPolicy,
}

const KINDS: usize = 10;
/// The counter shared by kinds without an `allowed_fails_policy` entry.
const GENERIC: usize = KINDS;

impl FailKind {
    fn slot(self) -> usize {
        self as usize
    }

    /// Counted without an `allowed_fails_policy` entry naming them.
    fn counts_by_default(self) -> bool {
        matches!(
            self,
            FailKind::RateLimit
                | FailKind::Timeout
                | FailKind::Connect
                | FailKind::InternalServer
                | FailKind::BadGateway
                | FailKind::ServiceUnavailable
        )
    }

    /// Its `allowed_fails_policy` entry (connection errors share the 500 one, as LiteLLM
    /// reports them with status 500).
    fn allowed_by(self, policy: &AllowedFailsPolicy) -> Option<u32> {
        match self {
            FailKind::RateLimit => policy.rate_limit,
            FailKind::Timeout => policy.timeout,
            FailKind::Connect | FailKind::InternalServer => policy.internal_server,
            FailKind::BadGateway => policy.bad_gateway,
            FailKind::ServiceUnavailable => policy.service_unavailable,
            FailKind::Authentication => policy.authentication,
            FailKind::NotFound => policy.not_found,
            FailKind::BadRequest => policy.bad_request,
            FailKind::ContentPolicy => policy.content_policy_violation,
        }
    }

    /// The kind of an upstream failure (`None`: never counted, e.g. a missing credential).
    pub fn of(err: &ProviderError) -> Option<FailKind> {
        Some(match err {
            ProviderError::Upstream { status, .. } => match status {
                429 => FailKind::RateLimit,
                408 => FailKind::Timeout,
                502 => FailKind::BadGateway,
                503 => FailKind::ServiceUnavailable,
                401 | 403 => FailKind::Authentication,
                404 => FailKind::NotFound,
                500..=599 => FailKind::InternalServer,
                _ if super::fallback::is_content_policy(err) => FailKind::ContentPolicy,
                _ => FailKind::BadRequest,
            },
            ProviderError::Connect { .. } => FailKind::Connect,
            ProviderError::Timeout { .. } => FailKind::Timeout,
            ProviderError::Protocol { .. } => FailKind::InternalServer,
            ProviderError::Credential { .. } => FailKind::Authentication,
            ProviderError::Unavailable(_) | ProviderError::InvalidRequest { .. } => return None,
        })
    }
}

/// The cooldown rules for one deployment.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// `None`: LiteLLM's default (429 at once, others after [`DEFAULT_ALLOWED_FAILS`]).
    pub allowed_fails: Option<u32>,
    pub per_kind: AllowedFailsPolicy,
    pub cooldown_time: Duration,
    pub disabled: bool,
}

/// One deployment's failure counts.
#[derive(Debug, Default)]
pub struct Record {
    counts: [Counter; KINDS + 1],
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    n: u32,
    /// The count is forgotten at this time (`cooldown_time` after the last failure).
    expires: Option<Instant>,
}

impl Record {
    /// Count a failure of `kind` at `now`. Returns when the deployment's cooldown ends if it
    /// cools down now. `may_cool` is false for the last healthy deployment of an alias with
    /// no fallback: the failure is counted but the deployment stays in use.
    pub fn on_failure(
        &mut self,
        kind: FailKind,
        retry_after: Option<Duration>,
        may_cool: bool,
        policy: &Policy,
        now: Instant,
    ) -> Option<Instant> {
        if policy.disabled || policy.cooldown_time.is_zero() {
            return None;
        }
        let (slot, allowed) = match kind.allowed_by(&policy.per_kind) {
            Some(n) => (kind.slot(), n),
            None if !kind.counts_by_default() => return None,
            None => match (policy.allowed_fails, kind) {
                (Some(n), _) => (GENERIC, n),
                (None, FailKind::RateLimit) => (GENERIC, 0),
                (None, _) => (GENERIC, DEFAULT_ALLOWED_FAILS),
            },
        };
        let counter = &mut self.counts[slot];
        if counter.expires.is_some_and(|at| at <= now) {
            counter.n = 0;
        }
        counter.n = counter.n.saturating_add(1);
        counter.expires = Some(now + policy.cooldown_time);
        if counter.n <= allowed || !may_cool {
            return None;
        }
        self.counts = Default::default();
        let asked = retry_after.unwrap_or_default().min(MAX_RETRY_AFTER_COOLDOWN);
        Some(now + policy.cooldown_time.max(asked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            allowed_fails: None,
            per_kind: AllowedFailsPolicy::default(),
            cooldown_time: Duration::from_secs(5),
            disabled: false,
        }
    }

    fn upstream(status: u16, code: Option<&str>) -> ProviderError {
        ProviderError::Upstream {
            status,
            message: "m".into(),
            kind: None,
            code: code.map(str::to_owned),
            param: None,
            retry_after: None,
            details: None,
        }
    }

    #[test]
    fn failures_are_named_like_litellm_exceptions() {
        let cases = [
            (upstream(429, None), Some(FailKind::RateLimit)),
            (upstream(408, None), Some(FailKind::Timeout)),
            (upstream(500, None), Some(FailKind::InternalServer)),
            (upstream(504, None), Some(FailKind::InternalServer)),
            (upstream(502, None), Some(FailKind::BadGateway)),
            (upstream(503, None), Some(FailKind::ServiceUnavailable)),
            (upstream(401, None), Some(FailKind::Authentication)),
            (upstream(404, None), Some(FailKind::NotFound)),
            (upstream(400, None), Some(FailKind::BadRequest)),
            (upstream(400, Some("content_filter")), Some(FailKind::ContentPolicy)),
            (ProviderError::Connect { message: "refused".into() }, Some(FailKind::Connect)),
            (ProviderError::Unavailable("set X".into()), None),
        ];
        for (err, want) in cases {
            assert_eq!(FailKind::of(&err), want, "{err:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_cools_at_once_other_failures_after_allowed_fails() {
        let p = policy();
        let mut r = Record::default();
        let now = Instant::now();
        assert_eq!(
            r.on_failure(FailKind::RateLimit, None, true, &p, now),
            Some(now + p.cooldown_time)
        );
        let mut r = Record::default();
        for n in 1..=3 {
            let now = Instant::now();
            assert_eq!(
                r.on_failure(FailKind::ServiceUnavailable, None, true, &p, now),
                None,
                "{n}"
            );
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let now = Instant::now();
        assert_eq!(
            r.on_failure(FailKind::Connect, None, true, &p, now),
            Some(now + p.cooldown_time)
        );
        // The count started again.
        assert_eq!(r.on_failure(FailKind::Timeout, None, true, &p, now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_of_cooldown_time_forgets_earlier_failures() {
        let p = Policy { allowed_fails: Some(1), ..policy() };
        let mut r = Record::default();
        assert_eq!(r.on_failure(FailKind::InternalServer, None, true, &p, Instant::now()), None);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(r.on_failure(FailKind::InternalServer, None, true, &p, Instant::now()), None);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(r.on_failure(FailKind::InternalServer, None, true, &p, Instant::now()).is_some());
        // allowed_fails applies to 429s too once it is set.
        let mut r = Record::default();
        assert_eq!(r.on_failure(FailKind::RateLimit, None, true, &p, Instant::now()), None);
        assert!(r.on_failure(FailKind::RateLimit, None, true, &p, Instant::now()).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_longer_retry_after_sets_the_cooldown_up_to_an_hour() {
        let p = policy();
        let now = Instant::now();
        let wait = |ra: u64| {
            Record::default()
                .on_failure(FailKind::RateLimit, Some(Duration::from_secs(ra)), true, &p, now)
                .map(|at| at - now)
        };
        assert_eq!(wait(2), Some(Duration::from_secs(5)), "shorter: cooldown_time");
        assert_eq!(wait(40), Some(Duration::from_secs(40)), "longer: Retry-After");
        assert_eq!(wait(86_400), Some(MAX_RETRY_AFTER_COOLDOWN));
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_healthy_deployment_counts_but_never_cools() {
        let p = policy();
        let mut r = Record::default();
        for _ in 0..10 {
            assert_eq!(r.on_failure(FailKind::RateLimit, None, false, &p, Instant::now()), None);
        }
        // Once another deployment is healthy again, the next failure cools it.
        assert!(r.on_failure(FailKind::RateLimit, None, true, &p, Instant::now()).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_policy_counts_per_kind_and_opts_in_client_errors() {
        let per_kind = AllowedFailsPolicy {
            rate_limit: Some(2),
            content_policy_violation: Some(0),
            ..AllowedFailsPolicy::default()
        };
        let p = Policy { per_kind, ..policy() };
        let now = Instant::now();
        let mut r = Record::default();
        assert_eq!(r.on_failure(FailKind::RateLimit, None, true, &p, now), None);
        assert_eq!(r.on_failure(FailKind::RateLimit, None, true, &p, now), None);
        // A 503 has its own (generic) count, so it does not add to the 429s.
        assert_eq!(r.on_failure(FailKind::ServiceUnavailable, None, true, &p, now), None);
        assert!(r.on_failure(FailKind::RateLimit, None, true, &p, now).is_some());
        assert!(
            Record::default().on_failure(FailKind::ContentPolicy, None, true, &p, now).is_some()
        );
        // Not named in the policy: a 400 or 401 never counts.
        let mut r = Record::default();
        for _ in 0..10 {
            assert_eq!(r.on_failure(FailKind::BadRequest, None, true, &p, now), None);
            assert_eq!(r.on_failure(FailKind::Authentication, None, true, &p, now), None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn disabled_or_zero_cooldown_time_never_cools() {
        let now = Instant::now();
        for p in [
            Policy { disabled: true, ..policy() },
            Policy { cooldown_time: Duration::ZERO, ..policy() },
        ] {
            assert_eq!(
                Record::default().on_failure(FailKind::RateLimit, None, true, &p, now),
                None
            );
        }
    }
}

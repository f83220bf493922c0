//! Upstream credentials: bearer tokens from Entra ID, the Azure CLI and Google OAuth, and
//! the cache they share.
//!
//! A [`TokenCache`] holds one token per credential. Concurrent callers share one fetch
//! (single flight: the lock is held while fetching), tokens are refreshed a margin ahead of
//! expiry, and a token the upstream rejected is dropped only if it is still the cached one,
//! so N requests failing with the same stale token cause one refresh, not N.
//!
//! Sources: `entra` (service principal, client-credentials grant) and `azure_cli`
//! (`az account get-access-token`). [`shared_cache`] gives every deployment that uses the same
//! credential the same cache.

pub mod azure_cli;
pub mod entra;
pub mod google;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::secrets::Secret;

/// Refresh this long before a token expires.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A bearer token and when it stops being valid.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: Secret<String>,
    pub expires_at: Instant,
}

impl AccessToken {
    /// A token valid for `lifetime` from now (e.g. `expires_in` seconds of an OAuth answer).
    pub fn expiring_in(token: Secret<String>, lifetime: Duration) -> Self {
        AccessToken { token, expires_at: Instant::now() + lifetime }
    }
}

/// One credential's cached token.
#[derive(Debug)]
pub struct TokenCache {
    slot: Mutex<Option<AccessToken>>,
    margin: Duration,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_REFRESH_MARGIN)
    }
}

impl TokenCache {
    pub fn new(margin: Duration) -> Self {
        TokenCache { slot: Mutex::new(None), margin }
    }

    /// The cached token if it is fresh, else the result of `fetch` (stored on success).
    /// Callers arriving during a fetch wait for it and reuse its token.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<Secret<String>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(t) = slot.as_ref()
            && Instant::now() + self.margin < t.expires_at
        {
            return Ok(t.token.clone());
        }
        let fresh = fetch().await?;
        let token = fresh.token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    /// The upstream said `rejected` is not valid (HTTP 401): forget it, unless another
    /// caller already replaced it with a newer token.
    pub async fn invalidate(&self, rejected: &Secret<String>) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|t| &t.token == rejected) {
            *slot = None;
        }
    }
}

/// Why a token could not be obtained. Messages are meant for the user and never contain
/// secrets (client secrets, tokens).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The identity provider answered and refused (AADSTS codes, `az` not logged in).
    #[error("{0}")]
    Refused(String),
    /// The identity provider could not be reached (DNS, TCP, TLS, proxy, timeout).
    #[error("{0}")]
    Unreachable(String),
    /// The answer could not be understood.
    #[error("{0}")]
    Invalid(String),
}

/// The process-wide cache for one credential, shared by every deployment that uses the same
/// credential (same `key`), so the seed's six Azure deployments behind one service principal
/// fetch one token, not six. Entries live as long as some provider holds them.
pub fn shared_cache(key: &str) -> Arc<TokenCache> {
    static CACHES: OnceLock<std::sync::Mutex<HashMap<String, Weak<TokenCache>>>> = OnceLock::new();
    let mut caches = CACHES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(cache) = caches.get(key).and_then(Weak::upgrade) {
        return cache;
    }
    caches.retain(|_, w| w.strong_count() > 0);
    let cache = Arc::new(TokenCache::default());
    caches.insert(key.to_owned(), Arc::downgrade(&cache));
    cache
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn fetcher(calls: Arc<AtomicUsize>, lifetime: Duration) -> Result<AccessToken, String> {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(AccessToken::expiring_in(Secret::new(format!("token-{n}")), lifetime))
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache.get(|| fetcher(calls, Duration::from_secs(3600))).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("join").expect("token").expose(), "token-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_refreshed_ahead_of_expiry() {
        let cache = TokenCache::new(Duration::from_secs(300));
        let calls = Arc::new(AtomicUsize::new(0));
        let get = || cache.get(|| fetcher(calls.clone(), Duration::from_secs(3600)));
        assert_eq!(get().await.expect("t").expose(), "token-1");
        tokio::time::advance(Duration::from_secs(3600 - 301)).await;
        assert_eq!(get().await.expect("t").expose(), "token-1", "still fresh");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(get().await.expect("t").expose(), "token-2", "inside the margin: refreshed");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_token_is_refreshed_once() {
        let cache = TokenCache::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let first =
            cache.get(|| fetcher(calls.clone(), Duration::from_secs(3600))).await.expect("t");
        // Two requests both saw a 401 with the same token: only one refresh follows.
        cache.invalidate(&first).await;
        let second =
            cache.get(|| fetcher(calls.clone(), Duration::from_secs(3600))).await.expect("t");
        cache.invalidate(&first).await;
        let third =
            cache.get(|| fetcher(calls.clone(), Duration::from_secs(3600))).await.expect("t");
        assert_eq!(second.expose(), "token-2");
        assert_eq!(third.expose(), "token-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn shared_caches_are_per_key() {
        let a = shared_cache("entra|https://login|t|c|s");
        let b = shared_cache("entra|https://login|t|c|s");
        let c = shared_cache("entra|https://login|t|other|s");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let cache = TokenCache::default();
        let r: Result<_, String> =
            cache.get(|| async { Err("AADSTS7000215: invalid secret".to_owned()) }).await;
        assert!(r.is_err());
        let ok: Result<_, String> = cache
            .get(|| async {
                Ok(AccessToken::expiring_in(Secret::from("t"), Duration::from_secs(60 * 60)))
            })
            .await;
        assert_eq!(ok.expect("t").expose(), "t");
    }
}

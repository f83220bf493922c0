//! Alias → deployment choice, local rate limits and retries.
//!
//! Exact aliases win over wildcard aliases (`claude-*`); among several deployments for one
//! alias the router rotates, skipping unavailable and rate-limited ones. A failed attempt
//! that may succeed elsewhere (connect error, 429, 5xx) is retried up to `num_retries`
//! (or the deployment's `max_retries`) times: on the next deployment at once when there is
//! one, else on the same one after a backoff or the upstream's `Retry-After` (`retry`).
//! Retries happen only before anything reached the client: a stream is handed over once
//! its response head arrived, and never retried after.

pub mod ratelimit;
pub mod retry;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::config::{Config, Deployment};
use crate::egress::Egress;
use crate::providers::{ChatOutput, Provider, ProviderError};
use crate::telemetry::{printable, request_id};
use crate::translate::{adapt, limits, params};
use crate::wire::openai::{ChatRequest, EmbeddingsRequest, EmbeddingsResponse};
use ratelimit::{RequestLimiter, TokenLimiter};
use retry::parse_retry_after;

/// A deployment with its provider and limits, ready to serve.
pub struct Routed {
    pub dep: Deployment,
    /// The provider, or why the deployment cannot serve.
    pub provider: Result<Provider, String>,
    rpm: Option<RequestLimiter>,
    tpm: Option<TokenLimiter>,
}

impl Routed {
    pub fn new(dep: Deployment, provider: Result<Provider, String>) -> Self {
        let provider = match &dep.unavailable {
            Some(reason) => Err(reason.clone()),
            None => provider,
        };
        Routed {
            rpm: dep.rpm.map(RequestLimiter::new),
            tpm: dep.tpm.map(TokenLimiter::new),
            dep,
            provider,
        }
    }

    pub fn unavailable_reason(&self) -> Option<&str> {
        self.provider.as_ref().err().map(String::as_str)
    }

    /// Count tokens a response reported against `tpm`.
    pub fn record_tokens(&self, tokens: u64) {
        if let Some(t) = &self.tpm {
            t.record(tokens);
        }
    }

    /// The provider, or `Unavailable` with the reason.
    pub fn provider(&self) -> Result<&Provider, RouteError> {
        self.provider.as_ref().map_err(|reason| RouteError::Unavailable {
            model: self.dep.alias.clone(),
            reasons: vec![reason.clone()],
        })
    }

    fn admit(&self) -> Result<(), Duration> {
        if let Some(t) = &self.tpm {
            t.check()?;
        }
        if let Some(r) = &self.rpm {
            r.try_acquire()?;
        }
        Ok(())
    }
}

/// Why a request could not be served.
#[derive(Debug)]
pub enum RouteError {
    UnknownModel {
        model: String,
        available: Vec<String>,
    },
    /// Every deployment for the alias is unavailable; the reasons say what to set.
    Unavailable {
        model: String,
        reasons: Vec<String>,
    },
    RateLimited {
        model: String,
        retry_after: Duration,
    },
    /// The upstream's parameters check failed (drop_params off).
    UnsupportedParams {
        model: String,
        provider: &'static str,
        params: Vec<String>,
    },
    InvalidDefaults {
        model: String,
        message: String,
    },
    Provider {
        err: ProviderError,
    },
}

pub struct Router {
    deployments: Vec<Arc<Routed>>,
    exact: HashMap<String, Vec<usize>>,
    /// (pattern, deployments), most specific pattern first.
    wildcards: Vec<(String, Vec<usize>)>,
    aliases: Vec<String>,
    next: AtomicUsize,
    num_retries: u32,
}

impl Router {
    /// Build providers for every deployment of the config.
    pub fn from_config(config: &Config, egress: &Egress) -> Router {
        let routed = config
            .deployments
            .iter()
            .map(|d| {
                let provider = if d.is_available() {
                    Provider::build(d, egress, &config.env)
                } else {
                    Err(String::new())
                };
                Routed::new(d.clone(), provider)
            })
            .collect();
        Router::new(routed, config.settings.num_retries)
    }

    pub fn new(routed: Vec<Routed>, num_retries: u32) -> Router {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wildcards: Vec<(String, Vec<usize>)> = Vec::new();
        let mut aliases = Vec::new();
        for (i, r) in routed.iter().enumerate() {
            let alias = &r.dep.alias;
            if !aliases.contains(alias) {
                aliases.push(alias.clone());
            }
            if alias.contains('*') {
                match wildcards.iter_mut().find(|(p, _)| p == alias) {
                    Some((_, v)) => v.push(i),
                    None => wildcards.push((alias.clone(), vec![i])),
                }
            } else {
                exact.entry(alias.clone()).or_default().push(i);
            }
        }
        // More literal characters = more specific.
        wildcards.sort_by_key(|(p, _)| std::cmp::Reverse(p.chars().filter(|&c| c != '*').count()));
        Router {
            deployments: routed.into_iter().map(Arc::new).collect(),
            exact,
            wildcards,
            aliases,
            next: AtomicUsize::new(0),
            num_retries,
        }
    }

    pub fn deployments(&self) -> &[Arc<Routed>] {
        &self.deployments
    }

    /// `(ready, total)` deployments: the "N of M models ready" of start-up and reload lines.
    pub fn ready_count(&self) -> (usize, usize) {
        let ready = self.deployments.iter().filter(|r| r.unavailable_reason().is_none()).count();
        (ready, self.deployments.len())
    }

    /// Aliases in config order (wildcards included as written).
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// The deployments an alias maps to.
    pub fn resolve(&self, model: &str) -> Result<Vec<Arc<Routed>>, RouteError> {
        let idx = self.exact.get(model).or_else(|| {
            self.wildcards.iter().find(|(p, _)| wildcard_match(p, model)).map(|(_, v)| v)
        });
        match idx {
            Some(v) => Ok(v.iter().map(|&i| self.deployments[i].clone()).collect()),
            None => Err(RouteError::UnknownModel {
                model: model.to_owned(),
                available: self.aliases.clone(),
            }),
        }
    }

    /// Candidates in the order to try them: rotated for load spreading, unavailable ones out.
    fn ordered(&self, model: &str) -> Result<Vec<Arc<Routed>>, RouteError> {
        let all = self.resolve(model)?;
        let reasons: Vec<String> =
            all.iter().filter_map(|r| r.unavailable_reason().map(str::to_owned)).collect();
        let mut ok: Vec<Arc<Routed>> = all.into_iter().filter(|r| r.provider.is_ok()).collect();
        if ok.is_empty() {
            return Err(RouteError::Unavailable { model: model.to_owned(), reasons });
        }
        if ok.len() > 1 {
            let start = self.next.fetch_add(1, Ordering::Relaxed) % ok.len();
            ok.rotate_left(start);
        }
        Ok(ok)
    }

    /// Pick the next admitted deployment starting at `from` (wrapping).
    fn admit_from(
        model: &str,
        candidates: &[Arc<Routed>],
        from: usize,
    ) -> Result<usize, RouteError> {
        let mut soonest = Duration::MAX;
        for k in 0..candidates.len() {
            let i = (from + k) % candidates.len();
            match candidates[i].admit() {
                Ok(()) => return Ok(i),
                Err(wait) => soonest = soonest.min(wait),
            }
        }
        Err(RouteError::RateLimited { model: model.to_owned(), retry_after: soonest })
    }

    /// Run a chat request against the alias's deployments with retries.
    pub async fn chat(&self, req: ChatRequest) -> Result<(Arc<Routed>, ChatOutput), RouteError> {
        let model = req.model.clone();
        self.with_retries(&model, |routed| {
            let req = req.clone();
            async move {
                let provider = routed.provider()?;
                let prepared = prepare(&routed.dep, provider, req)?;
                provider.chat(prepared).await.map_err(|err| RouteError::Provider { err })
            }
        })
        .await
    }

    /// Input tokens of a request from the upstream's own counter, if the alias's first
    /// available deployment has one (`Ok(None)`: estimate locally). Counting uses no `rpm`.
    pub async fn count_tokens(&self, req: &ChatRequest) -> Result<Option<u64>, RouteError> {
        let candidates = self.resolve(&req.model)?;
        let Some(routed) = candidates.iter().find(|r| r.provider.is_ok()) else {
            return Ok(None);
        };
        let Ok(provider) = &routed.provider else { return Ok(None) };
        let mut prepared = req.clone();
        adapt::for_provider(routed.dep.provider, &mut prepared);
        match provider.count_tokens(&prepared).await {
            None => Ok(None),
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(err)) => Err(RouteError::Provider { err }),
        }
    }

    pub async fn embeddings(
        &self,
        req: EmbeddingsRequest,
    ) -> Result<(Arc<Routed>, EmbeddingsResponse), RouteError> {
        let model = req.model.clone();
        self.with_retries(&model, |routed| {
            let req = req.clone();
            async move {
                let provider = routed.provider()?;
                provider.embeddings(req).await.map_err(|err| RouteError::Provider { err })
            }
        })
        .await
    }

    /// Pick an admitted deployment, call it, and on a retryable failure try again (on the
    /// next deployment when there is one) up to its `max_retries` / `num_retries`.
    async fn with_retries<T, F, Fut>(
        &self,
        model: &str,
        mut call: F,
    ) -> Result<(Arc<Routed>, T), RouteError>
    where
        F: FnMut(Arc<Routed>) -> Fut,
        Fut: Future<Output = Result<T, RouteError>>,
    {
        let candidates = self.ordered(model)?;
        let mut pos = 0;
        let mut attempt = 0u32;
        loop {
            let i = Self::admit_from(model, &candidates, pos)?;
            let routed = candidates[i].clone();
            let retries = routed.dep.max_retries.unwrap_or(self.num_retries);
            attempt += 1;
            let err = match call(routed.clone()).await {
                Ok(out) => {
                    if attempt > 1 {
                        tracing::info!(
                            "model={} answered by deployment {} on attempt {attempt} request_id={}",
                            printable(model),
                            routed.dep.index,
                            request_id()
                        );
                    }
                    return Ok((routed, out));
                }
                Err(RouteError::Provider { err }) if err.is_retryable() => err,
                Err(err) => return Err(err),
            };
            let other = candidates.len() > 1;
            let retry_after =
                err.retry_after().and_then(|v| parse_retry_after(v, SystemTime::now()));
            let wait = match retry::next(attempt, retry_after, other, fastrand::f64()) {
                retry::Next::After(wait) if attempt <= retries => wait,
                decision => {
                    if attempt > 1 || decision == retry::Next::GiveUp {
                        let why = if decision == retry::Next::GiveUp {
                            "the upstream asks to wait longer than ai-proxy waits; passing its answer on"
                        } else {
                            "no retries left"
                        };
                        tracing::warn!(
                            "model={} gave up after {attempt} attempt(s) ({why}): {err} request_id={}",
                            printable(model),
                            request_id()
                        );
                    }
                    return Err(RouteError::Provider { err });
                }
            };
            tracing::warn!(
                "model={} deployment {} failed on attempt {attempt} of {}: {err}; retrying in {} request_id={}",
                printable(model),
                routed.dep.index,
                retries + 1,
                crate::providers::http::human(wait),
                request_id()
            );
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            pos = i + 1;
        }
    }
}

/// Defaults, then parameter dropping, for one deployment.
fn prepare(
    dep: &Deployment,
    provider: &Provider,
    req: ChatRequest,
) -> Result<ChatRequest, RouteError> {
    let mut req = params::apply_defaults(req, &dep.request_defaults)
        .map_err(|message| RouteError::InvalidDefaults { model: dep.alias.clone(), message })?;
    if let Some(ceiling) = limits::max_output_tokens(&dep.model_info, &dep.model)
        && limits::clamp(&mut req, ceiling)
    {
        tracing::debug!(
            "model={}: max_tokens lowered to the model's {ceiling}",
            printable(&dep.alias)
        );
    }
    adapt::for_provider(dep.provider, &mut req);
    adapt::optional_thinking(provider.unsupported_params(), &mut req);
    params::drop_unsupported(
        &mut req,
        provider.unsupported_params(),
        dep.drop_params,
        &dep.additional_drop_params,
    )
    .map_err(|u| RouteError::UnsupportedParams {
        model: dep.alias.clone(),
        provider: dep.provider.name(),
        params: u.params,
    })?;
    Ok(req)
}

/// Glob match with `*` for any run of characters.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;

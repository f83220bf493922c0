//! Alias → deployment choice, load balancing, local rate limits, retries, cooldowns and
//! fallbacks, LiteLLM's router as `router_settings` configures it.
//!
//! Exact aliases win over wildcard aliases (`claude-*`). Among several deployments for one
//! alias, `select` orders them by `order` and the `routing_strategy`; cooling, busy
//! (`max_parallel_requests`) and rate-limited ones are skipped. A failed attempt that may
//! succeed elsewhere (connect error, 429, 5xx) is retried up to `num_retries` (or the
//! deployment's `max_retries`) times: on the next deployment at once when there is one, else
//! on the same one after a backoff or the upstream's `Retry-After` (`retry`). Failures count
//! towards a deployment's cooldown (`cooldown`, kept in `health`). When an alias cannot
//! answer, the request moves to its fallbacks (`fallback`), each with its own retries.
//! All of this happens only before anything reached the client: a stream is handed over
//! with its first chunk (or once it has been silent for a keep-alive interval), and never
//! retried or moved after.

pub mod budget;
pub mod cooldown;
pub mod fallback;
pub mod health;
pub mod ratelimit;
pub mod retry;
pub mod select;

use rustc_hash::FxHashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::time::Instant;

use crate::config::{Config, Deployment, RouterSettings, RoutingStrategy};
use crate::egress::Egress;
use crate::providers::{ChatOutput, ChunkStream, Provider, ProviderError};
use crate::telemetry::{printable, request_id};
use crate::translate::verbatim::Verbatim;
use crate::translate::{adapt, limits, params};
use crate::usage::price::{self, Prices};
use crate::wire::openai::{
    CallTimeouts, ChatChunk, ChatCompletion, ChatRequest, EmbeddingsRequest, EmbeddingsResponse,
};
use fallback::{Chain, Trigger};
use health::{Health, Report};
use ratelimit::{RequestLimiter, TokenLimiter};
use retry::parse_retry_after;

/// A deployment with its provider, limits and live state, ready to serve.
pub struct Routed {
    pub dep: Deployment,
    /// LiteLLM's `model_info.id` when set, else a stable hash of what the deployment calls
    /// (the request log's `model_id`, the key its budget is summed by). Shared: every
    /// answered call's log record carries it.
    pub id: Arc<str>,
    /// The provider, or why the deployment cannot serve.
    pub provider: Result<Provider, String>,
    /// Requests in flight, cooldown, last error, latency and usage.
    pub health: Health,
    rpm: Option<RequestLimiter>,
    tpm: Option<TokenLimiter>,
    /// Its share for `simple-shuffle` (`None`: the alias's deployments share evenly).
    share: Option<f64>,
    max_parallel: Option<u32>,
    cooldown: cooldown::Policy,
    /// `max_budget` / `budget_duration`: spend in the rolling window.
    budget: Option<budget::Spend>,
    /// What its tokens cost (`usage::price::for_deployment`), looked up once: every answered
    /// call is priced.
    prices: Option<Prices>,
    /// `provider/model` ([`Routed::label`]), made once: every answer's headers and log line
    /// carry it, and the request log's record shares it.
    label: Arc<str>,
    /// `index:provider/model` ([`Routed::served_as`]), the `x-ai-proxy-deployment` header's
    /// text, made once.
    served_as: bytes::Bytes,
    /// Its alias as a header value (`x-litellm-model-group`), made once; `None` when the
    /// alias is not a valid header value.
    alias_header: Option<http::HeaderValue>,
    /// The most output tokens the model gives (`limits::max_output_tokens`), looked up once:
    /// every chat request is clamped to it.
    output_ceiling: Option<u32>,
}

impl Routed {
    pub fn new(dep: Deployment, provider: Result<Provider, String>) -> Self {
        let provider = match &dep.unavailable {
            Some(reason) => Err(reason.clone()),
            None => provider,
        };
        let label = format!("{}/{}", dep.provider.name(), dep.model);
        Routed {
            id: deployment_id(&dep).into(),
            prices: price::for_deployment(&dep).map(|(p, _)| p),
            served_as: format!("{}:{label}", dep.index).into(),
            alias_header: http::HeaderValue::from_str(&dep.alias).ok(),
            label: label.into(),
            output_ceiling: limits::max_output_tokens(&dep.model_info, &dep.model),
            budget: dep.budget.map(budget::Spend::new),
            rpm: dep.rpm.map(RequestLimiter::new),
            tpm: dep.tpm.map(TokenLimiter::new),
            health: Health::new(false),
            share: None,
            max_parallel: dep.max_parallel_requests,
            cooldown: cooldown::Policy {
                allowed_fails: None,
                per_kind: Default::default(),
                cooldown_time: dep
                    .cooldown_time
                    .unwrap_or(crate::config::routing::DEFAULT_COOLDOWN_TIME),
                disabled: false,
            },
            dep,
            provider,
        }
    }

    /// What its tokens cost, `None` when unknown.
    pub fn prices(&self) -> Option<&Prices> {
        self.prices.as_ref()
    }

    /// Apply the router's settings (strategy figures, cooldown rules, parallel limit).
    fn configure(&mut self, settings: &RouterSettings, share: Option<f64>) {
        self.share = share;
        self.health = Health::new(settings.routing_strategy == RoutingStrategy::UsageBased);
        self.max_parallel =
            self.dep.max_parallel_requests.or(settings.default_max_parallel_requests);
        self.cooldown = cooldown::Policy {
            allowed_fails: settings.allowed_fails,
            per_kind: settings.allowed_fails_policy,
            cooldown_time: self.dep.cooldown_time.unwrap_or(settings.cooldown_time),
            disabled: settings.disable_cooldowns,
        };
    }

    pub fn unavailable_reason(&self) -> Option<&str> {
        self.provider.as_ref().err().map(String::as_str)
    }

    /// Count tokens a response reported against `tpm` (and for `usage-based-routing-v2`).
    pub fn record_tokens(&self, tokens: u64) {
        if let Some(t) = &self.tpm {
            t.record(tokens);
        }
        self.health.record_tokens(tokens);
    }

    /// Count a priced call against the deployment's budget.
    pub fn record_spend(&self, started_ms: i64, usd: f64) {
        if let Some(b) = &self.budget {
            b.add(started_ms, usd, crate::usage::now_ms());
        }
    }

    /// The budget's spend tracker, when the deployment has `max_budget`.
    pub fn budget(&self) -> Option<&budget::Spend> {
        self.budget.as_ref()
    }

    /// The provider, or `Unavailable` with the reason.
    pub fn provider(&self) -> Result<&Provider, RouteError> {
        self.provider.as_ref().map_err(|reason| RouteError::Unavailable {
            model: self.dep.alias.clone(),
            reasons: vec![reason.clone()],
        })
    }

    /// `provider/model`, as logs, headers and `/health` name the deployment.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// [`Routed::label`], shared rather than copied.
    pub fn shared_label(&self) -> &Arc<str> {
        &self.label
    }

    /// `index:provider/model`: which deployment of its alias answered, as the
    /// `x-ai-proxy-deployment` header tells the client. A clone shares the bytes.
    pub fn served_as(&self) -> &bytes::Bytes {
        &self.served_as
    }

    /// The header value of `name` when it is this deployment's alias (a clone shares the
    /// bytes), else `None`.
    pub fn alias_header(&self, name: &str) -> Option<&http::HeaderValue> {
        self.alias_header.as_ref().filter(|_| self.dep.alias == name)
    }

    /// Its state now, for the readiness probe, `/health` and the tray.
    pub fn report(&self) -> Report {
        self.health.report(self.unavailable_reason(), Instant::now())
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

/// LiteLLM's `model_info.id` (a string or a number), else `h:` and an FNV-1a hash of the
/// alias, provider, model, base URL, API version and Vertex project/region (never a
/// credential): the same deployment gets the same id in every run and version.
fn deployment_id(dep: &Deployment) -> String {
    match dep.model_info.get("id") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => return s.clone(),
        Some(serde_json::Value::Number(n)) => return n.to_string(),
        _ => {}
    }
    let param = |k: &str| dep.params.0.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let parts = [
        dep.alias.as_str(),
        dep.provider.name(),
        dep.model.as_str(),
        dep.api_base.as_deref().unwrap_or(""),
        dep.api_version.as_deref().unwrap_or(""),
        param("vertex_project"),
        param("vertex_location"),
    ];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.as_bytes().iter().chain(&[0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("h:{h:016x}")
}

/// A deployment's in-flight slot: taken when a call starts, given back when the answer (or
/// the stream) is done.
pub struct Slot(Arc<Routed>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.health.leave();
    }
}

/// Who answered a request, for the response headers and the log line. Holds the
/// deployment's in-flight slot until dropped (for a stream, when the stream ends).
pub struct Served {
    slot: Slot,
    /// The alias that answered, when a fallback did (else the one asked for).
    pub fallback_alias: Option<String>,
    /// Fallback aliases started (`x-litellm-attempted-fallbacks`).
    pub fallbacks: u32,
    /// Attempts after the first, over every alias (`x-litellm-attempted-retries`).
    pub retries: u32,
}

impl Served {
    pub fn routed(&self) -> &Arc<Routed> {
        &self.slot.0
    }
}

/// A chat answer: whole, or a stream with its first chunk already taken (`None` when the
/// upstream was silent for a keep-alive interval: the stream starts anyway).
// One per call, moved a few times and never stored (as `ChatOutput`).
#[allow(clippy::large_enum_variant)]
pub enum Reply {
    Complete(ChatCompletion),
    /// An OpenAI-dialect upstream's answer as it wrote it; only when
    /// [`RequestOptions::verbatim`] asked for it.
    Verbatim(Verbatim),
    Stream {
        first: Option<ChatChunk>,
        rest: ChunkStream,
    },
}

/// What a request's body asks of the router (LiteLLM's per-call router parameters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestOptions {
    /// `timeout` / `stream_timeout`: replace the deployment's for this request.
    pub timeouts: CallTimeouts,
    /// `fallbacks`: replace the configured ones of the requested alias.
    pub fallbacks: Option<Vec<String>>,
    /// `disable_fallbacks`.
    pub disable_fallbacks: bool,
    /// `mock_testing_fallbacks` and kin: the requested alias fails without a call.
    pub mock_failure: Option<Trigger>,
    /// Not from the body: the caller takes [`Reply::Verbatim`] (the chat route, which
    /// answers in the upstream's dialect).
    pub verbatim: bool,
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
    /// Every deployment that is not cooling down has spent its `max_budget` in the last
    /// `budget_duration`; `deployment` is the one back under budget soonest.
    OverBudget {
        model: String,
        deployment: String,
        over: budget::Over,
    },
    /// Every deployment has `max_parallel_requests` calls in flight.
    Busy {
        model: String,
        limit: u32,
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
    /// Alias → deployments. FxHash: the keys are the config's aliases, the lookup is on every
    /// request, and SipHash's flooding resistance buys nothing for a table this small and fixed.
    exact: FxHashMap<String, Vec<usize>>,
    /// (pattern, deployments), most specific pattern first.
    wildcards: Vec<(String, Vec<usize>)>,
    aliases: Vec<String>,
    /// Some alias (exact or wildcard) is served by Claude deployments only: `/v1/messages`
    /// may be passed through, so its body's `model` is worth reading first.
    any_passthrough: bool,
    next: AtomicUsize,
    num_retries: u32,
    settings: RouterSettings,
}

/// A non-empty group of deployments, all of them Claude upstreams.
fn all_claude<R: std::borrow::Borrow<Routed>>(routed: &[R], group: &[usize]) -> bool {
    !group.is_empty() && group.iter().all(|&i| routed[i].borrow().dep.provider.is_claude())
}

/// Why picking a deployment failed.
enum NoPick {
    /// Every candidate is cooling down.
    Cooling,
    Refused(RouteError),
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
        Router::with_settings(routed, config.settings.num_retries, config.settings.router.clone())
    }

    pub fn new(routed: Vec<Routed>, num_retries: u32) -> Router {
        Router::with_settings(routed, num_retries, RouterSettings::default())
    }

    pub fn with_settings(
        mut routed: Vec<Routed>,
        num_retries: u32,
        settings: RouterSettings,
    ) -> Router {
        let mut exact: FxHashMap<String, Vec<usize>> = FxHashMap::default();
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
        for group in exact.values().chain(wildcards.iter().map(|(_, v)| v)) {
            let deps: Vec<&Deployment> = group.iter().map(|&i| &routed[i].dep).collect();
            let shares = shares(&deps);
            for (&i, share) in group.iter().zip(shares) {
                routed[i].configure(&settings, share);
            }
        }
        let any_passthrough = exact
            .values()
            .chain(wildcards.iter().map(|(_, v)| v))
            .any(|group| all_claude(&routed, group));
        Router {
            deployments: routed.into_iter().map(Arc::new).collect(),
            exact,
            wildcards,
            aliases,
            any_passthrough,
            next: AtomicUsize::new(0),
            num_retries,
            settings,
        }
    }

    pub fn deployments(&self) -> &[Arc<Routed>] {
        &self.deployments
    }

    pub fn settings(&self) -> &RouterSettings {
        &self.settings
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

    fn indices(&self, model: &str) -> Option<&[usize]> {
        self.exact
            .get(model)
            .or_else(|| {
                self.wildcards.iter().find(|(p, _)| wildcard_match(p, model)).map(|(_, v)| v)
            })
            .map(Vec::as_slice)
    }

    /// The deployments an alias maps to.
    pub fn resolve(&self, model: &str) -> Result<Vec<Arc<Routed>>, RouteError> {
        match self.indices(model) {
            Some(v) => Ok(v.iter().map(|&i| self.deployments[i].clone()).collect()),
            None => Err(RouteError::UnknownModel {
                model: model.to_owned(),
                available: self.aliases.clone(),
            }),
        }
    }

    /// Whether a fallback may go to `model`: some deployment of it can serve.
    fn usable(&self, model: &str) -> bool {
        self.indices(model).is_some_and(|v| v.iter().any(|&i| self.deployments[i].provider.is_ok()))
    }

    /// Run a chat request: a deployment of the alias (or of a fallback) with retries. A
    /// stream comes back with its first chunk, waited for at most `keep_alive`, so an
    /// upstream that fails before sending anything is retried or falls back too.
    pub fn chat<'a>(
        &'a self,
        req: ChatRequest,
        opts: &'a RequestOptions,
        keep_alive: Duration,
    ) -> impl Future<Output = Result<(Served, Reply), RouteError>> + 'a {
        // Not an `async fn`: its future would keep `req` as an argument and again in `input`.
        let model = req.model.clone();
        let mut input = Some(req);
        async move {
            self.route(&model, opts, &mut input, |routed, req| async move {
                let provider = routed.provider()?;
                let mut prepared = prepare(&routed, provider, req)?;
                prepared.call_timeouts = opts.timeouts;
                prepared.verbatim = opts.verbatim;
                match provider.chat(prepared).await {
                    Ok(ChatOutput::Complete(c)) => Ok(Reply::Complete(c)),
                    Ok(ChatOutput::Verbatim(v)) => Ok(Reply::Verbatim(v)),
                    Ok(ChatOutput::Stream(mut rest)) => match peek(&mut rest, keep_alive).await {
                        Ok(first) => Ok(Reply::Stream { first, rest }),
                        Err(err) => Err(RouteError::Provider { err }),
                    },
                    Err(err) => Err(RouteError::Provider { err }),
                }
            })
            .await
        }
    }

    /// Whether `/v1/messages` to `model` is relayed as it is: every deployment of the alias is
    /// a Claude upstream (Anthropic, Vertex AI, Azure AI Foundry).
    pub fn is_passthrough(&self, model: &str) -> bool {
        self.indices(model).is_some_and(|v| all_claude(&self.deployments, v))
    }

    /// Whether [`Router::is_passthrough`] is true for any model name at all (false when no
    /// alias is served by Claude deployments only, as in a config without Claude).
    pub fn any_passthrough(&self) -> bool {
        self.any_passthrough
    }

    /// Relay a `/v1/messages` body to a Claude deployment of `model`, with the router's
    /// choice, limits, retries, cooldowns and fallbacks. The answer is the upstream's 2xx
    /// response, its body not read yet. A fallback to an alias that is not Claude is an
    /// error (the body is Anthropic's, not the hub's).
    pub async fn passthrough(
        &self,
        model: &str,
        body: bytes::Bytes,
        stream: bool,
        betas: Option<String>,
        opts: &RequestOptions,
    ) -> Result<(Served, reqwest::Response), RouteError> {
        self.route(model, opts, &mut Some((body, betas)), |routed, (body, betas)| {
            async move {
                let provider = routed.provider()?;
                let Provider::Claude(claude) = provider else {
                    return Err(RouteError::Provider {
                        err: ProviderError::InvalidRequest {
                            message: format!(
                                "model `{}` is not a Claude model: a /v1/messages request to a Claude model can only fall back to Claude models",
                                routed.dep.alias
                            ),
                            param: Some("model".into()),
                        },
                    });
                };
                let timeouts =
                    crate::providers::Timeouts::for_deployment(&routed.dep).with(opts.timeouts);
                claude
                    .passthrough(&body, stream, betas.as_deref(), timeouts)
                    .await
                    .map_err(|err| RouteError::Provider { err })
            }
        })
        .await
    }

    /// Anthropic's own count for a `/v1/messages/count_tokens` body, when the alias's first
    /// available deployment is on Anthropic's API (`Ok(None)`: estimate locally).
    pub async fn count_tokens_raw(
        &self,
        model: &str,
        body: &[u8],
        betas: Option<&str>,
    ) -> Result<Option<u64>, RouteError> {
        let candidates = self.resolve(model)?;
        let Some(Ok(Provider::Claude(claude))) =
            candidates.iter().find(|r| r.provider.is_ok()).map(|r| &r.provider)
        else {
            return Ok(None);
        };
        match claude.count_tokens_raw(body, betas).await {
            None => Ok(None),
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(err)) => Err(RouteError::Provider { err }),
        }
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
        opts: &RequestOptions,
    ) -> Result<(Served, EmbeddingsResponse), RouteError> {
        let model = req.model.clone();
        self.route(&model, opts, &mut Some(req), |routed, mut req| {
            req.call_timeouts = opts.timeouts;
            async move {
                let provider = routed.provider()?;
                provider.embeddings(req).await.map_err(|err| RouteError::Provider { err })
            }
        })
        .await
    }

    /// The candidates of an alias in the order to try them (`select::arrange`).
    fn arrange(&self, group: &[usize], now: Instant) -> Vec<usize> {
        let available: Vec<usize> =
            group.iter().copied().filter(|&i| self.deployments[i].provider.is_ok()).collect();
        if available.len() <= 1 {
            return available;
        }
        let strategy = self.settings.routing_strategy;
        let figures: Vec<select::Candidate> = available
            .iter()
            .map(|&i| {
                let r = &self.deployments[i];
                select::Candidate {
                    order: r.dep.order,
                    share: r.share,
                    in_flight: r.health.in_flight(),
                    latency_us: r.health.latency_us(),
                    tokens: r.health.tokens_this_minute(),
                    cooling: r.health.cooling_until(now).is_some(),
                }
            })
            .collect();
        let rotation = self.next.fetch_add(1, Ordering::Relaxed);
        let buffer = self.settings.lowest_latency_buffer;
        select::arrange(strategy, &figures, rotation, buffer, &mut fastrand::f64)
            .into_iter()
            .map(|k| available[k])
            .collect()
    }

    /// The first deployment from position `from` of `order` (wrapping) that is not cooling
    /// (unless `forced`), has a free slot and is within its `rpm`/`tpm`.
    fn pick(
        &self,
        model: &str,
        order: &[usize],
        from: usize,
        forced: bool,
        now: Instant,
    ) -> Result<(usize, Slot), NoPick> {
        let mut cooling = 0;
        let mut busy = None;
        let mut soonest = None::<Duration>;
        let mut over_budget: Vec<(Arc<Routed>, budget::Over)> = Vec::new();
        for k in 0..order.len() {
            let pos = (from + k) % order.len();
            let r = &self.deployments[order[pos]];
            if !forced && r.health.cooling_until(now).is_some() {
                cooling += 1;
                continue;
            }
            if let Some(b) = &r.budget
                && let Err(over) = b.check(crate::usage::now_ms())
            {
                over_budget.push((r.clone(), over));
                continue;
            }
            if !r.health.try_enter(r.max_parallel) {
                busy = busy.max(r.max_parallel);
                continue;
            }
            let slot = Slot(r.clone());
            match r.admit() {
                Ok(()) => return Ok((pos, slot)),
                Err(wait) => soonest = Some(soonest.map_or(wait, |s| s.min(wait))),
            }
        }
        if cooling == order.len() {
            return Err(NoPick::Cooling);
        }
        // Only spent deployments (and cooling ones) left: say so, with the soonest one to
        // come back under its budget.
        if soonest.is_none()
            && busy.is_none()
            && let Some((routed, over)) = over_budget.into_iter().min_by_key(|(_, o)| o.retry_after)
        {
            return Err(NoPick::Refused(RouteError::OverBudget {
                model: model.to_owned(),
                deployment: routed.label().to_owned(),
                over,
            }));
        }
        Err(NoPick::Refused(match (soonest, busy) {
            (Some(retry_after), _) => {
                RouteError::RateLimited { model: model.to_owned(), retry_after }
            }
            (None, Some(limit)) => RouteError::Busy { model: model.to_owned(), limit },
            // Unreachable with a non-empty order; say rate limited rather than panic.
            (None, None) => RouteError::RateLimited {
                model: model.to_owned(),
                retry_after: Duration::from_secs(1),
            },
        }))
    }

    /// Whether `routed` may cool down now: another deployment of its alias can still serve,
    /// or the alias has a fallback. (The last healthy deployment is never cooled down.)
    fn may_cool(&self, order: &[usize], routed: &Routed, alias: &str, now: Instant) -> bool {
        fallback::has_fallback(&self.settings, alias)
            || order.iter().any(|&i| {
                let other = &self.deployments[i];
                !std::ptr::eq(other.as_ref(), routed) && other.health.cooling_until(now).is_none()
            })
    }

    /// Pick a deployment, call it, and on a failure retry (the next deployment when there
    /// is one), count it towards the deployment's cooldown, and when the alias cannot
    /// answer, move to its fallbacks. One loop: each alias of the chain gets its own retries.
    /// Each call gets the value in `input`: a copy while another attempt could follow, the
    /// value itself on the last one possible (with no retries and no fallbacks, the only
    /// one). It is borrowed, not moved in: a request moved into this future would be stored
    /// in it a second time, and every move of the future copies it (`memcpy`).
    async fn route<I, T, F, Fut>(
        &self,
        model: &str,
        opts: &RequestOptions,
        input: &mut Option<I>,
        mut call: F,
    ) -> Result<(Served, T), RouteError>
    where
        I: Clone,
        F: FnMut(Arc<Routed>, I) -> Fut,
        Fut: Future<Output = Result<T, RouteError>>,
    {
        let mut chain = Chain::new(
            model,
            opts.fallbacks.as_deref(),
            opts.disable_fallbacks,
            self.settings.max_fallbacks,
        );
        // The alias being tried: the requested one, then fallbacks.
        let mut fallback_alias: Option<String> = None;
        let mut retries = 0u32;
        let mut last_err: Option<RouteError> = None;
        'alias: loop {
            let alias = fallback_alias.as_deref().unwrap_or(model);
            // Why this alias could not answer, and which fallback that calls for.
            let (err, trigger) = 'attempts: {
                if fallback_alias.is_none()
                    && let Some(t) = opts.mock_failure
                {
                    break 'attempts (mock_failure(alias, t), Some(t));
                }
                let Some(group) = self.indices(alias) else {
                    let err = RouteError::UnknownModel {
                        model: alias.to_owned(),
                        available: self.aliases.clone(),
                    };
                    break 'attempts (err, None);
                };
                let now = Instant::now();
                let order = self.arrange(group, now);
                if order.is_empty() {
                    let reasons = group
                        .iter()
                        .filter_map(|&i| {
                            self.deployments[i].unavailable_reason().map(str::to_owned)
                        })
                        .collect();
                    let err = RouteError::Unavailable { model: alias.to_owned(), reasons };
                    break 'attempts (err, Some(Trigger::Failure));
                }
                let mut forced = false;
                let mut pos = 0;
                let mut attempt = 0u32;
                loop {
                    let now = Instant::now();
                    let (i, slot) = match self.pick(alias, &order, pos, forced, now) {
                        Ok(picked) => picked,
                        Err(NoPick::Refused(err)) => break 'attempts (err, Some(Trigger::Failure)),
                        Err(NoPick::Cooling) => {
                            chain.failed(&self.settings, alias, Trigger::Failure);
                            if let Some(next) = chain.next(|m| self.usable(m)) {
                                tracing::warn!(
                                    "model={}: every deployment is cooling down; falling back to {} request_id={}",
                                    printable(alias),
                                    printable(&next),
                                    request_id()
                                );
                                fallback_alias = Some(next);
                                continue 'alias;
                            }
                            tracing::warn!(
                                "model={}: every deployment is cooling down and there is no fallback; trying them anyway request_id={}",
                                printable(alias),
                                request_id()
                            );
                            forced = true;
                            continue;
                        }
                    };
                    let routed = slot.0.clone();
                    let max_retries = routed.dep.max_retries.unwrap_or(self.num_retries);
                    attempt += 1;
                    // No attempt can follow this one: no retry left, no fallback to go to.
                    let last = attempt > max_retries && !chain.may_follow(&self.settings, alias);
                    let given = if last { input.take() } else { input.clone() };
                    let given = given.expect("the router makes no attempt after the last one");
                    let started = Instant::now();
                    let err = match call(routed.clone(), given).await {
                        Ok(out) => {
                            let now = Instant::now();
                            routed.health.on_success(now);
                            if self.settings.routing_strategy == RoutingStrategy::LatencyBased {
                                routed.health.record_latency(now - started);
                            }
                            if attempt > 1 || fallback_alias.is_some() {
                                tracing::info!(
                                    "model={} answered by {}deployment {} on attempt {attempt} request_id={}",
                                    printable(model),
                                    fallback_alias
                                        .as_deref()
                                        .map(|a| format!("fallback {} ", printable(a)))
                                        .unwrap_or_default(),
                                    routed.dep.index,
                                    request_id()
                                );
                            }
                            let fallbacks = chain.started();
                            drop(routed);
                            let served = Served { slot, fallback_alias, fallbacks, retries };
                            return Ok((served, out));
                        }
                        Err(RouteError::Provider { err }) => err,
                        Err(other) => {
                            let trigger = fallback::trigger(&other);
                            break 'attempts (other, trigger);
                        }
                    };
                    drop(slot);
                    let now = Instant::now();
                    let retry_after =
                        err.retry_after().and_then(|v| parse_retry_after(v, SystemTime::now()));
                    if matches!(err, ProviderError::Timeout { .. })
                        && self.settings.routing_strategy == RoutingStrategy::LatencyBased
                    {
                        routed.health.record_latency(now - started);
                    }
                    let may_cool = self.may_cool(&order, &routed, alias, now);
                    if let Some(until) =
                        routed.health.on_failure(&err, retry_after, may_cool, &routed.cooldown, now)
                    {
                        tracing::warn!(
                            "model={} deployment {} ({}) cooling down for {}: {err} request_id={}",
                            printable(alias),
                            routed.dep.index,
                            printable(routed.label()),
                            crate::providers::http::human(until - now),
                            request_id()
                        );
                    }
                    let trigger = fallback::trigger(&RouteError::Provider { err: err.clone() });
                    if !err.is_retryable() || attempt > max_retries {
                        if attempt > 1 {
                            tracing::warn!(
                                "model={} gave up after {attempt} attempt(s) (no retries left): {err} request_id={}",
                                printable(alias),
                                request_id()
                            );
                        }
                        break 'attempts (RouteError::Provider { err }, trigger);
                    }
                    let other = order.len() > 1
                        && order.iter().any(|&j| {
                            j != order[i]
                                && (forced
                                    || self.deployments[j].health.cooling_until(now).is_none())
                        });
                    let decision = retry::next(attempt, retry_after, other, fastrand::f64());
                    let cooled = routed.health.cooling_until(now).is_some();
                    let wait = match decision {
                        retry::Next::After(wait) if other || forced || !cooled => wait,
                        retry::Next::After(wait) => {
                            // The only deployment just cooled down: a fallback answers sooner.
                            chain.failed(&self.settings, alias, Trigger::Failure);
                            if let Some(next) = chain.next(|m| self.usable(m)) {
                                self.log_fallback(alias, &err, &next);
                                last_err = Some(RouteError::Provider { err });
                                fallback_alias = Some(next);
                                continue 'alias;
                            }
                            forced = true;
                            wait
                        }
                        retry::Next::GiveUp => {
                            tracing::warn!(
                                "model={} gave up after {attempt} attempt(s) (the upstream asks to wait longer than ai-proxy waits; passing its answer on): {err} request_id={}",
                                printable(alias),
                                request_id()
                            );
                            break 'attempts (RouteError::Provider { err }, trigger);
                        }
                    };
                    tracing::warn!(
                        "model={} deployment {} failed on attempt {attempt} of {}: {err}; retrying in {} request_id={}",
                        printable(alias),
                        routed.dep.index,
                        max_retries + 1,
                        crate::providers::http::human(wait),
                        request_id()
                    );
                    retries += 1;
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    pos = if other { i + 1 } else { i };
                }
            };
            // This alias could not answer: its fallbacks, if the failure calls for one.
            if let Some(t) = trigger {
                chain.failed(&self.settings, alias, t);
            }
            let next = match &err {
                RouteError::UnknownModel { .. } if fallback_alias.is_none() => None,
                _ => chain.next(|m| self.usable(m)),
            };
            match next {
                Some(next) => {
                    self.log_fallback(alias, &err, &next);
                    last_err = Some(err);
                    fallback_alias = Some(next);
                }
                None => {
                    // An alias skipped as unusable never produces an error; the last real one wins.
                    let keep_earlier =
                        matches!(err, RouteError::Unavailable { .. }) && last_err.is_some();
                    return Err(if keep_earlier { last_err.unwrap_or(err) } else { err });
                }
            }
        }
    }

    fn log_fallback(&self, alias: &str, err: &dyn std::fmt::Display, next: &str) {
        tracing::warn!(
            "model={} failed ({err}); falling back to {} request_id={}",
            printable(alias),
            printable(next),
            request_id()
        );
    }
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::UnknownModel { model, .. } => write!(f, "unknown model `{model}`"),
            RouteError::Unavailable { model, .. } => write!(f, "model `{model}` is not available"),
            RouteError::RateLimited { model, .. } => {
                write!(f, "model `{model}` is over its rpm/tpm limit")
            }
            RouteError::OverBudget { model, over, .. } => write!(
                f,
                "model `{model}` has spent ${} of its ${} budget per {}",
                budget::usd(over.spent),
                budget::usd(over.limit.max_usd),
                budget::human(over.limit.period)
            ),
            RouteError::Busy { model, limit } => {
                write!(f, "model `{model}` has {limit} requests in flight (max_parallel_requests)")
            }
            RouteError::UnsupportedParams { model, params, .. } => {
                write!(f, "model `{model}` does not take {params:?}")
            }
            RouteError::InvalidDefaults { model, message } => {
                write!(f, "model `{model}`: {message}")
            }
            RouteError::Provider { err } => write!(f, "{err}"),
        }
    }
}

/// The failure `mock_testing_fallbacks` (and its context-window and content-policy kin)
/// stands for: no upstream is called.
fn mock_failure(model: &str, trigger: Trigger) -> RouteError {
    let (status, code, text) = match trigger {
        Trigger::Failure => (500, None, "mock_testing_fallbacks: a failure to test fallbacks"),
        Trigger::ContextWindow => (
            400,
            Some("context_length_exceeded"),
            "mock_testing_context_fallbacks: a context window error to test fallbacks",
        ),
        Trigger::ContentPolicy => (
            400,
            Some("content_filter"),
            "mock_testing_content_policy_fallbacks: a content filter refusal to test fallbacks",
        ),
    };
    RouteError::Provider {
        err: ProviderError::Upstream {
            status,
            message: format!("model `{model}`: {text}"),
            kind: None,
            code: code.map(str::to_owned),
            param: None,
            retry_after: None,
            details: None,
        },
    }
}

/// Each deployment's `simple-shuffle` share in one alias: `weight` when any deployment sets
/// one (those without get 0: standby), else `rpm` or `tpm` when every deployment sets it,
/// else `None` (even).
fn shares(deps: &[&Deployment]) -> Vec<Option<f64>> {
    if deps.iter().any(|d| d.weight.is_some()) {
        return deps.iter().map(|d| Some(d.weight.unwrap_or(0.0))).collect();
    }
    if deps.iter().all(|d| d.rpm.is_some()) {
        return deps.iter().map(|d| d.rpm.map(f64::from)).collect();
    }
    if deps.iter().all(|d| d.tpm.is_some()) {
        return deps.iter().map(|d| d.tpm.map(|t| t as f64)).collect();
    }
    vec![None; deps.len()]
}

/// Wait at most `keep_alive` for the first chunk of `chunks`: `Ok(Some(first))` to stream
/// from it, `Ok(None)` when the upstream is still silent (stream anyway, a keep-alive first),
/// `Err` when it failed or ended before sending anything (retried or answered with the
/// error's status: nothing has reached the client yet).
pub async fn peek(
    chunks: &mut ChunkStream,
    keep_alive: Duration,
) -> Result<Option<ChatChunk>, ProviderError> {
    match tokio::time::timeout(keep_alive, chunks.next()).await {
        Ok(Some(Ok(first))) => Ok(Some(first)),
        Ok(Some(Err(err))) => Err(err),
        Ok(None) => {
            Err(ProviderError::protocol("the upstream closed the stream without sending anything"))
        }
        Err(_) => Ok(None),
    }
}

/// Defaults, then parameter dropping, for one deployment.
fn prepare(
    routed: &Routed,
    provider: &Provider,
    req: ChatRequest,
) -> Result<ChatRequest, RouteError> {
    let dep = &routed.dep;
    let mut req = params::apply_defaults(req, &dep.request_defaults)
        .map_err(|message| RouteError::InvalidDefaults { model: dep.alias.clone(), message })?;
    if let Some(ceiling) = routed.output_ceiling
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

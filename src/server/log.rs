//! One log line per request. Model calls log themselves through [`CallLog`] (dropped when
//! the response, or the stream, is finished) so the line carries alias, provider and usage;
//! everything else is logged by [`log_requests`]. Each line ends with the request's id (the
//! `request-id` header the client got). Client-chosen text (the model name) is escaped so it
//! cannot forge lines; secrets never reach these lines (and `telemetry` redacts them anyway).
//! A call's line also goes to the request log ([`crate::usage`]) as a record, with its cost.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::header::USER_AGENT;
use axum::http::{Method, Uri};
use axum::response::Response;
use futures_util::FutureExt;

use crate::router::{Routed, Served};
use crate::server::AppState;
use crate::telemetry::{printable, request_id};
use crate::usage::{self, Caller, MAX_ERROR_CHARS, Record, UsageLog, metrics, price};
use crate::wire::openai::Usage;

/// User agents are cut to this many characters in the request log.
const MAX_USER_AGENT_CHARS: usize = 200;

/// What the request's [`CallLog`] needs to know of its caller: the request log and the
/// client's user agent (made visible by `auth::RequireKey` once the key is checked).
pub fn caller_of(state: &AppState, req: &Request) -> Caller {
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| usage::truncate(&printable(ua), MAX_USER_AGENT_CHARS));
    Caller { log: state.usage().cloned(), user_agent }
}

/// Marker on responses whose line a [`CallLog`] writes.
#[derive(Clone, Copy)]
pub struct LoggedByCall;

/// Extra words for a response's request line (why a request was refused).
#[derive(Clone)]
pub struct LogNote(pub String);

/// The request line of every answer a [`CallLog`] does not write. A plain `fn`: its future is
/// `inner`'s with the line's start, method and path beside it (an `async fn` would also keep
/// room for the request it was given).
pub fn log_requests<F: Future<Output = Response>>(
    req: Request,
    inner: impl FnOnce(Request) -> F,
) -> impl Future<Output = Response> {
    let start = Instant::now();
    let method = req.method().clone();
    // A shared handle on the request's bytes; the line's text is made only if it is written
    // (a model call writes its own).
    let uri = req.uri().clone();
    inner(req).map(move |resp| {
        write_line(&resp, start, &method, &uri);
        resp
    })
}

fn write_line(resp: &Response, start: Instant, method: &Method, uri: &Uri) {
    if resp.extensions().get::<LoggedByCall>().is_none() {
        let path = printable(uri.path());
        let id = request_id();
        let status = resp.status().as_u16();
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let note =
            resp.extensions().get::<LogNote>().map(|n| format!(" {}", n.0)).unwrap_or_default();
        if status >= 400 {
            tracing::warn!(target: "ai_proxy::request", "{method} {path} {status} {ms:.1}ms{note} request_id={id}");
        } else {
            tracing::info!(target: "ai_proxy::request", "{method} {path} {status} {ms:.1}ms request_id={id}");
        }
    }
}

/// The log line of one model call, written when dropped.
pub struct CallLog {
    pub endpoint: &'static str,
    pub alias: String,
    pub provider: &'static str,
    pub status: u16,
    pub start: Instant,
    /// Boxed: a `Usage` is ~270 bytes, and a `CallLog` is moved through every layer of a
    /// call (and lives in a stream's relay) while most of its life it holds none.
    pub usage: Option<Box<Usage>>,
    pub stream: bool,
    /// Set when a stream ended with an error event after a 200.
    pub stream_error: Option<String>,
    /// The error the client got (redacted), for the request log.
    pub error: Option<String>,
    /// The deployment that answered, and how (fallback alias, fallbacks, retries).
    served: Option<ServedBy>,
    request_id: String,
    started_ms: i64,
    first_chunk_ms: Option<f64>,
    cost: Option<f64>,
    sink: Option<UsageLog>,
    user_agent: Option<String>,
}

struct ServedBy {
    routed: Arc<Routed>,
    fallback_alias: Option<String>,
    fallbacks: u32,
    retries: u32,
}

impl CallLog {
    pub fn new(endpoint: &'static str, alias: &str, stream: bool) -> Self {
        let caller = usage::caller();
        CallLog {
            endpoint,
            alias: printable(alias).into_owned(),
            provider: "-",
            status: 200,
            start: Instant::now(),
            usage: None,
            stream,
            stream_error: None,
            error: None,
            served: None,
            request_id: request_id(),
            started_ms: usage::now_ms(),
            first_chunk_ms: None,
            cost: None,
            sink: caller.log,
            user_agent: caller.user_agent,
        }
    }

    /// Note the first streamed chunk's arrival (time to first token), once.
    pub fn first_chunk(&mut self) {
        if self.first_chunk_ms.is_none() {
            self.first_chunk_ms = Some(self.start.elapsed().as_secs_f64() * 1000.0);
        }
    }

    /// Name the deployment (and fallback) that answered in the line.
    pub fn served(&mut self, served: &Served) {
        self.provider = served.routed().dep.provider.name();
        self.served = Some(ServedBy {
            routed: served.routed().clone(),
            fallback_alias: served.fallback_alias.as_deref().map(|a| printable(a).into_owned()),
            fallbacks: served.fallbacks,
            retries: served.retries,
        });
    }

    /// ` deployment=0:azure/gpt-4o` plus ` served_by=… fallbacks=N` after a fallback and
    /// ` retries=N` after retries.
    fn served_text(&self) -> String {
        let Some(s) = &self.served else { return String::new() };
        let mut out = format!(" deployment={}:{}", s.routed.dep.index, printable(s.routed.label()));
        if let Some(a) = &s.fallback_alias {
            out.push_str(&format!(" served_by={a} fallbacks={}", s.fallbacks));
        }
        if s.retries > 0 {
            out.push_str(&format!(" retries={}", s.retries));
        }
        out
    }

    /// Count a call's usage against the deployment's `tpm` and keep it, priced, for the log
    /// line and the request log.
    pub fn count(&mut self, routed: &Routed, usage: Option<&Usage>) {
        if let Some(u) = usage {
            routed.record_tokens(u.total_tokens);
            self.usage = Some(Box::new(u.clone()));
            self.cost = routed.prices().map(|p| p.cost(u));
            if let Some(usd) = self.cost {
                routed.record_spend(self.started_ms, usd);
            }
        }
    }

    fn record(&mut self, latency_ms: f64) -> Record {
        let u = self.usage.take().map(|u| *u).unwrap_or_default();
        let error = self.stream_error.clone().or_else(|| self.error.take());
        Record {
            ts_ms: self.started_ms,
            request_id: std::mem::take(&mut self.request_id),
            endpoint: Cow::Borrowed(self.endpoint),
            alias: std::mem::take(&mut self.alias),
            provider: Cow::Borrowed(if self.provider == "-" { "" } else { self.provider }),
            deployment: self.served.as_ref().map(|s| s.routed.shared_label().clone()),
            model_id: self.served.as_ref().map(|s| s.routed.id.clone()),
            status: self.status,
            stream: self.stream,
            latency_ms: round3(latency_ms),
            ttft_ms: self.first_chunk_ms.map(round3),
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: price::cached_tokens(&u),
            reasoning_tokens: price::reasoning_tokens(&u),
            cost: self.cost,
            error: error.map(|e| usage::truncate(&e, MAX_ERROR_CHARS)),
            user_agent: self.user_agent.take(),
        }
    }
}

/// Milliseconds to the microsecond.
fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

impl Drop for CallLog {
    fn drop(&mut self) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let (p, c) =
            self.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens)).unwrap_or((0, 0));
        let kind = if self.stream { "stream" } else { "json" };
        // The macros evaluate their arguments only when the line is written: below the
        // configured level, `served_text` is never made.
        match (&self.stream_error, self.status) {
            (Some(err), _) => tracing::warn!(
                target: "ai_proxy::request",
                "{} model={} provider={} status={} {kind} {ms:.1}ms tokens={p}+{c}{} stream_error={err} request_id={}",
                self.endpoint, self.alias, self.provider, self.status, self.served_text(), self.request_id
            ),
            (None, s) if s >= 400 => tracing::warn!(
                target: "ai_proxy::request",
                "{} model={} provider={} status={s} {kind} {ms:.1}ms{} request_id={}",
                self.endpoint, self.alias, self.provider, self.served_text(), self.request_id
            ),
            _ => tracing::info!(
                target: "ai_proxy::request",
                "{} model={} provider={} status={} {kind} {ms:.1}ms tokens={p}+{c}{} request_id={}",
                self.endpoint, self.alias, self.provider, self.status, self.served_text(), self.request_id
            ),
        }
        metrics::global().observe(&metrics::Observation {
            model: &self.alias,
            deployment: self.served.as_ref().map_or("", |s| s.routed.label()),
            status: self.status,
            failed: self.status >= 400 || self.stream_error.is_some(),
            seconds: ms / 1000.0,
            prompt_tokens: p,
            completion_tokens: c,
        });
        if let Some(sink) = self.sink.take() {
            sink.record(self.record(ms));
        }
    }
}

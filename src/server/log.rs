//! One log line per request. Model calls log themselves through [`CallLog`] (dropped when
//! the response, or the stream, is finished) so the line carries alias, provider and usage;
//! everything else is logged by [`log_requests`]. Each line ends with the request's id (the
//! `request-id` header the client got). Client-chosen text (the model name) is escaped so it
//! cannot forge lines; secrets never reach these lines (and `telemetry` redacts them anyway).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use crate::router::{Routed, Served};
use crate::telemetry::{printable, request_id};
use crate::wire::openai::Usage;

/// Marker on responses whose line a [`CallLog`] writes.
#[derive(Clone, Copy)]
pub struct LoggedByCall;

/// Extra words for a response's request line (why a request was refused).
#[derive(Clone)]
pub struct LogNote(pub String);

pub async fn log_requests(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = printable(req.uri().path()).into_owned();
    let id = request_id();
    let resp = next.run(req).await;
    if resp.extensions().get::<LoggedByCall>().is_none() {
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
    resp
}

/// The log line of one model call, written when dropped.
pub struct CallLog {
    pub endpoint: &'static str,
    pub alias: String,
    pub provider: &'static str,
    pub status: u16,
    pub start: Instant,
    pub usage: Option<Usage>,
    pub stream: bool,
    /// Set when a stream ended with an error event after a 200.
    pub stream_error: Option<String>,
    /// The deployment that answered, and how (fallback alias, fallbacks, retries).
    served: Option<ServedBy>,
    request_id: String,
}

struct ServedBy {
    routed: Arc<Routed>,
    fallback_alias: Option<String>,
    fallbacks: u32,
    retries: u32,
}

impl CallLog {
    pub fn new(endpoint: &'static str, alias: &str, stream: bool) -> Self {
        CallLog {
            endpoint,
            alias: printable(alias).into_owned(),
            provider: "-",
            status: 200,
            start: Instant::now(),
            usage: None,
            stream,
            stream_error: None,
            served: None,
            request_id: request_id(),
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
        let mut out =
            format!(" deployment={}:{}", s.routed.dep.index, printable(&s.routed.label()));
        if let Some(a) = &s.fallback_alias {
            out.push_str(&format!(" served_by={a} fallbacks={}", s.fallbacks));
        }
        if s.retries > 0 {
            out.push_str(&format!(" retries={}", s.retries));
        }
        out
    }

    /// Count a call's usage against the deployment's `tpm` and keep it for the log line.
    pub fn count(&mut self, routed: &Routed, usage: Option<&Usage>) {
        if let Some(u) = usage {
            routed.record_tokens(u.total_tokens);
            self.usage = Some(u.clone());
        }
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let (p, c) =
            self.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens)).unwrap_or((0, 0));
        let kind = if self.stream { "stream" } else { "json" };
        let served = self.served_text();
        match (&self.stream_error, self.status) {
            (Some(err), _) => tracing::warn!(
                target: "ai_proxy::request",
                "{} model={} provider={} status={} {kind} {ms:.1}ms tokens={p}+{c}{served} stream_error={err} request_id={}",
                self.endpoint, self.alias, self.provider, self.status, self.request_id
            ),
            (None, s) if s >= 400 => tracing::warn!(
                target: "ai_proxy::request",
                "{} model={} provider={} status={s} {kind} {ms:.1}ms{served} request_id={}",
                self.endpoint, self.alias, self.provider, self.request_id
            ),
            _ => tracing::info!(
                target: "ai_proxy::request",
                "{} model={} provider={} status={} {kind} {ms:.1}ms tokens={p}+{c}{served} request_id={}",
                self.endpoint, self.alias, self.provider, self.status, self.request_id
            ),
        }
    }
}

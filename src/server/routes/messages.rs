//! `POST /v1/messages` (and `/messages`) and `POST /v1/messages/count_tokens`: the Anthropic
//! Messages API on every routed model. A Claude model is served by pass-through
//! (`passthrough`: the body and the answer relayed as they are, the `anthropic-beta` values
//! the host accepts forwarded); every other model through the hub format. Errors are in
//! Anthropic's shape. `anthropic-version` and `anthropic-beta` headers (and `?beta=true`)
//! are accepted and need not match anything on the translated path: the upstream is not
//! Anthropic, and client headers are never forwarded to it.
//!
//! Server-held threads (`thread: {"type": "continue", ...}`, the SDKs' default for tool
//! runners) are answered `thread_not_found`, on which the SDKs send the whole conversation
//! again; `{"type": "create"}` is accepted and nothing is kept.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::chat::logged_error;
use super::{Routing, json, logged_json, passthrough, route, unasked_verbatim};
use crate::providers::ProviderError;
use crate::router::{Reply, RequestOptions};
use crate::server::AppState;
use crate::server::body::{ModelRequest, parse_model_request, route_options};
use crate::server::error::{ApiError, Dialect, route_error};
use crate::server::headers::ServedHeaders;
use crate::server::log::CallLog;
use crate::server::stream::event_stream;
use crate::telemetry::printable;
use crate::translate::anthropic::{self, TranslateError};
use crate::translate::tokens;
use crate::wire::anthropic::{CountTokensResponse, MessagesRequest};
use crate::wire::openai::ChatRequest;

const ENDPOINT: &str = "/v1/messages";

pub async fn messages(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Ok(bytes) = &body
        && let Some(resp) = passthrough::messages(&state, &headers, bytes).await
    {
        return resp;
    }
    let (hub, opts) = match parse(&state, body, ENDPOINT) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let alias = hub.model.clone();
    let input_estimate = tokens::quick_estimate(&hub);
    let log = CallLog::new("messages", &alias, hub.is_stream());
    let make = || anthropic::StreamState::new(&alias).with_input_estimate(input_estimate);
    let routing = route(&state, hub, opts, ENDPOINT, Dialect::Anthropic, make, log).await;
    let (outcome, mut log) = match routing {
        Routing::Done(outcome, log) => (outcome, log),
        Routing::Deferred(stream) => return stream,
    };
    let (served, reply) = match outcome {
        Ok(ok) => ok,
        Err(err) => return logged_error(err, log),
    };
    log.served(&served);
    let headers = ServedHeaders::of(&served, &alias);
    let mut resp = match reply {
        Reply::Complete(completion) => {
            log.count(served.routed(), completion.usage.as_ref());
            match anthropic::from_hub(completion, &alias) {
                Ok(message) => logged_json(&message),
                Err(e) => logged_error(translate_error(e), log),
            }
        }
        Reply::Verbatim(_) => unasked_verbatim(log),
        Reply::Stream { first, rest } => {
            let dialect = anthropic::StreamState::new(&alias).with_input_estimate(input_estimate);
            let keep_alive = state.connections().stream_keep_alive;
            event_stream(first, rest, dialect, served, log, keep_alive)
        }
    };
    headers.apply(&mut resp);
    resp
}

/// `{"input_tokens": N}`: the upstream's own count where it has a counter, otherwise the
/// local estimate of `translate::tokens`.
pub async fn count_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Ok(bytes) = &body {
        match passthrough::count_tokens(&state, &headers, bytes).await {
            Some(Ok(n)) => return json(&CountTokensResponse { input_tokens: n }),
            Some(Err(e)) => return e.into_response(),
            None => {}
        }
    }
    let (hub, _) = match parse(&state, body, "/v1/messages/count_tokens") {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let n = match state.router().count_tokens(&hub).await {
        Ok(Some(n)) => n,
        // The tokenizer (its table built on first use, long prompts) is CPU work of
        // milliseconds: off the async workers, which keep relaying other requests.
        Ok(None) => match tokio::task::spawn_blocking(move || tokens::estimate(&hub)).await {
            Ok(n) => n,
            Err(_) => {
                return ApiError::internal("the local token count failed")
                    .in_dialect(Dialect::Anthropic)
                    .into_response();
            }
        },
        Err(err) => {
            return route_error(err, "/v1/messages/count_tokens")
                .in_dialect(Dialect::Anthropic)
                .into_response();
        }
    };
    json(&CountTokensResponse { input_tokens: n })
}

/// Read, parse and translate a Messages request, with the router options its body carries;
/// every error in Anthropic's shape.
fn parse(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
    endpoint: &str,
) -> Result<(ChatRequest, RequestOptions), ApiError> {
    let size = body.as_ref().map_or(0, Bytes::len);
    let mut req: MessagesRequest = parse_model_request(body, state.max_body(), endpoint, None)
        .map_err(|e| e.in_dialect(Dialect::Anthropic))?;
    let opts = route_options(&mut req.extra).map_err(|e| e.in_dialect(Dialect::Anthropic))?;
    if endpoint == ENDPOINT && req.max_tokens.is_none() {
        return Err(ApiError::bad_request("max_tokens: Field required")
            .with_param("max_tokens")
            .in_dialect(Dialect::Anthropic));
    }
    if let Some(thread) = req.extra.shift_remove("thread") {
        check_thread(&thread)?;
    }
    let dropped: Vec<&str> =
        req.extra.keys().map(String::as_str).filter(|k| !TRANSLATED_EXTRA.contains(k)).collect();
    if !dropped.is_empty() {
        tracing::debug!(
            "{endpoint}: fields no upstream here takes, left out: {}",
            printable(&dropped.join(", "))
        );
    }
    let tools = anthropic::left_out_tools(&req);
    if !tools.is_empty() {
        tracing::debug!(
            "{endpoint}: tools the model does not get (Anthropic's server tools, deferred tools not loaded): {}",
            printable(&tools.join(", "))
        );
    }
    let mut hub = anthropic::to_hub(req).map_err(translate_error)?;
    hub.size_hint = size;
    Ok((hub, opts))
}

/// Untyped request fields the translation reads (the rest is left out, logged at debug).
const TRANSLATED_EXTRA: &[&str] = &["mcp_servers"];

/// A server-held thread: nothing is kept here, so continuing one is `thread_not_found` (the
/// SDKs then replay the whole conversation under a new thread, which is accepted and
/// forgotten). Anything else in `thread` is a 400.
fn check_thread(thread: &serde_json::Value) -> Result<(), ApiError> {
    if thread.is_null() {
        return Ok(());
    }
    match thread.get("type").and_then(serde_json::Value::as_str) {
        Some("create") => Ok(()),
        Some("continue") => {
            let id = thread.get("previous_message_id").and_then(serde_json::Value::as_str);
            Err(ApiError {
                details: Some(serde_json::json!({ "error_code": "thread_not_found" })),
                ..ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "not_found_error",
                    format!(
                        "thread: no thread continues from message {}: ai-proxy keeps no server-side state; send the whole conversation (the SDKs do this on their own after this error)",
                        id.unwrap_or("(none given)")
                    ),
                )
            }
            .with_param("thread")
            .in_dialect(Dialect::Anthropic))
        }
        _ => Err(ApiError::bad_request(
            "thread: expected {\"type\": \"create\"} or {\"type\": \"continue\", \"previous_message_id\": ...}",
        )
        .with_param("thread")
        .in_dialect(Dialect::Anthropic)),
    }
}

impl ModelRequest for MessagesRequest {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
}

fn translate_error(e: TranslateError) -> ApiError {
    match e {
        TranslateError::InvalidRequest { message, param } => {
            ApiError::bad_request(message).with_param(param)
        }
        TranslateError::Upstream(message) => ApiError::from(ProviderError::protocol(message)),
    }
    .in_dialect(Dialect::Anthropic)
}

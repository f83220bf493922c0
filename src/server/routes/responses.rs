//! `POST /v1/responses` (and `/responses`): the OpenAI Responses API on every routed model,
//! translated through the hub format by `translate::responses`. Stateless: nothing is stored,
//! so `previous_response_id` and the retrieve/cancel routes are refused with a message; tools
//! only OpenAI can run (hosted web search, ...) are left out (logged at debug level).
//! Errors are in OpenAI's shape; a stream that fails after it started ends with
//! `response.failed`.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};

use super::chat::logged_error;
use super::{Routing, logged_json, route, unasked_verbatim};
use crate::providers::ProviderError;
use crate::router::Reply;
use crate::server::AppState;
use crate::server::body::{ModelRequest, parse_model_request, route_options};
use crate::server::error::{ApiError, Dialect, route_error};
use crate::server::headers::ServedHeaders;
use crate::server::log::CallLog;
use crate::server::stream::event_stream;
use crate::translate::responses;
use crate::wire::responses::ResponsesRequest;

const ENDPOINT: &str = "/v1/responses";

pub async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let size = body.as_ref().map_or(0, Bytes::len);
    let mut req: ResponsesRequest =
        match parse_model_request(body, state.max_body(), ENDPOINT, None) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
    let opts = match route_options(&mut req.extra) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let (mut hub, echo) = match responses::to_hub(req) {
        Ok(ok) => ok,
        Err(e) => {
            let mut err =
                ApiError::bad_request(format!("{ENDPOINT}: {}", e.message)).with_param(e.param);
            err.code = e.code.map(str::to_owned);
            return err.into_response();
        }
    };
    hub.size_hint = size;
    if !echo.dropped_tools.is_empty() {
        tracing::debug!(
            "{ENDPOINT}: left out tools only OpenAI can run: {}",
            echo.dropped_tools.join(", ")
        );
    }
    if !echo.dropped_items.is_empty() {
        tracing::debug!("{ENDPOINT}: left out input items: {}", echo.dropped_items.join(", "));
    }
    let alias = hub.model.clone();
    let log = CallLog::new("responses", &alias, hub.is_stream());
    let make = || responses::StreamState::new(&alias, echo.clone());
    let routing = route(&state, hub, opts, ENDPOINT, Dialect::OpenAi, make, log).await;
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
            logged_json(&responses::from_hub(completion, &alias, &echo))
        }
        Reply::Verbatim(_) => unasked_verbatim(log),
        Reply::Stream { first, rest } => {
            let dialect = responses::StreamState::new(&alias, echo);
            let keep_alive = state.connections().stream_keep_alive;
            event_stream(first, rest, dialect, served, log, keep_alive)
        }
    };
    headers.apply(&mut resp);
    resp
}

/// `POST /v1/responses/compact`: the conversation in `input` compacted into the user's
/// messages and one `compaction` item holding the model's summary (nothing is stored; see
/// `translate::responses`).
pub async fn compact(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const COMPACT: &str = "/v1/responses/compact";
    let mut req: ResponsesRequest = match parse_model_request(body, state.max_body(), COMPACT, None)
    {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let opts = match route_options(&mut req.extra) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let input = req.input.clone();
    req.stream = Some(false);
    let trigger = serde_json::json!({"type": "compaction_trigger"});
    req.input = Some(match req.input.take() {
        Some(serde_json::Value::Array(mut items)) => {
            items.push(trigger);
            serde_json::Value::Array(items)
        }
        Some(serde_json::Value::String(text)) => serde_json::json!([
            {"type": "message", "role": "user", "content": text},
            trigger
        ]),
        _ => serde_json::json!([trigger]),
    });
    let (hub, _echo) = match responses::to_hub(req) {
        Ok(ok) => ok,
        Err(e) => {
            let mut err =
                ApiError::bad_request(format!("{COMPACT}: {}", e.message)).with_param(e.param);
            err.code = e.code.map(str::to_owned);
            return err.into_response();
        }
    };
    let alias = hub.model.clone();
    let mut log = CallLog::new("responses.compact", &alias, false);
    let keep_alive = state.connections().stream_keep_alive;
    let (served, reply) = match state.router().chat(hub, &opts, keep_alive).await {
        Ok(ok) => ok,
        Err(err) => return logged_error(route_error(err, COMPACT), log),
    };
    log.served(&served);
    let headers = ServedHeaders::of(&served, &alias);
    let mut resp = match reply {
        Reply::Complete(completion) => {
            log.count(served.routed(), completion.usage.as_ref());
            logged_json(&responses::compacted(completion, &alias, input.as_ref()))
        }
        Reply::Verbatim(_) => unasked_verbatim(log),
        Reply::Stream { .. } => logged_error(
            ApiError::from(ProviderError::protocol("the upstream streamed a non-streaming call")),
            log,
        ),
    };
    headers.apply(&mut resp);
    resp
}

impl ModelRequest for ResponsesRequest {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
}

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
use super::{Routing, logged_json, route};
use crate::providers::{ChatOutput, ProviderError};
use crate::server::AppState;
use crate::server::body::{ModelRequest, parse_model_request};
use crate::server::error::{ApiError, Dialect, route_error};
use crate::server::log::CallLog;
use crate::server::stream::{event_stream, peek};
use crate::translate::responses;
use crate::wire::responses::ResponsesRequest;

const ENDPOINT: &str = "/v1/responses";

pub async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: ResponsesRequest = match parse_model_request(body, state.max_body(), ENDPOINT, None) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let (hub, echo) = match responses::to_hub(req) {
        Ok(ok) => ok,
        Err(e) => {
            let mut err =
                ApiError::bad_request(format!("{ENDPOINT}: {}", e.message)).with_param(e.param);
            err.code = e.code.map(str::to_owned);
            return err.into_response();
        }
    };
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
    let (outcome, mut log) = match route(&state, hub, ENDPOINT, Dialect::OpenAi, make, log).await {
        Routing::Done(outcome, log) => (outcome, log),
        Routing::Deferred(stream) => return stream,
    };
    let (routed, output) = match outcome {
        Ok(ok) => ok,
        Err(err) => return logged_error(err, log),
    };
    log.provider = routed.dep.provider.name();
    match output {
        ChatOutput::Complete(completion) => {
            log.count(&routed, completion.usage.as_ref());
            logged_json(&responses::from_hub(completion, &alias, &echo))
        }
        ChatOutput::Stream(mut stream) => {
            let keep_alive = state.connections().stream_keep_alive;
            match peek(&mut stream, keep_alive).await {
                Ok(first) => {
                    let dialect = responses::StreamState::new(&alias, echo);
                    event_stream(first, stream, dialect, routed, log, keep_alive)
                }
                Err(err) => logged_error(ApiError::from(err), log),
            }
        }
    }
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
    let (routed, output) = match state.router().chat(hub).await {
        Ok(ok) => ok,
        Err(err) => return logged_error(route_error(err, COMPACT), log),
    };
    log.provider = routed.dep.provider.name();
    match output {
        ChatOutput::Complete(completion) => {
            log.count(&routed, completion.usage.as_ref());
            logged_json(&responses::compacted(completion, &alias, input.as_ref()))
        }
        ChatOutput::Stream(_) => logged_error(
            ApiError::from(ProviderError::protocol("the upstream streamed a non-streaming call")),
            log,
        ),
    }
}

impl ModelRequest for ResponsesRequest {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
}

//! `POST /v1/messages` (and `/messages`) and `POST /v1/messages/count_tokens`: the Anthropic
//! Messages API on every routed model, translated through the hub format. Errors are in
//! Anthropic's shape. `anthropic-version` and `anthropic-beta` headers are accepted and
//! need not match anything: the upstream is not Anthropic.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::chat::logged_error;
use super::{json, logged_json};
use crate::providers::{ChatOutput, ProviderError};
use crate::server::AppState;
use crate::server::body::{ModelRequest, parse_model_request};
use crate::server::error::{ApiError, Dialect, route_error};
use crate::server::log::CallLog;
use crate::server::stream::event_stream;
use crate::translate::anthropic::{self, TranslateError};
use crate::translate::tokens;
use crate::wire::anthropic::{CountTokensResponse, MessagesRequest};
use crate::wire::openai::ChatRequest;

const ENDPOINT: &str = "/v1/messages";

pub async fn messages(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let hub = match parse(&state, body, ENDPOINT) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let alias = hub.model.clone();
    let mut log = CallLog::new("messages", &alias, hub.is_stream());
    let (routed, output) = match state.router().chat(hub).await {
        Ok(ok) => ok,
        Err(err) => {
            return logged_error(route_error(err, ENDPOINT).in_dialect(Dialect::Anthropic), log);
        }
    };
    log.provider = routed.dep.provider.name();
    match output {
        ChatOutput::Complete(completion) => {
            log.count(&routed, completion.usage.as_ref());
            match anthropic::from_hub(completion, &alias) {
                Ok(message) => logged_json(&message),
                Err(e) => logged_error(translate_error(e), log),
            }
        }
        ChatOutput::Stream(mut stream) => match stream.next().await {
            Some(Ok(first)) => {
                event_stream(first, stream, anthropic::StreamState::new(&alias), routed, log)
            }
            Some(Err(err)) => logged_error(ApiError::from(err).in_dialect(Dialect::Anthropic), log),
            None => logged_error(
                ApiError::from(ProviderError::protocol(
                    "the upstream closed the stream without sending anything",
                ))
                .in_dialect(Dialect::Anthropic),
                log,
            ),
        },
    }
}

/// `{"input_tokens": N}`: the upstream's own count where it has a counter, otherwise the
/// local estimate of `translate::tokens`.
pub async fn count_tokens(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let hub = match parse(&state, body, "/v1/messages/count_tokens") {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let n = match state.router().count_tokens(&hub).await {
        Ok(Some(n)) => n,
        Ok(None) => tokens::estimate(&hub),
        Err(err) => {
            return route_error(err, "/v1/messages/count_tokens")
                .in_dialect(Dialect::Anthropic)
                .into_response();
        }
    };
    json(&CountTokensResponse { input_tokens: n })
}

/// Read, parse and translate a Messages request; every error in Anthropic's shape.
fn parse(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
    endpoint: &str,
) -> Result<ChatRequest, ApiError> {
    let req: MessagesRequest = parse_model_request(body, state.max_body(), endpoint, None)
        .map_err(|e| e.in_dialect(Dialect::Anthropic))?;
    anthropic::to_hub(req).map_err(translate_error)
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

//! Route handlers, one file per API area. Each handler parses, calls the router, renders.

pub mod chat;
pub mod embeddings;
pub mod health;
pub mod messages;
pub mod models;
pub mod passthrough;
pub mod responses;
pub mod spend;
pub mod ui;

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::dialect_of;
use super::error::{ApiError, Dialect, route_error};
use super::log::CallLog;
use super::stream::{EventDialect, PendingCall, deferred_stream, route_within};
use crate::router::{Reply, RequestOptions, Served};
use crate::wire::openai::ChatRequest;

/// A routed call: its outcome (error in the caller's dialect) with the call's log, or, for
/// a stream whose call is still running after a keep-alive interval, the stream response
/// already committed to (keep-alives until the call is in).
// Returned once per request and matched at once (as `Reply` is): no boxing.
#[allow(clippy::large_enum_variant)]
pub enum Routing {
    Done(Result<(Served, Reply), ApiError>, CallLog),
    Deferred(Response),
}

/// Route `req` with the body's router options (errors mapped with `endpoint`'s wording, in
/// `dialect`). A stream request is given one keep-alive interval (retries and fallbacks
/// included); after that `dialect_stream` makes the dialect the deferred stream is written in.
pub async fn route<D: EventDialect>(
    state: &AppState,
    req: ChatRequest,
    opts: RequestOptions,
    endpoint: &'static str,
    dialect: Dialect,
    dialect_stream: impl FnOnce() -> D,
    log: CallLog,
) -> Routing {
    let map_err = move |err| route_error(err, endpoint).in_dialect(dialect);
    let keep_alive = state.connections().stream_keep_alive;
    if !req.is_stream() {
        // Boxed: the routing future is ~5 KB, and every layer above would otherwise hold (and
        // move) room for it in its own future.
        let outcome = Box::pin(state.router().chat(req, &opts, keep_alive)).await.map_err(map_err);
        return Routing::Done(outcome, log);
    }
    let st = state.clone();
    // The routing future boxed on its own as well: boxing this block copies the block's whole
    // size, which would otherwise include room for the ~5 KB routing future.
    let call: PendingCall = Box::pin(async move {
        Box::pin(st.router().chat(req, &opts, keep_alive)).await.map_err(map_err)
    });
    match route_within(call, keep_alive).await {
        Ok(outcome) => Routing::Done(outcome, log),
        Err(call) => Routing::Deferred(deferred_stream(call, dialect_stream(), log, keep_alive)),
    }
}

/// Unknown paths get a 404 in the caller's dialect instead of an empty body.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    let mut message = format!("Route not found: {method} {}", uri.path());
    if uri.path().starts_with("/v1/responses/") || uri.path().starts_with("/responses/") {
        message.push_str(
            ". ai-proxy stores no responses: only POST /v1/responses and POST /v1/responses/compact \
             are served (send the whole conversation in `input`)",
        );
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found_error", message)
        .in_dialect(dialect_of(uri.path()))
        .into_response()
}

/// A route called with the wrong method (`GET /v1/chat/completions`): 405 with a JSON body in
/// the caller's dialect saying which method to use, instead of an empty answer.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!(
        "Method not allowed: {method} {}. This route answers {}",
        uri.path(),
        if ["/health", "/v1/models", "/models", "/model/info", "/v1/model/info", "/ui"]
            .iter()
            .any(|p| uri.path().starts_with(p))
        {
            "GET"
        } else {
            "POST"
        }
    );
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error", message)
        .in_dialect(dialect_of(uri.path()))
        .into_response()
}

/// A JSON response from already-serialized bytes.
pub fn json_bytes(body: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Serialize a value as a JSON response.
pub fn json<T: serde::Serialize>(value: &T) -> Response {
    match crate::wire::encode::to_vec(value) {
        Ok(body) => json_bytes(body),
        Err(e) => ApiError::internal(format!("cannot encode response: {e}")).into_response(),
    }
}

/// [`json`] for a model call whose `CallLog` writes the log line (not the middleware).
pub fn logged_json<T: serde::Serialize>(value: &T) -> Response {
    let mut resp = json(value);
    resp.extensions_mut().insert(super::log::LoggedByCall);
    resp
}

/// The answer to a route that translates its reply if the router ever handed it the
/// upstream's bytes: only the chat route sets `RequestOptions::verbatim`, so this is a bug.
pub fn unasked_verbatim(log: CallLog) -> Response {
    chat::logged_error(
        ApiError::internal("the router passed on an answer verbatim to a route that translates it"),
        log,
    )
}

/// [`logged_json`] from already-serialized bytes.
pub fn logged_json_bytes(body: Vec<u8>) -> Response {
    let mut resp = json_bytes(body);
    resp.extensions_mut().insert(super::log::LoggedByCall);
    resp
}

//! `POST /v1/chat/completions` (and `/chat/completions`, Azure-style deployment paths).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::{Routing, logged_json, logged_json_bytes, route};
use crate::router::Reply;
use crate::server::AppState;
use crate::server::body::{parse_model_request, route_options};
use crate::server::error::{ApiError, Dialect};
use crate::server::headers::ServedHeaders;
use crate::server::log::{CallLog, LoggedByCall};
use crate::server::stream::{ChatDialect, event_stream};
use crate::wire::openai::ChatRequest;

const ENDPOINT: &str = "/chat/completions";

pub async fn chat_completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, body, None).await
}

/// `/openai/deployments/{model}/chat/completions`: the model comes from the path.
pub async fn azure_style_chat(
    State(state): State<AppState>,
    Path(model): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, body, Some(model)).await
}

async fn handle(
    state: AppState,
    body: Result<Bytes, BytesRejection>,
    model: Option<String>,
) -> Response {
    let size = body.as_ref().map_or(0, Bytes::len);
    let mut req: ChatRequest = match parse_model_request(body, state.max_body(), ENDPOINT, model) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    req.size_hint = size;
    let mut opts = match route_options(&mut req.extra) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    opts.verbatim = true;
    let alias = req.model.clone();
    let include_usage = req.wants_stream_usage();
    let log = CallLog::new("chat", &alias, req.is_stream());
    let make = || ChatDialect::new(alias.clone(), include_usage);
    let routing = route(&state, req, opts, ENDPOINT, Dialect::OpenAi, make, log).await;
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
        Reply::Complete(mut completion) => {
            completion.model = alias;
            log.count(served.routed(), completion.usage.as_ref());
            logged_json(&completion)
        }
        Reply::Verbatim(answer) => {
            log.count(served.routed(), answer.usage());
            logged_json_bytes(answer.with_model(&alias))
        }
        Reply::Stream { first, rest } => {
            let dialect = ChatDialect::new(alias, include_usage);
            let keep_alive = state.connections().stream_keep_alive;
            event_stream(first, rest, dialect, served, log, keep_alive)
        }
    };
    headers.apply(&mut resp);
    resp
}

/// An error response whose request line the call log writes.
pub fn logged_error(err: ApiError, mut log: CallLog) -> Response {
    log.status = err.status.as_u16();
    log.error = Some(err.public_message());
    let mut resp = err.into_response();
    resp.extensions_mut().insert(LoggedByCall);
    resp
}

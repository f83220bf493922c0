//! `POST /v1/embeddings` (and `/embeddings`, Azure-style deployment paths).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::chat::logged_error;
use super::logged_json;
use crate::server::AppState;
use crate::server::body::{parse_model_request, route_options};
use crate::server::error::route_error;
use crate::server::headers::ServedHeaders;
use crate::server::log::CallLog;
use crate::wire::openai::EmbeddingsRequest;

const ENDPOINT: &str = "/embeddings";

pub async fn embeddings(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, body, None).await
}

pub async fn azure_style_embeddings(
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
    let mut req: EmbeddingsRequest =
        match parse_model_request(body, state.max_body(), ENDPOINT, model) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
    let opts = match route_options(&mut req.extra) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let alias = req.model.clone();
    let mut log = CallLog::new("embeddings", &alias, false);
    match state.router().embeddings(req, &opts).await {
        Ok((served, mut answer)) => {
            log.served(&served);
            let headers = ServedHeaders::of(&served, &alias);
            answer.model = alias;
            log.count(served.routed(), answer.usage.as_ref());
            let mut resp = logged_json(&answer);
            headers.apply(&mut resp);
            resp
        }
        Err(err) => logged_error(route_error(err, ENDPOINT), log),
    }
}

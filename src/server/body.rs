//! Reading JSON request bodies into wire types, with errors that name the field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::AppState;
use super::auth::dialect_of;
use super::conn::body_read_timeout;
use super::error::ApiError;
use crate::wire::openai::{ChatRequest, EmbeddingsRequest};

/// Turn a body-buffering failure (over the size limit, a stalled body, broken connection)
/// into our error.
pub fn read_rejection(rej: BytesRejection, limit: usize) -> ApiError {
    if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else if let Some(timeout) = body_read_timeout(&rej) {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", timeout.to_string())
            .with_param("request_body")
    } else {
        ApiError::bad_request(format!("Could not read the request body: {}", rej.body_text()))
            .with_param("request_body")
    }
}

/// The 413 for a body over `limit` bytes.
fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        format!(
            "Request body is larger than the gateway's limit of {} MiB (litellm_settings.max_request_size_mb).",
            limit / (1024 * 1024)
        ),
    )
    .with_param("request_body")
}

/// Middleware: a request whose `Content-Length` is over the limit gets its 413 (in the
/// caller's dialect) before any of its body is read; a client that waits for
/// `100 Continue` never sends it.
pub async fn reject_declared_oversize(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > state.max_body() as u64 => {
            too_large(state.max_body()).in_dialect(dialect_of(req.uri().path())).into_response()
        }
        _ => next.run(req).await,
    }
}

/// Parse a JSON body. `endpoint` prefixes messages as LiteLLM does (`/chat/completions`).
///
/// Valid bodies take serde_json's plain path; only a failed parse is repeated with field-path
/// tracking (`serde_path_to_error`), which costs on every field, to name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &Bytes, endpoint: &str) -> Result<T, ApiError> {
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = match result {
        Ok(v) => v,
        Err(err) => return Err(describe(err, endpoint)),
    };
    if let Err(e) = de.end() {
        return Err(
            ApiError::bad_request(format!("Invalid JSON payload: {e}")).with_param("request_body")
        );
    }
    Ok(value)
}

/// A request whose `model` may also come from the URL (Azure-style deployment paths).
pub trait ModelRequest: DeserializeOwned {
    fn model_mut(&mut self) -> &mut String;
}

impl ModelRequest for ChatRequest {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
}

impl ModelRequest for EmbeddingsRequest {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
}

/// Buffer, parse, apply the URL's model and require one: the common start of model calls.
pub fn parse_model_request<T: ModelRequest>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
    endpoint: &str,
    path_model: Option<String>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rej| read_rejection(rej, limit))?;
    let mut req: T = parse_json(&bytes, endpoint)?;
    if let Some(m) = path_model {
        *req.model_mut() = m;
    }
    if req.model_mut().trim().is_empty() {
        return Err(ApiError::bad_request(format!(
            "{endpoint}: Missing required parameter: 'model'."
        ))
        .with_param("model"));
    }
    Ok(req)
}

fn describe(err: serde_path_to_error::Error<serde_json::Error>, endpoint: &str) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if !matches!(inner.classify(), serde_json::error::Category::Data) {
        return ApiError::bad_request(format!("Invalid JSON payload: {inner}"))
            .with_param("request_body");
    }
    let msg = strip_position(&inner.to_string());
    if let Some(field) = msg.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
        let full = if path == "." { field.to_owned() } else { format!("{path}.{field}") };
        return ApiError::bad_request(format!("{endpoint}: Missing required parameter: '{full}'."))
            .with_param(full);
    }
    let param = if path == "." { "request_body".to_owned() } else { path };
    ApiError::bad_request(format!("{endpoint}: Invalid value for '{param}': {msg}."))
        .with_param(param)
}

/// serde_json appends " at line L column C"; for data errors that position is noise.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        parse_json::<ChatRequest>(&Bytes::from(body.to_owned()), "/chat/completions")
            .expect_err("error")
    }

    #[test]
    fn missing_messages_matches_litellm() {
        let e = err(r#"{"model":"gpt-4"}"#);
        assert_eq!(e.message, "/chat/completions: Missing required parameter: 'messages'.");
        assert_eq!(e.param.as_deref(), Some("messages"));
    }

    #[test]
    fn malformed_json_says_so() {
        let e = err(r#"{"model":"gpt-4","messages":[{"role":"user","content":"hi"}"#);
        assert!(e.message.starts_with("Invalid JSON payload: EOF while parsing"), "{}", e.message);
        assert_eq!(e.param.as_deref(), Some("request_body"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = err(
            r#"{"model":"gpt-4","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#,
        );
        assert_eq!(e.param.as_deref(), Some("temperature"));
        assert!(e.message.contains("invalid type: string \"hot\", expected f64"), "{}", e.message);
        let e = err(r#"{"model":"gpt-4","messages":[{"content":"hi"}]}"#);
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
        let e = err(r#"{"model":"gpt-4","messages":"hi"}"#);
        assert_eq!(e.param.as_deref(), Some("messages"));
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let e = err(r#"{"model":"m","messages":[]} x"#);
        assert!(e.message.starts_with("Invalid JSON payload"), "{}", e.message);
    }
}

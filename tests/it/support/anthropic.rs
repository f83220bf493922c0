//! A mock of the Anthropic Messages API as three hosts serve it: Anthropic
//! (`POST /v1/messages`, `/v1/messages/count_tokens`, `x-api-key`), Vertex AI
//! (`…/publishers/anthropic/models/{model}:rawPredict` / `:streamRawPredict`, Google OAuth
//! tokens from `support::google`, `anthropic_version` in the body and no `model`) and Azure
//! AI Foundry (`/anthropic/v1/messages`, `x-api-key` or `api-key`, or an Entra bearer token).
//!
//! Strict where the real API is: top-level fields it does not know are refused ("Extra
//! inputs are not permitted"), `max_tokens` and `messages` are required, a `thinking` block
//! sent back must carry a signature this mock issued, and errors come in Anthropic's shape.
//! Answers: text `Claude says: <last user text>`, a signed thinking block first when
//! `thinking` is on, a `tool_use` of the first tool when the text mentions the weather;
//! `cache_read_input_tokens` when the body has `cache_control`. Streams use Anthropic's
//! named events (`message_start`, `ping`, `content_block_*` with `thinking_delta`,
//! `signature_delta`, `text_delta`, `input_json_delta`, `message_delta`, `message_stop`). A
//! model named `…stall…` streams up to its first text delta, then sends nothing for 30 s.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::google::MockState;

pub const API_KEY: &str = "sk-ant-mock-key";
pub const FOUNDRY_KEY: &str = "foundry-mock-key";
pub const VERTEX_VERSION: &str = "vertex-2023-10-16";
/// Every signature this mock issues starts so; a thinking block sent back without one is
/// refused, as Anthropic refuses a tampered signature.
pub const SIGNATURE_PREFIX: &str = "EqMockSignature";

const KNOWN_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
    "output_config",
];

#[derive(Clone, Copy, PartialEq)]
enum Host {
    Anthropic,
    Vertex,
    Foundry,
}

/// Anthropic's API and Azure AI Foundry's (`/anthropic/v1/messages`).
pub fn router() -> Router {
    Router::new()
        .route("/v1/messages", post(anthropic))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/anthropic/v1/messages", post(foundry))
}

/// Vertex AI's Claude endpoints, with the tokens `state` (the Google mock) issued.
pub fn vertex_router(state: Arc<MockState>) -> Router {
    Router::new()
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{call}",
            post(vertex),
        )
        .with_state(state)
}

pub fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json"), ("request-id", "req_mock_error")],
        json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock_error"})
            .to_string(),
    )
        .into_response()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn anthropic(headers: HeaderMap, body: Bytes) -> Response {
    if header(&headers, "x-api-key") != Some(API_KEY) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", "invalid x-api-key");
    }
    if header(&headers, "authorization").is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unexpected Authorization header",
        );
    }
    if header(&headers, "anthropic-version") != Some("2023-06-01") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    messages(&body, Host::Anthropic, None)
}

async fn foundry(headers: HeaderMap, body: Bytes) -> Response {
    let key_ok = header(&headers, "x-api-key") == Some(FOUNDRY_KEY)
        && header(&headers, "api-key") == Some(FOUNDRY_KEY);
    // A token from the Entra mock (`support::azure`), as Foundry takes Entra ID tokens.
    let token_ok = header(&headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.starts_with("entra-token-"));
    if !(key_ok || token_ok) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Access denied due to invalid subscription key or wrong API endpoint.",
        );
    }
    if header(&headers, "anthropic-version") != Some("2023-06-01") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    messages(&body, Host::Foundry, None)
}

async fn vertex(
    State(st): State<Arc<MockState>>,
    Path((_project, _location, call)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = header(&headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !st.accepts(token) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Request had invalid authentication credentials.",
        );
    }
    let Some((model, method)) = call.split_once(':') else {
        return error(StatusCode::NOT_FOUND, "not_found_error", "Method not found.");
    };
    let stream = match method {
        "rawPredict" => false,
        "streamRawPredict" => true,
        _ => return error(StatusCode::NOT_FOUND, "not_found_error", "Method not found."),
    };
    messages(&body, Host::Vertex, Some((model, stream)))
}

async fn count_tokens(headers: HeaderMap, body: Bytes) -> Response {
    if header(&headers, "x-api-key") != Some(API_KEY) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", "invalid x-api-key");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "body is not JSON");
    };
    if v.get("max_tokens").is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "max_tokens: Extra inputs are not permitted",
        );
    }
    let n = v["messages"].as_array().map_or(0, Vec::len) as u64;
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"input_tokens": 40 + n}).to_string(),
    )
        .into_response()
}

/// The text of the last user turn.
fn last_user_text(v: &Value) -> String {
    let Some(m) =
        v["messages"].as_array().and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
    else {
        return String::new();
    };
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn check(v: &Value, host: Host) -> Result<(), String> {
    let Some(obj) = v.as_object() else { return Err("body: Input should be an object".into()) };
    for k in obj.keys() {
        let vertex_field = host == Host::Vertex && k == "anthropic_version";
        if !KNOWN_FIELDS.contains(&k.as_str()) && !vertex_field {
            return Err(format!("{k}: Extra inputs are not permitted"));
        }
    }
    match host {
        Host::Vertex => {
            // Vertex's documented value, or a dated API version (what the `anthropic` SDK's
            // own `AnthropicVertex` client sends, e.g. `2026-10-21`).
            let version = obj.get("anthropic_version").and_then(Value::as_str).unwrap_or("");
            let dated = version.len() == 10
                && version
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
            if version != VERTEX_VERSION && !dated {
                return Err(format!("anthropic_version: Input should be '{VERTEX_VERSION}'"));
            }
            if obj.contains_key("model") {
                return Err("model: Extra inputs are not permitted".into());
            }
        }
        _ => {
            if !obj.get("model").is_some_and(Value::is_string) {
                return Err("model: Field required".into());
            }
        }
    }
    if !obj.get("max_tokens").is_some_and(Value::is_u64) {
        return Err("max_tokens: Field required".into());
    }
    let Some(msgs) = obj.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        return Err("messages: Field required".into());
    };
    for (i, m) in msgs.iter().enumerate() {
        if !matches!(m["role"].as_str(), Some("user" | "assistant")) {
            return Err(format!("messages.{i}.role: Input should be 'user' or 'assistant'"));
        }
        for (j, b) in m["content"].as_array().into_iter().flatten().enumerate() {
            if b["type"] == "thinking"
                && !b["signature"].as_str().is_some_and(|s| s.starts_with(SIGNATURE_PREFIX))
            {
                return Err(format!(
                    "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                ));
            }
        }
    }
    Ok(())
}

fn messages(body: &[u8], host: Host, vertex: Option<(&str, bool)>) -> Response {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("invalid JSON: {e}"),
            );
        }
    };
    if let Err(e) = check(&v, host) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &e);
    }
    let model = match vertex {
        Some((m, _)) => m.to_owned(),
        None => v["model"].as_str().unwrap_or_default().to_owned(),
    };
    let body_stream = v["stream"].as_bool().unwrap_or(false);
    let stream = match vertex {
        Some((_, method_stream)) if method_stream != body_stream => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "stream: streamRawPredict needs \"stream\": true and rawPredict needs it absent",
            );
        }
        _ => body_stream,
    };
    if model.contains("overloaded") {
        return error(StatusCode::from_u16(529).expect("status"), "overloaded_error", "Overloaded");
    }
    let text = format!("Claude says: {}", last_user_text(&v));
    let thinking = v["thinking"]["type"] == "enabled";
    let tool = v["tools"][0]["name"].as_str().filter(|_| text.contains("weather"));
    let cached = String::from_utf8_lossy(body).contains("\"cache_control\"");
    let usage = json!({
        "input_tokens": 21,
        "output_tokens": 9,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": if cached { 1000 } else { 0 },
    });
    let signature = format!("{SIGNATURE_PREFIX}{}", "x".repeat(24));
    if !stream {
        let mut content = Vec::new();
        if thinking {
            content.push(
                json!({"type": "thinking", "thinking": "Let me think.", "signature": signature}),
            );
        }
        content.push(json!({"type": "text", "text": text}));
        if let Some(name) = tool {
            content.push(json!({"type": "tool_use", "id": "toolu_mock01", "name": name, "input": {"city": "Paris"}}));
        }
        let message = json!({
            "id": "msg_mock01", "type": "message", "role": "assistant", "model": model,
            "content": content,
            "stop_reason": if tool.is_some() { "tool_use" } else { "end_turn" },
            "stop_sequence": null,
            "usage": usage,
        });
        return (
            StatusCode::OK,
            [
                ("content-type", "application/json"),
                ("request-id", "req_mock01"),
                ("anthropic-ratelimit-requests-remaining", "99"),
            ],
            message.to_string(),
        )
            .into_response();
    }
    let mut sse = String::new();
    let mut ev = |name: &str, data: Value| {
        sse.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_mock01", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 21, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": if cached { 1000 } else { 0 }}}}),
    );
    ev("ping", json!({"type": "ping"}));
    let mut index = 0;
    if thinking {
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        );
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": "Let me think."}}),
        );
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": signature}}),
        );
        ev("content_block_stop", json!({"type": "content_block_stop", "index": index}));
        index += 1;
    }
    ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
    );
    let (a, b) = text.split_at(text.len() / 2);
    for part in [a, b] {
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": part}}),
        );
    }
    ev("content_block_stop", json!({"type": "content_block_stop", "index": index}));
    if let Some(name) = tool {
        index += 1;
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": "toolu_mock01", "name": name, "input": {}}}),
        );
        for part in ["{\"city\": ", "\"Paris\"}"] {
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}),
            );
        }
        ev("content_block_stop", json!({"type": "content_block_stop", "index": index}));
    }
    ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": if tool.is_some() { "tool_use" } else { "end_turn" }, "stop_sequence": null}, "usage": {"output_tokens": 9}}),
    );
    ev("message_stop", json!({"type": "message_stop"}));
    if model.contains("stall") {
        // Everything up to the first text delta, then silence (the body stays open).
        let cut = sse.find("event: content_block_delta").expect("a delta");
        let cut = cut + sse[cut..].find("\n\n").expect("its end") + 2;
        let head = Bytes::from(sse[..cut].to_owned());
        let silence = async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Ok::<Bytes, std::io::Error>(Bytes::new())
        };
        let body =
            futures_util::stream::iter([Ok(head)]).chain(futures_util::stream::once(silence));
        return (
            StatusCode::OK,
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(body),
        )
            .into_response();
    }
    (StatusCode::OK, [("content-type", "text/event-stream"), ("request-id", "req_mock01")], sse)
        .into_response()
}

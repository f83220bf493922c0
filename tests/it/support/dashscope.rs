//! A mock of Alibaba DashScope's OpenAI-compatible mode (`/compatible-mode/v1`), speaking its
//! real wire format: `usage: null` on content chunks, a final `choices: []` usage chunk,
//! `reasoning_content` deltas for thinking models, and its error bodies.
//!
//! Behaviour by model name: `qwen-max` answers; `qwen-plus` thinks first when
//! `enable_thinking` is true; `qwen-500`, `qwen-429` fail; `qwen-slow` waits 3 s;
//! `qwen-break` drops the connection mid-stream; `qwen-stall` stops sending mid-stream;
//! `qwen-trickle` streams one frame every 150 ms.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const KEY: &str = "sk-dashscope-test";

pub fn router() -> Router {
    Router::new()
        .route("/compatible-mode/v1/chat/completions", post(chat))
        .route("/compatible-mode/v1/embeddings", post(embeddings))
}

fn error(status: StatusCode, message: &str, kind: &str, code: &str) -> Response {
    let body = json!({
        "error": {"message": message, "type": kind, "param": null, "code": code},
        "request_id": "5b3c8b7e-0000-0000-0000-000000000000"
    });
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KEY}"))
}

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> String {
    json!({
        "choices": [{"delta": delta, "index": 0, "logprobs": null, "finish_reason": finish}],
        "object": "chat.completion.chunk",
        "usage": null,
        "created": 1726132850,
        "system_fingerprint": null,
        "model": model,
        "id": "chatcmpl-3f2a1b7c-ds"
    })
    .to_string()
}

async fn chat(headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Incorrect API key provided. ", "invalid_request_error", "invalid_api_key");
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The request body is not valid JSON", "invalid_request_error", "invalid_parameter_error");
    };
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "qwen-500" => return error(StatusCode::INTERNAL_SERVER_ERROR, "An internal error has occured, please try again later.", "internal_error", "internal_error"),
        "qwen-429" => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Requests rate limit exceeded, please try again later.", "limit_requests", "limit_requests");
            r.headers_mut().insert("retry-after", "7".parse().expect("header"));
            return r;
        }
        "qwen-slow" => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    let text = format!("Qwen says: {}", last_user(&req));
    let thinking = model == "qwen-plus" && req["enable_thinking"] == json!(true);
    let usage = json!({"prompt_tokens": 22, "completion_tokens": 17, "total_tokens": 39, "prompt_tokens_details": {"cached_tokens": 0}});
    if req["stream"] != json!(true) {
        let mut message = json!({"role": "assistant", "content": text});
        if thinking {
            message["reasoning_content"] = json!("Let me think.");
        }
        let body = json!({
            "choices": [{"message": message, "finish_reason": "stop", "index": 0, "logprobs": null}],
            "object": "chat.completion",
            "usage": usage,
            "created": 1726127645,
            "system_fingerprint": null,
            "model": model,
            "id": "chatcmpl-81951b98-ds"
        });
        return (StatusCode::OK, [("content-type", "application/json")], body.to_string()).into_response();
    }
    let mut frames: Vec<String> = vec![chunk(&model, json!({"content": "", "role": "assistant"}), None)];
    if thinking {
        for piece in ["Let me", " think."] {
            frames.push(chunk(&model, json!({"content": null, "reasoning_content": piece}), None));
        }
    }
    for word in text.split_inclusive(' ') {
        frames.push(chunk(&model, json!({"content": word}), None));
    }
    frames.push(chunk(&model, json!({"content": ""}), Some("stop")));
    let include_usage = req["stream_options"]["include_usage"] == json!(true);
    if include_usage {
        frames.push(
            json!({"choices": [], "object": "chat.completion.chunk", "usage": usage, "created": 1726132850,
                   "system_fingerprint": null, "model": model, "id": "chatcmpl-3f2a1b7c-ds"})
            .to_string(),
        );
    }
    let behaviour = model.clone();
    let stream = futures_util::stream::unfold((frames.into_iter(), 0usize), move |(mut it, n)| {
        let behaviour = behaviour.clone();
        async move {
            if n == 2 && behaviour == "qwen-break" {
                // Let the first frames reach the client before the connection breaks.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return Some((Err(std::io::Error::other("connection reset by mock")), (it, n + 1)));
            }
            if n >= 1 && behaviour == "qwen-trickle" {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            if n == 2 && behaviour == "qwen-stall" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            match it.next() {
                Some(f) => Some((Ok::<Bytes, std::io::Error>(Bytes::from(format!("data: {f}\n\n"))), (it, n + 1))),
                None if n < usize::MAX / 2 => Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), (it, usize::MAX / 2))),
                None => None,
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream;charset=UTF-8")
        .body(Body::from_stream(stream))
        .expect("response")
}

async fn embeddings(headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Incorrect API key provided. ", "invalid_request_error", "invalid_api_key");
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let inputs: Vec<Value> = match &req["input"] {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let dims = req["dimensions"].as_u64().unwrap_or(4) as usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"embedding": vec![0.5f32; dims], "index": i, "object": "embedding"}))
        .collect();
    let body = json!({"data": data, "model": req["model"], "object": "list",
                      "usage": {"prompt_tokens": 3, "total_tokens": 3}, "id": "emb-ds"});
    (StatusCode::OK, [("content-type", "application/json")], body.to_string()).into_response()
}

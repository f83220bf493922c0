//! A mock of Alibaba DashScope's OpenAI-compatible mode (`/compatible-mode/v1`), speaking its
//! real wire format: `usage: null` on content chunks, a final `choices: []` usage chunk,
//! `reasoning_content` deltas for thinking models, and its error bodies.
//!
//! Tools, as DashScope streams them: when `tools` are offered and the last message is the
//! user's, the model says `I'll use the tools.` and calls every offered tool (at most two),
//! each with `{"<first property>": "<last user text>"}`; streamed, each call's arguments
//! arrive in two fragments (later fragments carry `"id": ""`). A last `tool` message is
//! answered with `Qwen got: <results>`. A `tool` message whose `tool_call_id` does not match
//! the preceding assistant's tool calls gets DashScope's 400.
//!
//! Behaviour by model name: `qwen-max` answers; `qwen-plus` thinks first when
//! `enable_thinking` is true, `qwen3-32b` (open-source Qwen3) unless it is false; thinking
//! on a non-streaming call gets DashScope's 400 ("parameter.enable_thinking must be set to
//! false for non-streaming calls"); `qwen-500`, `qwen-429` fail; `qwen-slow` waits 3 s;
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
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided. ",
            "invalid_request_error",
            "invalid_api_key",
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON",
            "invalid_request_error",
            "invalid_parameter_error",
        );
    };
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "qwen-500" => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An internal error has occured, please try again later.",
                "internal_error",
                "internal_error",
            );
        }
        "qwen-429" => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Requests rate limit exceeded, please try again later.",
                "limit_requests",
                "limit_requests",
            );
            r.headers_mut().insert("retry-after", "7".parse().expect("header"));
            return r;
        }
        "qwen-slow" => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    if let Err(msg) = check_tool_messages(&req) {
        return error(
            StatusCode::BAD_REQUEST,
            &msg,
            "invalid_request_error",
            "invalid_parameter_error",
        );
    }
    let calls = tool_calls(&req);
    let last_is_tool =
        req["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| m["role"] == "tool");
    let text = if !calls.is_empty() {
        "I'll use the tools.".to_owned()
    } else if last_is_tool {
        let results: Vec<String> = req["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .rev()
                    .take_while(|m| m["role"] == "tool")
                    .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        format!("Qwen got: {}", results.into_iter().rev().collect::<Vec<_>>().join("; "))
    } else {
        format!("Qwen says: {}", last_user(&req))
    };
    let finish = if calls.is_empty() { "stop" } else { "tool_calls" };
    // qwen-plus thinks when asked; open-source Qwen3 (qwen3-32b) thinks unless told not to.
    let thinking = match model.as_str() {
        "qwen-plus" => req["enable_thinking"] == json!(true),
        "qwen3-32b" => req["enable_thinking"] != json!(false),
        _ => false,
    };
    if thinking && req["stream"] != json!(true) {
        let body = json!({
            "error": {"code": "invalid_parameter_error", "param": null, "message": "parameter.enable_thinking must be set to false for non-streaming calls", "type": "invalid_request_error"},
            "id": "chatcmpl-f5a1f1ee-dac6-9c1b-9bdb-2f0c22b8af45",
            "request_id": "f5a1f1ee-dac6-9c1b-9bdb-2f0c22b8af45"
        });
        return (StatusCode::BAD_REQUEST, [("content-type", "application/json")], body.to_string())
            .into_response();
    }
    let usage = json!({"prompt_tokens": 22, "completion_tokens": 17, "total_tokens": 39, "prompt_tokens_details": {"cached_tokens": 0}});
    if req["stream"] != json!(true) {
        let mut message = json!({"role": "assistant", "content": text});
        if !calls.is_empty() {
            let list: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, (id, name, args))| json!({"function": {"name": name, "arguments": args}, "index": i, "id": id, "type": "function"}))
                .collect();
            message["tool_calls"] = Value::Array(list);
        }
        let body = json!({
            "choices": [{"message": message, "finish_reason": finish, "index": 0, "logprobs": null}],
            "object": "chat.completion",
            "usage": usage,
            "created": 1726127645,
            "system_fingerprint": null,
            "model": model,
            "id": "chatcmpl-81951b98-ds"
        });
        return (StatusCode::OK, [("content-type", "application/json")], body.to_string())
            .into_response();
    }
    let mut frames: Vec<String> =
        vec![chunk(&model, json!({"content": "", "role": "assistant"}), None)];
    if thinking {
        for piece in ["Let me", " think."] {
            frames.push(chunk(&model, json!({"content": null, "reasoning_content": piece}), None));
        }
    }
    for word in text.split_inclusive(' ') {
        frames.push(chunk(&model, json!({"content": word}), None));
    }
    for (i, (id, name, args)) in calls.iter().enumerate() {
        let cut = args.char_indices().nth(args.chars().count() / 2).map_or(0, |(b, _)| b);
        let (a, b) = args.split_at(cut);
        frames.push(chunk(&model, json!({"content": null, "tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": a}}]}), None));
        frames.push(chunk(&model, json!({"tool_calls": [{"index": i, "id": "", "type": "function", "function": {"arguments": b}}]}), None));
    }
    frames.push(chunk(&model, json!({"content": ""}), Some(finish)));
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
                Some(f) => Some((
                    Ok::<Bytes, std::io::Error>(Bytes::from(format!("data: {f}\n\n"))),
                    (it, n + 1),
                )),
                None if n < usize::MAX / 2 => {
                    Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), (it, usize::MAX / 2)))
                }
                None => None,
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream;charset=UTF-8")
        .body(Body::from_stream(stream))
        .expect("response")
}

/// The calls the model makes: (id, name, arguments) for each offered tool, at most two.
fn tool_calls(req: &Value) -> Vec<(String, String, String)> {
    let Some(tools) = req["tools"].as_array().filter(|t| !t.is_empty()) else {
        return Vec::new();
    };
    let last_is_user =
        req["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| m["role"] == "user");
    if !last_is_user || req["tool_choice"] == json!("none") {
        return Vec::new();
    }
    let user = last_user(req);
    tools
        .iter()
        .take(2)
        .enumerate()
        .map(|(i, t)| {
            let f = &t["function"];
            let prop = f["parameters"]["properties"]
                .as_object()
                .and_then(|p| p.keys().next().cloned())
                .unwrap_or_else(|| "query".to_owned());
            let args = serde_json::to_string(&json!({ prop: user })).expect("json");
            (
                format!(
                    "call_{:x}{i}",
                    0x5eed_u32 + req["messages"].as_array().map_or(0, Vec::len) as u32
                ),
                f["name"].as_str().unwrap_or_default().to_owned(),
                args,
            )
        })
        .collect()
}

/// DashScope checks that tool results answer the preceding assistant's tool calls.
fn check_tool_messages(req: &Value) -> Result<(), String> {
    let mut expected: Vec<String> = Vec::new();
    for m in req["messages"].as_array().into_iter().flatten() {
        match m["role"].as_str() {
            Some("assistant") => {
                expected = m["tool_calls"]
                    .as_array()
                    .map(|c| c.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
            }
            Some("tool") => {
                let id = m["tool_call_id"].as_str().unwrap_or_default();
                if !expected.iter().any(|e| e == id) {
                    return Err(format!(
                        "<400> InternalError.Algo.InvalidParameter: messages with role \"tool\" must be a response to a preceeding message with \"tool_calls\" (tool_call_id `{id}` not found)"
                    ));
                }
            }
            _ => expected.clear(),
        }
    }
    Ok(())
}

async fn embeddings(headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided. ",
            "invalid_request_error",
            "invalid_api_key",
        );
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

//! Mocks of OpenAI-compatible servers with their quirks, each under its own path prefix
//! (point `api_base` at `{url}/<server>/<its base path>`):
//!
//! - `/deepseek/beta`: DeepSeek. Bearer [`DEEPSEEK_KEY`]. `thinking: {type: enabled}` makes
//!   it think: the answer (or the stream's first deltas) carries `reasoning_content`. In
//!   thinking mode an earlier assistant turn without `reasoning_content` is its 400.
//! - `/openrouter/api/v1`: OpenRouter. Bearer [`OPENROUTER_KEY`]; reasoning comes back as
//!   `reasoning` (message field and deltas); the app headers are recorded.
//! - `/mistral/v1`: Mistral. Bearer [`MISTRAL_KEY`]; a 422 for fields it does not know
//!   (`stream_options`, `max_completion_tokens`, `seed`, ...), a `tool_choice` other than
//!   `auto`/`none`/`any`, or a tool-call id that is not 9 letters or digits. With tools
//!   offered it calls the first one (id `Ab3dE6gH9`); streamed, usage is in the last chunk.
//! - `/ollama/v1`: Ollama's OpenAI-compatible API; no key; reasoning as `reasoning`.
//!
//! Every answer's text is `<server> says: <last user text>`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const DEEPSEEK_KEY: &str = "sk-deepseek-test";
pub const OPENROUTER_KEY: &str = "sk-or-v1-test";
pub const MISTRAL_KEY: &str = "mistral-test-key";

pub fn router() -> Router {
    Router::new()
        .route("/deepseek/beta/chat/completions", post(|h, b| chat("deepseek", h, b)))
        .route("/openrouter/api/v1/chat/completions", post(|h, b| chat("openrouter", h, b)))
        .route("/mistral/v1/chat/completions", post(|h, b| chat("mistral", h, b)))
        .route("/ollama/v1/chat/completions", post(|h, b| chat("ollama", h, b)))
        .route(
            "/{*rest}",
            post(|Path(rest): Path<String>| async move {
                error(StatusCode::NOT_FOUND, &format!("no route /{rest}"))
            }),
        )
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn check(server: &str, headers: &HeaderMap, req: &Value) -> Result<(), Response> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let key = match server {
        "deepseek" => Some(DEEPSEEK_KEY),
        "openrouter" => Some(OPENROUTER_KEY),
        "mistral" => Some(MISTRAL_KEY),
        _ => None,
    };
    if let Some(key) = key
        && auth != Some(&format!("Bearer {key}"))
    {
        return Err(error(StatusCode::UNAUTHORIZED, "Authentication Fails, invalid api key"));
    }
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    if server == "deepseek" && req["thinking"]["type"] == "enabled" {
        for m in messages.iter().filter(|m| m["role"] == "assistant") {
            if m["reasoning_content"].as_str().is_none() {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "Missing `reasoning_content` field in the assistant message at message index 1.",
                ));
            }
        }
    }
    if server == "mistral" {
        const KNOWN: &[&str] = &[
            "model",
            "messages",
            "temperature",
            "top_p",
            "max_tokens",
            "stream",
            "stop",
            "random_seed",
            "response_format",
            "tools",
            "tool_choice",
            "presence_penalty",
            "frequency_penalty",
            "n",
            "parallel_tool_calls",
            "safe_prompt",
        ];
        if let Some(unknown) =
            req.as_object().and_then(|o| o.keys().find(|k| !KNOWN.contains(&k.as_str())))
        {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("body.{unknown}: Extra inputs are not permitted"),
            ));
        }
        if let Some(choice) = req.get("tool_choice")
            && !matches!(choice.as_str(), Some("auto" | "none" | "any"))
        {
            return Err(error(StatusCode::UNPROCESSABLE_ENTITY, "body.tool_choice: invalid"));
        }
        let ids = messages.iter().flat_map(|m| {
            let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
            calls
                .into_iter()
                .map(|c| c["id"].clone())
                .chain(std::iter::once(m["tool_call_id"].clone()))
        });
        for id in ids.filter(|id| !id.is_null()) {
            let s = id.as_str().unwrap_or_default();
            if s.len() != 9 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "Tool call id was invalid but must be a-z, A-Z, 0-9, with a length of 9.",
                ));
            }
        }
    }
    Ok(())
}

async fn chat(server: &'static str, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid JSON");
    };
    if let Err(r) = check(server, &headers, &req) {
        return r;
    }
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    let text = format!("{server} says: {}", last_user(&req));
    let thinks = match server {
        "deepseek" => req["thinking"]["type"] == "enabled",
        "mistral" => false,
        _ => true,
    };
    let reasoning_key = if server == "deepseek" { "reasoning_content" } else { "reasoning" };
    let tool = (server == "mistral")
        .then(|| req["tools"][0]["function"]["name"].as_str().map(str::to_owned))
        .flatten();
    let usage = json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18});
    if req["stream"] != true {
        let mut message = json!({"role": "assistant", "content": text});
        if thinks {
            message[reasoning_key] = json!("Thinking it over.");
        }
        let mut finish = "stop";
        if let Some(name) = &tool {
            message["content"] = json!("");
            message["tool_calls"] = json!([{"id": "Ab3dE6gH9", "type": "function",
                "function": {"name": name, "arguments": "{\"q\": \"x\"}"}}]);
            finish = "tool_calls";
        }
        let body = json!({"id": "cmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage});
        return (StatusCode::OK, [("content-type", "application/json")], body.to_string())
            .into_response();
    }
    let chunk = |delta: Value, finish: Option<&str>, usage: Option<&Value>| {
        let mut c = json!({"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if let Some(u) = usage {
            c["usage"] = u.clone();
        }
        format!("data: {c}\n\n")
    };
    let mut out = String::new();
    if thinks {
        out.push_str(&chunk(json!({"role": "assistant", reasoning_key: "Thinking "}), None, None));
        out.push_str(&chunk(json!({reasoning_key: "it over."}), None, None));
    }
    let (first, rest) = text.split_at(text.len() / 2);
    out.push_str(&chunk(json!({"content": first}), None, None));
    out.push_str(&chunk(json!({"content": rest}), None, None));
    let finish = if let Some(name) = &tool {
        out.push_str(&chunk(
            json!({"tool_calls": [{"index": 0, "id": "Ab3dE6gH9", "type": "function",
                "function": {"name": name, "arguments": "{\"q\": \"x\"}"}}]}),
            None,
            None,
        ));
        "tool_calls"
    } else {
        "stop"
    };
    if server == "mistral" {
        // Mistral has no stream_options: usage rides on the last chunk.
        out.push_str(&chunk(json!({}), Some(finish), Some(&usage)));
    } else {
        out.push_str(&chunk(json!({}), Some(finish), None));
        if req["stream_options"]["include_usage"] == true {
            let u = json!({"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": model, "choices": [], "usage": usage});
            out.push_str(&format!("data: {u}\n\n"));
        }
    }
    out.push_str("data: [DONE]\n\n");
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(out))
        .expect("response")
}

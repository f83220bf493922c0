//! The OpenAI-compatible family through the real binary: each server's mock (`support::compat`)
//! configured by `api_base` and its LiteLLM key variable, with its quirks both ways.

use serde_json::{Value, json};

use crate::support::{Gateway, MockUpstream, client, compat, sse_data};

const KEY: &str = "sk-gateway-test-key";

fn start(up: &MockUpstream) -> Gateway {
    let base = up.url();
    let cfg = format!(
        r#"
model_list:
  - model_name: ds
    litellm_params:
      model: deepseek/deepseek-reasoner
      api_base: {base}/deepseek/beta
  - model_name: router
    litellm_params:
      model: openrouter/qwen/qwen3-32b
      api_base: {base}/openrouter/api/v1
  - model_name: mistral
    litellm_params:
      model: mistral/mistral-large-latest
      api_base: {base}/mistral/v1
  - model_name: local
    litellm_params:
      model: ollama_chat/qwen3
  - model_name: groq
    litellm_params:
      model: groq/llama-3.3-70b-versatile
"#
    );
    Gateway::builder(&cfg)
        .env("LITELLM_MASTER_KEY", KEY)
        .env("DEEPSEEK_API_KEY", compat::DEEPSEEK_KEY)
        .env("OPENROUTER_API_KEY", compat::OPENROUTER_KEY)
        .env("MISTRAL_API_KEY", compat::MISTRAL_KEY)
        .env("OR_APP_NAME", "my-app")
        // LiteLLM's variable names the server; its OpenAI API is under /v1.
        .env("OLLAMA_API_BASE", &format!("{base}/ollama"))
        .start()
}

async fn post(gw: &Gateway, body: Value) -> (u16, String) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.text().await.expect("body"))
}

fn deltas(body: &str, field: &str) -> String {
    sse_data(body)
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"][field].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn deepseek_thinks_on_reasoning_effort_and_gets_reasoning_content_back() {
    let up = MockUpstream::start(compat::router());
    let gw = start(&up);
    // An earlier assistant turn without reasoning_content (history from another model):
    // DeepSeek refuses that in thinking mode unless the gateway fills it.
    let messages = json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "why?"}]);
    let (status, body) =
        post(&gw, json!({"model": "ds", "messages": messages, "reasoning_effort": "high"})).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["model"], "ds");
    assert_eq!(v["choices"][0]["message"]["content"], "deepseek says: why?");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "Thinking it over.");
    let sent = up.last();
    assert_eq!(sent.uri, "/deepseek/beta/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {}", compat::DEEPSEEK_KEY).as_str())
    );
    let sent = sent.json();
    assert_eq!(sent["model"], "deepseek-reasoner");
    assert_eq!(sent["thinking"], json!({"type": "enabled"}));

    let (status, body) = post(
        &gw,
        json!({"model": "ds", "messages": messages, "reasoning_effort": "low", "stream": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(deltas(&body, "reasoning_content"), "Thinking it over.");
    assert_eq!(deltas(&body, "content"), "deepseek says: why?");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert!(!gw.stderr().contains(compat::DEEPSEEK_KEY), "the key is never logged");
}

#[tokio::test]
async fn openrouter_reasoning_becomes_reasoning_content_and_the_app_headers_are_sent() {
    let up = MockUpstream::start(compat::router());
    let gw = start(&up);
    let msgs = json!([{"role": "user", "content": "ping"}]);
    let (status, body) =
        post(&gw, json!({"model": "router", "messages": msgs, "stream": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(deltas(&body, "reasoning_content"), "Thinking it over.");
    assert!(deltas(&body, "reasoning").is_empty(), "one name for reasoning: {body}");
    assert_eq!(deltas(&body, "content"), "openrouter says: ping");
    let sent = up.last();
    assert_eq!(sent.uri, "/openrouter/api/v1/chat/completions");
    assert_eq!(sent.header("x-title"), Some("my-app"));
    assert_eq!(sent.json()["model"], "qwen/qwen3-32b");

    let (status, body) = post(&gw, json!({"model": "router", "messages": msgs})).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "Thinking it over.");
    assert!(v["choices"][0]["message"].get("reasoning").is_none(), "{body}");
}

#[tokio::test]
async fn mistral_gets_its_own_parameters_and_tool_ids() {
    let up = MockUpstream::start(compat::router());
    let gw = start(&up);
    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
    // A tool round trip whose ids came from another model (Anthropic-style), with the
    // parameters Mistral names differently and stream_options, which it refuses.
    let messages = json!([
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_01XYZ", "type": "function",
            "function": {"name": "lookup", "arguments": "{\"q\":\"a\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_01XYZ", "content": "found"},
        {"role": "user", "content": "again"}]);
    let (status, body) = post(
        &gw,
        json!({"model": "mistral", "messages": messages, "tools": tools, "tool_choice": "required",
            "max_completion_tokens": 50, "seed": 7, "stream": true,
            "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let chunks: Vec<Value> =
        sse_data(&body).iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
    let call = chunks
        .iter()
        .find_map(|c| c["choices"][0]["delta"]["tool_calls"][0].as_object().cloned())
        .expect("a tool call");
    assert_eq!(call["function"]["name"], "lookup");
    let usage = chunks.iter().rev().find(|c| c["usage"].is_object()).expect("usage chunk");
    assert_eq!(usage["usage"]["total_tokens"], 18, "usage from the last chunk reaches the client");
    let sent = up.last().json();
    assert_eq!(sent["tool_choice"], "any");
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(sent["random_seed"], 7);
    assert!(sent.get("stream_options").is_none());
    let id = sent["messages"][1]["tool_calls"][0]["id"].as_str().expect("id");
    assert_eq!(id.len(), 9);
    assert_eq!(sent["messages"][2]["tool_call_id"], id);
}

#[tokio::test]
async fn ollama_needs_no_key_and_a_cloud_model_without_its_key_is_unavailable() {
    let up = MockUpstream::start(compat::router());
    let gw = start(&up);
    let (status, body) =
        post(&gw, json!({"model": "local", "messages": [{"role": "user", "content": "yo"}]})).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["choices"][0]["message"]["content"], "ollama says: yo");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "Thinking it over.");
    let sent = up.last();
    assert_eq!(sent.uri, "/ollama/v1/chat/completions");
    assert_eq!(sent.header("authorization"), None);

    let (status, body) =
        post(&gw, json!({"model": "groq", "messages": [{"role": "user", "content": "yo"}]})).await;
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("GROQ_API_KEY"), "{body}");
}

#[tokio::test]
async fn a_key_with_a_line_break_makes_the_model_unavailable_with_that_reason() {
    let up = MockUpstream::start(compat::router());
    let base = up.url();
    // A key pasted with its line break: no header can carry it.
    let cfg = format!(
        r#"
model_list:
  - model_name: ds
    litellm_params:
      model: deepseek/deepseek-chat
      api_base: {base}/deepseek
      api_key: "sk-pasted-key-xyzzy\n"
"#
    );
    let gw = Gateway::builder(&cfg).env("LITELLM_MASTER_KEY", KEY).start();
    let ready = gw.readiness().await;
    let reason = ready["unavailable"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("API key or token contains a line break"), "{ready}");

    let (status, body) =
        post(&gw, json!({"model": "ds", "messages": [{"role": "user", "content": "yo"}]})).await;
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("line break"), "{body}");
    assert!(!body.contains("builder error"), "{body}");
    assert!(up.requests().is_empty(), "nothing is sent upstream");
    // Letters: a digit string like 4711 turned up in a log line's timestamp (`46.471107Z`).
    for text in [&reason, &body, &gw.stderr()] {
        assert!(!text.contains("xyzzy"), "the key never shows: {text}");
    }
}

//! Claude upstreams through the real binary against `support::anthropic`: `anthropic/`,
//! `vertex_ai/claude-*` (with the Google OAuth mock and a service-account file whose
//! `token_uri` points at it) and `azure_ai/claude-*`. `/v1/messages` is a pass-through (the
//! body reaches the upstream with only `model` and router fields touched, the answer comes
//! back byte for byte, `anthropic-beta` filtered per host); `/v1/chat/completions` and
//! `/v1/responses` are translated.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::anthropic::{self, API_KEY, FOUNDRY_KEY, SIGNATURE_PREFIX};
use crate::support::azure;
use crate::support::google::{self, MockState};
use crate::support::{Gateway, MockUpstream, client, sse_data};

const KEY: &str = "sk-claude-test-key";

struct Setup {
    up: MockUpstream,
    creds: tempfile::TempDir,
    google: Arc<MockState>,
}

fn setup() -> Setup {
    let google = Arc::new(MockState::default());
    let router = anthropic::router()
        .merge(azure::router())
        .merge(anthropic::vertex_router(google.clone()))
        .merge(google::router_with(google.clone()));
    Setup { up: MockUpstream::start(router), creds: tempfile::tempdir().expect("tmp"), google }
}

impl Setup {
    fn sa_file(&self) -> String {
        let path = self.creds.path().join("sa.json");
        let token_uri = format!("{}/token", self.up.url());
        std::fs::write(
            &path,
            self.google.service_account(&token_uri, "gw@proj.iam.gserviceaccount.com"),
        )
        .expect("write key");
        path.to_string_lossy().into_owned()
    }

    fn gateway(&self) -> Gateway {
        let base = self.up.url();
        let config = format!(
            "model_list:
  - model_name: sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_base: {base}
  - model_name: vertex-sonnet
    litellm_params:
      model: vertex_ai/claude-sonnet-4-5@20250929
      api_base: {base}
      vertex_project: test-project
      vertex_location: global
  - model_name: foundry-sonnet
    litellm_params:
      model: azure_ai/claude-sonnet-4-5
      api_base: {base}
  - model_name: overloaded
    litellm_params:
      model: anthropic/claude-overloaded
      api_base: {base}
  - model_name: stall
    litellm_params:
      model: anthropic/claude-stall
      api_base: {base}
      stream_timeout: 1
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  num_retries: 0
"
        );
        Gateway::builder(&config)
            .env("LITELLM_MASTER_KEY", KEY)
            .env("ANTHROPIC_API_KEY", API_KEY)
            .env("AZURE_AI_API_KEY", FOUNDRY_KEY)
            .env("GOOGLE_APPLICATION_CREDENTIALS", &self.sa_file())
            .start()
    }
}

async fn post_raw(
    gw: &Gateway,
    path: &str,
    body: &str,
    beta: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut rb = client()
        .post(gw.url(path))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(b) = beta {
        rb = rb.header("anthropic-beta", b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A Messages body as Claude Code writes one: cache_control on the system prompt and the
/// last user block, a signed thinking block in the history, odd whitespace and key order,
/// and LiteLLM's `timeout` router field (taken out before the upstream).
fn claude_code_body(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model": "{model}","max_tokens":1024, "stream":{stream},
 "system":[{{"type":"text","text":"You are Claude Code.","cache_control":{{"type":"ephemeral"}}}}],
 "thinking":{{"type":"enabled","budget_tokens":1024}},
 "messages":[{{"role":"user","content":"hi"}},
  {{"role":"assistant","content":[{{"type":"thinking","thinking":"Hmm.","signature":"{SIGNATURE_PREFIX}-earlier"}},{{"type":"text","text":"Hello"}}]}},
  {{"role":"user","content":[{{"type":"text","text":"tell me the weather","cache_control":{{"type":"ephemeral","ttl":"1h"}}}}]}}],
 "tools":[{{"name":"get_weather","description":"Weather","input_schema":{{"type":"object","properties":{{"city":{{"type":"string"}}}}}}}}],
 "timeout": 30}}"#
    )
}

/// What the upstream should receive: the same bytes with `model` replaced and `timeout`
/// (the last member) removed with its comma.
fn expected_upstream(body: &str, alias: &str, model: &str) -> String {
    let replaced =
        body.replacen(&format!("\"model\": \"{alias}\""), &format!("\"model\": \"{model}\""), 1);
    replaced.replacen(",\n \"timeout\": 30}", "}", 1)
}

#[tokio::test]
async fn anthropic_messages_are_relayed_byte_for_byte() {
    let s = setup();
    let gw = s.gateway();
    let body = claude_code_body("sonnet", false);
    let beta = "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14";
    let (status, headers, answer) = post_raw(&gw, "/v1/messages", &body, Some(beta)).await;
    assert_eq!(status, 200, "{answer}");
    let got = s.up.last();
    assert_eq!(got.uri, "/v1/messages");
    assert_eq!(
        String::from_utf8_lossy(&got.body),
        expected_upstream(&body, "sonnet", "claude-sonnet-4-5"),
        "only model and the router field are touched"
    );
    assert_eq!(got.header("x-api-key"), Some(API_KEY), "the gateway's key, not the client's");
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        got.header("anthropic-beta"),
        Some("claude-code-20250219,interleaved-thinking-2025-05-14"),
        "every beta but oauth-* goes to Anthropic"
    );
    assert_eq!(got.header("authorization"), None);
    let v = json_of(&answer);
    assert_eq!(v["content"][0]["type"], "thinking");
    assert!(v["content"][0]["signature"].as_str().is_some_and(|s| s.starts_with(SIGNATURE_PREFIX)));
    assert_eq!(v["content"][2]["type"], "tool_use");
    assert_eq!(v["usage"]["cache_read_input_tokens"], 1000, "cache_control reached the upstream");
    assert_eq!(
        headers.get("anthropic-ratelimit-requests-remaining").and_then(|h| h.to_str().ok()),
        Some("99")
    );
    assert_eq!(
        headers.get("x-ai-proxy-deployment").and_then(|h| h.to_str().ok()),
        Some("0:anthropic/claude-sonnet-4-5")
    );
    let log = gw.stderr_with("/v1/messages model=sonnet");
    assert!(log.contains("tokens=1021+9"), "usage from the relayed answer: {log}");
}

#[tokio::test]
async fn anthropic_streams_are_relayed_event_for_event() {
    let s = setup();
    let gw = s.gateway();
    let body = claude_code_body("sonnet", true);
    let (status, headers, answer) = post_raw(&gw, "/v1/messages", &body, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        headers.get("content-type").and_then(|h| h.to_str().ok()),
        Some("text/event-stream")
    );
    // The mock's own bytes, unchanged: send the same body straight to it.
    let direct = client()
        .post(format!("{}/v1/messages", s.up.url()))
        .header("x-api-key", API_KEY)
        .header("anthropic-version", "2023-06-01")
        .body(expected_upstream(&body, "sonnet", "claude-sonnet-4-5"))
        .send()
        .await
        .expect("direct")
        .text()
        .await
        .expect("body");
    assert_eq!(answer, direct);
    assert!(answer.contains("event: ping") && answer.contains("\"signature_delta\""), "{answer}");
    assert!(
        answer.contains("\"input_json_delta\"")
            && answer.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
    );
    assert!(s.up.requests().iter().filter(|r| r.uri == "/v1/messages").count() == 2);
    let log = gw.stderr_with("/v1/messages model=sonnet");
    assert!(log.contains("stream") && log.contains("tokens=1021+9"), "{log}");
    assert!(!log.contains("stream_error"), "{log}");
}

#[tokio::test]
async fn vertex_claude_uses_raw_predict_with_google_tokens() {
    let s = setup();
    let gw = s.gateway();
    let body = claude_code_body("vertex-sonnet", false);
    let beta = "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14";
    let (status, _, answer) = post_raw(&gw, "/v1/messages", &body, Some(beta)).await;
    assert_eq!(status, 200, "{answer}");
    let got = s.up.last();
    assert_eq!(
        got.uri,
        "/v1/projects/test-project/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    );
    let sent = got.json();
    assert_eq!(sent["anthropic_version"], "vertex-2023-10-16");
    assert!(sent.get("model").is_none() && sent.get("timeout").is_none(), "{sent}");
    assert_eq!(sent["system"][0]["cache_control"]["type"], "ephemeral");
    assert!(got.header("authorization").is_some_and(|a| a.starts_with("Bearer ya29.mock-sa-")));
    assert_eq!(
        got.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"),
        "Vertex gets only the betas it accepts"
    );
    assert_eq!(json_of(&answer)["content"][1]["text"], "Claude says: tell me the weather");

    let (status, _, answer) =
        post_raw(&gw, "/v1/messages", &claude_code_body("vertex-sonnet", true), None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(s.up.last().uri.ends_with(":streamRawPredict"));
    assert!(answer.contains("event: message_stop"), "{answer}");
    assert_eq!(s.google.token_requests(), 1, "one cached token for both calls");
}

#[tokio::test]
async fn foundry_claude_sends_both_key_headers_under_anthropic() {
    let s = setup();
    let gw = s.gateway();
    let body = claude_code_body("foundry-sonnet", false);
    let (status, _, answer) =
        post_raw(&gw, "/v1/messages", &body, Some("claude-code-20250219")).await;
    assert_eq!(status, 200, "{answer}");
    let got = s.up.last();
    assert_eq!(got.uri, "/anthropic/v1/messages", "the bare endpoint gets /anthropic");
    assert_eq!(got.header("x-api-key"), Some(FOUNDRY_KEY));
    assert_eq!(got.header("api-key"), Some(FOUNDRY_KEY));
    assert_eq!(got.header("anthropic-beta"), None, "claude-code-* is Anthropic-only");
    assert_eq!(got.json()["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn foundry_claude_takes_an_entra_token_without_a_key() {
    let s = setup();
    let config = format!(
        "model_list:
  - model_name: foundry-sonnet
    litellm_params:
      model: azure_ai/claude-sonnet-4-5
      api_base: {}/anthropic
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
",
        s.up.url()
    );
    let gw = Gateway::builder(&config)
        .env("LITELLM_MASTER_KEY", KEY)
        .env("AZURE_TENANT_ID", azure::TENANT)
        .env("AZURE_CLIENT_ID", azure::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", azure::CLIENT_SECRET)
        .env("AZURE_AUTHORITY_HOST", &s.up.url())
        .start();
    let body = r#"{"model":"foundry-sonnet","max_tokens":64,"messages":[{"role":"user","content":"entra"}]}"#;
    let (status, _, answer) = post_raw(&gw, "/v1/messages", body, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json_of(&answer)["content"][0]["text"], "Claude says: entra");
    let token_calls =
        s.up.requests().iter().filter(|r| r.uri.ends_with("/oauth2/v2.0/token")).count();
    assert_eq!(token_calls, 1);
    let got = s.up.last();
    assert_eq!(got.uri, "/anthropic/v1/messages");
    assert!(got.header("authorization").is_some_and(|a| a.starts_with("Bearer entra-token-")));
    assert_eq!(got.header("x-api-key"), None);
}

#[tokio::test]
async fn a_claude_stream_that_goes_silent_ends_with_an_error_after_its_stream_timeout() {
    let s = setup();
    let gw = s.gateway();
    // The pass-through: the events so far as written, then Anthropic's error event.
    let (status, _, body) =
        post_raw(&gw, "/v1/messages", &claude_code_body("stall", true), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("event: content_block_delta"), "the output so far came first: {body}");
    let (_, error) = body.split_once("event: error\ndata: ").expect("an error event");
    assert!(error.contains("sent nothing for 1s in the middle of a stream"), "{error}");
    assert!(!body.contains("message_stop"), "{body}");
    // Translated to chat chunks: the same limit, as an error frame instead of `[DONE]`.
    let (status, body) = chat(
        &gw,
        json!({"model": "stall", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sent nothing for 1s") && !body.contains("[DONE]"), "{body}");
}

#[tokio::test]
async fn upstream_errors_keep_their_status_and_anthropic_shape() {
    let s = setup();
    let gw = s.gateway();
    let (status, _, answer) =
        post_raw(&gw, "/v1/messages", &claude_code_body("overloaded", false), None).await;
    assert_eq!(status, 529, "{answer}");
    let v = json_of(&answer);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error", "{v}");
    // A field Anthropic does not know is refused by it, not by the gateway.
    let body = r#"{"model":"sonnet","max_tokens":5,"messages":[{"role":"user","content":"x"}],"frobnicate":1}"#;
    let (status, _, answer) = post_raw(&gw, "/v1/messages", body, None).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("frobnicate: Extra inputs are not permitted"), "{answer}");
}

#[tokio::test]
async fn count_tokens_is_anthropics_own_or_estimated() {
    let s = setup();
    let gw = s.gateway();
    let body = r#"{"model":"sonnet","messages":[{"role":"user","content":"hello there"}]}"#;
    let (status, _, answer) = post_raw(&gw, "/v1/messages/count_tokens", body, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json_of(&answer)["input_tokens"], 41, "the mock's count");
    assert_eq!(s.up.last().uri, "/v1/messages/count_tokens");
    let calls = s.up.requests().len();
    let body = r#"{"model":"vertex-sonnet","messages":[{"role":"user","content":"hello there"}]}"#;
    let (status, _, answer) = post_raw(&gw, "/v1/messages/count_tokens", body, None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(json_of(&answer)["input_tokens"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(s.up.requests().len(), calls, "Vertex: estimated locally");
}

async fn chat(gw: &Gateway, body: Value) -> (u16, String) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[tokio::test]
async fn chat_completions_are_translated_for_every_host() {
    let s = setup();
    let gw = s.gateway();
    for alias in ["sonnet", "vertex-sonnet", "foundry-sonnet"] {
        let (status, body) = chat(
            &gw,
            json!({"model": alias, "reasoning_effort": "low", "tools": weather_tool(),
                   "messages": [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": [{"type": "text", "text": "what is the weather"},
                                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}),
        )
        .await;
        assert_eq!(status, 200, "{alias}: {body}");
        let v = json_of(&body);
        assert_eq!(v["model"], alias);
        let msg = &v["choices"][0]["message"];
        assert_eq!(msg["content"], "Claude says: what is the weather", "{alias}");
        assert_eq!(msg["reasoning_content"], "Let me think.", "{alias}");
        assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_weather");
        assert_eq!(
            json_of(msg["tool_calls"][0]["function"]["arguments"].as_str().unwrap_or("")),
            json!({"city": "Paris"})
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        let sent = s.up.last().json();
        assert_eq!(sent["system"], "Be brief.", "{alias}: {sent}");
        assert_eq!(sent["thinking"]["budget_tokens"], 4096);
        assert_eq!(sent["tools"][0]["input_schema"]["required"][0], "city");
        assert_eq!(sent["messages"][0]["content"][1]["source"]["type"], "base64");
    }
}

#[tokio::test]
async fn chat_streams_are_translated_to_chunks() {
    let s = setup();
    let gw = s.gateway();
    let (status, body) = chat(
        &gw,
        json!({"model": "vertex-sonnet", "stream": true, "stream_options": {"include_usage": true},
               "tools": weather_tool(), "messages": [{"role": "user", "content": "weather please"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| json_of(d)).collect();
    let text: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Claude says: weather please");
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(json_of(&args), json!({"city": "Paris"}));
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
    let usage = chunks.iter().find_map(|c| c.get("usage").filter(|u| !u.is_null())).expect("usage");
    assert_eq!(usage["completion_tokens"], 9);
    assert!(s.up.last().uri.ends_with(":streamRawPredict"));
}

#[tokio::test]
async fn responses_api_reaches_claude_through_the_hub() {
    let s = setup();
    let gw = s.gateway();
    let r = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth(KEY)
        .json(&json!({"model": "sonnet", "input": "hello claude", "max_output_tokens": 200}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["output"][0]["content"][0]["text"], "Claude says: hello claude", "{v}");
    assert_eq!(s.up.last().json()["max_tokens"], 200);
}

#[tokio::test]
async fn doctor_checks_claude_and_gemini_api_models_live() {
    let s = setup();
    let base = s.up.url();
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "model_list:
  - model_name: sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_base: {base}
  - model_name: vertex-sonnet
    litellm_params:
      model: vertex_ai/claude-sonnet-4-5@20250929
      api_base: {base}
      vertex_project: test-project
  - model_name: flash
    litellm_params:
      model: gemini/gemini-2.5-flash
      api_base: {base}
"
        ),
    )
    .expect("config");
    let sa = s.sa_file();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::support::bin())
            .args(["doctor", "--json", "--live", "--config"])
            .arg(&cfg)
            .env_clear()
            .env("HOME", dir.path())
            .env("ANTHROPIC_API_KEY", API_KEY)
            .env("GEMINI_API_KEY", google::AI_STUDIO_KEY)
            .env("GOOGLE_APPLICATION_CREDENTIALS", sa)
            .output()
            .expect("run doctor")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let v = json_of(&text);
    let step = |m: usize, name: &str| -> Value {
        v["models"][m]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} step: {v}"))
    };
    for m in 0..3 {
        assert_eq!(step(m, "request")["outcome"], "pass", "{}", v["models"][m]);
    }
    assert!(
        step(1, "credentials")["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("access token obtained with")),
        "{v}"
    );
    let labels: Vec<&str> = v["models"][1]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| t["label"].as_str())
        .collect();
    assert_eq!(labels, ["api", "token"]);
}

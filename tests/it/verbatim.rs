//! OpenAI-dialect answers passed on as the upstream wrote them (`translate::verbatim`),
//! through the real binary: a regular completion comes back byte for byte with only `model`
//! replaced; one the typed decode would complete (no `object`, no `created`, content parts)
//! still gets the defaults; a server whose answers are normalized is not passed on verbatim.
//! Stream chunks likewise: each is the upstream's `data:` payload with the alias as `model`
//! and, unless the client asked for usage, without its `"usage": null`; the usage chunk is
//! still dropped or passed on as the client asked.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

use crate::support::{Gateway, MockUpstream, client};

const KEY: &str = "sk-verbatim-test-key";

/// A tool call as OpenAI writes it: nulls, details, a field we do not model, escapes.
const TOOL_ANSWER: &str = r#"{"id":"chatcmpl-v1","object":"chat.completion","created":1732800000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Par\u00eds\"}"}}],"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"service_tier":"default","system_fingerprint":"fp_1"}"#;

/// What the typed decode fills in: no `object`, no `created`, content as parts.
const SPARSE_ANSWER: &str = r#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"hi"}]},"finish_reason":"stop"}]}"#;

/// DeepSeek-style reasoning under the name OpenRouter uses (`reasoning`).
const REASONING_ANSWER: &str = r#"{"id":"r","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"4","reasoning":"2+2"},"finish_reason":"stop"}]}"#;

/// A stream as OpenAI writes one once usage is requested: `"usage": null` on every chunk,
/// then a usage chunk with no choices. The first chunk has a field we do not model, the
/// second an escaped string.
const STREAM: [&str; 4] = [
    r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1732800000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1732800000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Par\u00eds \"is\""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1732800000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1732800000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}"#,
];

fn upstream() -> MockUpstream {
    let answer = |body: String| async move {
        let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if req["stream"] == true {
            let mut sse: String = STREAM.iter().map(|c| format!("data: {c}\n\n")).collect();
            sse.push_str("data: [DONE]\n\n");
            return ([("content-type", "text/event-stream")], sse).into_response();
        }
        let text = match req["model"].as_str() {
            Some("tool") => TOOL_ANSWER,
            Some("sparse") => SPARSE_ANSWER,
            _ => REASONING_ANSWER,
        };
        ([("content-type", "application/json")], text).into_response()
    };
    MockUpstream::start(
        Router::new()
            .route("/v1/chat/completions", post(answer))
            .route("/api/v1/chat/completions", post(answer)),
    )
}

fn start(up: &MockUpstream) -> Gateway {
    let base = up.url();
    let cfg = format!(
        "model_list:
  - model_name: my-gpt
    litellm_params:
      model: openai/tool
      api_base: {base}/v1
      api_key: sk-up
  - model_name: sparse
    litellm_params:
      model: openai/sparse
      api_base: {base}/v1
      api_key: sk-up
  - model_name: router
    litellm_params:
      model: openrouter/thinker
      api_base: {base}/api/v1
      api_key: sk-up
"
    );
    Gateway::builder(&cfg).env("LITELLM_MASTER_KEY", KEY).start()
}

/// The answer to a chat request for `model` from a fresh gateway in front of [`upstream`]:
/// its content type and body, the status checked to be 200.
async fn served(model: &str) -> (Option<String>, String) {
    let up = upstream();
    let gw = start(&up);
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "weather?"}]}))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = r.text().await.expect("body");
    assert_eq!(status, 200, "{body}");
    (kind, body)
}

#[tokio::test]
async fn a_regular_answer_is_the_upstreams_bytes_with_the_alias_as_model() {
    let (kind, body) = served("my-gpt").await;
    assert_eq!(kind.as_deref(), Some("application/json"));
    let expected = TOOL_ANSWER.replace(r#""model":"gpt-4o-2024-08-06""#, r#""model":"my-gpt""#);
    assert_eq!(body, expected);
}

#[tokio::test]
async fn an_irregular_answer_still_gets_the_typed_defaults() {
    let (_, body) = served("sparse").await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["object"], "chat.completion", "{body}");
    assert_eq!(v["created"], 0, "{body}");
    assert_eq!(v["model"], "sparse");
    assert_eq!(v["choices"][0]["message"]["content"][0]["text"], "hi");
}

#[tokio::test]
async fn a_normalized_server_is_not_passed_on_verbatim() {
    let (_, body) = served("router").await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "2+2", "{body}");
    assert_eq!(v["model"], "router");
}

/// The `data:` payloads of a stream request for `my-gpt`, `stream_options` as given.
async fn streamed(stream_options: Option<Value>) -> Vec<String> {
    let up = upstream();
    let gw = start(&up);
    let mut req = json!({"model": "my-gpt", "stream": true, "messages": [{"role": "user", "content": "capital?"}]});
    if let Some(o) = stream_options {
        req["stream_options"] = o;
    }
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&req)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    crate::support::sse_data(&r.text().await.expect("body"))
}

#[tokio::test]
async fn stream_chunks_are_the_upstreams_bytes_with_the_alias_as_model() {
    let alias = |c: &str| c.replace(r#""model":"gpt-4o-2024-08-06""#, r#""model":"my-gpt""#);
    let data = streamed(None).await;
    let mut want: Vec<String> =
        STREAM[..3].iter().map(|c| alias(c).replace(r#","usage":null"#, "")).collect();
    want.push("[DONE]".to_owned());
    assert_eq!(data, want, "no usage, not even null, for a client that did not ask");

    let data = streamed(Some(json!({"include_usage": true}))).await;
    assert_eq!(data[..3], STREAM[..3].iter().map(|c| alias(c)).collect::<Vec<_>>()[..]);
    let usage: Value = serde_json::from_str(&data[3]).expect("usage chunk");
    assert_eq!(
        (usage["choices"].clone(), usage["usage"]["total_tokens"].clone()),
        (json!([]), json!(13))
    );
    assert_eq!(usage["model"], "my-gpt");
    assert_eq!(data[4], "[DONE]");
}

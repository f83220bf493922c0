//! The Gemini API of Google AI Studio (`gemini/<model>`) through the real binary against the
//! AI Studio mock in `support::google` (`x-goog-api-key`, `/v1beta/models/...`): chat, streams,
//! tool calls through the shared Gemini translation, embeddings through
//! `:batchEmbedContents`, and a wrong key answered with what to fix.

use serde_json::{Value, json};

use crate::support::google::{self, AI_STUDIO_KEY};
use crate::support::{Gateway, MockUpstream, client, sse_data};

const KEY: &str = "sk-gemini-api-test";

fn gateway(up: &MockUpstream, api_key: &str) -> Gateway {
    let config = format!(
        "model_list:
  - model_name: flash
    litellm_params:
      model: gemini/gemini-2.5-flash
      api_base: {base}
  - model_name: embed
    litellm_params:
      model: gemini/gemini-embedding-001
      api_base: {base}/v1beta
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
",
        base = up.url()
    );
    Gateway::builder(&config).env("LITELLM_MASTER_KEY", KEY).env("GEMINI_API_KEY", api_key).start()
}

async fn post(gw: &Gateway, path: &str, body: Value) -> (u16, Value) {
    let r = client().post(gw.url(path)).bearer_auth(KEY).json(&body).send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn chat_and_streams_go_to_ai_studio_with_the_api_key() {
    let up = MockUpstream::start(google::router());
    let gw = gateway(&up, AI_STUDIO_KEY);
    let (status, v) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "flash", "messages": [{"role": "user", "content": "hello"}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "Gemini says: hello");
    let got = up.last();
    assert_eq!(got.uri, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(got.header("x-goog-api-key"), Some(AI_STUDIO_KEY));
    assert_eq!(got.header("authorization"), None);

    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({"model": "flash", "stream": true,
                      "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
                      "messages": [{"role": "user", "content": "what is the weather in Paris"}]}))
        .send()
        .await
        .expect("stream");
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().await.expect("body");
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    let calls: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).expect("chunk"))
        .filter(|c| !c["choices"][0]["delta"]["tool_calls"].is_null())
        .collect();
    assert_eq!(calls[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(up.last().uri, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
}

#[tokio::test]
async fn embeddings_use_batch_embed_contents() {
    let up = MockUpstream::start(google::router());
    let gw = gateway(&up, AI_STUDIO_KEY);
    let (status, v) = post(
        &gw,
        "/v1/embeddings",
        json!({"model": "embed", "input": ["one two", "three"], "dimensions": 4}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"][0]["embedding"], json!([2.0, 7.0, 0.5, 0.5]));
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(
        up.last().uri,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        "a /v1beta base is not doubled"
    );
}

#[tokio::test]
async fn a_wrong_key_says_which_variable_to_fix() {
    let up = MockUpstream::start(google::router());
    let gw = gateway(&up, "AIzaWrong");
    let (status, v) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "flash", "messages": [{"role": "user", "content": "hello"}]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("API key not valid") && msg.contains("GEMINI_API_KEY"), "{msg}");
}

//! Routing and error rendering through `server::app(state)` without a socket.

use ai_proxy::config::{self, Env, Source};
use ai_proxy::server::{self, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

fn app(yaml: &str) -> server::App {
    let cfg = config::load(yaml, Source::Embedded, Env::default()).expect("config");
    server::app(AppState::from_config(&cfg))
}

const MOCKS: &str = r#"
model_list:
  - model_name: mock
    litellm_params:
      model: mock/echo
  - model_name: fixed
    litellm_params:
      model: mock/fixed
      mock_response: "Fixed answer."
  - model_name: "claude-*"
    litellm_params:
      model: mock/claude-stand-in
      mock_response: "wildcard"
"#;

async fn call(app: server::App, path: &str, body: &str) -> (StatusCode, String) {
    let req = Request::post(path)
        .header("host", "127.0.0.1:4000")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let resp = app.oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, String::from_utf8(bytes.to_vec()).expect("utf8"))
}

#[tokio::test]
async fn error_shapes_match_litellm() {
    let (s, b) = call(app(MOCKS), "/v1/chat/completions", r#"{"model":"mock"}"#).await;
    assert_eq!(s, 400);
    assert_eq!(
        b,
        r#"{"error":{"message":"/chat/completions: Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"400"}}"#
    );

    let (s, b) =
        call(app(MOCKS), "/v1/chat/completions", r#"{"model":"gpt-4","messages":[{"role":"user""#)
            .await;
    assert_eq!(s, 400);
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["error"]["param"], "request_body");
    assert!(v["error"]["message"].as_str().expect("m").starts_with("Invalid JSON payload: "));

    let (s, b) =
        call(app(MOCKS), "/v1/chat/completions", r#"{"model":"no-such-model","messages":[]}"#)
            .await;
    assert_eq!(s, 400);
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(
        v["error"]["message"],
        "/chat/completions: Invalid model name passed in model=no-such-model. Call `/v1/models` to view available models for your key. Available models: mock, fixed, claude-*"
    );

    let (s, b) = call(app(MOCKS), "/v1/nothing-here", "{}").await;
    assert_eq!(s, 404);
    assert!(b.contains("Route not found: POST /v1/nothing-here"), "{b}");

    // Stored responses do not exist here: the 404 says what is served.
    let (s, b) = call(app(MOCKS), "/v1/responses/resp_123/cancel", "{}").await;
    assert_eq!(s, 404);
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(
        v["error"]["message"],
        "Route not found: POST /v1/responses/resp_123/cancel. ai-proxy stores no responses: only POST /v1/responses and POST /v1/responses/compact are served (send the whole conversation in `input`)"
    );
}

#[tokio::test]
async fn wildcard_aliases_route_and_answer_with_the_requested_name() {
    let (s, b) = call(
        app(MOCKS),
        "/chat/completions",
        r#"{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(v["choices"][0]["message"]["content"], "wildcard");
}

#[tokio::test]
async fn mock_streams_and_truncates_at_max_tokens() {
    let (s, b) = call(
        app(MOCKS),
        "/v1/chat/completions",
        r#"{"model":"mock","stream":true,"stream_options":{"include_usage":true},"max_tokens":2,"messages":[{"role":"user","content":"one two three four"}]}"#,
    )
    .await;
    assert_eq!(s, 200);
    let data = crate::support::sse_data(&b);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> =
        data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).expect("json")).collect();
    let text: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "You said:");
    let finish: Vec<&Value> =
        chunks.iter().map(|c| &c["choices"][0]["finish_reason"]).filter(|f| !f.is_null()).collect();
    assert_eq!(finish, vec![&json!("length")]);
    assert_eq!(chunks.last().expect("usage")["usage"]["prompt_tokens"], 4);
}

#[tokio::test]
async fn mock_embeddings_are_deterministic() {
    let body = r#"{"model":"mock","input":"same text","dimensions":4}"#;
    let (s, a) = call(app(MOCKS), "/v1/embeddings", body).await;
    assert_eq!(s, 200, "{a}");
    let (_, b) = call(app(MOCKS), "/embeddings", body).await;
    let a: Value = serde_json::from_str(&a).expect("json");
    let b: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(a["data"], b["data"]);
    assert_eq!(a["data"][0]["embedding"].as_array().expect("vec").len(), 4);
}

mod no_input_panics {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// Arbitrary JSON, biased towards chat-request-looking objects.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "[a-z ]{0,8}".prop_map(Value::from),
            Just(Value::from("mock")),
            Just(Value::from("user")),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("model".to_owned()),
                        Just("messages".to_owned()),
                        Just("role".to_owned()),
                        Just("content".to_owned()),
                        Just("stream".to_owned()),
                        Just("tools".to_owned()),
                        Just("max_tokens".to_owned()),
                        Just("input".to_owned()),
                        "[a-z_]{1,6}",
                    ],
                    inner,
                    0..5,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn any_body_gets_a_shaped_answer(body in json_value(), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
            rt.block_on(async {
                for path in ["/v1/chat/completions", "/v1/embeddings", "/v1/messages", "/v1/messages/count_tokens"] {
                    for text in [body.to_string(), String::from_utf8_lossy(&raw).into_owned()] {
                        let (status, b) = call(app(MOCKS), path, &text).await;
                        assert!(status.as_u16() < 500, "{path} {text} -> {status} {b}");
                        if status != 200 {
                            let v: Value = serde_json::from_str(&b).expect("error bodies are JSON");
                            assert!(v["error"]["message"].is_string(), "{b}");
                        }
                    }
                }
            });
        }
    }
}

//! Routing: wildcard matching, alias resolution, rotation, limits and retries.

use super::*;
use crate::config::{self, Env, Source};
use crate::providers::ChatOutput;
use crate::wire::openai::{ChatRequest, Content, Message};

#[test]
fn wildcard_matching() {
    let cases = [
        ("claude-*", "claude-sonnet-4-5-20250929", true),
        ("claude-*", "claude-", true),
        ("claude-*", "gpt-4", false),
        ("*", "anything", true),
        ("*-mini", "gpt-5-mini", true),
        ("*-mini", "gpt-5-nano", false),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "acb", false),
        ("ab*ba", "aba", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
    ];
    for (p, t, want) in cases {
        assert_eq!(wildcard_match(p, t), want, "{p} vs {t}");
    }
}

fn router(yaml: &str) -> Router {
    let cfg = config::load(yaml, Source::Embedded, Env::default()).expect("config");
    Router::from_config(&cfg, &Egress::new(&cfg.env))
}

fn req(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![Message {
            role: "user".into(),
            content: Some(Content::Text("hi".into())),
            ..Message::default()
        }],
        ..ChatRequest::default()
    }
}

fn text(out: ChatOutput) -> String {
    match out {
        ChatOutput::Complete(c) => {
            c.choices[0].message.content.as_ref().map(Content::text).unwrap_or_default()
        }
        ChatOutput::Stream(_) => panic!("expected a complete response"),
    }
}

#[test]
fn exact_aliases_win_and_specific_wildcards_beat_general_ones() {
    let r = router(
        r#"
model_list:
  - model_name: "*"
    litellm_params: {model: mock/any}
  - model_name: "claude-*"
    litellm_params: {model: mock/claude}
  - model_name: claude-special
    litellm_params: {model: mock/special}
"#,
    );
    let model = |m: &str| r.resolve(m).expect("routes")[0].dep.model.clone();
    assert_eq!(model("claude-special"), "special");
    assert_eq!(model("claude-haiku-4-5"), "claude");
    assert_eq!(model("gpt-4"), "any");
}

#[test]
fn unknown_models_list_the_aliases() {
    let r = router("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n");
    match r.resolve("b") {
        Err(RouteError::UnknownModel { model, available }) => {
            assert_eq!(model, "b");
            assert_eq!(available, vec!["a"]);
        }
        other => panic!("{:?}", other.map(|v| v.len())),
    }
}

#[tokio::test]
async fn deployments_of_one_alias_are_rotated() {
    let r = router(
        r#"
model_list:
  - model_name: m
    litellm_params: {model: mock/one, mock_response: one}
  - model_name: m
    litellm_params: {model: mock/two, mock_response: two}
"#,
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (_, out) = r.chat(req("m")).await.expect("ok");
        seen.push(text(out));
    }
    assert_eq!(seen, vec!["one", "two", "one", "two"]);
}

#[tokio::test]
async fn rate_limited_deployments_are_skipped_then_429() {
    let r = router(
        r#"
model_list:
  - model_name: m
    litellm_params: {model: mock/one, mock_response: one, rpm: 1}
  - model_name: m
    litellm_params: {model: mock/two, mock_response: two, rpm: 1}
"#,
    );
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(text(r.chat(req("m")).await.expect("ok").1));
    }
    seen.sort();
    assert_eq!(seen, vec!["one", "two"], "the second request went to the deployment with capacity");
    match r.chat(req("m")).await {
        Err(RouteError::RateLimited { retry_after, .. }) => {
            assert!(retry_after <= Duration::from_secs(60))
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("expected 429"),
    }
}

#[tokio::test]
async fn retryable_failures_move_to_the_next_deployment() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = dead.local_addr().expect("addr");
    drop(dead);
    let yaml = format!(
        r#"
model_list:
  - model_name: m
    litellm_params: {{model: openai/x, api_base: "http://{addr}/v1"}}
  - model_name: m
    litellm_params: {{model: mock/ok, mock_response: recovered}}
litellm_settings:
  num_retries: 1
"#
    );
    let r = router(&yaml);
    // Whichever deployment the rotation starts with, the call succeeds.
    for _ in 0..2 {
        assert_eq!(text(r.chat(req("m")).await.expect("retried").1), "recovered");
    }
    let no_retry = router(&yaml.replace("num_retries: 1", "num_retries: 0"));
    let mut errors = 0;
    for _ in 0..2 {
        if let Err(RouteError::Provider { err }) = no_retry.chat(req("m")).await {
            assert!(matches!(err, ProviderError::Connect { .. }), "{err:?}");
            errors += 1;
        }
    }
    assert_eq!(errors, 1, "without retries the dead deployment's turn fails");
}

#[tokio::test]
async fn unavailable_deployments_explain_themselves() {
    let r =
        router("model_list:\n  - model_name: q\n    litellm_params: {model: dashscope/qwen-max}\n");
    match r.chat(req("q")).await {
        Err(RouteError::Unavailable { reasons, .. }) => {
            assert_eq!(reasons.len(), 1);
            assert!(reasons[0].contains("set DASHSCOPE_API_KEY"), "{reasons:?}");
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("expected unavailable"),
    }
}

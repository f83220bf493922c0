//! Routing: wildcard matching, alias resolution, rotation, limits, retries, cooldowns (on
//! tokio's paused clock), fallbacks, parallel limits and weights, through `Router` with
//! mock deployments that fail on cue (LiteLLM's `mock_response` sentinels).

use super::*;
use crate::config::{self, Env, Source};
use crate::wire::openai::{ChatRequest, Content, Message};

const KEEP_ALIVE: Duration = Duration::from_secs(10);

async fn chat(r: &Router, req: ChatRequest) -> Result<(Served, Reply), RouteError> {
    r.chat(req, &RequestOptions::default(), KEEP_ALIVE).await
}

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

fn text(out: Reply) -> String {
    match out {
        Reply::Complete(c) => {
            c.choices[0].message.content.as_ref().map(Content::text).unwrap_or_default()
        }
        Reply::Stream { .. } => panic!("expected a complete response"),
        Reply::Verbatim(_) => panic!("verbatim without asking"),
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
        let (_, out) = chat(&r, req("m")).await.expect("ok");
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
        seen.push(text(chat(&r, req("m")).await.expect("ok").1));
    }
    seen.sort();
    assert_eq!(seen, vec!["one", "two"], "the second request went to the deployment with capacity");
    match chat(&r, req("m")).await {
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
        assert_eq!(text(chat(&r, req("m")).await.expect("retried").1), "recovered");
    }
    let no_retry = router(&yaml.replace("num_retries: 1", "num_retries: 0"));
    let mut errors = 0;
    for _ in 0..2 {
        if let Err(RouteError::Provider { err }) = chat(&no_retry, req("m")).await {
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
    match chat(&r, req("q")).await {
        Err(RouteError::Unavailable { reasons, .. }) => {
            assert_eq!(reasons.len(), 1);
            assert!(reasons[0].contains("set DASHSCOPE_API_KEY"), "{reasons:?}");
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("expected unavailable"),
    }
}

fn answered_by(served: &Served) -> (String, usize) {
    (served.fallback_alias.clone().unwrap_or_default(), served.routed().dep.index)
}

#[tokio::test]
async fn fallbacks_take_over_after_the_alias_retries_and_say_so() {
    let r = router(
        r#"
model_list:
  - model_name: a
    litellm_params: {model: mock/a, mock_response: litellm.ServiceUnavailableError}
  - model_name: b
    litellm_params: {model: mock/b, mock_response: litellm.InternalServerError}
  - model_name: c
    litellm_params: {model: mock/c, mock_response: from c}
router_settings:
  fallbacks: [{"a": ["b", "c"]}]
"#,
    );
    let (served, out) = chat(&r, req("a")).await.expect("fell back");
    assert_eq!(text(out), "from c");
    assert_eq!(answered_by(&served), ("c".to_owned(), 2));
    assert_eq!(served.fallbacks, 2, "b was tried, then c");
    // Without the list the client gets the first failure.
    let r = router(
        "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, mock_response: litellm.ServiceUnavailableError}\n",
    );
    match chat(&r, req("a")).await {
        Err(RouteError::Provider { err: ProviderError::Upstream { status: 503, .. } }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// A value that counts its copies, for what `route` hands each attempt.
#[derive(Debug)]
struct Counted(Arc<std::sync::atomic::AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::Relaxed);
        Counted(self.0.clone())
    }
}

/// Route `model` with attempts that fail (503) on deployments whose model starts with
/// `down`: the attempts made (by model) and the copies of the input they were given.
async fn attempts_and_copies(r: &Router, model: &str) -> (Vec<String>, usize) {
    let copies = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls = std::sync::Mutex::new(Vec::new());
    let mut input = Some(Counted(copies.clone()));
    let _ = r
        .route(model, &RequestOptions::default(), &mut input, |routed, given: Counted| {
            calls.lock().expect("calls").push(routed.dep.model.clone());
            async move {
                drop(given);
                if routed.dep.model.starts_with("down") {
                    let err = ProviderError::Upstream {
                        status: 503,
                        message: "down".into(),
                        kind: None,
                        code: None,
                        param: None,
                        retry_after: None,
                        details: None,
                    };
                    return Err(RouteError::Provider { err });
                }
                Ok(())
            }
        })
        .await;
    let calls = calls.into_inner().expect("calls");
    (calls, copies.load(Ordering::Relaxed))
}

#[tokio::test(start_paused = true)]
async fn each_attempt_but_the_last_possible_one_gets_a_copy_of_the_request() {
    let r = router(
        r#"
model_list:
  - model_name: one
    litellm_params: {model: mock/up}
  - model_name: a
    litellm_params: {model: mock/down-a}
  - model_name: b
    litellm_params: {model: mock/down-b}
  - model_name: c
    litellm_params: {model: mock/up-c}
  - model_name: flaky
    litellm_params: {model: mock/down-flaky, max_retries: 2}
  - model_name: big
    litellm_params: {model: mock/up-big}
router_settings:
  fallbacks: [{"a": ["b", "c"]}]
  context_window_fallbacks: [{"one": ["big"]}]
"#,
    );
    // `one` has a context-window fallback: the request is kept for it.
    assert_eq!(attempts_and_copies(&r, "one").await, (vec!["up".to_owned()], 1));
    // Neither retries nor fallbacks: the only attempt takes the request itself.
    assert_eq!(attempts_and_copies(&r, "c").await, (vec!["up-c".to_owned()], 0));
    // Two retries: copies for the first two attempts, the third takes it.
    let (calls, copies) = attempts_and_copies(&r, "flaky").await;
    assert_eq!((calls.len(), copies), (3, 2), "{calls:?}");
    // a, then its fallbacks b and c: the last one has nowhere further to go.
    let (calls, copies) = attempts_and_copies(&r, "a").await;
    assert_eq!((calls, copies), (vec!["down-a".into(), "down-b".into(), "up-c".into()], 2));
}

#[tokio::test]
async fn context_window_and_content_policy_errors_use_their_own_lists() {
    let yaml = r#"
model_list:
  - model_name: small
    litellm_params: {model: mock/small, mock_response: litellm.ContextWindowExceededError}
  - model_name: strict
    litellm_params: {model: mock/strict, mock_response: litellm.ContentPolicyViolationError}
  - model_name: big
    litellm_params: {model: mock/big, mock_response: big}
  - model_name: lenient
    litellm_params: {model: mock/lenient, mock_response: lenient}
  - model_name: other
    litellm_params: {model: mock/other, mock_response: other}
router_settings:
  fallbacks: [{"small": ["other"]}, {"strict": ["other"]}]
  context_window_fallbacks: [{"small": ["big"]}]
  content_policy_fallbacks: [{"strict": ["lenient"]}]
"#;
    let r = router(yaml);
    assert_eq!(text(chat(&r, req("small")).await.expect("context").1), "big");
    assert_eq!(text(chat(&r, req("strict")).await.expect("content").1), "lenient");
    // A context error without its list does not use the general one: the client gets the 400.
    let r = router(&yaml.replace("  context_window_fallbacks: [{\"small\": [\"big\"]}]\n", ""));
    match chat(&r, req("small")).await {
        Err(RouteError::Provider { err: ProviderError::Upstream { status: 400, .. } }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// Deployment 0 fails with a 429 first (it has the lower `order`), deployment 1 answers.
const COOLING: &str = r#"
model_list:
  - model_name: m
    litellm_params: {model: mock/one, mock_response: litellm.RateLimitError, order: 1}
  - model_name: m
    litellm_params: {model: mock/two, mock_response: two, order: 2}
litellm_settings:
  num_retries: 1
router_settings:
  cooldown_time: 30
"#;

#[tokio::test(start_paused = true)]
async fn a_cooled_deployment_is_skipped_until_its_cooldown_ends() {
    let r = router(COOLING);
    let (served, out) = chat(&r, req("m")).await.expect("retried on the other");
    assert_eq!((text(out), served.retries), ("two".to_owned(), 1));
    let one = r.deployments()[0].clone();
    let health::State::CoolingDown { remaining, .. } = one.report().state else {
        panic!("cooling: {:?}", one.report())
    };
    assert_eq!(remaining, Duration::from_secs(30));
    assert_eq!(one.report().last_error.and_then(|e| e.status), Some(429));
    // While it cools, requests go straight to the other one.
    for _ in 0..3 {
        let (served, _) = chat(&r, req("m")).await.expect("ok");
        assert_eq!((served.routed().dep.index, served.retries), (1, 0));
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(one.report().state, health::State::Ready);
    // Back in rotation: tried first again (and cooled again by its 429).
    let (served, _) = chat(&r, req("m")).await.expect("ok");
    assert_eq!((served.routed().dep.index, served.retries), (1, 1));
    assert!(matches!(one.report().state, health::State::CoolingDown { .. }));
}

#[tokio::test(start_paused = true)]
async fn the_last_healthy_deployment_is_never_cooled_down() {
    let r = router(
        "model_list:\n  - model_name: m\n    litellm_params: {model: mock/one, mock_response: litellm.RateLimitError}\n",
    );
    for _ in 0..5 {
        assert!(chat(&r, req("m")).await.is_err());
    }
    let report = r.deployments()[0].report();
    assert_eq!(report.state, health::State::Ready, "still tried: there is nowhere else to go");
    assert!(report.failing, "its error is shown");
}

#[tokio::test(start_paused = true)]
async fn with_a_fallback_a_cooling_alias_is_skipped_at_once() {
    let r = router(
        r#"
model_list:
  - model_name: a
    litellm_params: {model: mock/a, mock_response: litellm.RateLimitError}
  - model_name: b
    litellm_params: {model: mock/b, mock_response: from b}
router_settings:
  fallbacks: [{"a": ["b"]}]
  num_retries: 2
"#,
    );
    let (served, out) = chat(&r, req("a")).await.expect("fell back");
    assert_eq!(text(out), "from b");
    assert_eq!((served.fallbacks, served.retries), (1, 0), "no wait for a's Retry-After");
    let a = r.deployments()[0].clone();
    assert!(matches!(a.report().state, health::State::CoolingDown { .. }), "it has a fallback");
    let failed_at = a.report().last_error.map(|e| e.at);
    let (served, _) = chat(&r, req("a")).await.expect("fell back");
    assert_eq!(served.fallback_alias.as_deref(), Some("b"));
    assert_eq!(a.report().last_error.map(|e| e.at), failed_at, "a was not called again");
}

#[tokio::test]
async fn max_parallel_requests_is_a_busy_429_until_a_slot_frees() {
    let r = router(
        "model_list:\n  - model_name: m\n    litellm_params: {model: mock/one, max_parallel_requests: 1}\n",
    );
    let streaming = ChatRequest { stream: Some(true), ..req("m") };
    let (held, _stream) = chat(&r, streaming.clone()).await.expect("first");
    assert_eq!(r.deployments()[0].report().in_flight, 1);
    match chat(&r, req("m")).await {
        Err(RouteError::Busy { model, limit }) => assert_eq!((model.as_str(), limit), ("m", 1)),
        other => panic!("{:?}", other.map(|_| ())),
    }
    drop(held);
    assert!(chat(&r, req("m")).await.is_ok(), "the slot came back when the stream ended");
    assert_eq!(r.deployments()[0].report().in_flight, 0);
}

#[tokio::test]
async fn weights_from_the_config_share_the_traffic() {
    let r = router(
        r#"
model_list:
  - model_name: m
    litellm_params: {model: mock/light, weight: 1}
  - model_name: m
    litellm_params: {model: mock/heavy, weight: 3}
"#,
    );
    let picks = 2000;
    let mut heavy = 0;
    for _ in 0..picks {
        let (served, _) = chat(&r, req("m")).await.expect("ok");
        heavy += usize::from(served.routed().dep.index == 1);
    }
    let share = heavy as f64 / picks as f64;
    assert!((share - 0.75).abs() < 0.05, "heavy got {share}");
}

#[tokio::test]
async fn the_request_can_test_and_choose_its_fallbacks() {
    let r = router(
        r#"
model_list:
  - model_name: a
    litellm_params: {model: mock/a, mock_response: from a}
  - model_name: b
    litellm_params: {model: mock/b, mock_response: from b}
  - model_name: c
    litellm_params: {model: mock/c, mock_response: from c}
router_settings:
  fallbacks: [{"a": ["b"]}]
"#,
    );
    let mock = RequestOptions { mock_failure: Some(Trigger::Failure), ..RequestOptions::default() };
    let (_, out) = r.chat(req("a"), &mock, KEEP_ALIVE).await.expect("fell back");
    assert_eq!(text(out), "from b");
    let own = RequestOptions { fallbacks: Some(vec!["c".into()]), ..mock.clone() };
    let (_, out) = r.chat(req("a"), &own, KEEP_ALIVE).await.expect("fell back");
    assert_eq!(text(out), "from c", "the body's fallbacks replace the configured ones");
    let off = RequestOptions { disable_fallbacks: true, ..mock };
    assert!(r.chat(req("a"), &off, KEEP_ALIVE).await.is_err());
}

#[tokio::test]
async fn spent_deployments_are_skipped_then_429_with_when_one_is_back_under_budget() {
    let r = router(
        r#"
model_list:
  - model_name: m
    litellm_params: {model: mock/one, mock_response: one, max_budget: 1, budget_duration: 1d}
  - model_name: m
    litellm_params: {model: mock/two, mock_response: two, max_budget: 2, budget_duration: 1h}
"#,
    );
    let now = crate::usage::now_ms();
    r.deployments()[0].record_spend(now, 1.5);
    for _ in 0..3 {
        assert_eq!(text(chat(&r, req("m")).await.expect("two serves").1), "two");
    }
    // Under the budget still serves; at it, refuses (LiteLLM: spend >= max_budget).
    r.deployments()[1].record_spend(now, 1.0);
    assert_eq!(text(chat(&r, req("m")).await.expect("two serves").1), "two");
    r.deployments()[1].record_spend(now, 1.0);
    match chat(&r, req("m")).await {
        Err(RouteError::OverBudget { model, deployment, over }) => {
            assert_eq!(model, "m");
            // two's one-hour window clears long before one's day.
            assert_eq!(deployment, "mock/two");
            assert!((over.spent - 2.0).abs() < 1e-9);
            let hour = Duration::from_secs(3600);
            let slot = hour / budget::SLOTS as u32;
            assert!(
                over.retry_after <= hour && over.retry_after > hour - slot - Duration::from_secs(5),
                "{:?}",
                over.retry_after
            );
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_spent_alias_falls_back_to_its_fallbacks() {
    let r = router(
        r#"
model_list:
  - model_name: a
    litellm_params: {model: mock/a, mock_response: from a, max_budget: 0, budget_duration: 1d}
  - model_name: b
    litellm_params: {model: mock/b, mock_response: from b}
router_settings:
  fallbacks: [{"a": ["b"]}]
"#,
    );
    let (served, out) = chat(&r, req("a")).await.expect("fell back");
    assert_eq!(text(out), "from b");
    assert_eq!(answered_by(&served).0, "b");
}

#[test]
fn deployment_ids_come_from_model_info_or_a_stable_hash_of_what_is_called() {
    let r = router(
        r#"
model_list:
  - model_name: m
    litellm_params: {model: mock/x}
    model_info: {id: my-id}
  - model_name: m
    litellm_params: {model: mock/x, api_base: "http://127.0.0.1:1"}
  - model_name: m
    litellm_params: {model: mock/x, api_base: "http://127.0.0.1:1", api_key: k1}
  - model_name: m
    litellm_params: {model: mock/x}
    model_info: {id: 7}
"#,
    );
    let ids: Vec<&str> = r.deployments().iter().map(|d| &*d.id).collect();
    assert_eq!(ids[0], "my-id");
    assert_eq!(ids[3], "7");
    assert!(ids[1].starts_with("h:") && ids[1].len() == 18, "{}", ids[1]);
    // The key is not part of the id: rotating it keeps the budget's history.
    assert_eq!(ids[1], ids[2]);
    // Stable across versions (FNV-1a of alias, provider, model, base, version, project,
    // region, each ended by a NUL byte): request logs written today keep matching.
    assert_eq!(ids[1], "h:01fdbe02b3f8d50e");
}

#[test]
fn a_fixed_key_or_token_no_header_can_carry_makes_its_model_unavailable() {
    let yaml = r#"
model_list:
  - model_name: openai
    litellm_params: {model: openai/gpt-4o, api_key: "sk-secret-4711\n"}
  - model_name: azure
    litellm_params: {model: azure/gpt-4o, api_base: "https://r.openai.azure.com", api_key: "secret-4711\r\n"}
  - model_name: azure-token
    litellm_params: {model: azure/gpt-4o, api_base: "https://r.openai.azure.com", azure_ad_token: "secret-4711\n"}
  - model_name: gemini
    litellm_params: {model: gemini/gemini-2.5-flash, api_key: "secret-4711\n"}
  - model_name: claude
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: "secret-4711\u0007"}
  - model_name: foundry
    litellm_params: {model: azure_ai/claude-sonnet-4-5, api_base: "https://f.services.ai.azure.com/anthropic", api_key: "secret-4711\n"}
  - model_name: fine
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: "sk-ant-fine"}
"#;
    let r = router(yaml);
    let reasons: Vec<Option<&str>> =
        r.deployments().iter().map(|d| d.unavailable_reason()).collect();
    for (i, alias) in ["openai", "azure", "azure-token", "gemini", "foundry"].iter().enumerate() {
        let i = if i < 4 { i } else { i + 1 };
        let reason = reasons[i].unwrap_or_default();
        assert!(
            reason.starts_with(&format!(
                "model `{alias}`: its API key or token contains a line break"
            )),
            "{alias}: {reason}"
        );
    }
    let claude = reasons[4].unwrap_or_default();
    assert!(claude.contains("contains a control character"), "{claude}");
    assert_eq!(reasons[6], None);
    for reason in reasons.iter().flatten() {
        assert!(!reason.contains("4711"), "the value never shows: {reason}");
    }
}

#[test]
fn any_passthrough_is_whether_some_alias_is_claude_only() {
    let claude = "litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: k}";
    let other = "litellm_params: {model: mock/m}";
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[("a", other), ("b", other)], false),
        (&[("c", claude)], true),
        // Mixed with another provider: relayed translated, never passed through.
        (&[("c", claude), ("c", other)], false),
        (&[("c", claude), ("c", other), ("d", claude)], true),
        (&[("claude-*", claude), ("*", other)], true),
        (&[("claude-*", claude), ("claude-*", other)], false),
    ];
    for (entries, want) in cases {
        let yaml: String = entries
            .iter()
            .map(|(alias, params)| format!("  - model_name: \"{alias}\"\n    {params}\n"))
            .collect();
        let r = router(&format!("model_list:\n{yaml}"));
        assert_eq!(r.any_passthrough(), *want, "{yaml}");
        // The shortcut never hides a pass-through: without it, no name is one; with it, one is.
        let names = ["a", "b", "c", "d", "claude-x", "gpt", "*"];
        assert_eq!(names.iter().any(|n| r.is_passthrough(n)), *want, "{yaml}");
    }
}

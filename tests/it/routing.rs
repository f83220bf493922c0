//! LiteLLM's router features through the real binary: fallback chains (general, context
//! window, content policy, from the request body), streams that fall back only before their
//! first byte, cooldowns shown by `/health/readiness` and `/health`, `max_parallel_requests`,
//! per-request timeouts, timeouts and refused connections that cool a deployment, and a
//! stream deferred while its fallback runs. One scripted upstream on 127.0.0.1 answers by the
//! model name it is sent (so each alias gets its behaviour) and records what it received;
//! every wait is bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::{Gateway, MockUpstream, client, sse_data};

const KEY: &str = "sk-routing-test-key";

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn completion(text: &str) -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "upstream",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        }),
    )
}

fn chunk(content: &str, finish: Option<&str>) -> String {
    let c = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "upstream",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]
    });
    format!("data: {c}\n\n")
}

fn sse(frames: Vec<Result<String, std::io::Error>>) -> Response {
    let body = Body::from_stream(futures_util::stream::iter(
        frames.into_iter().map(|f| f.map(Bytes::from)),
    ));
    let mut resp = Response::new(body);
    resp.headers_mut().insert("content-type", "text/event-stream".parse().expect("header"));
    resp
}

/// The upstream's behaviour, by the model name the gateway sends (`litellm_params.model`
/// after `openai/`):
/// - `ok-<text>`: answers `<text>` (as a stream when asked);
/// - `ctx`: OpenAI's context-length 400; `filtered`: Azure's content-filter 400;
///   `bad`: a plain 400 (wrong parameter);
/// - `busy`: 429 with `Retry-After: 120`; `down`: 503;
/// - `first-event-error`: a 200 stream whose first event is an error;
/// - `cut`: a stream that sends one chunk and breaks off;
/// - `slow`: answers after 3 s; `late-down`: 503 after 800 ms; `hold`: answers once
///   `release` is notified.
fn scripted(release: Arc<Notify>) -> MockUpstream {
    let handler = move |body: Bytes| {
        let release = release.clone();
        async move {
            let req: Value = serde_json::from_slice(&body).unwrap_or_default();
            let model = req["model"].as_str().unwrap_or_default().to_owned();
            let stream = req["stream"].as_bool().unwrap_or(false);
            if let Some(text) = model.strip_prefix("ok-") {
                if !stream {
                    return completion(text);
                }
                return sse(vec![
                    Ok(chunk(text, None)),
                    Ok(chunk("", Some("stop"))),
                    Ok("data: [DONE]\n\n".to_owned()),
                ]);
            }
            match model.as_str() {
                "ctx" => json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
                ),
                "filtered" => json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.", "type": null, "param": "prompt", "code": "content_filter", "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {"hate": {"filtered": true, "severity": "high"}}}}}),
                ),
                "bad" => json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"message": "Invalid value for 'temperature': must be at most 2.", "type": "invalid_request_error", "param": "temperature", "code": null}}),
                ),
                "busy" => {
                    let mut r = json_response(
                        StatusCode::TOO_MANY_REQUESTS,
                        json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "429"}}),
                    );
                    r.headers_mut().insert("retry-after", "120".parse().expect("header"));
                    r
                }
                "down" => json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": {"message": "The service is temporarily unavailable", "type": "server_error"}}),
                ),
                "first-event-error" => sse(vec![Ok(
                    "data: {\"error\":{\"message\":\"overloaded, try later\",\"code\":503}}\n\n"
                        .to_owned(),
                )]),
                "cut" => {
                    // The chunk is flushed before the break (a pause between them).
                    let frames = futures_util::stream::unfold(0, |n| async move {
                        match n {
                            0 => Some((Ok(Bytes::from(chunk("partial answer", None))), 1)),
                            1 => {
                                tokio::time::sleep(Duration::from_millis(300)).await;
                                Some((Err(std::io::Error::other("upstream broke off")), 2))
                            }
                            _ => None,
                        }
                    });
                    let mut resp = Response::new(Body::from_stream(frames));
                    resp.headers_mut()
                        .insert("content-type", "text/event-stream".parse().expect("header"));
                    resp
                }
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    completion("slow answer")
                }
                "late-down" => {
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"error": {"message": "The service is temporarily unavailable", "type": "server_error"}}),
                    )
                }
                "hold" => {
                    release.notified().await;
                    completion("held answer")
                }
                _ => json_response(
                    StatusCode::NOT_FOUND,
                    json!({"error": {"message": "no such model"}}),
                ),
            }
        }
    };
    MockUpstream::start(Router::new().route("/v1/chat/completions", post(handler)))
}

/// How many requests the upstream got for `model`.
fn calls(up: &MockUpstream, model: &str) -> usize {
    up.requests().iter().filter(|r| r.json()["model"] == model).count()
}

/// A `model_list` entry for `alias` served by the scripted upstream as `model`, with extra
/// `litellm_params` in flow style (`order: 1`).
fn entry(up: &MockUpstream, alias: &str, model: &str, extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { ", " };
    format!(
        "  - model_name: {alias}\n    litellm_params: {{model: openai/{model}, api_base: \"{}/v1\"{sep}{extra}}}\n",
        up.url()
    )
}

fn config(entries: &[String], tail: &str) -> String {
    format!("model_list:\n{}{tail}general_settings:\n  master_key: {KEY}\n", entries.concat())
}

async fn ask(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .expect("send")
}

fn hi(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn content(r: reqwest::Response) -> (Value, String) {
    let v: Value = r.json().await.expect("json");
    let text = v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_owned();
    (v, text)
}

/// The model-group headers name the model the client asked for: the alias itself, or under a
/// wildcard alias the client's own name.
#[tokio::test]
async fn the_model_group_header_names_what_the_client_asked_for() {
    let up = scripted(Arc::default());
    let entries = [entry(&up, "exact", "ok-exact", ""), entry(&up, "\"team-*\"", "ok-wild", "")];
    let gw = Gateway::builder(&config(&entries, "")).start();
    for (asked, deployment) in [
        ("exact", "0:openai/ok-exact"),
        ("team-a", "1:openai/ok-wild"),
        ("exact", "0:openai/ok-exact"),
    ] {
        let r = ask(&gw, hi(asked)).await;
        assert_eq!(r.status(), 200, "{asked}");
        assert_eq!(header(&r, "x-litellm-model-group"), asked);
        assert_eq!(header(&r, "x-ai-proxy-model"), asked);
        assert_eq!(header(&r, "x-ai-proxy-deployment"), deployment);
    }
}

#[tokio::test]
async fn a_fallback_chain_answers_and_says_which_model_did() {
    let up = scripted(Arc::default());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = dead.local_addr().expect("addr");
    drop(dead);
    let entries = [
        format!(
            "  - model_name: primary\n    litellm_params: {{model: openai/x, api_base: \"http://{refused}/v1\"}}\n"
        ),
        entry(&up, "second", "busy", ""),
        entry(&up, "third", "ok-from third", ""),
    ];
    let gw = Gateway::builder(&config(
        &entries,
        "router_settings:\n  fallbacks: [{\"primary\": [\"second\", \"third\"]}]\n",
    ))
    .start();
    let r = ask(&gw, hi("primary")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ai-proxy-model"), "third");
    assert_eq!(header(&r, "x-litellm-model-group"), "third");
    assert_eq!(header(&r, "x-litellm-attempted-fallbacks"), "2");
    assert_eq!(header(&r, "x-ai-proxy-deployment"), "2:openai/ok-from third");
    let (v, text) = content(r).await;
    assert_eq!(text, "from third");
    assert_eq!(v["model"], "primary", "the body names the model asked for");
    assert_eq!(calls(&up, "busy"), 1, "a 429 over 30 s is passed to the fallback, not waited out");
    let log = gw.stderr_with("served_by=third");
    assert!(log.contains("model=primary failed ("), "{log}");
    assert!(log.contains("falling back to second"), "{log}");
    assert!(log.contains("model=second failed ("), "{log}");
    assert!(
        log.contains("chat model=primary provider=openai status=200 json")
            && log.contains("deployment=2:openai/ok-from third served_by=third fallbacks=2"),
        "the request line names the alias asked for and the deployment used: {log}"
    );

    // Without fallbacks the same failure reaches the client, and the headers say nothing.
    let gw = Gateway::builder(&config(&entries, "")).start();
    let r = ask(&gw, hi("primary")).await;
    assert_eq!(r.status(), 502);
    assert!(r.headers().get("x-ai-proxy-model").is_none());
}

#[tokio::test]
async fn context_window_and_content_policy_errors_take_their_own_fallbacks() {
    let up = scripted(Arc::default());
    let entries = [
        entry(&up, "small", "ctx", ""),
        entry(&up, "strict", "filtered", ""),
        entry(&up, "picky", "bad", ""),
        entry(&up, "big", "ok-big context", ""),
        entry(&up, "lenient", "ok-lenient", ""),
        entry(&up, "general", "ok-general", ""),
    ];
    let gw = Gateway::builder(&config(
        &entries,
        "router_settings:\n  fallbacks: [{\"small\": [\"general\"]}, {\"strict\": [\"general\"]}, {\"picky\": [\"general\"]}]\n  context_window_fallbacks: [{\"small\": [\"big\"]}]\n  content_policy_fallbacks: [{\"strict\": [\"lenient\"]}]\n",
    ))
    .start();
    let r = ask(&gw, hi("small")).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-ai-proxy-model")), (200, "big".to_owned()));
    assert_eq!(content(r).await.1, "big context");
    let r = ask(&gw, hi("strict")).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-ai-proxy-model")), (200, "lenient".to_owned()));
    // A plain 400 is the client's mistake: no fallback would answer it differently.
    let r = ask(&gw, hi("picky")).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("temperature"), "{v}");
    assert_eq!(calls(&up, "ok-general"), 0, "the general list was never used");
}

#[tokio::test]
async fn streams_fall_back_before_their_first_byte_and_never_after() {
    let up = scripted(Arc::default());
    let entries = [
        entry(&up, "early", "first-event-error", ""),
        entry(&up, "refused", "down", ""),
        entry(&up, "late", "cut", ""),
        entry(&up, "backup", "ok-from backup", ""),
    ];
    let gw =
        Gateway::builder(&config(&entries, "router_settings:\n  default_fallbacks: [backup]\n"))
            .start();
    for alias in ["early", "refused"] {
        let mut body = hi(alias);
        body["stream"] = json!(true);
        let r = ask(&gw, body).await;
        assert_eq!(r.status(), 200, "{alias}");
        assert_eq!(header(&r, "x-ai-proxy-model"), "backup", "{alias}");
        let text = r.text().await.expect("body");
        let data = sse_data(&text);
        assert!(data.iter().any(|d| d.contains("from backup")), "{alias}: {text}");
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{alias}: {text}");
        assert!(
            data.iter()
                .all(|d| d.contains("\"model\":\"") && !d.contains("overloaded") || d == "[DONE]"),
            "{text}"
        );
    }
    let before = calls(&up, "ok-from backup");
    let mut body = hi("late");
    body["stream"] = json!(true);
    let r = ask(&gw, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ai-proxy-model"), "late");
    let text = r.text().await.expect("body");
    let data = sse_data(&text);
    assert!(data[0].contains("partial answer"), "{text}");
    assert!(
        data.last().is_some_and(|d| d.contains("\"error\"")),
        "ends with an error event: {text}"
    );
    assert!(!text.contains("[DONE]"), "{text}");
    assert_eq!(calls(&up, "ok-from backup"), before, "no fallback after the first byte");
}

#[tokio::test]
async fn a_stream_whose_fallback_outlasts_the_keep_alive_interval_gets_keep_alives_then_the_answer()
{
    let up = scripted(Arc::default());
    let entries =
        [entry(&up, "tardy", "late-down", ""), entry(&up, "backup", "ok-from backup", "")];
    let yaml = format!(
        "model_list:\n{}router_settings:\n  fallbacks: [{{\"tardy\": [\"backup\"]}}]\ngeneral_settings:\n  master_key: {KEY}\n  stream_keep_alive_interval: 0.3\n",
        entries.concat()
    );
    let gw = Gateway::builder(&yaml).start();
    let mut body = hi("tardy");
    body["stream"] = json!(true);
    let r = ask(&gw, body).await;
    assert_eq!(r.status(), 200, "committed to after one keep-alive interval");
    assert!(r.headers().get("x-ai-proxy-model").is_none(), "sent before anyone answered");
    let text = r.text().await.expect("body");
    assert!(text.starts_with(": keep-alive"), "keep-alives while the router works: {text}");
    let data = sse_data(&text);
    assert!(data.iter().any(|d| d.contains("from backup")), "the fallback answers: {text}");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert!(!text.contains("unavailable"), "the failure before any output is not shown: {text}");
    assert_eq!(calls(&up, "late-down"), 1);
    let log = gw.stderr_with("served_by=backup");
    assert!(log.contains("model=tardy failed ("), "{log}");
    assert!(log.contains("chat model=tardy provider=openai status=200 stream"), "{log}");
}

#[tokio::test]
async fn a_failing_deployment_cools_down_and_the_health_endpoints_show_it() {
    let up = scripted(Arc::default());
    let entries = [
        entry(&up, "m", "down", "order: 1"),
        entry(&up, "m", "ok-fine", "order: 2"),
        entry(&up, "rl", "busy", ""),
        entry(&up, "rl", "ok-rl", ""),
        "  - model_name: qwen\n    litellm_params: {model: dashscope/qwen-max}\n".to_owned(),
    ];
    let gw = Gateway::builder(&config(
        &entries,
        "litellm_settings:\n  num_retries: 1\nrouter_settings:\n  allowed_fails: 0\n  cooldown_time: 60\n",
    ))
    .start();
    let r = ask(&gw, hi("m")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "1");
    assert_eq!(content(r).await.1, "fine");
    for _ in 0..3 {
        let r = ask(&gw, hi("m")).await;
        assert_eq!(
            (r.status().as_u16(), header(&r, "x-litellm-attempted-retries")),
            (200, "0".to_owned())
        );
    }
    assert_eq!(calls(&up, "down"), 1, "skipped while it cools");
    // Both `rl` deployments get one request; the 429's Retry-After (120 s) sets its cooldown.
    for _ in 0..2 {
        assert_eq!(ask(&gw, hi("rl")).await.status(), 200);
    }
    assert_eq!(calls(&up, "busy"), 1);

    let ready = gw.readiness().await;
    assert_eq!(ready["status"], "healthy");
    assert_eq!(ready["models_cooling_down"], 2, "{ready}");
    let deps = ready["deployments"].as_array().expect("deployments");
    assert_eq!(deps.len(), 5);
    assert_eq!(deps[0]["model"], "m");
    assert_eq!(deps[0]["deployment"], "openai/down");
    assert_eq!(deps[0]["state"], "cooling_down");
    assert!(
        deps[0]["cooling_down_until"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{}",
        deps[0]
    );
    let left = deps[0]["cooldown_remaining_seconds"].as_f64().expect("remaining");
    assert!(left > 50.0 && left <= 60.0, "{left}");
    assert_eq!(deps[0]["last_error"]["status"], 503);
    assert!(
        deps[0]["last_error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("temporarily unavailable")
    );
    assert_eq!(deps[1]["state"], "ready");
    assert_eq!(deps[2]["state"], "cooling_down");
    let left = deps[2]["cooldown_remaining_seconds"].as_f64().expect("remaining");
    assert!(left > 110.0 && left <= 120.0, "Retry-After: 120 is longer than cooldown_time: {left}");
    assert_eq!(deps[4]["state"], "unavailable");
    assert!(
        deps[4]["reason"].as_str().unwrap_or_default().contains("DASHSCOPE_API_KEY"),
        "{}",
        deps[4]
    );

    // GET /health: LiteLLM's shape, behind the master key.
    let denied = client().get(gw.url("/health")).send().await.expect("health");
    assert_eq!(denied.status(), 401);
    let health: Value = client()
        .get(gw.url("/health"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["healthy_count"], 2, "{health}");
    assert_eq!(health["unhealthy_count"], 3, "{health}");
    let healthy: Vec<&str> = health["healthy_endpoints"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["model"].as_str())
        .collect();
    assert_eq!(healthy, ["openai/ok-fine", "openai/ok-rl"]);
    let sick = &health["unhealthy_endpoints"][0];
    assert_eq!(sick["model"], "openai/down");
    assert_eq!(sick["model_name"], "m");
    assert_eq!(sick["api_base"], format!("{}/v1", up.url()));
    assert!(
        sick["error"].as_str().unwrap_or_default().contains("temporarily unavailable"),
        "{sick}"
    );
    let missing = &health["unhealthy_endpoints"][2];
    assert!(
        missing["error"].as_str().unwrap_or_default().contains("DASHSCOPE_API_KEY"),
        "{missing}"
    );
    let one: Value = client()
        .get(gw.url("/health?model=rl"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (one["healthy_count"].as_u64(), one["unhealthy_count"].as_u64()),
        (Some(1), Some(1))
    );
    let log = gw.stderr();
    assert!(log.contains("model=m deployment 0 (openai/down) cooling down for 60s"), "{log}");
}

#[tokio::test]
async fn a_timeout_and_a_refused_connection_cool_their_deployments_and_fall_back() {
    let up = scripted(Arc::default());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = dead.local_addr().expect("addr");
    drop(dead);
    let entries = [
        entry(&up, "stuck", "slow", "timeout: 0.3"),
        format!(
            "  - model_name: gone\n    litellm_params: {{model: openai/x, api_base: \"http://{refused}/v1\"}}\n"
        ),
        entry(&up, "spare", "ok-spare", ""),
    ];
    let gw = Gateway::builder(&config(
        &entries,
        "router_settings:\n  default_fallbacks: [spare]\n  allowed_fails: 0\n  cooldown_time: 60\n",
    ))
    .start();
    for alias in ["stuck", "gone"] {
        let started = Instant::now();
        let r = ask(&gw, hi(alias)).await;
        assert_eq!((r.status().as_u16(), header(&r, "x-ai-proxy-model")), (200, "spare".into()));
        assert_eq!(content(r).await.1, "spare", "{alias}");
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{alias}: {:?}",
            started.elapsed()
        );
    }
    let ready = gw.readiness().await;
    let deps = ready["deployments"].as_array().expect("deployments");
    for (i, alias) in [(0, "stuck"), (1, "gone")] {
        assert_eq!(deps[i]["model"], alias);
        assert_eq!(deps[i]["state"], "cooling_down", "{}", deps[i]);
        assert!(deps[i]["last_error"]["status"].is_null(), "no upstream answer: {}", deps[i]);
    }
    assert_eq!(deps[2]["state"], "ready");
    // While they cool, the fallback answers at once: the timed-out upstream is not called again.
    let slow_calls = calls(&up, "slow");
    let r = ask(&gw, hi("stuck")).await;
    assert_eq!(header(&r, "x-ai-proxy-model"), "spare");
    assert_eq!(calls(&up, "slow"), slow_calls);
}

#[tokio::test]
async fn max_parallel_requests_answers_a_clear_429_while_the_slot_is_taken() {
    let release: Arc<Notify> = Arc::default();
    let up = scripted(release.clone());
    let gw =
        Gateway::builder(&config(&[entry(&up, "held", "hold", "max_parallel_requests: 1")], ""))
            .start();
    let url = gw.url("/v1/chat/completions");
    let first = tokio::spawn(async move {
        client().post(url).bearer_auth(KEY).json(&hi("held")).send().await.expect("send").status()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls(&up, "hold") == 0 {
        assert!(Instant::now() < deadline, "the first request reached the upstream");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = ask(&gw, hi("held")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "1");
    assert_eq!(header(&r, "x-should-retry"), "true");
    let v: Value = r.json().await.expect("json");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("max_parallel_requests (1)"), "{message}");
    release.notify_one();
    let status =
        tokio::time::timeout(Duration::from_secs(10), first).await.expect("bounded").expect("task");
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_body_sets_timeouts_and_its_own_fallbacks() {
    let up = scripted(Arc::default());
    let entries = [entry(&up, "slow", "slow", ""), entry(&up, "quick", "ok-quick", "")];
    let gw = Gateway::builder(&config(&entries, "")).start();
    let started = Instant::now();
    let mut body = hi("slow");
    body["timeout"] = json!(0.5);
    let r = ask(&gw, body).await;
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
    let mut body = hi("slow");
    body["timeout"] = json!(-1);
    let r = ask(&gw, body).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["param"], "timeout");
    // LiteLLM's way to try fallbacks: the asked-for model fails without being called.
    let slow_calls = calls(&up, "slow");
    let mut body = hi("slow");
    body["mock_testing_fallbacks"] = json!(true);
    body["fallbacks"] = json!(["quick"]);
    let r = ask(&gw, body).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-ai-proxy-model")), (200, "quick".to_owned()));
    assert_eq!(calls(&up, "slow"), slow_calls);
    let sent = up.last().json();
    assert!(
        sent.get("fallbacks").is_none() && sent.get("mock_testing_fallbacks").is_none(),
        "{sent}"
    );
}

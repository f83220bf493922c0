//! The request log through the real binary: every model call is a row with its tokens and
//! cost, read back over `/usage`, `/spend/logs` and `/global/spend/report` behind the master
//! key; an upstream error is kept redacted; `disable_spend_logs` turns it off.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

use crate::support::{Gateway, MockUpstream, client};

const KEY: &str = "sk-usage-master-key";
const UPSTREAM_KEY: &str = "sk-upstream-usage-secret-42";

/// Prices per token set in model_info: the cost of a call is exactly computable.
const IN_PRICE: f64 = 0.000_002;
const OUT_PRICE: f64 = 0.000_008;

fn config(upstream: &str) -> String {
    format!(
        "model_list:
  - model_name: priced
    litellm_params:
      model: mock/echo
    model_info:
      input_cost_per_token: {IN_PRICE}
      output_cost_per_token: {OUT_PRICE}
  - model_name: qwen-own
    litellm_params:
      model: openai/qwen-own-finetune
      api_base: {upstream}/v1
      api_key: os.environ/UPSTREAM_KEY
  - model_name: broken
    litellm_params:
      model: openai/broken
      api_base: {upstream}/v1
      api_key: os.environ/UPSTREAM_KEY
"
    )
}

/// An OpenAI-compatible upstream: `broken` answers 401 echoing the request's headers (the key
/// among them); any other model answers with usage.
fn upstream() -> MockUpstream {
    let handler = |headers: HeaderMap, body: String| async move {
        let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if req["model"] == "broken" {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
            let body = json!({"error": {"message": format!("bad key: {auth}"), "type": "auth"}});
            return (
                StatusCode::UNAUTHORIZED,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response();
        }
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": req["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 20, "total_tokens": 1020,
                      "prompt_tokens_details": {"cached_tokens": 400}}
        });
        ([("content-type", "application/json")], body.to_string()).into_response()
    };
    MockUpstream::start(Router::new().route("/v1/chat/completions", post(handler)))
}

async fn chat(gw: &Gateway, model: &str, stream: bool) -> (u16, Value) {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "count these words please"}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("user-agent", "usage-test/1.0")
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let usage = if stream {
        crate::support::sse_data(&text)
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find(|c| c["usage"].is_object())
            .map(|c| c["usage"].clone())
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_str::<Value>(&text).map(|v| v["usage"].clone()).unwrap_or(Value::Null)
    };
    (status, usage)
}

async fn get(gw: &Gateway, path: &str) -> (u16, Value) {
    let resp = client().get(gw.url(path)).bearer_auth(KEY).send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Rows are written off the request path: poll until `n` calls are in (bounded).
async fn wait_for_calls(gw: &Gateway, n: u64) -> Value {
    for _ in 0..100 {
        let (status, usage) = get(gw, "/usage").await;
        assert_eq!(status, 200, "{usage}");
        if usage["total"]["requests"].as_u64() >= Some(n) {
            return usage;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the request log never reached {n} calls");
}

#[tokio::test]
async fn calls_are_logged_priced_and_read_back_in_litellms_shapes() {
    let up = upstream();
    let gw = Gateway::builder(&config(&up.url()))
        .env("LITELLM_MASTER_KEY", KEY)
        .env("UPSTREAM_KEY", UPSTREAM_KEY)
        .start();

    let (s1, u1) = chat(&gw, "priced", false).await;
    let (s2, u2) = chat(&gw, "priced", true).await;
    let (s3, _) = chat(&gw, "qwen-own", false).await;
    let (s4, _) = chat(&gw, "broken", false).await;
    assert_eq!((s1, s2, s3, s4), (200, 200, 200, 401));

    let usage = wait_for_calls(&gw, 4).await;
    assert_eq!(usage["window"], "day");
    let models = usage["models"].as_array().expect("models");
    let by = |name: &str| models.iter().find(|m| m["model"] == name).cloned().expect(name);

    // The mock's own token counts, priced by model_info.
    let priced = by("priced");
    assert_eq!(priced["requests"], 2);
    let tokens = |u: &Value, k: &str| u[k].as_u64().expect("tokens");
    let prompt = tokens(&u1, "prompt_tokens") + tokens(&u2, "prompt_tokens");
    let completion = tokens(&u1, "completion_tokens") + tokens(&u2, "completion_tokens");
    assert_eq!(priced["prompt_tokens"].as_u64(), Some(prompt));
    assert_eq!(priced["completion_tokens"].as_u64(), Some(completion));
    let want = prompt as f64 * IN_PRICE + completion as f64 * OUT_PRICE;
    let cost = priced["cost_usd"].as_f64().expect("cost");
    assert!((cost - want).abs() < 1e-12, "cost {cost}, expected {want}");

    // A model whose price nobody knows: tokens counted, cost unknown (null), not 0.
    let own = by("qwen-own");
    assert_eq!(
        (own["prompt_tokens"].as_u64(), own["cached_tokens"].as_u64()),
        (Some(1000), Some(400))
    );
    assert_eq!(own["cost_usd"], Value::Null);
    assert_eq!(own["unpriced_requests"], 1);

    // The failed call: counted as failed, its error kept without the upstream key.
    let broken = by("broken");
    assert_eq!(broken["failed_requests"], 1);
    let err = broken["last_error"].as_str().expect("last error");
    assert!(err.contains("bad key"), "{err}");
    assert!(!err.contains(UPSTREAM_KEY), "the key is redacted: {err}");

    let (status, logs) = get(&gw, "/spend/logs?limit=10").await;
    assert_eq!(status, 200);
    let rows = logs.as_array().expect("list");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["model_group"], "broken", "newest first");
    assert_eq!(rows[0]["status"], "failure");
    assert_eq!(rows[0]["metadata"]["status_code"], 401);
    let streamed = &rows[2];
    assert_eq!(streamed["model_group"], "priced");
    assert_eq!(streamed["call_type"], "acompletion");
    assert_eq!(streamed["metadata"]["stream"], true);
    assert!(streamed["metadata"]["time_to_first_token_ms"].is_number());
    assert_eq!(streamed["metadata"]["user_agent"], "usage-test/1.0");
    assert!(streamed["startTime"].as_str().expect("time").ends_with('Z'));
    let id = streamed["request_id"].as_str().expect("id").to_owned();
    let (_, one) = get(&gw, &format!("/spend/logs?request_id={id}")).await;
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    let (_, failed) = get(&gw, "/spend/logs?status=failure").await;
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
    let (status, bad) = get(&gw, "/spend/logs?start_date=04-12-2026").await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["param"], "start_date");

    let (status, report) = get(&gw, "/global/spend/report").await;
    assert_eq!(status, 200);
    let day = &report.as_array().expect("days")[0];
    assert!(day["group_by_day"].as_str().is_some_and(|d| d.len() == 10));
    let spent = day["teams"][0]["total_spend"].as_f64().expect("spend");
    assert!((spent - want).abs() < 1e-12);

    // Prometheus metrics of the same calls.
    let resp = client().get(gw.url("/metrics")).bearer_auth(KEY).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.expect("text");
    for line in [
        "ai_proxy_requests_total{model=\"priced\",deployment=\"mock/echo\",status=\"200\",result=\"ok\"} 2",
        "ai_proxy_requests_total{model=\"broken\",deployment=\"\",status=\"401\",result=\"error\"} 1",
        "ai_proxy_tokens_total{model=\"qwen-own\",deployment=\"openai/qwen-own-finetune\",status=\"200\",result=\"ok\",type=\"prompt\"} 1000",
        "ai_proxy_request_log_dropped_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }

    // Behind the master key, like every other non-health route.
    for path in ["/usage", "/metrics", "/spend/logs"] {
        let anon = client().get(gw.url(path)).send().await.expect("send");
        assert_eq!(anon.status(), 401, "{path}");
    }

    // Nothing the client or the upstream sent as a secret is in the file.
    let folder = if cfg!(target_os = "macos") {
        "Library/Application Support/ai-proxy"
    } else {
        ".local/state/ai-proxy"
    };
    let dir = gw.dir.path().join(folder);
    for name in ["usage.sqlite3", "usage.sqlite3-wal"] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(UPSTREAM_KEY) && !text.contains(KEY), "{name} holds a secret");
        assert!(!text.contains("count these words"), "{name} holds a prompt");
    }
}

#[tokio::test]
async fn disable_spend_logs_turns_the_log_off_and_says_so() {
    let gw = Gateway::builder(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: mock/echo\ngeneral_settings:\n  disable_spend_logs: true\n",
    )
    .env("LITELLM_MASTER_KEY", KEY)
    .start();
    let (status, _) = chat(&gw, "m", false).await;
    assert_eq!(status, 200);
    let (status, body) = get(&gw, "/usage").await;
    assert_eq!(status, 503);
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.contains("disable_spend_logs")),
        "{body}"
    );
    let folder = if cfg!(target_os = "macos") {
        "Library/Application Support/ai-proxy"
    } else {
        ".local/state/ai-proxy"
    };
    assert!(!gw.dir.path().join(folder).join("usage.sqlite3").exists());
}

/// A deployment with a budget one call exceeds (its price from model_info).
const CAPPED: &str = "model_list:
  - model_name: capped
    litellm_params:
      model: mock/echo
      max_budget: 0.000001
      budget_duration: 1d
    model_info:
      input_cost_per_token: 0.000002
      output_cost_per_token: 0.000008
  - model_name: free
    litellm_params:
      model: mock/echo
";

#[tokio::test]
async fn a_spent_budget_answers_429_in_each_dialect_and_outlives_a_restart() {
    let home = tempfile::tempdir().expect("home");
    let home_path = home.path().to_str().expect("utf-8 path").to_owned();
    let gw =
        Gateway::builder(CAPPED).env("LITELLM_MASTER_KEY", KEY).env("HOME", &home_path).start();
    assert_eq!(chat(&gw, "capped", false).await.0, 200, "under budget before the first call");
    wait_for_calls(&gw, 1).await;

    let check_openai = |resp: reqwest::Response| async move {
        let status = resp.status();
        if status != 429 {
            panic!("{status}: {}", resp.text().await.unwrap_or_default());
        }
        assert_eq!(resp.headers()["x-should-retry"], "false", "quick retries cannot help");
        let retry: u64 =
            resp.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=86_400).contains(&retry), "retry-after {retry}");
        let body: Value = resp.json().await.expect("json");
        let err = &body["error"];
        assert_eq!(err["type"], "budget_exceeded", "{body}");
        assert_eq!(err["code"], "429", "{body}");
        let msg = err["message"].as_str().expect("message");
        for part in [
            "No deployments available - crossed budget",
            "model `capped`",
            "max_budget",
            "budget_duration",
            "mock/echo",
        ] {
            assert!(msg.contains(part), "{part} in {msg}");
        }
    };
    let capped = json!({"model": "capped", "messages": [{"role": "user", "content": "hi"}]});
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&capped)
        .send()
        .await
        .expect("send");
    check_openai(resp).await;
    // Other models are not affected.
    assert_eq!(chat(&gw, "free", false).await.0, 200);

    // Anthropic's dialect: its error envelope, a rate-limit type its SDKs retry on.
    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "capped", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.contains("crossed budget")),
        "{body}"
    );

    // A new process on the same state folder: the spend comes back from the request log.
    drop(gw);
    let gw =
        Gateway::builder(CAPPED).env("LITELLM_MASTER_KEY", KEY).env("HOME", &home_path).start();
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&capped)
        .send()
        .await
        .expect("send");
    check_openai(resp).await;

    // The log names the deployment each call was charged to.
    let (_, logs) = get(&gw, "/spend/logs?limit=10").await;
    let ids: Vec<&str> =
        logs.as_array().expect("rows").iter().filter_map(|r| r["model_id"].as_str()).collect();
    assert!(ids.iter().any(|id| id.starts_with("h:")), "{logs}");
    let deployments: Vec<&str> = logs
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["metadata"]["deployment"].as_str())
        .collect();
    assert!(deployments.contains(&"mock/echo"), "{logs}");
}

//! The gateway core through the real binary: config, auth, OpenAI API, DashScope upstream,
//! errors, limits, streaming relay and shutdown.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Gateway, MockUpstream, client, dashscope, slow_request_in_flight, sse_data};

const KEY: &str = "sk-gateway-test-key";

fn qwen_config(upstream: &str, extra: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: qwen-max
    litellm_params:
      model: dashscope/qwen-max
      api_base: {upstream}/compatible-mode/v1
      {extra}
  - model_name: qwen-plus
    litellm_params:
      model: dashscope/qwen-plus
      api_base: {upstream}/compatible-mode/v1
  - model_name: qwen3
    litellm_params:
      model: dashscope/qwen3-32b
      api_base: {upstream}/compatible-mode/v1
  - model_name: qwen-broken
    litellm_params:
      model: dashscope/qwen-500
      api_base: {upstream}/compatible-mode/v1
  - model_name: qwen-limited
    litellm_params:
      model: dashscope/qwen-429
      api_base: {upstream}/compatible-mode/v1
  - model_name: qwen-break
    litellm_params:
      model: dashscope/qwen-break
      api_base: {upstream}/compatible-mode/v1
  - model_name: qwen-stall
    litellm_params:
      model: dashscope/qwen-stall
      api_base: {upstream}/compatible-mode/v1
      stream_timeout: 1
  - model_name: qwen-slow
    litellm_params:
      model: dashscope/qwen-slow
      api_base: {upstream}/compatible-mode/v1
      timeout: 1
  - model_name: text-embedding-v3
    litellm_params:
      model: dashscope/text-embedding-v3
      api_base: {upstream}/compatible-mode/v1
  - model_name: mock
    litellm_params:
      model: mock/echo
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"#
    )
}

fn start(upstream: &MockUpstream, extra: &str) -> Gateway {
    Gateway::builder(&qwen_config(&upstream.url(), extra))
        .env("LITELLM_MASTER_KEY", KEY)
        .env("DASHSCOPE_API_KEY", dashscope::KEY)
        .start()
}

async fn post(gw: &Gateway, path: &str, body: Value) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client().post(gw.url(path)).bearer_auth(KEY).json(&body).send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[tokio::test]
async fn dashscope_chat_keeps_alias_key_and_qwen_extras() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "");
    let (status, _, body) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "qwen-plus", "messages": user("hello"), "enable_thinking": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["model"], "qwen-plus", "response shows the alias");
    assert_eq!(v["choices"][0]["message"]["content"], "Qwen says: hello");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "Let me think.");
    assert_eq!(v["usage"]["total_tokens"], 39);

    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    let sent = up.last();
    assert_eq!(sent.uri, "/compatible-mode/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {}", dashscope::KEY).as_str()));
    let sent = sent.json();
    assert_eq!(sent["model"], "qwen-plus");
    assert_eq!(sent["enable_thinking"], true, "Qwen extras pass through");
    assert_eq!(
        sent["stream"], true,
        "DashScope thinks only on streams: the gateway streams and folds"
    );
    assert_eq!(up.requests().len(), 1, "asked to think, it streams at once");
    assert!(!gw.stderr().contains(dashscope::KEY), "the upstream key is never logged");
    assert!(!gw.stderr().contains(KEY), "the master key is never logged");
    assert!(!gw.stderr().contains('\u{1b}'), "no colour codes when stderr is not a terminal");
}

#[tokio::test]
async fn non_streaming_calls_to_thinking_qwen_models_answer_with_their_reasoning() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "");

    // Open-source Qwen3 thinks by default and refuses a plain call: one retry as a stream.
    let (status, _, body) =
        post(&gw, "/v1/chat/completions", json!({"model": "qwen3", "messages": user("why?")}))
            .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["model"], "qwen3");
    assert_eq!(v["choices"][0]["message"]["content"], "Qwen says: why?");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "Let me think.");
    assert_eq!(v["usage"]["total_tokens"], 39);
    let sent: Vec<Value> = up.requests().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[0]["stream"].clone(), sent[1]["stream"].clone()), (Value::Null, json!(true)));
    assert!(
        !gw.stderr().contains("enable_thinking must be set to false"),
        "the refusal is handled, not shown:\n{}",
        gw.stderr()
    );

    // Told not to think, it answers a plain call directly.
    let (status, _, body) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "qwen3", "messages": user("quick"), "enable_thinking": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["choices"][0]["message"].get("reasoning_content"), None);
    assert_eq!(up.requests().len(), 3);
    assert_eq!(up.last().json()["stream"], Value::Null);

    // OpenAI's reasoning_effort on a non-streaming call becomes DashScope thinking.
    let (status, _, body) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "qwen-plus", "messages": user("plan"), "reasoning_effort": "high"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "Let me think.");
    let sent = up.last().json();
    assert_eq!(
        (sent["enable_thinking"].clone(), sent["stream"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(sent.get("reasoning_effort"), None);

    // An upstream that breaks off mid-stream gives an error, not half an answer.
    let (status, _, body) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "qwen-break", "messages": user("a b c"), "enable_thinking": true}),
    )
    .await;
    assert!(status >= 500, "{status} {body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert!(v["error"]["message"].is_string(), "{body}");
    assert_eq!(v.get("choices"), None, "{body}");
}

#[tokio::test]
async fn stream_relays_reasoning_and_text_and_usage_only_when_asked() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "");
    let req = json!({"model": "qwen-plus", "messages": user("hi there"), "stream": true, "enable_thinking": true});
    let (status, headers, body) = post(&gw, "/v1/chat/completions", req.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> =
        data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).expect("chunk")).collect();
    assert!(chunks.iter().all(|c| c["model"] == "qwen-plus"));
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    let text: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(reasoning, "Let me think.");
    assert_eq!(text, "Qwen says: hi there");
    assert!(chunks.iter().all(|c| c.get("usage").is_none()), "no usage unless asked");
    assert_eq!(
        up.last().json()["stream_options"]["include_usage"],
        true,
        "usage is always requested upstream"
    );

    let mut with_usage = req;
    with_usage["stream_options"] = json!({"include_usage": true});
    let (_, _, body) = post(&gw, "/v1/chat/completions", with_usage).await;
    let data = sse_data(&body);
    let last: Value = serde_json::from_str(&data[data.len() - 2]).expect("usage chunk");
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 39);
    assert!(
        gw.stderr().contains("tokens=22+17"),
        "usage reaches the request log:\n{}",
        gw.stderr()
    );
}

#[tokio::test]
async fn client_auth_uses_the_master_key() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "");
    let body = json!({"model": "mock", "messages": user("x")});
    let c = client();
    let r = c.post(gw.url("/v1/chat/completions")).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["type"], "auth_error");
    assert_eq!(v["error"]["code"], "401");
    assert!(v["error"]["message"].as_str().expect("msg").contains("no API key"));

    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-wrong")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    for header in ["x-api-key", "api-key"] {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .header(header, KEY)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{header}");
    }
    let r = c.get(gw.url("/v1/models")).send().await.expect("send");
    assert_eq!(r.status(), 401, "models need the key too");
    for path in ["/health/liveliness", "/health/liveness", "/health/readiness"] {
        let r = c.get(gw.url(path)).send().await.expect("send");
        assert_eq!(r.status(), 200, "{path} is open");
    }
}

#[tokio::test]
async fn upstream_errors_pass_through_with_status_and_message() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "");
    let (status, _, body) =
        post(&gw, "/v1/chat/completions", json!({"model": "qwen-broken", "messages": user("x")}))
            .await;
    assert_eq!(status, 500);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["error"]["message"], "An internal error has occured, please try again later.");

    let (status, headers, body) =
        post(&gw, "/v1/chat/completions", json!({"model": "qwen-limited", "messages": user("x")}))
            .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "7", "the upstream's Retry-After is kept");

    let gw_badkey =
        Gateway::builder(&qwen_config(&up.url(), "")).env("DASHSCOPE_API_KEY", "sk-wrong").start();
    let r = client()
        .post(gw_badkey.url("/v1/chat/completions"))
        .json(&json!({"model": "qwen-max", "messages": user("x")}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["message"], "Incorrect API key provided. ");
    assert_eq!(v["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn unreachable_and_slow_upstreams_get_502_and_504() {
    // A port held by a socket that never listens: connections to it are refused, and no other
    // test's listener can be given it meanwhile (a port bound and released again could be).
    let held = tokio::net::TcpSocket::new_v4().expect("socket");
    held.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let dead = format!("http://{}", held.local_addr().expect("addr"));
    let up = MockUpstream::start(dashscope::router());
    let cfg = qwen_config(&up.url(), "").replace(
        "  - model_name: mock\n",
        &format!("  - model_name: dead\n    litellm_params:\n      model: openai/x\n      api_base: {dead}/v1\n  - model_name: mock\n"),
    );
    let gw = Gateway::builder(&cfg).env("DASHSCOPE_API_KEY", dashscope::KEY).start();
    let c = client();
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "dead", "messages": user("x")}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.expect("json");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(msg.contains(&dead), "names the upstream: {msg}");

    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "qwen-slow", "messages": user("x")}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 504);
    let v: Value = r.json().await.expect("json");
    assert!(v["error"]["message"].as_str().expect("m").contains("did not answer within 1s"), "{v}");
    drop(held);
}

#[tokio::test]
async fn a_stream_that_fails_midway_ends_with_an_error_event() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "");
    for model in ["qwen-break", "qwen-stall"] {
        let fut = post(
            &gw,
            "/v1/chat/completions",
            json!({"model": model, "messages": user("a b c"), "stream": true}),
        );
        let (status, _, body) =
            tokio::time::timeout(Duration::from_secs(15), fut).await.expect("no hang");
        assert_eq!(status, 200);
        let data = sse_data(&body);
        let last: Value =
            serde_json::from_str(data.last().expect("events")).expect("json error event");
        assert!(last["error"]["message"].is_string(), "{model}: {body}");
        assert!(!body.contains("[DONE]"), "{model}: an error is not a normal end");
    }
}

#[tokio::test]
async fn rpm_is_enforced_locally_with_retry_after() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "rpm: 2");
    let req = json!({"model": "qwen-max", "messages": user("x")});
    assert_eq!(post(&gw, "/v1/chat/completions", req.clone()).await.0, 200);
    assert_eq!(post(&gw, "/v1/chat/completions", req.clone()).await.0, 200);
    let (status, headers, body) = post(&gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 429, "{body}");
    let wait: u64 = headers["retry-after"].to_str().expect("s").parse().expect("seconds");
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(up.requests().len(), 2, "the limited request never reached the upstream");
}

#[tokio::test]
async fn drop_params_removes_what_dashscope_rejects() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "");
    let req = json!({"model": "qwen-max", "messages": user("x"), "logit_bias": {"1": 1}});
    let (status, _, body) = post(&gw, "/v1/chat/completions", req.clone()).await;
    assert_eq!(status, 400);
    assert!(body.contains("dashscope does not support parameters: [\\\"logit_bias\\\"]"), "{body}");
    assert!(body.contains("drop_params"), "says how to fix: {body}");
    assert!(up.requests().is_empty());

    let gw2 = start(&up, "drop_params: true\n      additional_drop_params: [\"user\"]");
    let mut req2 = req;
    req2["user"] = json!("someone");
    let (status, _, body) = post(&gw2, "/v1/chat/completions", req2).await;
    assert_eq!(status, 200, "{body}");
    let sent = up.last().json();
    assert!(sent.get("logit_bias").is_none());
    assert!(sent.get("user").is_none());
}

#[tokio::test]
async fn missing_variables_mark_a_model_unavailable_not_the_gateway() {
    let cfg = r#"
model_list:
  - model_name: qwen-max
    litellm_params:
      model: dashscope/qwen-max
      api_key: os.environ/MY_QWEN_KEY
  - model_name: mock
    litellm_params:
      model: mock/echo
"#;
    let gw = Gateway::builder(cfg).start();
    let log = gw.stderr_with("os.environ/MY_QWEN_KEY");
    assert!(log.contains("os.environ/MY_QWEN_KEY"), "{log}");
    let c = client();
    let ready = gw.readiness().await;
    assert_eq!(ready["status"], "healthy");
    assert_eq!(ready["models"], 2);
    assert_eq!(ready["models_available"], 1);
    assert_eq!(ready["unavailable"][0]["model"], "qwen-max");
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "qwen-max", "messages": user("x")}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["error"]["message"].as_str().expect("m").contains("os.environ/MY_QWEN_KEY not set"),
        "{v}"
    );
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "mock", "messages": user("still works")}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);

    let err = Gateway::builder(cfg).arg("--strict").try_start().err().expect("strict refuses");
    assert!(err.contains("--strict: 1 model(s) unavailable"), "{err}");
    assert!(!err.contains("exit: Some(ExitStatus(unix_wait_status(0)))"), "{err}");
}

#[tokio::test]
async fn bad_config_and_unsafe_binds_stop_startup_with_a_clear_message() {
    let err = Gateway::builder("model_list:\n  - model_name: a\n    litellm_params: [oops\n")
        .try_start()
        .err()
        .expect("fails");
    assert!(err.contains("config.yaml:"), "names the file: {err}");
    assert!(err.contains("error:"), "{err}");

    let err = Gateway::builder("model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/x\n      rpm: lots\n")
        .try_start()
        .err()
        .expect("fails");
    assert!(err.contains("model_list[0].litellm_params.rpm"), "names the key path: {err}");
    assert!(err.contains(":5:"), "names the line: {err}");

    let err = Gateway::builder("model_list: []")
        .arg("--host")
        .arg("0.0.0.0")
        .try_start()
        .err()
        .expect("fails");
    assert!(err.contains("refusing to listen on 0.0.0.0 without a master key"), "{err}");
}

#[tokio::test]
async fn port_in_use_names_the_port_and_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let err = Gateway::builder("model_list: []")
        .arg("--port")
        .arg(&port.to_string())
        .try_start()
        .err()
        .expect("fails");
    assert!(err.contains(&format!("port {port} on 127.0.0.1 is already in use")), "{err}");
    assert!(err.contains("--port"), "{err}");
}

#[tokio::test]
async fn sigterm_lets_an_inflight_request_finish() {
    let up = MockUpstream::start(dashscope::router());
    let cfg = qwen_config(&up.url(), "").replace("timeout: 1", "timeout: 10");
    let mut gw = Gateway::builder(&cfg).env("DASHSCOPE_API_KEY", dashscope::KEY).start();
    // Let the request reach the upstream, then ask the gateway to stop.
    let inflight = slow_request_in_flight(gw.url("/v1/chat/completions"), &up).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = gw.terminate(Duration::from_secs(8));
        (s, gw.stderr())
    });
    assert_eq!(inflight.await.expect("join").as_u16(), 200, "the in-flight request completed");
    let (exit, stderr) = status.await.expect("join");
    assert!(exit.expect("exited within the grace period").success(), "{stderr}");
    assert!(stderr.contains("stop requested"), "{stderr}");
}

async fn model_ids(gw: &Gateway) -> Vec<String> {
    let r = client().get(gw.url("/v1/models")).send().await.expect("models");
    let v: Value = r.json().await.expect("json");
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn sighup_reloads_the_config_in_place_and_a_broken_one_is_refused() {
    let up = MockUpstream::start(dashscope::router());
    let cfg = qwen_config(&up.url(), "").replace("timeout: 1", "timeout: 10");
    let gw = Gateway::builder(&cfg).env("DASHSCOPE_API_KEY", dashscope::KEY).start();
    let hup = || {
        assert!(
            std::process::Command::new("kill")
                .args(["-HUP", &gw.pid().to_string()])
                .status()
                .expect("kill")
                .success()
        )
    };
    let config_path = gw.dir.path().join("config.yaml");
    assert!(!model_ids(&gw).await.contains(&"mock-added".to_owned()));

    // A request in flight while the config changes finishes on the old one.
    let inflight = slow_request_in_flight(gw.url("/v1/chat/completions"), &up).await;
    let added = cfg.replace("general_settings:", "  - model_name: mock-added\n    litellm_params:\n      model: mock/added\ngeneral_settings:");
    std::fs::write(&config_path, added).expect("write");
    hup();
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = model_ids(&gw).await;
        if seen.contains(&"mock-added".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen.contains(&"mock-added".to_owned()),
        "reloaded on the same address: {seen:?}\n{}",
        gw.stderr()
    );
    assert_eq!(inflight.await.expect("join").as_u16(), 200, "the in-flight request completed");
    let log = gw.stderr_with("reloaded the config on SIGHUP");
    assert!(log.contains("reloaded the config on SIGHUP"), "{log}");

    // A broken file is refused with the reason; the previous config keeps serving.
    std::fs::write(&config_path, "model_list:\n  - model_name: [broken\n").expect("write");
    hup();
    for _ in 0..100 {
        if gw.stderr().contains("reload failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = gw.stderr();
    assert!(log.contains("reload failed, still serving the previous config:"), "{log}");
    assert!(log.contains("config.yaml"), "the error names the file: {log}");
    assert!(model_ids(&gw).await.contains(&"mock-added".to_owned()));
}

/// The threads of a running gateway named after tokio's workers (blocking-pool threads carry
/// the same name; right after start-up there are none).
#[cfg(target_os = "linux")]
fn runtime_threads(gw: &Gateway) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", gw.pid())).expect("/proc");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "tokio-rt-worker")
        .count()
}

/// `serve` runs one async worker (gateway::WORKER_THREADS), and TOKIO_WORKER_THREADS
/// still sets another number.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn serve_runs_one_async_worker_unless_tokio_worker_threads_says_otherwise() {
    let config = "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/x\n";
    let one = Gateway::builder(config).start();
    let three = Gateway::builder(config).env("TOKIO_WORKER_THREADS", "3").start();
    for gw in [&one, &three] {
        let r = client().get(gw.url("/health/readiness")).send().await.expect("send");
        assert_eq!(r.status(), 200);
    }
    assert_eq!(runtime_threads(&one), 1, "{}", one.stderr());
    assert_eq!(runtime_threads(&three), 3, "{}", three.stderr());
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let gw = Gateway::builder("model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/x\nlitellm_settings:\n  max_request_size_mb: 1\n").start();
    let big = "x".repeat(2 * 1024 * 1024);
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "mock", "messages": user(&big)}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.expect("json");
    assert!(v["error"]["message"].as_str().expect("m").contains("1 MiB"), "{v}");
}

#[tokio::test]
async fn dotenv_beside_the_config_is_loaded_and_real_env_wins() {
    let up = MockUpstream::start(dashscope::router());
    let gw = Gateway::builder(&qwen_config(&up.url(), ""))
        .dotenv(&format!("DASHSCOPE_API_KEY={}\nLITELLM_MASTER_KEY=from-dotenv\n", dashscope::KEY))
        .env("LITELLM_MASTER_KEY", KEY)
        .start();
    let (status, _, body) =
        post(&gw, "/v1/chat/completions", json!({"model": "qwen-max", "messages": user("x")}))
            .await;
    assert_eq!(
        status, 200,
        "key from .env reached DashScope, real env master key accepted: {body}"
    );
}

#[tokio::test]
async fn models_info_embeddings_and_azure_style_paths() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up, "api_key: os.environ/DASHSCOPE_API_KEY");
    let c = client();
    let models: Value = c
        .get(gw.url("/v1/models"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(models["object"], "list");
    assert_eq!(
        models["data"][0],
        json!({"id": "qwen-max", "object": "model", "created": 1677610602, "owned_by": "openai"})
    );
    let info = c
        .get(gw.url("/model/info"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(info.contains("\"dashscope/qwen-max\""), "{info}");
    assert!(!info.contains(dashscope::KEY), "no secrets in /model/info");

    let (status, _, body) = post(
        &gw,
        "/v1/embeddings",
        json!({"model": "text-embedding-v3", "input": ["a", "b"], "dimensions": 3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["model"], "text-embedding-v3");
    assert_eq!(v["data"][1]["embedding"], json!([0.5, 0.5, 0.5]));
    assert_eq!(up.last().json()["dimensions"], 3);

    let (status, _, body) =
        post(&gw, "/openai/deployments/qwen-max/chat/completions", json!({"messages": user("az")}))
            .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Qwen says: az"));
}

//! The local attack surface through the real binary: requests addressed to other hosts or
//! sent by foreign web pages (DNS rebinding, cross-site POSTs), secrets echoed by a hostile
//! upstream, retry advice and request ids on every answer, forged log lines, retries that
//! wait, and numeric config values that used to panic. Raw sockets where a client library
//! would correct the request; everything on 127.0.0.1 and bounded in time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::support::{Gateway, MockUpstream, bin, client};

const MOCK_ONLY: &str =
    "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/echo\n";

/// One raw HTTP/1.x exchange: the request as written, the response split into status line
/// and lowercased headers, and the body (the server closes: `Connection: close`).
fn raw(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn addr_of(gw: &Gateway) -> SocketAddr {
    gw.base.trim_start_matches("http://").parse().expect("gateway address")
}

fn chat_request(host_line: &str, extra: &str, path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\n{host_line}{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

const CHAT: &str = r#"{"model":"mock","messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str =
    r#"{"model":"mock","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn requests_addressed_to_other_hosts_are_refused_in_the_callers_dialect() {
    // No master key: the reproduction in the issue (a rebound page could spend credits).
    let gw = Gateway::builder(MOCK_ONLY).start();
    let addr = addr_of(&gw);
    let port = addr.port();

    for host in ["Host: attacker.com\r\n".to_owned(), format!("Host: attacker.com:{port}\r\n")] {
        let (s, h, b) = raw(addr, &chat_request(&host, "", "/v1/chat/completions", CHAT));
        assert_eq!(s, 403, "{host}: {b}");
        let v: Value = serde_json::from_str(&b).expect("json");
        assert_eq!(v["error"]["type"], "permission_error", "{b}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("allowed_hosts")), "{b}");
        assert!(h.iter().all(|(k, _)| !k.starts_with("access-control-")), "{h:?}");
        assert_eq!(header(&h, "x-should-retry"), Some("false"));
    }
    // Anthropic dialect on /v1/messages.
    let (s, _, b) =
        raw(addr, &chat_request("Host: evil.example\r\n", "", "/v1/messages", MESSAGES));
    assert_eq!(s, 403);
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "permission_error", "{b}");
    // Health routes too, and names that only start like this machine's.
    for host in ["localhost.evil.example", "127.0.0.1.nip.io"] {
        let (s, _, _) = raw(
            addr,
            &format!(
                "GET /health/readiness HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(s, 403, "{host}");
    }
    // An empty Host, a port alone, none at all (HTTP/1.0).
    for req in [
        chat_request("Host: \r\n", "", "/v1/chat/completions", CHAT),
        chat_request(&format!("Host: :{port}\r\n"), "", "/v1/chat/completions", CHAT),
        "GET /health/readiness HTTP/1.0\r\n\r\n".to_owned(),
    ] {
        let (s, _, b) = raw(addr, &req);
        assert_eq!(s, 403, "{req}: {b}");
    }
    // This machine by address and by name.
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")]
    {
        let (s, _, b) = raw(
            addr,
            &chat_request(&format!("Host: {host}\r\n"), "", "/v1/chat/completions", CHAT),
        );
        assert_eq!(s, 200, "{host}: {b}");
    }
    let log = gw.stderr_with("refused: Host");
    assert!(log.contains("refused: Host \"attacker.com\" not allowed"), "{log}");
}

#[tokio::test]
async fn http2_authority_is_checked_like_host() {
    let gw = Gateway::builder(MOCK_ONLY).start();
    let addr = addr_of(&gw);
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .resolve("attacker.example", addr)
        .build()
        .expect("client");
    let body = json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]});
    let r = h2
        .post(format!("http://attacker.example:{}/v1/chat/completions", addr.port()))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 403);
    let r = h2
        .post(format!("http://127.0.0.1:{}/v1/chat/completions", addr.port()))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
}

/// A `HEAD` answer has headers only, whether the outer checks answered it (a foreign Host:
/// 403) or a route did, over HTTP/1.1 and HTTP/2 (where hyper would send a body it is given).
#[tokio::test]
async fn answers_to_head_have_no_body_over_either_protocol() {
    let gw = Gateway::builder(MOCK_ONLY).start();
    let addr = addr_of(&gw);
    for h2 in [false, true] {
        let mut builder = reqwest::Client::builder().no_proxy().resolve("attacker.example", addr);
        if h2 {
            builder = builder.http2_prior_knowledge();
        }
        let c = builder.build().expect("client");
        for (host, status) in [("attacker.example", 403), ("127.0.0.1", 200)] {
            let url = format!("http://{host}:{}/health/readiness", addr.port());
            let r = c.head(&url).send().await.expect("send");
            assert_eq!(r.status(), status, "HEAD {url}, HTTP/2 {h2}");
            let length = r.headers().get("content-length").map(|v| v.to_str().expect("ascii"));
            let length: usize = length.expect("content-length").parse().expect("a number");
            assert!(length > 0, "HEAD {url}, HTTP/2 {h2}: the length of what GET would send");
            let body = r.bytes().await.expect("body");
            assert!(body.is_empty(), "HEAD {url}, HTTP/2 {h2}: a body of {} bytes", body.len());
        }
    }
}

#[test]
fn foreign_web_pages_are_refused_local_ones_get_cors_that_names_them() {
    let gw = Gateway::builder(MOCK_ONLY).start();
    let addr = addr_of(&gw);
    let host = format!("Host: 127.0.0.1:{}\r\n", addr.port());
    // A "simple" cross-site POST (text/plain needs no preflight): refused, no CORS.
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\n{host}Origin: http://evil.example\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{CHAT}",
        CHAT.len()
    );
    let (s, h, b) = raw(addr, &req);
    assert_eq!(s, 403, "{b}");
    assert!(b.contains("allowed_origins"), "{b}");
    assert!(h.iter().all(|(k, _)| !k.starts_with("access-control-")), "{h:?}");
    for origin in ["null", "http://localhost.evil.example:3000"] {
        let (s, _, _) = raw(
            addr,
            &chat_request(&host, &format!("Origin: {origin}\r\n"), "/v1/chat/completions", CHAT),
        );
        assert_eq!(s, 403, "{origin}");
    }
    // A preflight from that page: refused too.
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /v1/chat/completions HTTP/1.1\r\n{host}Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\nConnection: close\r\n\r\n"
        )
    };
    let (s, h, _) = raw(addr, &preflight("http://evil.example"));
    assert_eq!(s, 403);
    assert!(header(&h, "access-control-allow-origin").is_none());

    // A browser app on this machine: answered, CORS names its origin (never `*`).
    let local = "http://localhost:5173";
    let (s, h, _) = raw(addr, &preflight(local));
    assert_eq!(s, 204);
    assert_eq!(header(&h, "access-control-allow-origin"), Some(local));
    assert!(
        header(&h, "access-control-allow-headers").is_some_and(|v| v.contains("authorization"))
    );
    let (s, h, b) = raw(
        addr,
        &chat_request(&host, &format!("Origin: {local}\r\n"), "/v1/chat/completions", CHAT),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(header(&h, "access-control-allow-origin"), Some(local));
    assert_eq!(header(&h, "vary"), Some("Origin"));
}

#[test]
fn configured_hosts_and_origins_are_allowed() {
    let cfg = format!(
        "{MOCK_ONLY}general_settings:\n  allowed_hosts: [gw.corp.example, \"*.trycloudflare.com\"]\n  allowed_origins: [\"https://chat.corp.example\"]\n"
    );
    let gw = Gateway::builder(&cfg).start();
    let addr = addr_of(&gw);
    for host in ["gw.corp.example", "abc-def.trycloudflare.com:443"] {
        let (s, _, b) = raw(
            addr,
            &chat_request(&format!("Host: {host}\r\n"), "", "/v1/chat/completions", CHAT),
        );
        assert_eq!(s, 200, "{host}: {b}");
    }
    let host = format!("Host: 127.0.0.1:{}\r\n", addr.port());
    let (s, h, _) = raw(
        addr,
        &chat_request(&host, "Origin: https://chat.corp.example\r\n", "/v1/chat/completions", CHAT),
    );
    assert_eq!(s, 200);
    assert_eq!(header(&h, "access-control-allow-origin"), Some("https://chat.corp.example"));

    // `*` as an origin is refused with the reason.
    let bad = format!("{MOCK_ONLY}general_settings:\n  allowed_origins: \"*\"\n");
    let err = Gateway::builder(&bad).try_start().err().expect("refused");
    assert!(
        err.contains("general_settings.allowed_origins") && err.contains("any web site"),
        "{err}"
    );
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

/// The secret the gateway sends upstream, and an upstream that echoes every header it got
/// (in error bodies, and in a stream's error event).
const UPSTREAM_KEY: &str = "sk-upstream-secret-0123456789";

fn echoing_upstream(calls: Arc<Mutex<Vec<Instant>>>) -> MockUpstream {
    let echo = move |headers: HeaderMap, body: String| {
        let calls = calls.clone();
        async move {
            calls.lock().expect("lock").push(Instant::now());
            let seen: Vec<String> =
                headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or(""))).collect();
            let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let model = req["model"].as_str().unwrap_or_default().to_owned();
            let message = format!("request rejected; headers were {}", seen.join(", "));
            let error = |status: StatusCode| -> Response {
                json_response(status, json!({"error": {"message": message, "type": "echo"}}))
            };
            match model.as_str() {
                "echo-401" => error(StatusCode::UNAUTHORIZED),
                "echo-500" => error(StatusCode::INTERNAL_SERVER_ERROR),
                "echo-stream" => {
                    let event = json!({"error": {"message": message, "code": 500}});
                    let body = format!("data: {event}\n\n");
                    ([("content-type", "text/event-stream")], body).into_response()
                }
                _ => error(StatusCode::BAD_REQUEST),
            }
        }
    };
    MockUpstream::start(Router::new().route("/v1/chat/completions", post(echo)))
}

fn echo_config(upstream: &str) -> String {
    let model = |alias: &str, name: &str, extra: &str| {
        format!(
            "  - model_name: {alias}\n    litellm_params:\n      model: openai/{name}\n      api_base: {upstream}/v1\n      api_key: os.environ/UPSTREAM_KEY\n{extra}"
        )
    };
    format!(
        "model_list:\n{}{}{}  - model_name: userinfo\n    litellm_params:\n      model: openai/x\n      api_base: http://proxyuser:pr0xy-pa55word@127.0.0.1:9/v1\n",
        model("a401", "echo-401", ""),
        model("a500", "echo-500", "      max_retries: 1\n"),
        model("astream", "echo-stream", ""),
    )
}

fn log_file(gw: &Gateway) -> String {
    let folder =
        if cfg!(target_os = "macos") { "Library/Logs/ai-proxy" } else { ".local/state/ai-proxy" };
    std::fs::read_to_string(gw.dir.path().join(folder).join("ai-proxy.log")).unwrap_or_default()
}

#[tokio::test]
async fn secrets_echoed_by_an_upstream_reach_neither_the_client_nor_the_log() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let up = echoing_upstream(calls.clone());
    let gw = Gateway::builder(&echo_config(&up.url())).env("UPSTREAM_KEY", UPSTREAM_KEY).start();
    let chat = |model: &'static str, stream: bool| {
        let url = gw.url("/v1/chat/completions");
        async move {
            let r = client()
                .post(url)
                .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("send");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    let (s, b) = chat("a401", false).await;
    assert_eq!(s, 401, "{b}");
    assert!(b.contains("authorization: Bearer ***"), "the echo is kept, its key masked: {b}");
    let (s, b) = chat("a500", false).await;
    assert_eq!(s, 500, "{b}");
    assert_eq!(calls.lock().expect("lock").len(), 3, "a401 once, a500 twice (one retry)");
    let (s, b) = chat("astream", true).await;
    assert_eq!(s, 500, "an error as the first event keeps its status: {b}");
    // The messages with echoes, on every path out, never carry the key.
    let (s, b) = chat("userinfo", false).await;
    assert_eq!(s, 502, "{b}");
    assert!(b.contains("proxyuser:***@127.0.0.1:9"), "{b}");
    let info =
        client().get(gw.url("/model/info")).send().await.expect("info").text().await.expect("body");
    assert!(info.contains("http://proxyuser:***@127.0.0.1:9/v1"), "{info}");

    for (what, text) in [("client", b.as_str()), ("model info", info.as_str())] {
        assert!(!text.contains("pr0xy-pa55word"), "{what}: {text}");
    }
    let log = gw.stderr_with("model=userinfo");
    let file = log_file(&gw);
    for (what, text) in [("stderr", &log), ("log file", &file)] {
        assert!(text.contains("retrying"), "{what} has the retry line: {text}");
        assert!(!text.contains(UPSTREAM_KEY), "{what} leaks the upstream key:\n{text}");
        assert!(!text.contains("pr0xy-pa55word"), "{what} leaks the proxy password:\n{text}");
    }
    // doctor prints every endpoint (its output goes through the same redaction).
    let out = std::process::Command::new(bin())
        .args(["doctor", "--model", "userinfo", "--config"])
        .arg(gw.dir.path().join("config.yaml"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", gw.dir.path())
        .env("UPSTREAM_KEY", UPSTREAM_KEY)
        .output()
        .expect("doctor");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("userinfo"), "{text}");
    assert!(!text.contains("pr0xy-pa55word") && !text.contains(UPSTREAM_KEY), "{text}");
}

#[tokio::test]
async fn every_answer_says_whether_to_retry_and_carries_a_request_id() {
    let key = "sk-retry-advice-master";
    let gw = Gateway::builder(&format!(
        "{MOCK_ONLY}  - model_name: down\n    litellm_params:\n      model: openai/x\n      api_base: http://127.0.0.1:9/v1\n"
    ))
    .env("LITELLM_MASTER_KEY", key)
    .start();
    let chat = json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]});
    let cases: Vec<(reqwest::RequestBuilder, u16, Option<&str>)> = vec![
        (client().post(gw.url("/v1/chat/completions")).bearer_auth(key).json(&chat), 200, None),
        (
            client().post(gw.url("/v1/chat/completions")).bearer_auth("sk-wrong").json(&chat),
            401,
            Some("false"),
        ),
        (
            client().post(gw.url("/v1/messages")).header("x-api-key", "sk-wrong").json(&chat),
            401,
            Some("false"),
        ),
        (
            client().post(gw.url("/v1/chat/completions")).bearer_auth(key).body("{"),
            400,
            Some("false"),
        ),
        (client().get(gw.url("/v1/nothing")).bearer_auth(key), 404, Some("false")),
        (
            client()
                .post(gw.url("/v1/chat/completions"))
                .bearer_auth(key)
                .json(&json!({"model": "down", "messages": []})),
            502,
            Some("true"),
        ),
    ];
    let mut ids = Vec::new();
    for (rb, status, retry) in cases {
        let r = rb.send().await.expect("send");
        assert_eq!(r.status().as_u16(), status);
        let h = r.headers();
        assert_eq!(h.get("x-should-retry").map(|v| v.to_str().expect("ascii")), retry, "{status}");
        let id = h.get("request-id").expect("request-id").to_str().expect("ascii").to_owned();
        assert_eq!(h.get("x-request-id").map(|v| v.to_str().expect("ascii")), Some(id.as_str()));
        assert!(id.starts_with("req_"), "{id}");
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids differ: {ids:?}");
    // The ids are in the request lines.
    let log = gw.stderr_with(&ids[5]);
    for id in &ids {
        assert!(log.contains(&format!("request_id={id}")), "{id} in\n{log}");
    }
}

#[tokio::test]
async fn client_chosen_text_cannot_forge_log_lines() {
    let gw = Gateway::builder(MOCK_ONLY).start();
    let forged = "mock\r\n2026-12-04T00:00:00Z  INFO chat model=admin status=200\u{1b}[2J";
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": forged, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    // The request line names the model as sent, escaped: one line, no terminal codes.
    let log = gw.stderr_with("status=400");
    assert!(
        log.contains(
            "model=mock\\r\\n2026-12-04T00:00:00Z  INFO chat model=admin status=200\\u{1b}[2J"
        ),
        "{log}"
    );
    assert!(!log.lines().any(|l| l.starts_with("2026-12-04T00:00:00Z")), "{log}");
    assert!(!log.contains('\u{1b}'), "{log}");
}

/// An upstream that fails `failures` times (status, optional Retry-After) then answers.
fn flaky_upstream(
    status: u16,
    retry_after: Option<&'static str>,
    failures: usize,
) -> (MockUpstream, Arc<Mutex<Vec<Instant>>>) {
    let calls: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = calls.clone();
    let handler = move || {
        let seen = seen.clone();
        async move {
            let n = {
                let mut c = seen.lock().expect("lock");
                c.push(Instant::now());
                c.len()
            };
            if n <= failures {
                let mut resp = json_response(
                    StatusCode::from_u16(status).expect("status"),
                    json!({"error": {"message": "busy", "type": "rate_limit"}}),
                );
                if let Some(ra) = retry_after {
                    resp.headers_mut().insert("retry-after", ra.parse().expect("header"));
                }
                return resp;
            }
            json_response(
                StatusCode::OK,
                json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "x",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "finally"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                }),
            )
        }
    };
    (MockUpstream::start(Router::new().route("/v1/chat/completions", post(handler))), calls)
}

fn retry_config(upstream: &str, retries: u32) -> String {
    format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/x\n      api_base: {upstream}/v1\n      max_retries: {retries}\n"
    )
}

async fn ask(gw: &Gateway) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send")
}

fn gaps(calls: &Mutex<Vec<Instant>>) -> Vec<Duration> {
    let c = calls.lock().expect("lock");
    c.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test]
async fn retries_wait_for_retry_after_and_back_off_without_it() {
    // Retry-After: 1 → the second attempt comes no sooner than a second later.
    let (up, calls) = flaky_upstream(429, Some("1"), 1);
    let gw = Gateway::builder(&retry_config(&up.url(), 3)).start();
    let r = ask(&gw).await;
    assert_eq!(r.status(), 200);
    let g = gaps(&calls);
    assert_eq!(g.len(), 1, "{g:?}");
    assert!(g[0] >= Duration::from_secs(1), "waited {:?}", g[0]);
    let log = gw.stderr_with("on attempt 2");
    assert!(log.contains("failed on attempt 1 of 4"), "{log}");
    assert!(log.contains("answered by deployment 0 on attempt 2"), "{log}");
    drop(gw);

    // No Retry-After: exponential backoff with jitter (at least 250 ms, then at least 500 ms).
    let (up, calls) = flaky_upstream(503, None, 2);
    let gw = Gateway::builder(&retry_config(&up.url(), 2)).start();
    assert_eq!(ask(&gw).await.status(), 200);
    let g = gaps(&calls);
    assert_eq!(g.len(), 2, "{g:?}");
    assert!(g[0] >= Duration::from_millis(250), "{g:?}");
    assert!(g[1] >= Duration::from_millis(500), "{g:?}");
    drop(gw);

    // A Retry-After longer than ai-proxy waits: passed on at once, with its header.
    let (up, calls) = flaky_upstream(429, Some("120"), 5);
    let gw = Gateway::builder(&retry_config(&up.url(), 3)).start();
    let r = ask(&gw).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"120"[..]));
    assert_eq!(r.headers().get("x-should-retry").map(|v| v.as_bytes()), Some(&b"true"[..]));
    assert_eq!(calls.lock().expect("lock").len(), 1);
    let log = gw.stderr_with("gave up after 1 attempt");
    assert!(log.contains("asks to wait longer"), "{log}");
}

#[test]
fn numeric_settings_out_of_range_are_config_errors_not_panics() {
    for (key, value) in [("timeout", "-1"), ("stream_timeout", ".nan"), ("rpm", "1e300")] {
        let cfg = format!("{MOCK_ONLY}      {key}: {value}\n");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, cfg).expect("write");
        for cmd in [&["validate", "--config"][..], &["serve", "--port", "0", "--config"][..]] {
            let out = std::process::Command::new(bin())
                .args(cmd)
                .arg(&path)
                .env_clear()
                .env("HOME", dir.path())
                .env("AI_PROXY_LOG_DIR", "off")
                .output()
                .expect("run");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_ne!(out.status.code(), Some(101), "{cmd:?} {key}: {value} panicked: {text}");
            assert!(!out.status.success(), "{cmd:?} {key}: {value}: {text}");
            assert!(
                text.contains(&format!(
                    "config.yaml:5:7: model_list[0].litellm_params.{key}: expected"
                )),
                "{cmd:?} {key}: {value}: {text}"
            );
        }
    }
}

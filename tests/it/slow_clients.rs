//! Slow and hostile clients against the real binary, with raw sockets on 127.0.0.1 and short
//! timeouts from config: slowloris heads, idle keep-alive sockets, stalled bodies, the
//! connection limit, a declared Content-Length over the limit, HTTP/2 by prior knowledge, and
//! streams cut by the shutdown grace period.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Gateway, MockUpstream, client, dashscope};

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(15);

fn mock_config(general: &str) -> String {
    format!(
        "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/x\ngeneral_settings:\n{general}"
    )
}

/// A gateway whose debug lines about connections reach stderr.
fn start(config: &str) -> Gateway {
    Gateway::builder(config).env("RUST_LOG", "info,ai_proxy=debug").start()
}

async fn connect(gw: &Gateway) -> TcpStream {
    let addr = gw.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Read until the gateway closes the connection (EOF or reset); `None` if it is still open
/// after `max`.
async fn closed_within(s: &mut TcpStream, max: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + max;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// One HTTP/1.1 response with a Content-Length body: (status, head, body), or `None` if none
/// arrived within `max`.
async fn response_within(s: &mut TcpStream, max: Duration) -> Option<(u16, String, String)> {
    let deadline = tokio::time::Instant::now() + max;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            if got.len() >= end + 4 + len {
                let status = head.split_whitespace().nth(1)?.parse().ok()?;
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + len]).to_string();
                return Some((status, head, body));
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn readiness(gw: &Gateway) -> u16 {
    let r = tokio::time::timeout(BOUND, client().get(gw.url("/health/readiness")).send())
        .await
        .expect("answered in time")
        .expect("readiness");
    r.status().as_u16()
}

#[tokio::test]
async fn slowloris_heads_are_cut_at_the_header_timeout_while_others_are_served() {
    let gw = start(&mock_config("  header_read_timeout: 1\n  keep_alive_timeout: 30\n"));
    let mut slow = connect(&gw).await;
    // One header byte every 200 ms, never finishing the head.
    let head = b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let (mut rd, mut wr) = slow.split();
    let start = Instant::now();
    let trickle = async {
        for b in head {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let watch = async {
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(BOUND, rd.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    };
    let normal = async {
        // Normal requests keep being served while the slow head trickles in.
        for _ in 0..3 {
            assert_eq!(readiness(&gw).await, 200);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let ((), closed, ()) = tokio::join!(
        async {
            tokio::select! { () = trickle => {}, () = tokio::time::sleep(BOUND) => {} }
        },
        watch,
        normal
    );
    assert!(closed, "the slow connection was closed");
    assert!(start.elapsed() < BOUND, "before its head could have finished");
    let log = gw.stderr_with("header_read_timeout");
    assert!(
        log.contains("no complete request head within 1s (general_settings.header_read_timeout)"),
        "{log}"
    );
    assert_eq!(readiness(&gw).await, 200);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_keep_alive_timeout() {
    let gw = start(&mock_config("  keep_alive_timeout: 1\n  header_read_timeout: 30\n"));
    let mut s = connect(&gw).await;
    s.write_all(b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let (status, _, _) = response_within(&mut s, BOUND).await.expect("a response");
    assert_eq!(status, 200);
    // Kept alive, then closed once idle for 1 s (well before the 30 s header timeout).
    let rest = closed_within(&mut s, BOUND).await.expect("closed by the gateway");
    assert!(rest.is_empty(), "nothing more was sent: {rest:?}");
    let log = gw.stderr_with("keep_alive_timeout");
    assert!(log.contains("idle for 1s (general_settings.keep_alive_timeout)"), "{log}");
}

#[tokio::test]
async fn a_stalled_body_gets_408_in_the_callers_dialect_and_a_steady_one_is_not_cut() {
    let gw = start(&mock_config("  body_read_timeout: 1\n"));
    for (path, anthropic) in [("/v1/chat/completions", false), ("/v1/messages", true)] {
        let mut s = connect(&gw).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"model\": \"mock\","
        );
        s.write_all(head.as_bytes()).await.expect("write");
        let (status, _, body) = response_within(&mut s, BOUND).await.expect("a response");
        assert_eq!(status, 408, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        if anthropic {
            assert_eq!(v["type"], "error", "{v}");
            assert!(
                v["error"]["message"].as_str().expect("m").contains("body_read_timeout"),
                "{v}"
            );
        } else {
            assert_eq!(v["error"]["type"], "request_timeout", "{v}");
            assert!(
                v["error"]["message"].as_str().expect("m").contains("body_read_timeout"),
                "{v}"
            );
        }
    }

    // A body that keeps coming, 1.6 s in all but never 1 s without a byte, is answered.
    let body = json!({"model": "mock", "messages": [{"role": "user", "content": "steady upload"}]})
        .to_string();
    let mut s = connect(&gw).await;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let pieces: Vec<&[u8]> = body.as_bytes().chunks(body.len().div_ceil(8)).collect();
    for p in pieces {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.write_all(p).await.expect("write");
    }
    let (status, _, answer) = response_within(&mut s, BOUND).await.expect("a response");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("You said: steady upload"), "{answer}");
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_gets_413_at_once() {
    let gw = start(
        "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/x\nlitellm_settings:\n  max_request_size_mb: 1\n",
    );
    for (path, expect, anthropic) in [
        ("/v1/chat/completions", "", false),
        ("/v1/messages", "", true),
        ("/v1/chat/completions", "Expect: 100-continue\r\n", false),
    ] {
        let mut s = connect(&gw).await;
        // 50 MB declared, not one byte of it sent.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n{expect}\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("write");
        let (status, _, body) = response_within(&mut s, BOUND).await.expect("a response");
        assert_eq!(status, 413, "{path} {expect}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        let message = if anthropic {
            assert_eq!(v["type"], "error", "{v}");
            assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
            v["error"]["message"].as_str().expect("m").to_owned()
        } else {
            assert_eq!(v["error"]["param"], "request_body", "{v}");
            v["error"]["message"].as_str().expect("m").to_owned()
        };
        assert!(message.contains("limit of 1 MiB"), "{message}");
    }
}

/// A client that sends its oversized body without waiting (most SDKs) reads the 413 instead of
/// a broken pipe: the gateway answers at once and discards the body behind the answer.
#[tokio::test]
async fn an_oversized_body_sent_without_waiting_still_reads_its_413() {
    let gw = start(
        "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/x\nlitellm_settings:\n  max_request_size_mb: 1\n",
    );
    let mut s = connect(&gw).await;
    let len = 4 * 1024 * 1024;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    // The answer comes before the body is sent ...
    let (status, _, body) = response_within(&mut s, BOUND).await.expect("a response");
    assert_eq!(status, 413, "{body}");
    // ... and the connection still takes all of it (4 MiB is far beyond the socket buffers:
    // a closed connection fails this write with a broken pipe or a reset).
    let sent = tokio::time::timeout(BOUND, s.write_all(&vec![b'x'; len])).await.expect("in time");
    assert!(sent.is_ok(), "the body was taken after the 413: {sent:?}");
    // With the whole body read, the connection serves the next request.
    s.write_all(b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let (status, _, body) = response_within(&mut s, BOUND).await.expect("a second response");
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn at_the_connection_limit_idle_connections_make_room_and_busy_ones_make_new_ones_wait() {
    let gw = start(&mock_config("  max_connections: 2\n  body_read_timeout: 30\n"));

    // Two connections that never send anything: a third client is served at once, and the
    // idlest of the two is closed to make room.
    let mut idle_a = connect(&gw).await;
    let mut idle_b = connect(&gw).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(readiness(&gw).await, 200);
    let a = closed_within(&mut idle_a, Duration::from_secs(2)).await;
    let b = closed_within(&mut idle_b, Duration::from_secs(2)).await;
    assert!(a.is_some() || b.is_some(), "an idle connection was closed to make room");
    let log = gw.stderr_with("connection limit reached");
    assert!(
        log.contains("connection limit reached: 2 client connections open (general_settings.max_connections raises it)"),
        "{log}"
    );
    drop((idle_a, idle_b));

    // Two connections with a request in progress (a body still to come): a third waits ...
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut s = connect(&gw).await;
        s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n")
            .await
            .expect("write");
        busy.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut waiting = connect(&gw).await;
    waiting
        .write_all(b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    assert!(
        response_within(&mut waiting, Duration::from_secs(1)).await.is_none(),
        "no slot while both connections are busy"
    );
    // ... until they finish their requests (and, idle, are closed to make room).
    for s in &mut busy {
        s.write_all(b"{}").await.expect("write");
        let (status, _, _) = response_within(s, BOUND).await.expect("answered");
        assert_eq!(status, 400);
    }
    let (status, _, body) =
        response_within(&mut waiting, BOUND).await.expect("served once room was made");
    assert_eq!(status, 200, "{body}");
    assert_eq!(readiness(&gw).await, 200);
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let gw = start(&mock_config("  keep_alive_timeout: 30\n"));
    let h2 = reqwest::Client::builder().no_proxy().http2_prior_knowledge().build().expect("client");
    let r = tokio::time::timeout(
        BOUND,
        h2.post(gw.url("/v1/chat/completions"))
            .json(&json!({"model": "mock", "messages": [{"role": "user", "content": "h2"}]}))
            .send(),
    )
    .await
    .expect("in time")
    .expect("send");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("You said: h2"));
}

/// A socket whose first `sent` bytes the test wrote itself, ahead of the client it is handed
/// to: the client's writes of those bytes are taken as done.
struct AlreadySent {
    io: TcpStream,
    sent: usize,
}

impl tokio::io::AsyncRead for AlreadySent {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for AlreadySent {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.sent > 0 {
            let n = self.sent.min(buf.len());
            self.sent -= n;
            return std::task::Poll::Ready(Ok(n));
        }
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The gateway looks at a connection's first bytes to pick HTTP/1 or HTTP/2 without taking
/// them; when they arrive split so that what came could still be either (`P` of `POST`, the
/// start of the HTTP/2 preface), hyper reads the rest itself. Both protocols are served
/// either way.
#[tokio::test]
async fn a_connection_whose_first_bytes_arrive_split_is_served_in_its_protocol() {
    let gw = start(&mock_config("  keep_alive_timeout: 30\n"));
    let pause = Duration::from_millis(150);

    let mut h1 = connect(&gw).await;
    let body = r#"{"model":"mock","messages":[{"role":"user","content":"split"}]}"#;
    let rest = format!(
        "OST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    h1.write_all(b"P").await.expect("write");
    tokio::time::sleep(pause).await;
    h1.write_all(rest.as_bytes()).await.expect("write");
    let (status, _, answer) = response_within(&mut h1, BOUND).await.expect("an HTTP/1 answer");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("You said: split"), "{answer}");

    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut h2 = connect(&gw).await;
    h2.write_all(&preface[..9]).await.expect("write");
    tokio::time::sleep(pause).await;
    let (mut send, conn) =
        tokio::time::timeout(BOUND, h2::client::handshake(AlreadySent { io: h2, sent: 9 }))
            .await
            .expect("in time")
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let req = http::Request::get(gw.url("/health/readiness")).body(()).expect("request");
    let (answer, _) = send.send_request(req, true).expect("send");
    let answer = tokio::time::timeout(BOUND, answer).await.expect("in time").expect("response");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), http::Version::HTTP_2);
}

#[tokio::test]
async fn streams_cut_by_the_grace_period_end_with_an_error_event_and_are_logged_as_errors() {
    let up = MockUpstream::start(dashscope::router());
    let config = format!(
        r#"
model_list:
  - model_name: stall
    litellm_params:
      model: dashscope/qwen-stall
      api_base: {}/compatible-mode/v1
      stream_timeout: 60
"#,
        up.url()
    );
    let mut gw = Gateway::builder(&config)
        .env("DASHSCOPE_API_KEY", dashscope::KEY)
        .arg("--grace-seconds")
        .arg("1")
        .start();
    let user = json!([{"role": "user", "content": "tell me"}]);
    let requests = [
        ("/v1/chat/completions", json!({"model": "stall", "stream": true, "messages": user})),
        (
            "/v1/messages",
            json!({"model": "stall", "stream": true, "max_tokens": 50, "messages": user}),
        ),
        ("/v1/responses", json!({"model": "stall", "stream": true, "input": "tell me"})),
    ];
    let mut streams = Vec::new();
    for (path, body) in requests {
        let mut r = tokio::time::timeout(BOUND, client().post(gw.url(path)).json(&body).send())
            .await
            .expect("in time")
            .expect("send");
        assert_eq!(r.status(), 200, "{path}");
        // The stream has started (its first events arrived) and is now stalled upstream.
        let first = tokio::time::timeout(BOUND, r.chunk()).await.expect("in time").expect("chunk");
        assert!(first.is_some(), "{path}: a first event");
        streams.push((path, r, String::from_utf8_lossy(&first.unwrap_or_default()).to_string()));
    }
    let stopper = tokio::task::spawn_blocking(move || {
        let status = gw.terminate(BOUND);
        (status, gw)
    });
    let mut bodies = Vec::new();
    for (path, mut r, mut text) in streams {
        let rest = tokio::time::timeout(BOUND, async {
            while let Ok(Some(c)) = r.chunk().await {
                text.push_str(&String::from_utf8_lossy(&c));
            }
        })
        .await;
        assert!(rest.is_ok(), "{path}: the stream ended within the bound");
        bodies.push((path, text));
    }
    let (status, gw) = stopper.await.expect("join");
    let log = gw.stderr();
    assert!(status.expect("exited").success(), "{log}");

    let shutting = "ai-proxy is shutting down";
    let (_, openai) = &bodies[0];
    assert!(openai.contains(&format!("data: {{\"error\":{{\"message\":\"{shutting}")), "{openai}");
    assert!(!openai.contains("[DONE]"), "not reported as complete: {openai}");
    let (_, anthropic) = &bodies[1];
    assert!(
        anthropic.contains(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\""
        ),
        "{anthropic}"
    );
    assert!(anthropic.contains(shutting), "{anthropic}");
    assert!(!anthropic.contains("message_stop"), "not reported as complete: {anthropic}");
    let (_, responses) = &bodies[2];
    assert!(responses.contains("event: response.failed"), "{responses}");
    assert!(responses.contains(shutting), "{responses}");
    assert!(!responses.contains("response.completed"), "not reported as complete: {responses}");

    assert!(
        log.contains("grace period of 1s over: ending 3 open stream(s) with an error event"),
        "{log}"
    );
    for endpoint in ["chat", "messages", "responses"] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("{endpoint} model=stall")))
            .unwrap_or_else(|| panic!("a request line for {endpoint}: {log}"));
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains(&format!("stream_error={shutting}")), "{line}");
    }
}

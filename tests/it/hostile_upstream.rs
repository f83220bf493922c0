//! Upstreams that misbehave (`support::hostile`, and the Google mock's cut stream) through the
//! real binary: a stream that ends without its terminal marker is an error in every client
//! dialect and in the log, never a finished answer; an endless line, a huge error body and a
//! huge completion are cut off at their limits without being read whole; a stream request
//! answered with something that is not an event stream says what came back.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::google::{self, MockState};
use crate::support::hostile::{CAP, HUGE, Hostile};
use crate::support::{Gateway, MockUpstream, client, sse_data};

const OPENAI_BEHAVIOURS: &[&str] = &[
    "no-done",
    "empty",
    "no-done-chunked",
    "finish-no-usage",
    "finish-and-usage-no-done",
    "complete",
    "endless",
    "huge-error",
    "huge-json",
    "huge-json-unsized",
    "html",
    "json",
    "gzip",
];

/// The gateway with one `openai/` model per hostile behaviour (alias = behaviour), a
/// DashScope model whose stream is cut, a Vertex model on the Google mock, and 1 MiB limits.
struct Setup {
    hostile: Hostile,
    gw: Gateway,
    _google: MockUpstream,
    _creds: tempfile::TempDir,
}

fn setup() -> Setup {
    let hostile = Hostile::start();
    let state = Arc::new(MockState::default());
    let google = MockUpstream::start(google::router_with(state.clone()));
    let creds = tempfile::tempdir().expect("tmp");
    let sa = creds.path().join("sa.json");
    std::fs::write(
        &sa,
        state
            .service_account(&format!("{}/token", google.url()), "gw@proj.iam.gserviceaccount.com"),
    )
    .expect("write key");
    let mut cfg = String::from("model_list:\n");
    for b in OPENAI_BEHAVIOURS {
        cfg += &format!(
            "  - model_name: {b}\n    litellm_params:\n      model: openai/m\n      api_base: {}\n      api_key: k\n      stream_timeout: 20\n",
            hostile.base(b)
        );
    }
    cfg += &format!(
        "  - model_name: qwen-cut\n    litellm_params:\n      model: dashscope/qwen-plus\n      api_base: {}\n      api_key: k\n",
        hostile.base("no-done")
    );
    cfg += &format!(
        "  - model_name: gemini\n    litellm_params:\n      model: vertex_ai/gemini-2.5-flash\n      api_base: {}\n      vertex_project: p\n      vertex_credentials: {}\n",
        google.url(),
        sa.display()
    );
    cfg += "general_settings:\n  max_response_size_mb: 1\n  max_stream_event_size_mb: 1\n";
    let gw = Gateway::builder(&cfg).start();
    Setup { hostile, gw, _google: google, _creds: creds }
}

/// POST within 30 s: status and body.
async fn post(gw: &Gateway, path: &str, body: Value) -> (u16, String) {
    let send = async {
        let r = client().post(gw.url(path)).json(&body).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    };
    tokio::time::timeout(Duration::from_secs(30), send).await.expect("answered within 30 s")
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

fn responses(model: &str) -> Value {
    json!({"model": model, "stream": true, "input": "hi"})
}

/// The message of the error frame ending an OpenAI stream (panics if it ended otherwise).
fn openai_stream_error(body: &str) -> String {
    let data = sse_data(body);
    assert!(!data.iter().any(|d| d == "[DONE]"), "an error is not a normal end: {body}");
    let last: Value = serde_json::from_str(data.last().expect("events")).expect("JSON frame");
    last["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error frame last: {body}"))
        .to_owned()
}

#[tokio::test]
async fn a_stream_that_ends_without_its_marker_is_an_error_in_every_dialect() {
    let s = setup();
    for model in ["no-done", "no-done-chunked"] {
        let (status, body) = post(&s.gw, "/v1/chat/completions", chat(model, true)).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert!(body.contains("\"Hel\""), "{model}: what came is relayed first: {body}");
        let msg = openai_stream_error(&body);
        assert!(msg.contains("ended the stream without `data: [DONE]`"), "{model}: {msg}");
        assert!(msg.contains("before its finish_reason"), "{model}: {msg}");
        assert!(msg.contains(&s.hostile.base(model)), "{model}: names the upstream: {msg}");

        let (status, body) = post(&s.gw, "/v1/messages", messages(model)).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert!(body.contains("event: error\n"), "{model}: {body}");
        assert!(body.contains("the answer was cut off"), "{model}: {body}");
        for end in ["message_stop", "end_turn", "message_delta"] {
            assert!(!body.contains(end), "{model}: no {end} after a cut: {body}");
        }

        let (status, body) = post(&s.gw, "/v1/responses", responses(model)).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert!(body.contains("event: response.failed\n"), "{model}: {body}");
        assert!(body.contains("the answer was cut off"), "{model}: {body}");
        assert!(!body.contains("response.completed"), "{model}: {body}");
    }
    let log = s.gw.stderr_with("responses model=no-done-chunked");
    for endpoint in ["chat", "messages", "responses"] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("{endpoint} model=no-done ")))
            .unwrap_or_else(|| panic!("{endpoint} line: {log}"));
        assert!(line.contains("WARN"), "logged as a failure: {line}");
        assert!(line.contains("stream_error=") && line.contains("cut off"), "{line}");
    }
}

#[tokio::test]
async fn a_stream_cut_before_its_first_chunk_keeps_an_error_status() {
    let s = setup();
    // Nothing was sent to the client yet: the failure is the response, with a 502.
    let (status, body) = post(&s.gw, "/v1/chat/completions", chat("empty", true)).await;
    assert_eq!(status, 502, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(msg.contains("ended the stream without `data: [DONE]`"), "{msg}");
    let (status, body) = post(&s.gw, "/v1/messages", messages("empty")).await;
    assert_eq!(status, 502, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["type"], "error", "{v}");
    let (status, _) = post(&s.gw, "/v1/responses", responses("empty")).await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn without_done_a_stream_is_complete_only_with_its_finish_reason_and_usage() {
    let s = setup();
    // Some servers close after the finish reason and the usage chunk: a whole answer.
    for model in ["finish-and-usage-no-done", "complete"] {
        let (status, body) = post(&s.gw, "/v1/chat/completions", chat(model, true)).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(sse_data(&body).last().map(String::as_str), Some("[DONE]"), "{model}: {body}");
        assert!(!body.contains("\"error\""), "{model}: {body}");
    }
    // The gateway asked for usage; a body that ends before it was cut.
    let (_, body) = post(&s.gw, "/v1/chat/completions", chat("finish-no-usage", true)).await;
    let msg = openai_stream_error(&body);
    assert!(msg.contains("before its usage chunk"), "{msg}");
}

#[tokio::test]
async fn a_cut_stream_is_never_folded_into_a_completion() {
    let s = setup();
    // A plain DashScope call that thinks is streamed upstream and folded (translate::collect).
    let mut req = chat("qwen-cut", false);
    req["enable_thinking"] = json!(true);
    let (status, body) = post(&s.gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 502, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(msg.contains("DashScope at") && msg.contains("the answer was cut off"), "{msg}");
}

#[tokio::test]
async fn a_gemini_stream_without_its_finish_reason_is_an_error() {
    let s = setup();
    let mut req = chat("gemini", true);
    req["messages"][0]["content"] = json!("an unfinished thought");
    let (status, body) = post(&s.gw, "/v1/chat/completions", req.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"Gemini \""), "the text came first: {body}");
    let msg = openai_stream_error(&body);
    assert!(msg.contains("ended the stream before its finishReason"), "{msg}");

    let mut anthropic = messages("gemini");
    anthropic["messages"][0]["content"] = json!("an unfinished thought");
    let (_, body) = post(&s.gw, "/v1/messages", anthropic).await;
    assert!(body.contains("event: error\n") && !body.contains("message_stop"), "{body}");

    // The same mock with its last event is a complete stream.
    req["messages"][0]["content"] = json!("a whole thought");
    let (status, body) = post(&s.gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sse_data(&body).last().map(String::as_str), Some("[DONE]"), "{body}");
}

#[tokio::test]
async fn an_endless_line_stops_at_the_event_limit() {
    let s = setup();
    let (status, body) = post(&s.gw, "/v1/chat/completions", chat("endless", true)).await;
    assert_eq!(status, 200, "the first event was fine: {body}");
    let msg = openai_stream_error(&body);
    assert!(
        msg.contains(
            "sent a stream event larger than 1 MiB (general_settings.max_stream_event_size_mb)"
        ),
        "{msg}"
    );
    // The gateway hung up: the upstream got rid of a few MiB (its socket buffers), not 512.
    let written = s.hostile.written("endless");
    assert!(written < 64 << 20, "the gateway kept reading: {written} of {CAP} bytes");
}

#[tokio::test]
async fn a_huge_error_body_becomes_a_short_message_without_being_read() {
    let s = setup();
    let (status, body) = post(&s.gw, "/v1/chat/completions", chat("huge-error", false)).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.len() < 4096, "a short message, not megabytes: {} bytes", body.len());
    let v: Value = serde_json::from_str(&body).expect("json");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(msg.contains("answered HTTP 500: eeee") && msg.ends_with('…'), "{msg}");
    let written = s.hostile.written("huge-error");
    assert!(written < 32 << 20, "the gateway read the whole 50 MiB: {written}");
}

#[tokio::test]
async fn a_completion_over_the_response_limit_is_a_502_naming_the_setting() {
    let s = setup();
    for model in ["huge-json", "huge-json-unsized"] {
        let (status, body) = post(&s.gw, "/v1/chat/completions", chat(model, false)).await;
        assert_eq!(status, 502, "{model}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        let msg = v["error"]["message"].as_str().expect("message");
        assert!(
            msg.contains("answered with more than 1 MiB (general_settings.max_response_size_mb)"),
            "{model}: {msg}"
        );
        let written = s.hostile.written(model);
        assert!(written < 64 << 20, "{model}: the gateway read on: {written} of {HUGE} bytes");
    }
    let log = s.gw.stderr_with("chat model=huge-json-unsized");
    assert!(
        log.lines().any(|l| l.contains("chat model=huge-json ") && l.contains("status=502")),
        "{log}"
    );
}

#[tokio::test]
async fn a_stream_request_answered_with_something_else_says_what_came_back() {
    let s = setup();
    let cases = [
        ("html", "HTTP 200 text/html; charset=utf-8 (", "<title>Sign in - Corporate Proxy</title>"),
        ("json", "HTTP 200 application/json (", "{\"id\":\"chatcmpl-h\""),
        ("gzip", "HTTP 200 text/event-stream, gzip-encoded (16 bytes)", "\\u{1f}\\x8b"),
    ];
    for (model, what, quoted) in cases {
        let (status, body) = post(&s.gw, "/v1/chat/completions", chat(model, true)).await;
        assert_eq!(status, 502, "{model}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        let msg = v["error"]["message"].as_str().expect("message");
        assert!(msg.contains("answered the stream request with"), "{model}: {msg}");
        assert!(msg.contains(what), "{model}: {msg}");
        assert!(msg.contains(quoted), "{model}: {msg}");
        assert!(msg.contains("instead of an event stream"), "{model}: {msg}");
    }
    let (status, body) = post(&s.gw, "/v1/messages", messages("html")).await;
    assert_eq!(status, 502, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["type"], "error", "Anthropic's shape: {v}");
    assert!(v["error"]["message"].as_str().expect("m").contains("Sign in"), "{v}");
}

//! Benchmark helper, not part of the product: a fast mock upstream for `scripts/bench`.
//!
//! Speaks OpenAI chat completions (plain and SSE), Gemini `generateContent` /
//! `streamGenerateContent?alt=sse` (Vertex paths) and an OAuth token endpoint, on one
//! 127.0.0.1 port. Prints `listening on http://ADDR` and runs until killed.
//!
//! Streams are shaped by the upstream model name the gateway sends, so one mock serves every
//! scenario: `bench-s{N}-i{MS}` streams N content chunks, one every MS milliseconds (the role
//! chunk goes out at once). Any other model streams 20 chunks 5 ms apart. Each OpenAI chunk
//! carries the wall-clock time it was written (`system_fingerprint: "fp_ts_<unix µs>"`), so
//! the client can tell how long every chunk spent in between.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::Response;

const DEFAULT_CHUNKS: u32 = 20;
const DEFAULT_INTERVAL_MS: u64 = 5;
const TEXT: &str = "Hello! This is a fixed response from the benchmark mock upstream. It is long enough to look like a real short answer from a chat model.";

/// The OpenAI non-streaming answer (the same bytes the nginx mock returns).
const OPENAI_COMPLETION: &str = r#"{"id":"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012","object":"chat.completion","created":1732800000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench_mock","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is a fixed response from the benchmark mock upstream. It is long enough to look like a real short answer from a chat model.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":25,"completion_tokens":28,"total_tokens":53,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#;

const GEMINI_COMPLETION: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello! This is a fixed response from the benchmark mock upstream. It is long enough to look like a real short answer from a chat model."}]},"finishReason":"STOP","avgLogprobs":-0.05}],"usageMetadata":{"promptTokenCount":25,"candidatesTokenCount":28,"totalTokenCount":53,"trafficType":"ON_DEMAND"},"modelVersion":"gemini-2.5-flash","createTime":"2026-11-29T12:00:00.000000Z","responseId":"bench-mock-response"}"#;

const TOKEN: &str =
    r#"{"access_token":"ya29.bench-mock-token","expires_in":3599,"token_type":"Bearer"}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let app = axum::Router::new().fallback(handle);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

async fn handle(req: Request<Body>) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = match axum::body::to_bytes(req.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(_) => return status(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    if path.ends_with("/token") {
        return json(TOKEN);
    }
    if path.ends_with(":generateContent") {
        return json(GEMINI_COMPLETION);
    }
    if path.ends_with(":streamGenerateContent") {
        let (n, ms) = shape(model_from_path(&path));
        let _ = query; // alt=sse is the only stream format served
        return sse(gemini_frames(n), ms);
    }
    if path.ends_with("/chat/completions") {
        let probe: Probe = match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(_) => return status(StatusCode::BAD_REQUEST, "body is not a chat request"),
        };
        if !probe.stream.unwrap_or(false) {
            return json(OPENAI_COMPLETION);
        }
        let (n, ms) = shape(probe.model.as_deref().unwrap_or(""));
        let usage = probe.stream_options.and_then(|o| o.include_usage).unwrap_or(false);
        return sse(openai_frames(probe.model.as_deref().unwrap_or("bench"), n, usage), ms);
    }
    status(StatusCode::NOT_FOUND, "no such mock route")
}

#[derive(serde::Deserialize)]
struct Probe {
    model: Option<String>,
    stream: Option<bool>,
    stream_options: Option<StreamOpts>,
}

#[derive(serde::Deserialize)]
struct StreamOpts {
    include_usage: Option<bool>,
}

/// `.../models/bench-s10-i5:streamGenerateContent` -> `bench-s10-i5`
fn model_from_path(path: &str) -> &str {
    let tail = path.rsplit('/').next().unwrap_or("");
    tail.split(':').next().unwrap_or("")
}

/// Chunk count and interval from a `bench-s{N}-i{MS}` model name.
fn shape(model: &str) -> (u32, u64) {
    let mut n = DEFAULT_CHUNKS;
    let mut ms = DEFAULT_INTERVAL_MS;
    for part in model.split('-') {
        if let Some(v) = part.strip_prefix('s').and_then(|v| v.parse().ok()) {
            n = v;
        } else if let Some(v) = part.strip_prefix('i').and_then(|v| v.parse().ok()) {
            ms = v;
        }
    }
    (n.max(1), ms)
}

fn words(n: u32) -> Vec<String> {
    let all: Vec<&str> = TEXT.split_inclusive(' ').collect();
    (0..n as usize).map(|i| all[i % all.len()].to_owned()).collect()
}

fn openai_frames(model: &str, n: u32, usage: bool) -> Vec<Bytes> {
    let head = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1732800000,\"model\":\"{model}\",\"system_fingerprint\":\"fp_ts_{STAMP}\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let mut out = vec![Bytes::from(head(r#"{"role":"assistant","content":""}"#, "null"))];
    for w in words(n) {
        let delta = serde_json::json!({ "content": w }).to_string();
        out.push(Bytes::from(head(&delta, "null")));
    }
    let mut last = head("{}", "\"stop\"");
    if usage {
        last.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1732800000,\"model\":\"{model}\",\"choices\":[],\"usage\":{{\"prompt_tokens\":25,\"completion_tokens\":{n},\"total_tokens\":{}}}}}\n\n",
            25 + n
        ));
    }
    last.push_str("data: [DONE]\n\n");
    out.push(Bytes::from(last));
    out
}

fn gemini_frames(n: u32) -> Vec<Bytes> {
    let ws = words(n);
    let count = ws.len();
    ws.into_iter()
        .enumerate()
        .map(|(i, w)| {
            let text = serde_json::Value::String(w).to_string();
            let tail = if i + 1 == count {
                format!(
                    ",\"finishReason\":\"STOP\"}}],\"usageMetadata\":{{\"promptTokenCount\":25,\"candidatesTokenCount\":{n},\"totalTokenCount\":{}}}",
                    25 + n
                )
            } else {
                "}]".to_owned()
            };
            Bytes::from(format!(
                "data: {{\"candidates\":[{{\"content\":{{\"role\":\"model\",\"parts\":[{{\"text\":{text}}}]}}{tail},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"bench-mock-response\"}}\r\n\r\n"
            ))
        })
        .collect()
}

/// The first frame at once, then one frame every `ms` milliseconds.
fn sse(frames: Vec<Bytes>, ms: u64) -> Response {
    let stream = futures_util::stream::unfold(
        (frames.into_iter(), true),
        move |(mut it, first)| async move {
            let frame = it.next()?;
            if !first && ms > 0 {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Some((Ok::<Bytes, Infallible>(stamp(frame)), (it, false)))
        },
    );
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    resp
}

const STAMP: &str = "{STAMP}";

/// Put the current wall-clock time (unix µs, fixed width) where the frame says `{STAMP}`.
fn stamp(frame: Bytes) -> Bytes {
    let Some(at) = frame.windows(STAMP.len()).position(|w| w == STAMP.as_bytes()) else {
        return frame;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let mut v = Vec::with_capacity(frame.len() + 16);
    v.extend_from_slice(&frame[..at]);
    v.extend_from_slice(format!("{now:016}").as_bytes());
    v.extend_from_slice(&frame[at + STAMP.len()..]);
    Bytes::from(v)
}

fn json(body: &'static str) -> Response {
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn status(code: StatusCode, msg: &'static str) -> Response {
    let mut resp = Response::new(Body::from(msg));
    *resp.status_mut() = code;
    resp
}

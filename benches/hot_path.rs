//! Micro-benchmarks of the per-request work the gateway does besides moving bytes: request
//! parse + re-serialize (and a 65 KB conversation's parse and encode, `wire::encode` against
//! serde_json's), upstream response parse + re-serialize (and the verbatim path that replaces
//! it for OpenAI-dialect answers), SSE decoding, chunk relay, and one whole request through
//! `server::app` with a local mock model (no sockets), directly, through `server::LiveApp` as
//! served, and to an alias of three deployments (load balancing); and the request log's share
//! of that: one call's `Record` built and handed to the writer thread, and the whole request
//! again with the log on; and redacting one request line, the step every log line goes
//! through on its way out.
//!
//! `cargo bench --bench hot_path` (criterion; results in target/criterion). The whole-process
//! comparison with nginx and LiteLLM is `scripts/bench`.

use std::hint::black_box;
use std::sync::{Arc, LazyLock};

use ai_proxy::config::{self, Env, Source};
use ai_proxy::providers::sse::SseDecoder;
use ai_proxy::server::{self, AppState};
use ai_proxy::translate::verbatim::Verbatim;
use ai_proxy::usage::{Record, Retention, UsageLog};
use ai_proxy::wire::openai::{ChatChunk, ChatCompletion, ChatRequest};
use axum::body::{Body, Bytes};
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

const REQUEST: &str = r#"{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0.2}"#;

const COMPLETION: &str = r#"{"id":"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012","object":"chat.completion","created":1732800000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench_mock","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is a fixed response from the benchmark mock upstream. It is long enough to look like a real short answer from a chat model.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":25,"completion_tokens":28,"total_tokens":53,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#;

const CHUNK: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1732800000,"model":"bench-s20-i5","system_fingerprint":"fp_bench_mock","choices":[{"index":0,"delta":{"content":" fixed"},"logprobs":null,"finish_reason":null}]}"#;

fn sse_body(events: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..events {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(CHUNK.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

/// A 40-turn conversation of code (line breaks and quotes: JSON escapes), ~65 KB: the size of
/// request an agent sends on every turn.
fn conversation() -> String {
    let code = "fn main() {\n    println!(\"hello {}\", name);\n    let x = vec![1, 2, 3];\n}\n";
    let mut messages =
        vec![serde_json::json!({"role": "system", "content": "You are a coding assistant."})];
    for turn in 0..40 {
        let role = if turn % 2 == 0 { "user" } else { "assistant" };
        let content = format!("Turn {turn}:\n{}", code.repeat(20));
        messages.push(serde_json::json!({"role": role, "content": content}));
    }
    let body = serde_json::json!({"model": "bench", "messages": messages, "max_tokens": 64, "temperature": 0.2});
    serde_json::to_string(&body).expect("json")
}

fn request_roundtrip(c: &mut Criterion) {
    let bytes = Bytes::from_static(REQUEST.as_bytes());
    c.bench_function("request: parse + serialize upstream body", |b| {
        b.iter(|| {
            let mut req: ChatRequest = ai_proxy::wire::from_json(black_box(&bytes)).expect("parse");
            req.model = "bench-upstream".to_owned();
            black_box(ai_proxy::wire::encode::to_vec(&req).expect("serialize"))
        })
    });
    let big = Bytes::from(conversation());
    let req: ChatRequest = ai_proxy::wire::from_json(&big).expect("parse");
    c.bench_function("request: 65 KB conversation, parse", |b| {
        b.iter(|| {
            black_box(ai_proxy::wire::from_json::<ChatRequest>(black_box(&big)).expect("parse"))
        })
    });
    c.bench_function("request: 65 KB conversation, encode (wire::encode)", |b| {
        b.iter(|| black_box(ai_proxy::wire::encode::to_vec(black_box(&req)).expect("encode")))
    });
    c.bench_function("request: 65 KB conversation, encode (serde_json::to_vec)", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(&req)).expect("encode")))
    });
}

fn completion_roundtrip(c: &mut Criterion) {
    let bytes = Bytes::from_static(COMPLETION.as_bytes());
    c.bench_function("completion: parse upstream + serialize to client", |b| {
        b.iter(|| {
            let mut resp: ChatCompletion =
                serde_json::from_slice(black_box(&bytes)).expect("parse");
            resp.model = "bench".to_owned();
            black_box(serde_json::to_vec(&resp).expect("serialize"))
        })
    });
    c.bench_function("completion: verbatim check + model spliced (translate::verbatim)", |b| {
        b.iter(|| {
            let answer = Verbatim::check(black_box(bytes.clone())).expect("verbatim");
            black_box(answer.with_model("bench"))
        })
    });
}

fn sse_decode(c: &mut Criterion) {
    let body = sse_body(20);
    c.bench_function("sse: decode 21 events, one read per event", |b| {
        let pieces: Vec<&[u8]> = body.split_inclusive(|&b| b == b'\n').collect();
        let mut events = Vec::new();
        b.iter(|| {
            let mut d = SseDecoder::new(16 << 20);
            events.clear();
            // Two lines make one event; feed each event as the network would.
            for pair in pieces.chunks(2) {
                for p in pair {
                    d.push(black_box(p), &mut events).expect("decode");
                }
            }
            black_box(events.len())
        })
    });
    // One 4 MiB event arriving in 16 KiB reads: linear decoding scans each byte once (the
    // first decoder rescanned its whole buffer on every read: quadratic, ~1 s here).
    let big = [b"data: ".as_slice(), &vec![b'a'; 4 << 20], b"\n\n"].concat();
    c.bench_function("sse: one 4 MiB event in 16 KiB reads", |b| {
        let mut events = Vec::new();
        b.iter(|| {
            let mut d = SseDecoder::new(16 << 20);
            events.clear();
            for piece in big.chunks(16 * 1024) {
                d.push(black_box(piece), &mut events).expect("decode");
            }
            black_box(events.len())
        })
    });
}

fn chunk_relay(c: &mut Criterion) {
    c.bench_function("chunk: parse + rewrite model + serialize frame", |b| {
        b.iter(|| {
            let mut chunk: ChatChunk = serde_json::from_str(black_box(CHUNK)).expect("parse");
            chunk.model.clear();
            chunk.model.push_str("bench-stream");
            let json = serde_json::to_vec(&chunk).expect("serialize");
            black_box(server::stream::data_frame(&json))
        })
    });
}

fn whole_request_mock(c: &mut Criterion) {
    let yaml = "model_list:\n  - model_name: bench\n    litellm_params:\n      model: mock/bench\n      mock_response: \"Hello! This is a fixed response.\"\n";
    let cfg = config::load(yaml, Source::Embedded, Env::default()).expect("config");
    let state = AppState::from_config(&cfg);
    let app = server::app(state.clone());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    c.bench_function("app: POST /v1/chat/completions to a mock model (no socket)", |b| {
        b.iter(|| rt.block_on(post_chat(app.clone())))
    });
    // The same through `LiveApp`, as `server::serve` answers (the router can be replaced by a
    // reload): the difference is the per-request cost of reloadability.
    let live = server::LiveApp::new(state);
    c.bench_function("app via LiveApp: the same request, replaceable router", |b| {
        b.iter(|| rt.block_on(post_chat(live.clone())))
    });
    // Three deployments behind the alias: the router orders them on every request (the
    // per-request cost of load balancing; no weights, so the config reads the same on
    // branches without router settings).
    let deployment = "  - model_name: bench\n    litellm_params:\n      model: mock/bench\n      mock_response: \"Hello! This is a fixed response.\"\n";
    let yaml = format!("model_list:\n{}", deployment.repeat(3));
    let cfg = config::load(&yaml, Source::Embedded, Env::default()).expect("config");
    let app = server::app(AppState::from_config(&cfg));
    c.bench_function("app: the same request to an alias of 3 mock deployments", |b| {
        b.iter(|| rt.block_on(post_chat(app.clone())))
    });
}

/// The request log on the request path: a call's `Record` (its strings, as `CallLog` builds
/// them) boxed and queued for the writer thread with `try_send`. Timed in runs of 4,096 (half
/// the queue) with a flush between runs outside the timing, so every send finds room, as it
/// does when the writer keeps up; the writer thread is inserting meanwhile, as in a real run.
fn request_log(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let retention = Retention { max_age_ms: 30 * 86_400_000, max_bytes: 1 << 30 };
    let log = UsageLog::open(&dir.path().join("usage.sqlite3"), retention).expect("log");
    c.bench_function("request log: build one call's record + queue it for the writer", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let run = left.min(4096);
                let start = std::time::Instant::now();
                for i in 0..run {
                    log.record(black_box(record(i)));
                }
                total += start.elapsed();
                left -= run;
                assert!(log.flush(std::time::Duration::from_secs(30)), "writer stuck");
            }
            total
        })
    });
    assert_eq!(log.dropped(), 0, "a send found the queue full: the numbers would be wrong");

    // The whole mock request of `whole_request_mock`, with the request log attached (what
    // `gateway::build_state` does unless `disable_spend_logs` is set).
    let yaml = "model_list:\n  - model_name: bench\n    litellm_params:\n      model: mock/bench\n      mock_response: \"Hello! This is a fixed response.\"\n";
    let cfg = config::load(yaml, Source::Embedded, Env::default()).expect("config");
    let state = AppState::from_config(&cfg);
    let on = UsageLog::open(&dir.path().join("app.sqlite3"), retention).expect("log");
    state.set_usage(Ok(on.clone()));
    let app = server::app(state);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    c.bench_function("app: the mock request with the request log on", |b| {
        b.iter(|| rt.block_on(post_chat(app.clone())))
    });
    assert!(on.flush(std::time::Duration::from_secs(30)), "writer stuck");
}

/// A record like a real call's, as `CallLog::record` makes it: the request's own strings
/// freshly allocated, the endpoint and provider static, the deployment's label and id shared
/// with the deployment.
fn record(i: u64) -> Record {
    static LABEL: LazyLock<Arc<str>> = LazyLock::new(|| "dashscope/qwen-max".into());
    static ID: LazyLock<Arc<str>> = LazyLock::new(|| "h:3f1c9a0b7d2e4f65".into());
    Record {
        ts_ms: 1_764_900_000_000 + i as i64,
        request_id: format!("req_{i:024}"),
        endpoint: "chat".into(),
        alias: "qwen-max".to_owned(),
        provider: "dashscope".into(),
        deployment: Some(LABEL.clone()),
        model_id: Some(ID.clone()),
        status: 200,
        stream: true,
        latency_ms: 812.25,
        ttft_ms: Some(190.5),
        prompt_tokens: 1200,
        completion_tokens: 240,
        cached_tokens: 0,
        reasoning_tokens: 0,
        cost: Some(0.00096),
        error: None,
        user_agent: Some("OpenAI/Python 2.8.1".to_owned()),
    }
}

/// One chat request through `svc`, body read to the end.
async fn post_chat<S>(svc: S) -> Bytes
where
    S: tower::Service<
            Request<Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        >,
{
    let req = Request::post("/v1/chat/completions")
        .header("host", "127.0.0.1:4000")
        .header("content-type", "application/json")
        .body(Body::from(REQUEST))
        .expect("request");
    let resp = svc.oneshot(req).await.expect("response");
    black_box(axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body"))
}

/// A model call's request line as `server::log` writes it (nothing in it to mask).
const REQUEST_LINE: &str = "2026-12-07T05:20:13.123456Z  INFO chat model=bench provider=openai status=200 json 0.3ms tokens=25+28 deployment=0:openai/gpt-4o-mini request_id=req_0Vd5RG8oAbCdEfGhIjKlMnOp\n";

fn redaction(c: &mut Criterion) {
    ai_proxy::redact::remember("sk-bench-1234");
    c.bench_function("redact: one request line", |b| {
        b.iter(|| ai_proxy::redact::redact(black_box(REQUEST_LINE)).len())
    });
}

criterion_group!(
    benches,
    request_roundtrip,
    completion_roundtrip,
    sse_decode,
    chunk_relay,
    whole_request_mock,
    request_log,
    redaction
);
criterion_main!(benches);

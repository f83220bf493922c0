//! Fixture-driven tests of the hub ⇄ Claude translation (tests/fixtures/claude/{request,
//! response,stream}, insta snapshots in `snapshots/`), a round trip through the client-side
//! translation, and a property test of the stream state machine.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::translate::collect::Collector;
use crate::wire::anthropic::{MessagesRequest, UpstreamMessage};
use crate::wire::openai::{ChatChunk, ChatRequest};

fn fixtures(kind: &str, ext: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude").join(kind);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
        .map(|p| {
            let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("read fixture"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {}", dir.display());
    out
}

/// Printed as a tree: a tool schema is carried as the client's text (`wire::RawJson`), which
/// a pretty print would show as the fixture wrote it.
fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(&serde_json::to_value(v).expect("json")).expect("json")
}

const OPTS: RequestOptions<'static> = RequestOptions { model: "claude-sonnet-4-5-20250929" };

#[test]
fn request_fixtures() {
    for (name, text) in fixtures("request", "json") {
        let req: ChatRequest =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = match to_messages(&req, &OPTS) {
            Ok(m) => pretty(&m),
            Err(e) => format!("error: {} (param {:?})", e.message, e.param),
        };
        insta::assert_snapshot!(format!("request__{name}"), out);
        assert_eq!(name.starts_with("error_"), out.starts_with("error:"), "{name}: {out}");
    }
}

#[test]
fn response_fixtures() {
    for (name, text) in fixtures("response", "json") {
        let m: UpstreamMessage =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_snapshot!(format!("response__{name}"), pretty(&to_hub(m, 1_700_000_000)));
    }
}

/// The (event name, data) pairs of a recorded SSE transcript.
fn events_of(sse: &str) -> Vec<(String, String)> {
    sse.split("\n\n")
        .filter(|ev| !ev.trim().is_empty())
        .map(|ev| {
            let mut name = String::new();
            let mut data = String::new();
            for line in ev.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            (name, data)
        })
        .collect()
}

#[test]
fn stream_fixtures() {
    for (name, text) in fixtures("stream", "sse") {
        let mut st = StreamState::new("claude-requested", 1_700_000_000);
        let mut out = String::new();
        let mut collector = Collector::default();
        for (ev, data) in events_of(&text) {
            match st.on_event(&ev, &data) {
                Ok(chunks) => {
                    for c in chunks {
                        out.push_str(&serde_json::to_string(&c).expect("json"));
                        out.push('\n');
                        collector.push(c);
                    }
                }
                Err(e) => out.push_str(&format!("error: {} {}\n", e.kind, e.message)),
            }
        }
        out.push_str(&format!("complete: {}\n--- collected ---\n", st.is_complete()));
        out.push_str(&pretty(&collector.finish()));
        insta::assert_snapshot!(format!("stream__{name}"), out);
    }
}

/// A streamed answer and the same answer whole give the same completion.
#[test]
fn a_stream_collects_to_the_whole_answer() {
    let text = fixtures("stream", "sse")
        .into_iter()
        .find(|(n, _)| n == "thinking_text_tools")
        .map(|(_, t)| t)
        .expect("fixture");
    let mut st = StreamState::new("m", 1);
    let mut collector = Collector::default();
    for (ev, data) in events_of(&text) {
        for c in st.on_event(&ev, &data).expect("no error") {
            collector.push(c);
        }
    }
    let streamed = collector.finish();
    let whole = to_hub(
        serde_json::from_value(json!({
            "id": "msg_01Think", "model": "claude-opus-4-1-20250805", "stop_reason": "tool_use",
            "content": [
                {"type": "thinking", "thinking": "I need the weather for two cities.", "signature": "x"},
                {"type": "text", "text": "Okay, checking."},
                {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
                 "input": {"city": "San Francisco, CA"}},
                {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}}],
            "usage": {"input_tokens": 472, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 89}
        }))
        .expect("message"),
        1,
    );
    let (s, w) = (&streamed.choices[0], &whole.choices[0]);
    assert_eq!(
        s.message.content.as_ref().map(|c| c.text()),
        w.message.content.as_ref().map(|c| c.text())
    );
    assert_eq!(s.message.reasoning_content, w.message.reasoning_content);
    assert_eq!(s.finish_reason, w.finish_reason);
    let calls = |c: &crate::wire::openai::Choice| {
        c.message
            .tool_calls
            .iter()
            .flatten()
            .map(|t| {
                let args: Value = serde_json::from_str(if t.function.arguments.is_empty() {
                    "{}"
                } else {
                    &t.function.arguments
                })
                .expect("arguments are JSON");
                (t.id.clone(), t.function.name.clone(), args)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(calls(s), calls(w));
    assert_eq!(streamed.usage.map(|u| u.total_tokens), whole.usage.map(|u| u.total_tokens));
}

/// An Anthropic client's request, translated to the hub and back for a Claude upstream,
/// keeps what the hub can carry.
#[test]
fn round_trip_through_the_hub_keeps_the_conversation() {
    let original: MessagesRequest = serde_json::from_value(json!({
        "model": "claude-sonnet", "max_tokens": 1000, "system": "Be brief.",
        "stop_sequences": ["END"], "temperature": 0.5,
        "tools": [{"name": "get_weather", "description": "w", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "text", "text": "Thanks"}]}
        ]
    }))
    .expect("request");
    let hub = crate::translate::anthropic::to_hub(original.clone()).expect("to hub");
    let back = to_messages(&hub, &RequestOptions { model: "claude-sonnet" }).expect("to messages");
    let (a, b) = (
        serde_json::to_value(&original).expect("json"),
        serde_json::to_value(&back).expect("json"),
    );
    for key in
        ["model", "max_tokens", "system", "stop_sequences", "temperature", "tools", "tool_choice"]
    {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["messages"][0], b["messages"][0]);
    assert_eq!(a["messages"][1], b["messages"][1]);
    assert_eq!(a["messages"][2], b["messages"][2]);
}

proptest! {
    /// Whatever text and tool fragments a stream carries, in any cut, the collected answer
    /// has all of it in order, and only `message_stop` completes the stream.
    #[test]
    fn text_and_arguments_survive_any_cut(
        pieces in prop::collection::vec("[a-z {}\":,]{0,6}", 1..12),
        args in prop::collection::vec("[a-z0-9\"{}:,]{0,5}", 0..6),
        stop in any::<bool>(),
    ) {
        let mut st = StreamState::new("m", 1);
        let mut chunks: Vec<ChatChunk> = Vec::new();
        let mut feed = |name: &str, data: Value, chunks: &mut Vec<ChatChunk>| {
            chunks.extend(st.on_event(name, &data.to_string()).expect("no error"));
        };
        feed("message_start", json!({"type": "message_start", "message": {"id": "msg", "model": "m", "content": [], "usage": {"input_tokens": 1}}}), &mut chunks);
        feed("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}), &mut chunks);
        for p in &pieces {
            feed("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}), &mut chunks);
        }
        feed("content_block_start", json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_x", "name": "f", "input": {}}}), &mut chunks);
        for a in &args {
            feed("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": a}}), &mut chunks);
        }
        feed("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}), &mut chunks);
        if stop {
            feed("message_stop", json!({"type": "message_stop"}), &mut chunks);
        }
        prop_assert_eq!(st.is_complete(), stop);
        let mut c = Collector::default();
        for chunk in chunks {
            c.push(chunk);
        }
        let done = c.finish();
        let m = &done.choices[0].message;
        prop_assert_eq!(m.content.as_ref().map(|c| c.text()).unwrap_or_default(), pieces.concat());
        let call = &m.tool_calls.as_ref().expect("one call")[0];
        prop_assert_eq!(&call.function.arguments, &args.concat());
        prop_assert_eq!(call.id.as_str(), "toolu_x");
        prop_assert_eq!(done.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    }
}

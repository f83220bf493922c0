//! Fixture-driven tests of the Anthropic translation (tests/fixtures/anthropic/{request,
//! response,stream}, insta snapshots in `snapshots/`) and a property test of the stream
//! state machine.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::wire::anthropic::{BlockDelta, Event, MessagesRequest, ResponseBlock};
use crate::wire::openai::{
    ChatChunk, ChatCompletion, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta,
    Usage as HubUsage,
};

fn fixtures(kind: &str, ext: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/anthropic").join(kind);
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

#[test]
fn request_fixtures() {
    for (name, text) in fixtures("request", "json") {
        let req: MessagesRequest =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = match to_hub(req) {
            Ok(hub) => format!("reasoning_budget: {:?}\n{}", hub.reasoning_budget, pretty(&hub)),
            Err(e) => format!("error: {e:?}"),
        };
        insta::assert_snapshot!(format!("request__{name}"), out);
        assert_eq!(name.starts_with("error_"), out.starts_with("error:"), "{name}: {out}");
    }
}

#[test]
fn response_fixtures() {
    for (name, text) in fixtures("response", "json") {
        let c: ChatCompletion =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = match from_hub(c, "claude-sonnet-4-5") {
            Ok(m) => pretty(&m),
            Err(e) => format!("error: {e:?}"),
        };
        insta::assert_snapshot!(format!("response__{name}"), out);
        assert_eq!(name.starts_with("error_"), out.starts_with("error:"), "{name}: {out}");
    }
}

/// Parse a recorded upstream transcript (`data:` payloads, `[DONE]` ignored).
fn chunks_of(sse: &str) -> Vec<ChatChunk> {
    sse.split("\n\n")
        .filter_map(|ev| ev.trim().strip_prefix("data:").map(str::trim))
        .filter(|d| *d != "[DONE]" && !d.is_empty())
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("chunk {d}: {e}")))
        .collect()
}

fn run(chunks: Vec<ChatChunk>) -> Vec<Event> {
    let mut st = StreamState::new("claude-sonnet-4-5");
    let mut events: Vec<Event> = chunks.into_iter().flat_map(|c| st.on_chunk(c)).collect();
    events.extend(st.finish());
    events
}

#[test]
fn stream_fixtures() {
    for (name, text) in fixtures("stream", "sse") {
        let events = run(chunks_of(&text));
        if let Err(e) = check_well_formed(&events) {
            panic!("{name}: {e}\n{events:#?}");
        }
        let mut out = String::new();
        for ev in &events {
            out.push_str(&format!("{}: {}\n", ev.name(), serde_json::to_string(ev).expect("json")));
        }
        out.push_str("--- accumulated ---\n");
        out.push_str(&pretty(&accumulate(&events)));
        insta::assert_snapshot!(format!("stream__{name}"), out);
    }
}

/// What a client (like the SDK's stream helper) builds from the events: content blocks with
/// tool inputs parsed from the concatenated `input_json_delta`s.
fn accumulate(events: &[Event]) -> Value {
    let mut blocks: Vec<Value> = Vec::new();
    let mut json_parts: Vec<String> = Vec::new();
    let mut stop = Value::Null;
    let mut usage = Value::Null;
    for ev in events {
        match ev {
            Event::ContentBlockStart { content_block, .. } => {
                blocks.push(serde_json::to_value(content_block).expect("json"));
                json_parts.push(String::new());
            }
            Event::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } => {
                    let t = blocks[*index]["text"].as_str().unwrap_or_default().to_owned() + text;
                    blocks[*index]["text"] = Value::String(t);
                }
                BlockDelta::ThinkingDelta { thinking } => {
                    let t = blocks[*index]["thinking"].as_str().unwrap_or_default().to_owned()
                        + thinking;
                    blocks[*index]["thinking"] = Value::String(t);
                }
                BlockDelta::InputJsonDelta { partial_json } => {
                    json_parts[*index].push_str(partial_json)
                }
                BlockDelta::SignatureDelta { .. } => {}
            },
            Event::ContentBlockStop { index } if blocks[*index]["type"] == "tool_use" => {
                let raw = &json_parts[*index];
                blocks[*index]["input"] = if raw.is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(raw)
                        .unwrap_or_else(|e| panic!("tool input {raw:?} is not JSON: {e}"))
                };
            }
            Event::MessageDelta { delta, usage: u } => {
                stop = json!(delta.stop_reason);
                usage = serde_json::to_value(u).expect("json");
            }
            _ => {}
        }
    }
    json!({"content": blocks, "stop_reason": stop, "usage": usage})
}

/// The invariants of an Anthropic event stream.
fn check_well_formed(events: &[Event]) -> Result<(), String> {
    let Some(Event::MessageStart { .. }) = events.first() else {
        return Err("does not start with message_start".into());
    };
    let mut open: Option<usize> = None;
    let mut next = 0usize;
    let mut seen_delta_msg = false;
    for (k, ev) in events.iter().enumerate().skip(1) {
        let last = k == events.len() - 1;
        match ev {
            Event::MessageStart { .. } => return Err(format!("second message_start at {k}")),
            Event::ContentBlockStart { index, .. } => {
                if open.is_some() {
                    return Err(format!("block {index} opened while {open:?} is open"));
                }
                if *index != next {
                    return Err(format!("block index {index}, expected {next}"));
                }
                if seen_delta_msg {
                    return Err("block after message_delta".into());
                }
                open = Some(*index);
                next += 1;
            }
            Event::ContentBlockDelta { index, delta } => {
                if open != Some(*index) {
                    return Err(format!("delta for block {index} while {open:?} is open"));
                }
                let kind_ok = matches!(
                    (&events_block_kind(events, *index), delta),
                    (Some("text"), BlockDelta::TextDelta { .. })
                        | (
                            Some("thinking"),
                            BlockDelta::ThinkingDelta { .. } | BlockDelta::SignatureDelta { .. }
                        )
                        | (Some("tool_use"), BlockDelta::InputJsonDelta { .. })
                );
                if !kind_ok {
                    return Err(format!("delta {delta:?} does not fit block {index}"));
                }
            }
            Event::ContentBlockStop { index } => {
                if open != Some(*index) {
                    return Err(format!("stop for block {index} while {open:?} is open"));
                }
                open = None;
            }
            Event::MessageDelta { .. } => {
                if open.is_some() || seen_delta_msg {
                    return Err("message_delta with a block open or twice".into());
                }
                seen_delta_msg = true;
            }
            Event::MessageStop => {
                if !last || !seen_delta_msg {
                    return Err("message_stop not last or without message_delta".into());
                }
            }
            Event::Error { .. } => {
                if !last {
                    return Err("error event not last".into());
                }
            }
            Event::Ping => {}
        }
    }
    match events.last() {
        Some(Event::MessageStop | Event::Error { .. }) => Ok(()),
        other => Err(format!("ends with {other:?}")),
    }
}

fn events_block_kind(events: &[Event], index: usize) -> Option<&'static str> {
    events.iter().find_map(|e| match e {
        Event::ContentBlockStart { index: i, content_block } if *i == index => {
            Some(match content_block {
                ResponseBlock::Text { .. } => "text",
                ResponseBlock::Thinking { .. } => "thinking",
                ResponseBlock::ToolUse { .. } => "tool_use",
            })
        }
        _ => None,
    })
}

#[test]
fn upstream_error_mid_stream_becomes_an_error_event() {
    let mut st = StreamState::new("a");
    let mut events = st.on_chunk(text_chunk("partial"));
    events.extend(st.on_error("overloaded_error", "upstream went away"));
    assert!(st.on_chunk(text_chunk("late")).is_empty(), "nothing after the end");
    assert!(st.finish().is_empty());
    check_well_formed(&events).expect("well formed");
    assert_eq!(events.last().map(Event::name), Some("error"));
}

#[test]
fn an_empty_upstream_still_yields_a_complete_message() {
    let events = run(Vec::new());
    check_well_formed(&events).expect("well formed");
    assert_eq!(events.len(), 3, "{events:?}");
}

#[test]
fn tool_ids_round_trip_through_request_translation() {
    // The id handed out in a tool_use block comes back as tool_use_id and must reach the
    // upstream as the assistant's tool_call id and the tool message's tool_call_id.
    let events = run(chunks_of(include_str!(
        "../../../tests/fixtures/anthropic/stream/tool_without_id_and_late_name.sse"
    )));
    let acc = accumulate(&events);
    let id = acc["content"][0]["id"].as_str().expect("tool id").to_owned();
    assert!(id.starts_with("toolu_"), "{id}");
    let req: MessagesRequest = serde_json::from_value(json!({
        "model": "m", "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": acc["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "ok"}]}
        ]
    }))
    .expect("request");
    let hub = to_hub(req).expect("hub");
    let calls = hub.messages[1].tool_calls.as_ref().expect("tool calls");
    assert_eq!(calls[0].id, id);
    assert_eq!(calls[0].function.arguments, r#"{"q":"x"}"#);
    assert_eq!(hub.messages[2].role, "tool");
    assert_eq!(hub.messages[2].tool_call_id.as_deref(), Some(id.as_str()));
}

fn text_chunk(t: &str) -> ChatChunk {
    chunk(Delta { content: Some(t.into()), ..Delta::default() })
}

fn chunk(delta: Delta) -> ChatChunk {
    ChatChunk {
        id: "p".into(),
        choices: vec![ChunkChoice { delta, ..ChunkChoice::default() }],
        ..ChatChunk::default()
    }
}

/// One generated upstream chunk.
fn arb_chunk() -> impl Strategy<Value = ChatChunk> {
    let text = proptest::option::of(prop_oneof![Just(String::new()), "[a-z ]{1,6}"]);
    let tool = (
        0u32..3,
        proptest::option::of(prop_oneof![Just(String::new()), "call_[a-c]"]),
        proptest::option::of(prop_oneof![Just(String::new()), "f[a-c]"]),
        proptest::option::of(prop_oneof![
            Just("{".to_owned()),
            Just("\"k\":1".to_owned()),
            Just("}".to_owned()),
            Just("{}".to_owned()),
            "[a-z\"{}:,]{0,4}"
        ]),
    )
        .prop_map(|(index, id, name, arguments)| ToolCallDelta {
            index,
            id,
            function: Some(FunctionCallDelta { name, arguments }),
            ..ToolCallDelta::default()
        });
    let finish = proptest::option::of(prop_oneof![
        Just("stop".to_owned()),
        Just("length".to_owned()),
        Just("tool_calls".to_owned()),
        Just(String::new())
    ]);
    (
        text.clone(),
        text,
        proptest::collection::vec(tool, 0..3),
        finish,
        any::<bool>(),
        0u32..2,
        any::<bool>(),
    )
        .prop_map(
            |(content, reasoning, tools, finish_reason, with_usage, choice_index, no_choices)| {
                let mut c = ChatChunk {
                    id: "gen".into(),
                    choices: vec![ChunkChoice {
                        index: choice_index,
                        delta: Delta {
                            content,
                            reasoning_content: reasoning,
                            tool_calls: (!tools.is_empty()).then_some(tools),
                            ..Delta::default()
                        },
                        finish_reason,
                        ..ChunkChoice::default()
                    }],
                    ..ChatChunk::default()
                };
                if no_choices {
                    c.choices.clear();
                }
                if with_usage {
                    c.usage = Some(Box::new(HubUsage {
                        prompt_tokens: 3,
                        completion_tokens: 2,
                        total_tokens: 5,
                        ..HubUsage::default()
                    }));
                }
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any chunk sequence, ending normally or with an error, gives a well-formed event
    /// sequence, and every text and reasoning character of choice 0 arrives, in order.
    #[test]
    fn any_chunk_sequence_gives_a_well_formed_stream(
        chunks in proptest::collection::vec(arb_chunk(), 0..24),
        fail in any::<bool>(),
    ) {
        let expect_text: String = chunks.iter().flat_map(|c| &c.choices).filter(|c| c.index == 0)
            .filter_map(|c| c.delta.content.clone()).collect();
        let expect_thinking: String = chunks.iter().flat_map(|c| &c.choices).filter(|c| c.index == 0)
            .filter_map(|c| c.delta.reasoning_content.clone()).collect();
        let mut st = StreamState::new("alias");
        let mut events: Vec<Event> = chunks.into_iter().flat_map(|c| st.on_chunk(c)).collect();
        events.extend(if fail { st.on_error("api_error", "boom") } else { st.finish() });
        if let Err(e) = check_well_formed(&events) {
            prop_assert!(false, "{e}\n{events:#?}");
        }
        let mut text = String::new();
        let mut thinking = String::new();
        for ev in &events {
            match ev {
                Event::ContentBlockDelta { delta: BlockDelta::TextDelta { text: t }, .. } => text.push_str(t),
                Event::ContentBlockDelta { delta: BlockDelta::ThinkingDelta { thinking: t }, .. } => thinking.push_str(t),
                _ => {}
            }
        }
        prop_assert_eq!(text, expect_text);
        prop_assert_eq!(thinking, expect_thinking);
    }
}

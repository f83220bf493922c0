//! Anthropic message (from a Claude upstream) → hub (OpenAI chat) completion.
//!
//! Text blocks are joined into `content`, thinking blocks into `reasoning_content`,
//! `tool_use` blocks become `tool_calls` (ids kept, `input` as JSON `arguments`); blocks the
//! hub cannot show (redacted thinking, server tool calls and their results) are left out.
//! `stop_reason`: `end_turn` / `stop_sequence` / `pause_turn` → `stop`, `max_tokens` →
//! `length`, `tool_use` → `tool_calls`, `refusal` → `content_filter`. Usage: prompt tokens
//! are input plus cache reads and writes (OpenAI counts them all), cache reads also as
//! `cached_tokens`.

use serde_json::{Map, Value};

use crate::wire::anthropic::{UpstreamMessage, UpstreamUsage};
use crate::wire::openai::{
    ChatCompletion, Choice, Content, FunctionCall, Message, PromptTokensDetails, ToolCall, Usage,
};

/// Translate a whole message. `created` comes from the caller (no clock here).
pub fn to_hub(m: UpstreamMessage, created: i64) -> ChatCompletion {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in &m.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("thinking") => {
                reasoning.push_str(block.get("thinking").and_then(Value::as_str).unwrap_or(""))
            }
            Some("tool_use") => calls.push(ToolCall {
                id: str_of(block, "id"),
                kind: "function".into(),
                function: FunctionCall {
                    name: str_of(block, "name"),
                    arguments: block
                        .get("input")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "{}".to_owned()),
                },
                extra: Map::new(),
            }),
            _ => {}
        }
    }
    let finish = finish_reason(m.stop_reason.as_deref(), !calls.is_empty());
    ChatCompletion {
        id: m.id,
        object: "chat.completion".into(),
        created,
        model: m.model,
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: "assistant".into(),
                content: Some(Content::Text(text)),
                tool_calls: (!calls.is_empty()).then_some(calls),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                ..Message::default()
            },
            finish_reason: Some(finish.to_owned()),
            logprobs: None,
            extra: Map::new(),
        }],
        usage: Some(usage(&m.usage)),
        system_fingerprint: None,
        extra: Map::new(),
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The hub's `finish_reason` for an Anthropic `stop_reason`.
pub fn finish_reason(stop: Option<&str>, called_tools: bool) -> &'static str {
    match stop {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

/// OpenAI-style usage from Anthropic's.
pub fn usage(u: &UpstreamUsage) -> Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let prompt = u.input_tokens.unwrap_or(0) + read + u.cache_creation_input_tokens.unwrap_or(0);
    let completion = u.output_tokens.unwrap_or(0);
    let written = u.cache_creation_input_tokens.unwrap_or(0);
    let mut extra = Map::new();
    if written > 0 {
        // Priced apart (cache writes cost more than input): `usage::price`.
        extra.insert("cache_creation_input_tokens".into(), written.into());
    }
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: (read > 0)
            .then(|| PromptTokensDetails { cached_tokens: Some(read), extra: Map::new() }),
        completion_tokens_details: None,
        extra,
    }
}

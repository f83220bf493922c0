//! Hub (OpenAI chat) completion → Anthropic message.

use serde_json::{Map, Value};

use super::TranslateError;
use crate::wire::anthropic::{MessagesResponse, ResponseBlock, Usage};
use crate::wire::openai::{ChatCompletion, Usage as HubUsage};

/// Translate a complete hub response. `alias` is the model name the client asked for.
pub fn from_hub(c: ChatCompletion, alias: &str) -> Result<MessagesResponse, TranslateError> {
    let id = message_id(&c.id);
    let choice = c.choices.into_iter().next();
    let mut content = Vec::new();
    let mut finish = None;
    if let Some(choice) = choice {
        finish = choice.finish_reason;
        let m = choice.message;
        if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
            content.push(ResponseBlock::Thinking { thinking: r, signature: String::new() });
        }
        if let Some(text) = m.content.map(|c| c.text()).filter(|t| !t.is_empty()) {
            content.push(ResponseBlock::Text { text });
        }
        for (i, call) in m.tool_calls.unwrap_or_default().into_iter().enumerate() {
            let input = tool_input(&call.function.arguments).map_err(|e| {
                TranslateError::upstream(format!(
                    "the upstream returned arguments for tool `{}` that are not a JSON object ({e}): {}",
                    call.function.name,
                    truncate(&call.function.arguments, 200)
                ))
            })?;
            let tool_id = if call.id.is_empty() { tool_id(&id, i) } else { call.id };
            content.push(ResponseBlock::ToolUse { id: tool_id, name: call.function.name, input });
        }
    }
    let has_tools = content.iter().any(|b| matches!(b, ResponseBlock::ToolUse { .. }));
    Ok(MessagesResponse {
        id,
        kind: "message".into(),
        role: "assistant".into(),
        model: alias.to_owned(),
        content,
        stop_reason: Some(stop_reason(finish.as_deref(), has_tools).to_owned()),
        stop_sequence: None,
        usage: c.usage.as_ref().map(usage).unwrap_or_default(),
    })
}

/// `msg_…` from the upstream's completion id.
pub fn message_id(upstream: &str) -> String {
    if upstream.starts_with("msg_") {
        upstream.to_owned()
    } else if upstream.is_empty() {
        "msg_ai-proxy".to_owned()
    } else {
        format!("msg_{upstream}")
    }
}

/// An id for a tool call the upstream sent without one (deterministic per message).
pub fn tool_id(message_id: &str, n: usize) -> String {
    format!("toolu_{}_{n}", message_id.trim_start_matches("msg_"))
}

/// Anthropic `stop_reason` for an OpenAI `finish_reason`. Tool calls win: some upstreams
/// say `stop` after calling tools.
pub fn stop_reason(finish: Option<&str>, has_tools: bool) -> &'static str {
    match finish {
        _ if has_tools => "tool_use",
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic usage: `input_tokens` excludes cache reads, as Anthropic counts them.
pub fn usage(u: &HubUsage) -> Usage {
    let cached = u.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens);
    Usage {
        input_tokens: u.prompt_tokens.saturating_sub(cached.unwrap_or(0)),
        output_tokens: u.completion_tokens,
        cache_creation_input_tokens: None,
        cache_read_input_tokens: cached,
    }
}

/// Parse tool arguments; empty means no arguments.
pub fn tool_input(arguments: &str) -> Result<Value, String> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(format!("got {}", kind_of(&other))),
        Err(e) => Err(e.to_string()),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

//! The built-in `mock/<name>` provider: answers locally, streaming or not, so the gateway
//! does something real with no credentials and clients can be smoke-tested.
//!
//! Text is `mock_response` when configured, otherwise an echo of the last user message.
//! Usage counts are whitespace-separated words, deterministic for tests.
//!
//! Tools and reasoning, deterministically, so clients' tool loops can be tested offline:
//! - When the request offers `tools` (and `tool_choice` is not `none`) and the last turn
//!   is the user's, the mock says `Calling <tool>.` and calls the tool named by `tool_choice`,
//!   or the first tool, id `call_mock_<n>` (n = number of messages), finish `tool_calls`.
//!   Its arguments fill the schema's `required` properties (all properties if none are
//!   required): strings get the last user text, numbers 1, booleans true, arrays [],
//!   objects {}. Streamed, the arguments arrive in three fragments.
//! - When the last turn is a tool result, it answers `The <tool> tool returned: <result>`.
//! - The last turn is the last message that is not `system` / `developer` (Claude Code sends
//!   system messages after the user's), and the user text is the last user message's text
//!   without its `<system-reminder>` blocks (context Claude Code adds to the user's turn).
//! - When `reasoning_effort` (other than none/minimal) or `enable_thinking: true` is set, a
//!   `reasoning_content` of `Thinking about: <last user text>` comes before the answer.
//! - When `response_format` asks for JSON, the answer is JSON: for `json_schema`, a value of
//!   the schema built the way tool arguments are (required properties, or all, filled
//!   recursively; `enum` and `const` honoured); for `json_object`, `{"answer": "<the text>"}`.
//! - Embeddings honour `encoding_format: "base64"` (little-endian f32s, as OpenAI sends them).
//!
//! Errors on cue, as LiteLLM's `mock_response` sentinels (for fallback and cooldown tests):
//! `litellm.RateLimitError` (429), `litellm.InternalServerError` (500),
//! `litellm.ServiceUnavailableError` (503), `litellm.Timeout` (a timeout),
//! `litellm.ContextWindowExceededError` (400 `context_length_exceeded`) and
//! `litellm.ContentPolicyViolationError` (400 `content_filter`) fail every call.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{ChatOutput, ProviderError};
use crate::config::Deployment;
use crate::wire::RawJson;
use crate::wire::openai::{
    ChatChunk, ChatCompletion, ChatRequest, Choice, ChunkChoice, Content, ContentPart, Delta,
    Embedding, EmbeddingsRequest, EmbeddingsResponse, FunctionCall, FunctionCallDelta, Message,
    ToolCall, ToolCallDelta, ToolChoice, Usage,
};

pub struct Mock {
    model: String,
    response: Option<String>,
}

impl Mock {
    pub fn new(dep: &Deployment) -> Self {
        Mock { model: dep.model.clone(), response: dep.mock_response.clone() }
    }

    fn answer(&self, req: &ChatRequest) -> String {
        if let Some(r) = &self.response {
            return r.clone();
        }
        if let Some(last) = last_turn(req)
            && last.role == "tool"
        {
            let id = last.tool_call_id.as_deref().unwrap_or_default();
            let name = req
                .messages
                .iter()
                .filter_map(|m| m.tool_calls.as_ref())
                .flatten()
                .find(|c| c.id == id)
                .map(|c| c.function.name.as_str())
                .unwrap_or("unknown");
            let result = last.content.as_ref().map(Content::text).unwrap_or_default();
            return format!("The {name} tool returned: {result}");
        }
        let last_user = last_user_text(req);
        if last_user.trim().is_empty() {
            "Hello from ai-proxy's mock model.".to_owned()
        } else {
            format!("You said: {last_user}")
        }
    }

    fn usage(req: &ChatRequest, text: &str) -> Usage {
        let prompt: u64 =
            req.messages.iter().filter_map(|m| m.content.as_ref()).map(|c| words(&c.text())).sum();
        let completion = words(text);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Usage::default()
        }
    }

    pub fn chat(&self, req: ChatRequest) -> Result<ChatOutput, ProviderError> {
        if let Some(err) = self.response.as_deref().and_then(sentinel_error) {
            return Err(err);
        }
        let call = tool_call(&req);
        let text = match &call {
            Some(c) => format!("Calling {}.", c.function.name),
            None => json_answer(&req, self.answer(&req)),
        };
        let reasoning =
            wants_reasoning(&req).then(|| format!("Thinking about: {}", last_user_text(&req)));
        let usage = Self::usage(&req, &text);
        let max = req.max_completion_tokens.or(req.max_tokens).map(u64::from);
        let (text, finish) = match max {
            Some(max) if words(&text) > max => (first_words(&text, max as usize), "length"),
            _ if call.is_some() => (text, "tool_calls"),
            _ => (text, "stop"),
        };
        let id = format!("chatcmpl-mock{:016x}", fastrand::u64(..));
        let created = now();
        if !req.is_stream() {
            return Ok(ChatOutput::Complete(ChatCompletion {
                id,
                object: "chat.completion".into(),
                created,
                model: self.model.clone(),
                choices: vec![Choice {
                    index: 0,
                    message: Message {
                        role: "assistant".into(),
                        content: Some(Content::Text(text)),
                        reasoning_content: reasoning,
                        tool_calls: call.map(|c| vec![c]),
                        ..Message::default()
                    },
                    finish_reason: Some(finish.into()),
                    ..Choice::default()
                }],
                usage: Some(usage),
                ..ChatCompletion::default()
            }));
        }
        let chunk = |delta: Delta, finish: Option<&str>| ChatChunk {
            id: id.clone(),
            object: "chat.completion.chunk".into(),
            created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
                ..ChunkChoice::default()
            }],
            ..ChatChunk::default()
        };
        let mut chunks = vec![chunk(
            Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Delta::default()
            },
            None,
        )];
        for piece in reasoning.as_deref().map(split_keep_spaces).unwrap_or_default() {
            chunks.push(chunk(Delta { reasoning_content: Some(piece), ..Delta::default() }, None));
        }
        for piece in split_keep_spaces(&text) {
            chunks.push(chunk(Delta { content: Some(piece), ..Delta::default() }, None));
        }
        if let Some(c) = call {
            for (i, piece) in thirds(&c.function.arguments).into_iter().enumerate() {
                let first = i == 0;
                let delta = ToolCallDelta {
                    index: 0,
                    id: first.then(|| c.id.clone()),
                    kind: first.then(|| "function".to_owned()),
                    function: Some(FunctionCallDelta {
                        name: first.then(|| c.function.name.clone()),
                        arguments: Some(piece),
                    }),
                    extra: Map::new(),
                };
                chunks
                    .push(chunk(Delta { tool_calls: Some(vec![delta]), ..Delta::default() }, None));
            }
        }
        chunks.push(chunk(Delta::default(), Some(finish)));
        let mut last = chunk(Delta::default(), None);
        last.choices.clear();
        last.usage = Some(Box::new(usage));
        chunks.push(last);
        Ok(ChatOutput::Stream(Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)))))
    }

    pub fn embeddings(&self, req: EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
        if let Some(err) = self.response.as_deref().and_then(sentinel_error) {
            return Err(err);
        }
        let Some(texts) = req.input.texts() else {
            return Err(ProviderError::InvalidRequest {
                message: "the mock model embeds text inputs only, not token arrays".into(),
                param: Some("input".into()),
            });
        };
        let dims = req.dimensions.unwrap_or(8).clamp(1, 4096) as usize;
        let base64 = req.encoding_format.as_deref() == Some("base64");
        let tokens: u64 = texts.iter().map(|t| words(t)).sum();
        let data = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Embedding {
                object: "embedding".into(),
                index: i as u32,
                embedding: encode(pseudo_embedding(t, dims), base64),
            })
            .collect();
        Ok(EmbeddingsResponse {
            object: "list".into(),
            data,
            model: self.model.clone(),
            usage: Some(Usage { prompt_tokens: tokens, total_tokens: tokens, ..Usage::default() }),
            ..EmbeddingsResponse::default()
        })
    }
}

/// The failure a LiteLLM `mock_response` sentinel stands for.
fn sentinel_error(response: &str) -> Option<ProviderError> {
    let upstream =
        |status: u16, kind: &str, code: Option<&str>, message: &str| ProviderError::Upstream {
            status,
            message: message.to_owned(),
            kind: Some(kind.to_owned()),
            code: code.map(str::to_owned),
            param: None,
            retry_after: None,
            details: None,
        };
    Some(match response.trim() {
        "litellm.RateLimitError" => {
            upstream(429, "rate_limit_error", None, "mock rate limit error (mock_response)")
        }
        "litellm.InternalServerError" => {
            upstream(500, "api_error", None, "mock internal server error (mock_response)")
        }
        "litellm.ServiceUnavailableError" => {
            upstream(503, "api_error", None, "mock service unavailable error (mock_response)")
        }
        "litellm.ContextWindowExceededError" => upstream(
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
            "This model's maximum context length was exceeded (mock_response)",
        ),
        "litellm.ContentPolicyViolationError" => upstream(
            400,
            "invalid_request_error",
            Some("content_filter"),
            "The prompt was filtered by the content management policy (mock_response)",
        ),
        "litellm.Timeout" => ProviderError::Timeout {
            phase: super::TimeoutPhase::Response,
            message: "mock timeout (mock_response)".to_owned(),
        },
        _ => return None,
    })
}

/// The last message that is not a system prompt: the turn the model answers.
fn last_turn(req: &ChatRequest) -> Option<&Message> {
    req.messages.iter().rev().find(|m| !matches!(m.role.as_str(), "system" | "developer"))
}

/// The last user message's text, without `<system-reminder>` blocks.
fn last_user_text(req: &ChatRequest) -> String {
    let Some(content) =
        req.messages.iter().rev().find(|m| m.role == "user").and_then(|m| m.content.as_ref())
    else {
        return String::new();
    };
    match content {
        Content::Text(s) => s.clone(),
        Content::Parts(parts) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } if !text.starts_with("<system-reminder>") => {
                    Some(text.as_str())
                }
                _ => None,
            })
            .collect(),
    }
}

fn wants_reasoning(req: &ChatRequest) -> bool {
    req.reasoning_effort.as_deref().is_some_and(|e| !matches!(e, "none" | "minimal"))
        || req.extra.get("enable_thinking") == Some(&Value::Bool(true))
}

/// The answer in the JSON shape `response_format` asks for, if it asks for one.
fn json_answer(req: &ChatRequest, text: String) -> String {
    let Some(format) = &req.response_format else { return text };
    match format.kind.as_str() {
        "json_schema" => {
            let schema = format.json_schema.as_ref().and_then(|j| j.get("schema"));
            fill(schema.unwrap_or(&Value::Null), &last_user_text(req), 0).to_string()
        }
        "json_object" => serde_json::json!({ "answer": text }).to_string(),
        _ => text,
    }
}

/// A value of `schema` (see the module docs); strings get `text`.
fn fill(schema: &Value, text: &str, depth: usize) -> Value {
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(first) = ["anyOf", "oneOf", "allOf"]
        .iter()
        .find_map(|k| schema.get(*k).and_then(Value::as_array).and_then(|a| a.first()))
    {
        return fill(first, text, depth);
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).find(|k| *k != "null"),
        Some(k) => k.as_str(),
        None if schema.get("properties").is_some() => Some("object"),
        None => None,
    };
    match kind {
        Some("integer" | "number") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("null") => Value::Null,
        Some("object") => {
            let mut out = Map::new();
            if depth < 8 {
                let props = schema.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (name, prop) in props.into_iter().flatten() {
                    if required.is_empty() || required.contains(&name.as_str()) {
                        out.insert(name.clone(), fill(prop, text, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        _ => Value::String(text.to_owned()),
    }
}

/// The tool call the mock makes, if any (see the module docs).
fn tool_call(req: &ChatRequest) -> Option<ToolCall> {
    let tools = req.tools.as_ref().filter(|t| !t.is_empty())?;
    if last_turn(req).is_none_or(|m| m.role != "user") {
        return None;
    }
    let tool = match &req.tool_choice {
        Some(ToolChoice::Mode(m)) if m == "none" => return None,
        Some(ToolChoice::Named(n)) => tools.iter().find(|t| t.function.name == n.function.name)?,
        _ => &tools[0],
    };
    let schema = tool.function.parameters.as_ref().map(RawJson::to_value).unwrap_or(Value::Null);
    let args = match fill(&schema, &last_user_text(req), 0) {
        Value::Object(args) => args,
        _ => Map::new(),
    };
    Some(ToolCall {
        id: format!("call_mock_{}", req.messages.len()),
        kind: "function".into(),
        function: FunctionCall {
            name: tool.function.name.clone(),
            arguments: Value::Object(args).to_string(),
        },
        extra: Map::new(),
    })
}

/// Three pieces (on char boundaries) that concatenate back to `s`.
fn thirds(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let (a, b) = (n / 3, 2 * n / 3);
    [&chars[..a], &chars[a..b], &chars[b..]].iter().map(|p| p.iter().collect()).collect()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn first_words(s: &str, n: usize) -> String {
    s.split_whitespace().take(n).collect::<Vec<_>>().join(" ")
}

/// "a b  c" → ["a", " b", "  c"]: pieces that concatenate back to the input.
fn split_keep_spaces(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    for ch in s.chars() {
        if ch.is_whitespace() && in_word {
            out.push(std::mem::take(&mut cur));
            in_word = false;
        }
        if !ch.is_whitespace() {
            in_word = true;
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// An embedding as OpenAI sends it: floats, or with `encoding_format: "base64"` the
/// little-endian f32 bytes in base64 (the Node SDK asks for that by default).
fn encode(v: Vec<f32>, base64: bool) -> Value {
    if !base64 {
        return Value::from(v);
    }
    use base64::Engine;
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A deterministic unit vector derived from the text (FNV-1a seeded per dimension).
fn pseudo_embedding(text: &str, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dims)
        .map(|d| {
            let mut h: u64 = 0xcbf29ce484222325 ^ (d as u64).wrapping_mul(0x9E3779B97F4A7C15);
            for b in text.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100000001b3);
            }
            ((h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_embeddings_decode_to_the_float_vector() {
        use base64::Engine;
        let v = pseudo_embedding("hi", 4);
        let Value::String(b64) = encode(v.clone(), true) else { panic!("a string") };
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
        let back: Vec<f32> =
            bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(back, v);
        assert_eq!(encode(v.clone(), false), Value::from(v));
    }

    #[test]
    fn structured_output_is_a_value_of_the_schema() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "kind": {"enum": ["cat", "dog"]},
                "home": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "nick": {"type": ["string", "null"]},
                "maybe": {"anyOf": [{"type": "boolean"}, {"type": "null"}]}
            },
            "required": ["name", "age", "tags", "kind", "home", "nick", "maybe"]
        });
        assert_eq!(
            fill(&schema, "Ann", 0),
            serde_json::json!({"name": "Ann", "age": 1, "tags": [], "kind": "cat", "home": {"city": "Ann"}, "nick": "Ann", "maybe": true})
        );
    }

    /// Claude Code's shape: reminders before the prompt in the user's turn, a system
    /// message after it. The mock still answers the user's turn with the prompt.
    #[test]
    fn trailing_system_messages_and_reminders_do_not_hide_the_users_turn() {
        let tools = serde_json::json!([{"type": "function", "function": {
            "name": "Bash",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}
        }}]);
        let req: ChatRequest = serde_json::from_value(serde_json::json!({
            "model": "mock",
            "tools": tools,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>\ncontext\n</system-reminder>\n"},
                    {"type": "text", "text": "echo hi"}
                ]},
                {"role": "system", "content": "# Environment"}
            ]
        }))
        .expect("request");
        let call = tool_call(&req).expect("a tool call");
        assert_eq!(call.function.name, "Bash");
        assert_eq!(call.function.arguments, r#"{"command":"echo hi"}"#);

        let req: ChatRequest = serde_json::from_value(serde_json::json!({
            "model": "mock",
            "tools": tools,
            "messages": [
                {"role": "user", "content": "echo hi"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "Bash", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "hi"},
                {"role": "system", "content": "# Environment"}
            ]
        }))
        .expect("request");
        assert!(tool_call(&req).is_none());
        let mock = Mock { model: "mock".into(), response: None };
        assert_eq!(mock.answer(&req), "The Bash tool returned: hi");
    }

    #[test]
    fn pieces_concatenate_to_the_text() {
        let s = "Hello  brave\nnew world ";
        assert_eq!(split_keep_spaces(s).concat(), s);
        assert_eq!(split_keep_spaces("a b"), vec!["a", " b"]);
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = pseudo_embedding("hi", 16);
        assert_eq!(a, pseudo_embedding("hi", 16));
        assert_ne!(a, pseudo_embedding("ho", 16));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}

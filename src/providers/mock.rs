//! The built-in `mock/<name>` provider: answers locally, streaming or not, so the gateway
//! does something real with no credentials and clients can be smoke-tested.
//!
//! Text is `mock_response` when configured, otherwise an echo of the last user message.
//! Usage counts are whitespace-separated words, deterministic for tests.
//!
//! Tools and reasoning, deterministically, so clients' tool loops can be tested offline:
//! - When the request offers `tools` (and `tool_choice` is not `none`) and the last message
//!   is the user's, the mock says `Calling <tool>.` and calls the tool named by `tool_choice`,
//!   or the first tool, id `call_mock_<n>` (n = number of messages), finish `tool_calls`.
//!   Its arguments fill the schema's `required` properties (all properties if none are
//!   required): strings get the last user text, numbers 1, booleans true, arrays [],
//!   objects {}. Streamed, the arguments arrive in three fragments.
//! - When the last message is a tool result, it answers `The <tool> tool returned: <result>`.
//! - When `reasoning_effort` (other than none/minimal) or `enable_thinking: true` is set, a
//!   `reasoning_content` of `Thinking about: <last user text>` comes before the answer.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{ChatOutput, ProviderError};
use crate::config::Deployment;
use crate::wire::openai::{
    ChatChunk, ChatCompletion, ChatRequest, Choice, ChunkChoice, Content, Delta, Embedding,
    EmbeddingsRequest, EmbeddingsResponse, FunctionCall, FunctionCallDelta, Message, ToolCall,
    ToolCallDelta, ToolChoice, Usage,
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
        if let Some(last) = req.messages.last()
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
        let call = tool_call(&req);
        let text = match &call {
            Some(c) => format!("Calling {}.", c.function.name),
            None => self.answer(&req),
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
        last.usage = Some(usage);
        chunks.push(last);
        Ok(ChatOutput::Stream(Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)))))
    }

    pub fn embeddings(&self, req: EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
        let Some(texts) = req.input.texts() else {
            return Err(ProviderError::InvalidRequest {
                message: "the mock model embeds text inputs only, not token arrays".into(),
                param: Some("input".into()),
            });
        };
        let dims = req.dimensions.unwrap_or(8).clamp(1, 4096) as usize;
        let tokens: u64 = texts.iter().map(|t| words(t)).sum();
        let data = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Embedding {
                object: "embedding".into(),
                index: i as u32,
                embedding: Value::from(pseudo_embedding(t, dims)),
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

fn last_user_text(req: &ChatRequest) -> String {
    req.messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .and_then(|m| m.content.as_ref())
        .map(Content::text)
        .unwrap_or_default()
}

fn wants_reasoning(req: &ChatRequest) -> bool {
    req.reasoning_effort.as_deref().is_some_and(|e| !matches!(e, "none" | "minimal"))
        || req.extra.get("enable_thinking") == Some(&Value::Bool(true))
}

/// The tool call the mock makes, if any (see the module docs).
fn tool_call(req: &ChatRequest) -> Option<ToolCall> {
    let tools = req.tools.as_ref().filter(|t| !t.is_empty())?;
    if req.messages.last().is_none_or(|m| m.role != "user") {
        return None;
    }
    let tool = match &req.tool_choice {
        Some(ToolChoice::Mode(m)) if m == "none" => return None,
        Some(ToolChoice::Named(n)) => tools.iter().find(|t| t.function.name == n.function.name)?,
        _ => &tools[0],
    };
    let user = last_user_text(req);
    let schema = tool.function.parameters.clone().unwrap_or(Value::Null);
    let props = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let names: Vec<String> =
        if required.is_empty() { props.keys().cloned().collect() } else { required };
    let mut args = Map::new();
    for name in names {
        let value = match props.get(&name).and_then(|p| p.get("type")).and_then(Value::as_str) {
            Some("integer" | "number") => Value::from(1),
            Some("boolean") => Value::Bool(true),
            Some("array") => Value::Array(Vec::new()),
            Some("object") => Value::Object(Map::new()),
            _ => Value::String(user.clone()),
        };
        args.insert(name, value);
    }
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

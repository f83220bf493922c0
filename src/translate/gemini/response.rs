//! A whole Gemini `GenerateContentResponse` → hub `ChatCompletion`.

use serde_json::Value;

use super::{finish_reason, tool_call_id, usage};
use crate::wire::gemini::{Candidate, GenerateContentResponse, PromptFeedback};
use crate::wire::openai::{ChatCompletion, Choice, Content, FunctionCall, Message, ToolCall};

/// Ids and time for a response, chosen by the caller (translation reads no clock).
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta<'a> {
    /// Unique per call: completion ids and tool-call ids derive from it.
    pub id_seed: &'a str,
    pub created: i64,
    /// Model name for the response when Gemini does not report `modelVersion`.
    pub model: &'a str,
}

/// The prompt itself was blocked (`promptFeedback.blockReason`): a 400 content-filter error.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    pub reason: String,
    pub message: String,
    pub feedback: Value,
}

/// `Some` when the response says the prompt was blocked and nothing was generated.
pub fn blocked(r: &GenerateContentResponse) -> Option<Blocked> {
    let fb: &PromptFeedback = r.prompt_feedback.as_ref()?;
    let reason = fb.block_reason.as_ref()?;
    if !r.candidates.is_empty() {
        return None;
    }
    let mut message = format!("Vertex AI blocked the prompt (blockReason {reason})");
    if let Some(m) = &fb.block_reason_message {
        message.push_str(": ");
        message.push_str(m);
    }
    Some(Blocked {
        reason: reason.clone(),
        message,
        feedback: serde_json::to_value(fb).unwrap_or(Value::Null),
    })
}

/// Translate a complete response.
pub fn response(
    r: GenerateContentResponse,
    meta: &ResponseMeta<'_>,
) -> Result<ChatCompletion, Blocked> {
    if let Some(b) = blocked(&r) {
        return Err(b);
    }
    let mut next_call = 0usize;
    let choices = r
        .candidates
        .iter()
        .enumerate()
        .map(|(pos, c)| choice(c, pos, meta.id_seed, &mut next_call))
        .collect();
    Ok(ChatCompletion {
        id: completion_id(r.response_id.as_deref(), meta.id_seed),
        object: "chat.completion".into(),
        created: meta.created,
        model: r.model_version.clone().unwrap_or_else(|| meta.model.to_owned()),
        choices,
        usage: r.usage_metadata.as_ref().map(usage),
        ..ChatCompletion::default()
    })
}

pub(super) fn completion_id(response_id: Option<&str>, seed: &str) -> String {
    match response_id {
        Some(id) if !id.is_empty() => format!("chatcmpl-{id}"),
        _ => format!("chatcmpl-{seed}"),
    }
}

fn choice(c: &Candidate, pos: usize, seed: &str, next_call: &mut usize) -> Choice {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for part in c.content.iter().flat_map(|c| c.parts.iter()) {
        if let Some(fc) = &part.function_call {
            let id =
                tool_call_id(&format!("{seed}_{next_call}"), part.thought_signature.as_deref());
            *next_call += 1;
            calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name: fc.name.clone(),
                    arguments: args_json(fc.args.as_ref()),
                },
                extra: Default::default(),
            });
        } else if let Some(t) = &part.text {
            if part.thought == Some(true) {
                reasoning.push_str(t);
            } else {
                text.push_str(t);
            }
        }
    }
    let had_calls = !calls.is_empty();
    let content = if text.is_empty() && had_calls { None } else { Some(Content::Text(text)) };
    Choice {
        index: c.index.unwrap_or(pos as u32),
        message: Message {
            role: "assistant".into(),
            content,
            tool_calls: had_calls.then_some(calls),
            reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            ..Message::default()
        },
        finish_reason: c.finish_reason.as_deref().map(|r| finish_reason(r, had_calls).to_owned()),
        ..Choice::default()
    }
}

/// Function-call args as OpenAI's JSON string (`{}` when absent).
pub(super) fn args_json(args: Option<&Value>) -> String {
    match args {
        // A `Value` always encodes (`wire::encode::to_string`: `to_string`'s text).
        Some(v) if !v.is_null() => crate::wire::encode::to_string(v).unwrap_or_default(),
        _ => "{}".to_owned(),
    }
}

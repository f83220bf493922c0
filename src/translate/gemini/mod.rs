//! OpenAI chat completions ⇄ Vertex AI Gemini `generateContent`. Pure: no IO, no clocks;
//! ids and timestamps come in from the caller.
//!
//! - `request`: hub `ChatRequest` → `GenerateContentRequest` (roles, parts, tools, schema,
//!   generation and thinking settings).
//! - `schema`: JSON Schema → Gemini's schema subset.
//! - `response`: a whole `GenerateContentResponse` → `ChatCompletion`.
//! - `stream`: the SSE state machine, one Gemini event in, hub chunks out.
//! - `embeddings`: `/v1/embeddings` ⇄ `:predict`.
//!
//! Gemini 3 thought signatures ride in the tool-call id: `call_<id>__ts_<signature>` (the
//! signature in URL-safe base64 without padding), so a client that sends the assistant's
//! `tool_calls` back unchanged gives Vertex the signature it requires.

pub mod embeddings;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;

#[cfg(test)]
mod tests;

pub use request::{RequestError, RequestOptions, request};
pub use response::{Blocked, ResponseMeta, response};
pub use stream::StreamState;

/// Separates a tool-call id from the thought signature it carries.
const SIGNATURE_MARK: &str = "__ts_";

/// The id a tool call gets: `call_<base>`, plus the signature when Gemini sent one.
pub fn tool_call_id(base: &str, signature: Option<&str>) -> String {
    match signature {
        Some(sig) if !sig.is_empty() => {
            let url_safe: String = sig
                .chars()
                .filter(|c| *c != '=')
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            format!("call_{base}{SIGNATURE_MARK}{url_safe}")
        }
        _ => format!("call_{base}"),
    }
}

/// The thought signature carried in a tool-call id (standard base64, padded), if any.
pub fn signature_from_id(id: &str) -> Option<String> {
    let (_, encoded) = id.split_once(SIGNATURE_MARK)?;
    if encoded.is_empty() {
        return None;
    }
    let mut sig: String = encoded
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !sig.len().is_multiple_of(4) {
        sig.push('=');
    }
    Some(sig)
}

/// Gemini generation of a model id: `gemini-2.5-pro` → 2, `gemini-3-flash-preview` → 3.
pub fn generation(model: &str) -> Option<u32> {
    let rest = model.rsplit('/').next()?.strip_prefix("gemini-")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Map Gemini's finish reason to OpenAI's.
pub fn finish_reason(reason: &str, had_tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "MODEL_ARMOR" => "content_filter",
        _ if had_tool_calls => "tool_calls",
        _ => "stop",
    }
}

/// Gemini usage → OpenAI usage. Completion tokens include thinking tokens, as OpenAI counts
/// reasoning; the details say how many were reasoning and how many prompt tokens were cached.
pub fn usage(u: &crate::wire::gemini::UsageMetadata) -> crate::wire::openai::Usage {
    use crate::wire::openai::{CompletionTokensDetails, PromptTokensDetails, Usage};
    let prompt = u.prompt_token_count + u.tool_use_prompt_token_count;
    let completion = u.candidates_token_count + u.thoughts_token_count;
    let total = if u.total_token_count > 0 { u.total_token_count } else { prompt + completion };
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: total,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(u.cached_content_token_count),
            ..Default::default()
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: Some(u.thoughts_token_count),
            ..Default::default()
        }),
        ..Default::default()
    }
}

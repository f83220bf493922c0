//! Serde types for each wire dialect the gateway speaks, and the one way their JSON is read.
//!
//! OpenAI chat completions is the hub format: every provider takes an [`openai::ChatRequest`]
//! and produces [`openai::ChatCompletion`] / [`openai::ChatChunk`]; the Anthropic and the
//! Responses endpoints are translated to and from it. Unknown fields are kept in `extra` maps so that provider
//! specifics (Qwen's `enable_thinking`, Azure's filter results) pass through untouched.
//!
//! No IO. The one function, [`from_json`], is how the request path decodes a JSON body.

pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod responses;

/// Decode a JSON body. Valid UTF-8 (every JSON body a client or upstream should send) is
/// checked once, whole, and read with serde_json's `&str` reader; its byte reader would check
/// each string and key on its own, about 125 instructions apiece. Anything else goes through
/// the byte reader, so its error is the one serde_json gives for it.
pub fn from_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

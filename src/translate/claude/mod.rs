//! Hub (OpenAI chat) ⇄ Anthropic Messages for Claude upstreams (`anthropic/`,
//! `vertex_ai/claude-*`, `azure_ai/claude-*`): the reverse of `translate::anthropic`, used
//! when a client of `/v1/chat/completions` or `/v1/responses` asks for a Claude model.
//! `request` (hub request → Messages request), `response` (message → hub completion),
//! `stream` (Anthropic events → hub chunks, an explicit state machine) and `raw` (the byte
//! edits a `/v1/messages` pass-through makes: model name and Vertex's version field, nothing
//! else). Pure: no IO, no clocks, no randomness.

pub mod raw;
pub mod request;
pub mod response;
pub mod stream;

pub use request::{RequestOptions, to_messages};
pub use response::to_hub;
pub use stream::StreamState;

/// A hub request that cannot be expressed as a Messages request (a client fault, 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    pub message: String,
    pub param: Option<String>,
}

impl TranslateError {
    fn new(message: impl Into<String>, param: impl Into<String>) -> Self {
        TranslateError { message: message.into(), param: Some(param.into()) }
    }
}

/// At most `max` bytes of `s` (on a character boundary), with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests;

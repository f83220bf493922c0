//! Anthropic Messages ⇄ hub (OpenAI chat) translation: `request` (Messages request → hub
//! request), `response` (hub completion → message) and `stream` (hub chunks → Anthropic
//! events, an explicit state machine). Pure: no IO, no clocks, no randomness.

pub mod request;
pub mod response;
pub mod stream;

pub use request::{left_out_tools, to_hub};
pub use response::from_hub;
pub use stream::StreamState;

/// Why a translation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The client's request cannot be expressed for the upstream (400).
    #[error("{message}")]
    InvalidRequest { message: String, param: String },
    /// The upstream's answer cannot be expressed in Anthropic's format (502).
    #[error("{0}")]
    Upstream(String),
}

impl TranslateError {
    pub fn new(message: impl Into<String>, param: impl Into<String>) -> Self {
        TranslateError::InvalidRequest { message: message.into(), param: param.into() }
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        TranslateError::Upstream(message.into())
    }
}

#[cfg(test)]
mod tests;

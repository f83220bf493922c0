//! Serde types for each wire dialect the gateway speaks. Types only, no logic, no IO.
//!
//! OpenAI chat completions is the hub format: every provider takes an [`openai::ChatRequest`]
//! and produces [`openai::ChatCompletion`] / [`openai::ChatChunk`]; the Anthropic and the
//! Responses endpoints are translated to and from it. Unknown fields are kept in `extra` maps so that provider
//! specifics (Qwen's `enable_thinking`, Azure's filter results) pass through untouched.

pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod responses;

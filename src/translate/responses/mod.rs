//! OpenAI Responses API ⇄ the chat hub. Pure: requests, completions and chunks in; hub
//! requests, response objects and stream events out (`request.rs`, `response.rs`,
//! `stream.rs`).
//!
//! Requests: `instructions` becomes a system message; `input` (a string, or items) becomes
//! messages: `message` items (roles user / assistant / system / developer, `input_text`,
//! `output_text` and `input_image` parts), `function_call` items (an assistant turn's tool
//! calls, `call_id` as the tool-call id), `function_call_output` items (tool messages).
//! `custom` tools (free-form input, e.g. Codex's `apply_patch` for GPT-5 models) become
//! functions with one `input` string (their grammar, if any, goes into the description), and
//! their calls come back as `custom_tool_call` items.
//! `reasoning` items are dropped (the upstreams take no reasoning back, and `encrypted_content`
//! is OpenAI's). Function tools, `tool_choice`, `max_output_tokens`, `reasoning.effort`,
//! `text.format`, `temperature`, `top_p` and `parallel_tool_calls` map to their chat forms.
//! `namespace` tools add their members as `{namespace}__{name}` functions (calls come back
//! with `name` and `namespace`). Tools only OpenAI can run (hosted `web_search`,
//! `file_search`, `code_interpreter`, ...) are left out and reported in [`Echo`] for the log;
//! server-side state (`previous_response_id`, `conversation`) is refused with a message.
//!
//! Compaction without server state (Codex's remote compaction): a request whose input ends
//! with a `compaction_trigger` item asks the model for a handoff summary (tools left out) and
//! answers with one `compaction` output item whose `encrypted_content` is that summary,
//! encoded by [`encode_compaction`] (not encrypted: ai-proxy keeps no key, and the client
//! holds its own conversation anyway). A `compaction` item sent back later becomes a user
//! message with the summary; one made by OpenAI (opaque to us) is left out and reported in
//! [`Echo::dropped_items`].
//!
//! Responses: `reasoning` (its text as a summary), `message` (`output_text`), then a
//! `function_call` (or `custom_tool_call`) per tool call.
//! Streams: text and reasoning are relayed as they come, an item each time the model switches
//! between them (`response.output_text.delta`,
//! `response.reasoning_summary_text.delta`); function calls are sent whole when the upstream
//! finishes (their argument fragments may interleave), then `response.completed` carries the
//! whole response with usage. An upstream failure ends the stream with `response.failed`.

mod request;
mod response;
mod stream;

pub use request::to_hub;
pub use response::{compacted, from_hub, response_id};
pub use stream::{Event, StreamState};

use serde_json::Value;

/// A request the hub cannot express, with the parameter at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub message: String,
    pub param: String,
    /// OpenAI's error `code`, where clients act on it (`previous_response_not_found`).
    pub code: Option<&'static str>,
}

pub(super) fn invalid(param: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid { message: message.into(), param: param.into(), code: None }
}

/// What the response object repeats from the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Echo {
    pub instructions: Option<String>,
    pub tools: Vec<Value>,
    pub tool_choice: Value,
    pub parallel_tool_calls: bool,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub reasoning: Value,
    pub text: Value,
    /// The request's callable tools by the function name the upstream sees.
    pub names: Vec<ToolName>,
    /// Tools the upstream cannot run (OpenAI's hosted `web_search`, `file_search`, ...), left
    /// out of the request: `type` (and name) of each, for the log.
    pub dropped_tools: Vec<String>,
    /// Input items left out (a `compaction` item OpenAI made, which only OpenAI can read).
    pub dropped_items: Vec<String>,
    /// The request asks for a compaction (`compaction_trigger`): the answer is one
    /// `compaction` item holding the model's summary.
    pub compaction: bool,
}

/// Marks a `compaction` item's content as ai-proxy's: the summary, base64.
const COMPACTION_PREFIX: &str = "ai-proxy-compaction-v1:";

/// The `encrypted_content` of a compaction item holding `summary`.
pub fn encode_compaction(summary: &str) -> String {
    use base64::Engine;
    format!(
        "{COMPACTION_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(summary.as_bytes())
    )
}

/// The summary in an `encrypted_content` made by [`encode_compaction`]; `None` for anything
/// else (OpenAI's encrypted compactions).
pub fn decode_compaction(content: &str) -> Option<String> {
    use base64::Engine;
    let b64 = content.strip_prefix(COMPACTION_PREFIX)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

/// A tool as the client named it, and as the upstream sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolName {
    /// The upstream function name: `name`, or `{namespace}__{name}` inside a namespace.
    pub upstream: String,
    pub name: String,
    pub namespace: Option<String>,
    /// A `custom` (free-form input) tool: called as a function with one `input` string, given
    /// back as a custom tool call.
    pub custom: bool,
}

impl Echo {
    pub(super) fn tool(&self, upstream: &str) -> Option<&ToolName> {
        self.names.iter().find(|t| t.upstream == upstream)
    }
}

/// The upstream function name of a tool, inside a namespace or not.
pub(super) fn upstream_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}__{name}"),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests;

//! OpenAI Responses API (`POST /v1/responses`) request body. Input items stay JSON values:
//! their many types are read (and rejected with a message naming the item) by
//! `translate::responses`, which also builds the response objects and stream events.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResponsesRequest {
    #[serde(default)]
    pub model: String,
    /// A string (one user message) or a list of input items.
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    /// `{"effort": "low" | ..., "summary": ...}`
    #[serde(default)]
    pub reasoning: Option<Value>,
    /// `{"format": {"type": "text" | "json_object" | "json_schema", ...}, "verbosity": ...}`
    #[serde(default)]
    pub text: Option<Value>,
    #[serde(default)]
    pub user: Option<String>,
    /// Server-side conversation state, which ai-proxy does not keep.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub conversation: Option<Value>,
    /// Everything else (`store`, `include`, `metadata`, `prompt_cache_key`, `service_tier`,
    /// `truncation`, ...): accepted; what has no chat equivalent is not sent upstream.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResponsesRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

//! Anthropic stream events (from a Claude upstream) → hub (OpenAI chat) chunks, as an
//! explicit state machine: [`StreamState::on_event`] takes one SSE event (name and JSON
//! data) and returns the chunks to send.
//!
//! `message_start` gives the id, model and input usage (a role chunk goes out); text and
//! thinking deltas become `content` / `reasoning_content` chunks as they arrive; each
//! `tool_use` block becomes one tool call (id and name when it starts, its `input_json_delta`
//! fragments as argument fragments, numbered in order of appearance; a call whose block
//! stops without a fragment, which Claude sends for an empty input, gets `{}`); `message_delta` gives
//! the finish reason and the output usage; `message_stop` ends the stream with the usage
//! chunk. An `error` event is returned as [`UpstreamError`]. A stream is complete only after
//! `message_stop` ([`StreamState::is_complete`]).

use serde_json::{Map, Value};

use super::response::{finish_reason, usage};
use crate::wire::anthropic::{UpstreamMessage, UpstreamUsage};
use crate::wire::openai::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage};

/// An `error` event of the stream: Anthropic's error type and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    pub kind: String,
    pub message: String,
}

pub struct StreamState {
    id: String,
    model: String,
    created: i64,
    usage: UpstreamUsage,
    /// Content block index → tool-call index, for the blocks that are tool calls, and
    /// whether an argument fragment was sent for it.
    tools: Vec<(u64, u32, bool)>,
    finished: bool,
    complete: bool,
}

impl StreamState {
    /// `model` is used until `message_start` names one; `created` comes from the caller.
    pub fn new(model: impl Into<String>, created: i64) -> Self {
        StreamState {
            id: String::new(),
            model: model.into(),
            created,
            usage: UpstreamUsage::default(),
            tools: Vec::new(),
            finished: false,
            complete: false,
        }
    }

    /// Whether `message_stop` arrived: only then did the upstream finish its answer.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The usage reported so far.
    pub fn usage(&self) -> Usage {
        usage(&self.usage)
    }

    /// One event: its SSE name (the `type` in the data is used when the name is missing) and
    /// its data. Data that is not JSON, or events after the end, give nothing.
    pub fn on_event(&mut self, name: &str, data: &str) -> Result<Vec<ChatChunk>, UpstreamError> {
        if self.complete {
            return Ok(Vec::new());
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else { return Ok(Vec::new()) };
        let kind = match v.get("type").and_then(Value::as_str) {
            Some(t) => t,
            None => name,
        };
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                if let Some(m) = v
                    .get("message")
                    .and_then(|m| serde_json::from_value::<UpstreamMessage>(m.clone()).ok())
                {
                    if !m.id.is_empty() {
                        self.id = m.id;
                    }
                    if !m.model.is_empty() {
                        self.model = m.model;
                    }
                    merge(&mut self.usage, &m.usage);
                }
                out.push(self.chunk(
                    Delta {
                        role: Some("assistant".into()),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            "content_block_start" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let n = self.tools.len() as u32;
                        self.tools.push((index, n, false));
                        let call = ToolCallDelta {
                            index: n,
                            id: block.get("id").and_then(Value::as_str).map(str::to_owned),
                            kind: Some("function".into()),
                            function: Some(FunctionCallDelta {
                                name: block.get("name").and_then(Value::as_str).map(str::to_owned),
                                arguments: Some(String::new()),
                            }),
                            extra: Map::new(),
                        };
                        out.push(self.chunk(
                            Delta { tool_calls: Some(vec![call]), ..Delta::default() },
                            None,
                        ));
                    }
                    Some("text") => {
                        if let Some(t) =
                            block.get("text").and_then(Value::as_str).filter(|t| !t.is_empty())
                        {
                            out.push(self.text(t));
                        }
                    }
                    Some("thinking") => {
                        if let Some(t) =
                            block.get("thinking").and_then(Value::as_str).filter(|t| !t.is_empty())
                        {
                            out.push(self.reasoning(t));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = v.get("delta").cloned().unwrap_or(Value::Null);
                let text = |k: &str| delta.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = text("text") {
                            out.push(self.text(t));
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(t) = text("thinking") {
                            out.push(self.reasoning(t));
                        }
                    }
                    Some("input_json_delta") => {
                        let tool = self.tools.iter_mut().find(|(i, _, _)| *i == index);
                        if let (Some((_, n, sent)), Some(fragment)) = (tool, text("partial_json")) {
                            *sent = true;
                            let n = *n;
                            out.push(self.arguments(n, fragment));
                        }
                    }
                    // signature_delta, citations_delta: nothing the hub can carry.
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let tool = self.tools.iter_mut().find(|(i, _, _)| *i == index);
                if let Some((_, n, sent)) = tool
                    && !*sent
                {
                    *sent = true;
                    let n = *n;
                    out.push(self.arguments(n, "{}"));
                }
            }
            "message_delta" => {
                if let Some(u) = v
                    .get("usage")
                    .and_then(|u| serde_json::from_value::<UpstreamUsage>(u.clone()).ok())
                {
                    merge(&mut self.usage, &u);
                }
                let stop = v.pointer("/delta/stop_reason").and_then(Value::as_str);
                if let Some(stop) = stop
                    && !self.finished
                {
                    self.finished = true;
                    let reason = finish_reason(Some(stop), !self.tools.is_empty());
                    out.push(self.chunk(Delta::default(), Some(reason)));
                }
            }
            "message_stop" => {
                self.complete = true;
                let mut c = self.chunk(Delta::default(), None);
                c.choices.clear();
                c.usage = Some(Box::new(self.usage()));
                out.push(c);
            }
            "error" => {
                let kind = v.pointer("/error/type").and_then(Value::as_str).unwrap_or("api_error");
                let message = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream reported an error in the stream");
                return Err(UpstreamError { kind: kind.to_owned(), message: message.to_owned() });
            }
            // ping and event types added later
            _ => {}
        }
        Ok(out)
    }

    fn arguments(&self, index: u32, fragment: &str) -> ChatChunk {
        let call = ToolCallDelta {
            index,
            function: Some(FunctionCallDelta { name: None, arguments: Some(fragment.to_owned()) }),
            ..ToolCallDelta::default()
        };
        self.chunk(Delta { tool_calls: Some(vec![call]), ..Delta::default() }, None)
    }

    fn text(&self, t: &str) -> ChatChunk {
        self.chunk(Delta { content: Some(t.to_owned()), ..Delta::default() }, None)
    }

    fn reasoning(&self, t: &str) -> ChatChunk {
        self.chunk(Delta { reasoning_content: Some(t.to_owned()), ..Delta::default() }, None)
    }

    fn chunk(&self, delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
                logprobs: None,
                extra: Map::new(),
            }],
            usage: None,
            system_fingerprint: None,
            extra: Map::new(),
            verbatim: None,
        }
    }
}

/// Fields present in `new` replace those in `acc` (a `message_delta` repeats or completes
/// what `message_start` said).
fn merge(acc: &mut UpstreamUsage, new: &UpstreamUsage) {
    let take = |a: &mut Option<u64>, b: Option<u64>| {
        if b.is_some() {
            *a = b;
        }
    };
    take(&mut acc.input_tokens, new.input_tokens);
    take(&mut acc.output_tokens, new.output_tokens);
    take(&mut acc.cache_creation_input_tokens, new.cache_creation_input_tokens);
    take(&mut acc.cache_read_input_tokens, new.cache_read_input_tokens);
}

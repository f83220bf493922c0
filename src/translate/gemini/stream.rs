//! The `streamGenerateContent?alt=sse` state machine: each Gemini event in, hub chunks out.
//!
//! Every part of every event becomes a chunk in order, so nothing Gemini sent is lost:
//! text, thought summaries (`reasoning_content`), and whole function calls (Gemini sends
//! each call complete in one part: it becomes one tool-call delta carrying index, id, name and
//! all its arguments). The role goes out first, the finish reason when Gemini sends it
//! (`tool_calls` if the candidate called a function), and the usage chunk at the end.

use std::collections::BTreeMap;

use super::response::{Blocked, args_json, blocked, completion_id};
use super::{finish_reason, tool_call_id, usage};
use crate::wire::gemini::{GenerateContentResponse, UsageMetadata};
use crate::wire::openai::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};

/// What the stream has seen so far.
#[derive(Debug, Clone)]
pub struct StreamState {
    seed: String,
    created: i64,
    model: String,
    /// Fixed by the first event, then stable for every chunk.
    id: Option<String>,
    /// Tool calls so far across choices (the id counter).
    next_call: usize,
    choices: BTreeMap<u32, ChoiceState>,
    usage: Option<UsageMetadata>,
}

#[derive(Debug, Clone, Default)]
struct ChoiceState {
    role_sent: bool,
    /// OpenAI's per-choice tool-call index.
    tool_index: u32,
    had_calls: bool,
    /// Gemini sent this candidate's `finishReason`.
    finished: bool,
}

impl StreamState {
    /// `seed` makes ids unique per call; `model` names the model until Gemini reports one.
    pub fn new(seed: impl Into<String>, created: i64, model: impl Into<String>) -> Self {
        StreamState {
            seed: seed.into(),
            created,
            model: model.into(),
            id: None,
            next_call: 0,
            choices: BTreeMap::new(),
            usage: None,
        }
    }

    /// One Gemini event. A blocked prompt is an error (it arrives before any content).
    pub fn on_event(&mut self, ev: GenerateContentResponse) -> Result<Vec<ChatChunk>, Blocked> {
        if let Some(b) = blocked(&ev) {
            return Err(b);
        }
        if self.id.is_none() {
            self.id = Some(completion_id(ev.response_id.as_deref(), &self.seed));
        }
        if let Some(v) = &ev.model_version {
            self.model.clone_from(v);
        }
        if let Some(u) = ev.usage_metadata {
            // Vertex repeats cumulative usage on events; the last one is the total.
            self.usage = Some(u);
        }
        let mut out = Vec::new();
        for (pos, cand) in ev.candidates.into_iter().enumerate() {
            let index = cand.index.unwrap_or(pos as u32);
            let mut st = self.choices.remove(&index).unwrap_or_default();
            if !st.role_sent {
                st.role_sent = true;
                out.push(self.chunk(
                    index,
                    Delta {
                        role: Some("assistant".into()),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            for part in cand.content.into_iter().flat_map(|c| c.parts) {
                let delta = if let Some(fc) = part.function_call {
                    let id = tool_call_id(
                        &format!("{}_{}", self.seed, self.next_call),
                        part.thought_signature.as_deref(),
                    );
                    self.next_call += 1;
                    let d = ToolCallDelta {
                        index: st.tool_index,
                        id: Some(id),
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: Some(fc.name),
                            arguments: Some(args_json(fc.args.as_ref())),
                        }),
                        ..ToolCallDelta::default()
                    };
                    st.tool_index += 1;
                    st.had_calls = true;
                    Delta { tool_calls: Some(vec![d]), ..Delta::default() }
                } else {
                    match part.text {
                        Some(t) if !t.is_empty() && part.thought == Some(true) => {
                            Delta { reasoning_content: Some(t), ..Delta::default() }
                        }
                        Some(t) if !t.is_empty() => Delta { content: Some(t), ..Delta::default() },
                        // Empty text (often only carrying a signature) and media parts.
                        _ => continue,
                    }
                };
                out.push(self.chunk(index, delta, None));
            }
            if let Some(reason) = cand.finish_reason.as_deref() {
                st.finished = true;
                let mapped = finish_reason(reason, st.had_calls);
                out.push(self.chunk(index, Delta::default(), Some(mapped)));
            }
            self.choices.insert(index, st);
        }
        Ok(out)
    }

    /// Whether the stream so far is a whole answer: `streamGenerateContent` has no end marker,
    /// its last event carries the candidates' `finishReason`, so a stream is complete once
    /// every candidate that appeared has one (and at least one appeared).
    pub fn is_complete(&self) -> bool {
        !self.choices.is_empty() && self.choices.values().all(|c| c.finished)
    }

    /// The upstream stream ended: the usage chunk (`choices: []`), if Gemini reported usage.
    pub fn on_end(&mut self) -> Vec<ChatChunk> {
        let Some(u) = self.usage.take() else { return Vec::new() };
        let mut c = self.base();
        c.usage = Some(Box::new(usage(&u)));
        vec![c]
    }

    fn base(&self) -> ChatChunk {
        ChatChunk {
            id: self.id.clone().unwrap_or_else(|| completion_id(None, &self.seed)),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            ..ChatChunk::default()
        }
    }

    fn chunk(&self, index: u32, delta: Delta, finish: Option<&str>) -> ChatChunk {
        let mut c = self.base();
        c.choices.push(ChunkChoice {
            index,
            delta,
            finish_reason: finish.map(str::to_owned),
            ..ChunkChoice::default()
        });
        c
    }
}

//! Hub chunk stream → Anthropic stream events, as an explicit state machine.
//!
//! Feed every upstream chunk to [`StreamState::on_chunk`], then call [`StreamState::finish`]
//! when the upstream ends or [`StreamState::on_error`] when it fails. The output is always a
//! well-formed Anthropic sequence: `message_start`, then one block at a time
//! (`content_block_start`, deltas, `content_block_stop`) with consecutive indexes, then
//! `message_delta` + `message_stop`, or an `error` event.
//!
//! Blocks: reasoning (`reasoning_content`) → `thinking`, `content` → `text`, each tool call →
//! `tool_use`. Switching kind closes the open block and opens a new one. Tool calls are
//! streamed live while they are the open block; a tool call that starts while another is
//! still incomplete (interleaved fragments) is buffered and emitted whole when its turn
//! comes, so no fragment is lost. A tool call becomes a block once its name is known; one
//! without an id gets a deterministic `toolu_…` id.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::response::{message_id, stop_reason, tool_id, usage};
use crate::wire::anthropic::{
    BlockDelta, ErrorBody, Event, MessageDeltaBody, MessagesResponse, ResponseBlock, Usage,
};
use crate::wire::openai::{ChatChunk, ToolCallDelta, Usage as HubUsage};

/// The translation state of one stream.
#[derive(Debug)]
pub struct StreamState {
    alias: String,
    id: String,
    started: bool,
    ended: bool,
    next_index: usize,
    open: Option<Open>,
    tools: Vec<ToolSlot>,
    /// Upstream tool-call index → slot in `tools`.
    by_upstream: HashMap<u32, usize>,
    finish: Option<String>,
    usage: Option<HubUsage>,
    /// `message_start`'s `input_tokens` until the upstream reports the real count.
    input_estimate: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(usize),
    Thinking(usize),
    /// A slot in `tools`.
    Tool(usize),
}

#[derive(Debug, Default)]
struct ToolSlot {
    id: String,
    name: String,
    args: String,
    /// Bytes of `args` already sent.
    sent: usize,
    /// Block index once opened.
    index: Option<usize>,
    closed: bool,
}

impl StreamState {
    /// `alias` is the model name the client asked for (the `model` of `message_start`).
    pub fn new(alias: &str) -> Self {
        StreamState {
            alias: alias.to_owned(),
            id: message_id(""),
            started: false,
            ended: false,
            next_index: 0,
            open: None,
            tools: Vec::new(),
            by_upstream: HashMap::new(),
            finish: None,
            usage: None,
            input_estimate: 0,
        }
    }

    /// Report `tokens` as the input in `message_start` (clients show it as the context used
    /// while the reply streams; the real count follows in `message_delta`).
    pub fn with_input_estimate(mut self, tokens: u64) -> Self {
        self.input_estimate = tokens;
        self
    }

    /// `message_start` now, before any chunk (a stream committed to while the upstream is
    /// still silent); nothing if already started.
    pub fn begin(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if !self.ended {
            self.start(&mut out);
        }
        out
    }

    /// Whether `finish` or `on_error` has run.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Events for one upstream chunk.
    pub fn on_chunk(&mut self, chunk: ChatChunk) -> Vec<Event> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        if !self.started {
            if !chunk.id.is_empty() {
                self.id = message_id(&chunk.id);
            }
            self.start(&mut out);
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(*u);
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let delta = choice.delta;
            if let Some(r) = delta.reasoning_content.filter(|r| !r.is_empty()) {
                self.text_like(&mut out, r, true);
            }
            if let Some(t) = delta.content.filter(|t| !t.is_empty()) {
                self.text_like(&mut out, t, false);
            }
            for tc in delta.tool_calls.unwrap_or_default() {
                self.tool_delta(tc);
            }
            self.advance_tools(&mut out, false);
            if let Some(f) = choice.finish_reason.filter(|f| !f.is_empty()) {
                self.finish = Some(f);
            }
        }
        out
    }

    /// Events after the upstream ended normally: open blocks are closed, buffered tool
    /// calls emitted, then `message_delta` (stop_reason, usage) and `message_stop`.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        self.advance_tools(&mut out, true);
        self.close_open(&mut out);
        let has_tools = !self.tools.is_empty();
        out.push(Event::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop_reason(self.finish.as_deref(), has_tools).to_owned()),
                stop_sequence: None,
            },
            usage: self.usage.as_ref().map(usage).unwrap_or_default(),
        });
        out.push(Event::MessageStop);
        self.ended = true;
        out
    }

    /// Events after the upstream failed: an `error` event (Anthropic `type`, message).
    pub fn on_error(&mut self, kind: &str, message: &str) -> Vec<Event> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        out.push(Event::Error {
            error: ErrorBody { kind: kind.to_owned(), message: message.to_owned() },
        });
        self.ended = true;
        out
    }

    fn start(&mut self, out: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(Event::MessageStart {
            message: MessagesResponse {
                id: self.id.clone(),
                kind: "message".into(),
                role: "assistant".into(),
                model: self.alias.clone(),
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: Usage { input_tokens: self.input_estimate, ..Usage::default() },
            },
        });
    }

    fn open_block(&mut self, out: &mut Vec<Event>, block: ResponseBlock) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        out.push(Event::ContentBlockStart { index, content_block: block });
        index
    }

    fn close_open(&mut self, out: &mut Vec<Event>) {
        let Some(open) = self.open.take() else { return };
        let index = match open {
            Open::Text(i) | Open::Thinking(i) => i,
            Open::Tool(slot) => {
                self.flush_tool(out, slot);
                self.tools[slot].closed = true;
                self.tools[slot].index.unwrap_or(0)
            }
        };
        out.push(Event::ContentBlockStop { index });
    }

    fn text_like(&mut self, out: &mut Vec<Event>, text: String, thinking: bool) {
        let index = match (self.open, thinking) {
            (Some(Open::Thinking(i)), true) | (Some(Open::Text(i)), false) => i,
            _ => {
                self.close_open(out);
                // Tool calls waiting for their turn go before the new block.
                self.advance_tools(out, true);
                self.close_open(out);
                let block = if thinking {
                    ResponseBlock::Thinking { thinking: String::new(), signature: String::new() }
                } else {
                    ResponseBlock::Text { text: String::new() }
                };
                let i = self.open_block(out, block);
                self.open = Some(if thinking { Open::Thinking(i) } else { Open::Text(i) });
                i
            }
        };
        let delta = if thinking {
            BlockDelta::ThinkingDelta { thinking: text }
        } else {
            BlockDelta::TextDelta { text }
        };
        out.push(Event::ContentBlockDelta { index, delta });
    }

    /// Record one tool-call fragment in its slot (no events yet).
    fn tool_delta(&mut self, tc: ToolCallDelta) {
        let id = tc.id.filter(|s| !s.is_empty());
        let slot = match self.by_upstream.get(&tc.index).copied() {
            // A new id on a known index whose call is complete is a new call (upstreams
            // that number every call 0).
            Some(s)
                if !id.as_deref().is_none_or(|id| {
                    self.tools[s].id.is_empty()
                        || self.tools[s].id == id
                        || !is_complete_json(&self.tools[s].args)
                }) =>
            {
                self.new_slot(tc.index)
            }
            Some(s) => s,
            None => self.new_slot(tc.index),
        };
        let t = &mut self.tools[slot];
        if let Some(id) = id
            && t.id.is_empty()
        {
            t.id = id;
        }
        if let Some(f) = tc.function {
            if let Some(name) = f.name.filter(|n| !n.is_empty())
                && t.name.is_empty()
            {
                t.name = name;
            }
            if let Some(a) = f.arguments {
                t.args.push_str(&a);
            }
        }
    }

    fn new_slot(&mut self, upstream: u32) -> usize {
        self.tools.push(ToolSlot::default());
        let s = self.tools.len() - 1;
        self.by_upstream.insert(upstream, s);
        s
    }

    /// Open, stream and close tool blocks as far as the data allows. With `all`, every
    /// remaining tool call is emitted (stream end, or another block wants to start).
    fn advance_tools(&mut self, out: &mut Vec<Event>, all: bool) {
        // Bounded: each pass either opens or closes a slot, or returns.
        for _ in 0..=(2 * self.tools.len() + 1) {
            match self.open {
                Some(Open::Tool(s)) => {
                    self.flush_tool(out, s);
                    let next = self.tools.iter().position(|t| t.index.is_none() && !t.closed);
                    let complete = is_complete_json(&self.tools[s].args);
                    match next {
                        Some(n) if all || (complete && !self.tools[n].name.is_empty()) => {
                            self.close_open(out)
                        }
                        _ => return,
                    }
                }
                Some(Open::Text(_) | Open::Thinking(_)) => {
                    if self
                        .tools
                        .iter()
                        .any(|t| t.index.is_none() && !t.closed && (all || !t.name.is_empty()))
                    {
                        self.close_open(out);
                    } else {
                        return;
                    }
                }
                None => {
                    let Some(n) = self.tools.iter().position(|t| t.index.is_none() && !t.closed)
                    else {
                        return;
                    };
                    if !all && self.tools[n].name.is_empty() {
                        return;
                    }
                    let id = if self.tools[n].id.is_empty() {
                        tool_id(&self.id, n)
                    } else {
                        self.tools[n].id.clone()
                    };
                    let block = ResponseBlock::ToolUse {
                        id,
                        name: self.tools[n].name.clone(),
                        input: Value::Object(Map::new()),
                    };
                    let index = self.open_block(out, block);
                    self.tools[n].index = Some(index);
                    self.open = Some(Open::Tool(n));
                }
            }
        }
    }

    fn flush_tool(&mut self, out: &mut Vec<Event>, slot: usize) {
        let t = &mut self.tools[slot];
        let (Some(index), false) = (t.index, t.closed) else { return };
        if t.sent < t.args.len() {
            out.push(Event::ContentBlockDelta {
                index,
                delta: BlockDelta::InputJsonDelta { partial_json: t.args[t.sent..].to_owned() },
            });
            t.sent = t.args.len();
        }
    }
}

fn is_complete_json(s: &str) -> bool {
    !s.trim().is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}

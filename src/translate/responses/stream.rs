//! Hub chunks → Responses stream events (see the module docs of `translate::responses` for the
//! order): reasoning and text relayed live, tool calls whole at the end, then the response.

use serde_json::{Value, json};

use super::Echo;
use super::response::{
    compaction_item, message_item, reasoning_item, response_id, response_object, status_of,
    tool_call_item, usage_json,
};
use crate::translate::collect::ToolCallParts;
use crate::wire::openai::{ChatChunk, Usage};

/// One stream event: its `type` is also the SSE event name.
#[derive(Debug, Clone, PartialEq)]
pub struct Event(pub Value);

impl Event {
    pub fn name(&self) -> &str {
        self.0.get("type").and_then(Value::as_str).unwrap_or("error")
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    None,
    Reasoning,
    Message,
}

/// Chunks in, Responses stream events out (see the module docs for the order).
pub struct StreamState {
    alias: String,
    echo: Echo,
    rid: String,
    created: i64,
    seq: u64,
    started: bool,
    ended: bool,
    open: Open,
    /// Output items finished so far (for `response.completed`).
    done: Vec<Value>,
    reasoning: String,
    text: String,
    /// Tool calls assembled from their fragments (sent whole at the end).
    calls: ToolCallParts,
    finish: Option<String>,
    usage: Option<Usage>,
}

impl StreamState {
    pub fn new(alias: &str, echo: Echo) -> Self {
        StreamState {
            alias: alias.to_owned(),
            echo,
            rid: response_id(""),
            created: 0,
            seq: 0,
            started: false,
            ended: false,
            open: Open::None,
            done: Vec::new(),
            reasoning: String::new(),
            text: String::new(),
            calls: ToolCallParts::default(),
            finish: None,
            usage: None,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    fn emit(&mut self, out: &mut Vec<Event>, mut ev: Value) {
        if let Some(o) = ev.as_object_mut() {
            o.insert("sequence_number".into(), json!(self.seq));
        }
        self.seq += 1;
        out.push(Event(ev));
    }

    fn snapshot(&self, status: &str, incomplete: Value, output: Vec<Value>, usage: Value) -> Value {
        response_object(
            &self.rid,
            &self.alias,
            self.created,
            status,
            incomplete,
            output,
            usage,
            &self.echo,
        )
    }

    fn start(&mut self, out: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        let resp = self.snapshot("in_progress", Value::Null, Vec::new(), Value::Null);
        self.emit(out, json!({"type": "response.created", "response": resp.clone()}));
        self.emit(out, json!({"type": "response.in_progress", "response": resp}));
    }

    fn output_index(&self) -> usize {
        self.done.len()
    }

    /// Close the open reasoning or message item.
    fn close(&mut self, out: &mut Vec<Event>) {
        let index = self.output_index();
        match self.open {
            Open::None => return,
            Open::Reasoning => {
                let text = std::mem::take(&mut self.reasoning);
                let item_id = format!("rs_{}", self.rid);
                let part = json!({"type": "summary_text", "text": text});
                self.emit(out, json!({"type": "response.reasoning_summary_text.done", "item_id": item_id, "output_index": index, "summary_index": 0, "text": text}));
                self.emit(out, json!({"type": "response.reasoning_summary_part.done", "item_id": item_id, "output_index": index, "summary_index": 0, "part": part}));
                let item = reasoning_item(&self.rid, &text);
                self.emit(out, json!({"type": "response.output_item.done", "output_index": index, "item": item.clone()}));
                self.done.push(item);
            }
            Open::Message => {
                let text = std::mem::take(&mut self.text);
                let item_id = format!("msg_{}", self.rid);
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                self.emit(out, json!({"type": "response.output_text.done", "item_id": item_id, "output_index": index, "content_index": 0, "text": text}));
                self.emit(out, json!({"type": "response.content_part.done", "item_id": item_id, "output_index": index, "content_index": 0, "part": part}));
                let item = message_item(&self.rid, &text, "completed");
                self.emit(out, json!({"type": "response.output_item.done", "output_index": index, "item": item.clone()}));
                self.done.push(item);
            }
        }
        self.open = Open::None;
    }

    fn reasoning_delta(&mut self, out: &mut Vec<Event>, delta: &str) {
        let index = self.output_index();
        let item_id = format!("rs_{}", self.rid);
        if self.open != Open::Reasoning {
            self.close(out);
            let index = self.output_index();
            self.emit(out, json!({"type": "response.output_item.added", "output_index": index, "item": {"id": item_id, "type": "reasoning", "summary": []}}));
            self.emit(out, json!({"type": "response.reasoning_summary_part.added", "item_id": item_id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
            self.open = Open::Reasoning;
            return self.reasoning_delta(out, delta);
        }
        self.reasoning.push_str(delta);
        self.emit(out, json!({"type": "response.reasoning_summary_text.delta", "item_id": item_id, "output_index": index, "summary_index": 0, "delta": delta}));
    }

    fn text_delta(&mut self, out: &mut Vec<Event>, delta: &str) {
        let index = self.output_index();
        let item_id = format!("msg_{}", self.rid);
        if self.open != Open::Message {
            self.close(out);
            let index = self.output_index();
            let item = message_item(&self.rid, "", "in_progress");
            self.emit(
                out,
                json!({"type": "response.output_item.added", "output_index": index, "item": item}),
            );
            self.emit(out, json!({"type": "response.content_part.added", "item_id": item_id, "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}));
            self.open = Open::Message;
            return self.text_delta(out, delta);
        }
        self.text.push_str(delta);
        self.emit(out, json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": index, "content_index": 0, "delta": delta}));
    }

    pub fn on_chunk(&mut self, chunk: ChatChunk) -> Vec<Event> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        if !self.started {
            if !chunk.id.is_empty() {
                self.rid = response_id(&chunk.id);
            }
            self.created = chunk.created;
            self.start(&mut out);
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage.map(|u| *u);
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let d = choice.delta;
            if self.echo.compaction {
                // The summary goes out whole, as the compaction item, at the end.
                if let Some(t) = d.content {
                    self.text.push_str(&t);
                }
                if choice.finish_reason.is_some() {
                    self.finish = choice.finish_reason;
                }
                continue;
            }
            if let Some(r) = d.reasoning_content.filter(|r| !r.is_empty()) {
                self.reasoning_delta(&mut out, &r);
            }
            if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                self.text_delta(&mut out, &t);
            }
            for call in d.tool_calls.into_iter().flatten() {
                self.calls.push(call);
            }
            if choice.finish_reason.is_some() {
                self.finish = choice.finish_reason;
            }
        }
        out
    }

    /// The upstream ended: close the open item, send the function calls, then the response.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        if self.echo.compaction {
            let item = compaction_item(&self.rid, &std::mem::take(&mut self.text));
            let index = self.output_index();
            self.emit(&mut out, json!({"type": "response.output_item.added", "output_index": index, "item": item.clone()}));
            self.emit(&mut out, json!({"type": "response.output_item.done", "output_index": index, "item": item.clone()}));
            self.done.push(item);
        }
        self.close(&mut out);
        let calls = std::mem::take(&mut self.calls).finish();
        for (n, call) in calls.into_iter().enumerate() {
            let index = self.output_index();
            let (name, args) = (call.function.name, call.function.arguments);
            let call_id =
                if call.id.is_empty() { format!("call_{n}_{}", self.rid) } else { call.id };
            let added =
                tool_call_item(&self.rid, n, &call_id, &name, "", &self.echo, "in_progress");
            let item =
                tool_call_item(&self.rid, n, &call_id, &name, &args, &self.echo, "completed");
            let item_id = item["id"].clone();
            self.emit(
                &mut out,
                json!({"type": "response.output_item.added", "output_index": index, "item": added}),
            );
            if item["type"] == "custom_tool_call" {
                let input = item["input"].clone();
                self.emit(&mut out, json!({"type": "response.custom_tool_call_input.delta", "item_id": item_id, "output_index": index, "delta": input}));
                self.emit(&mut out, json!({"type": "response.custom_tool_call_input.done", "item_id": item_id, "output_index": index, "input": input}));
            } else {
                self.emit(&mut out, json!({"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": index, "delta": args}));
                self.emit(&mut out, json!({"type": "response.function_call_arguments.done", "item_id": item_id, "output_index": index, "arguments": args}));
            }
            self.emit(&mut out, json!({"type": "response.output_item.done", "output_index": index, "item": item.clone()}));
            self.done.push(item);
        }
        let (status, incomplete) = status_of(self.finish.as_deref());
        let kind = if status == "completed" { "response.completed" } else { "response.incomplete" };
        let resp =
            self.snapshot(status, incomplete, self.done.clone(), usage_json(self.usage.as_ref()));
        self.emit(&mut out, json!({"type": kind, "response": resp}));
        self.ended = true;
        out
    }

    /// The upstream failed mid-stream: `response.failed` with the error, and the end.
    pub fn on_error(&mut self, code: &str, message: &str) -> Vec<Event> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        self.close(&mut out);
        let mut resp = self.snapshot(
            "failed",
            Value::Null,
            self.done.clone(),
            usage_json(self.usage.as_ref()),
        );
        resp["error"] = json!({"code": code, "message": message});
        self.emit(&mut out, json!({"type": "response.failed", "response": resp}));
        self.ended = true;
        out
    }
}

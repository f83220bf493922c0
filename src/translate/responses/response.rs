//! Hub completion → Responses response object, and the output items and response object the
//! stream also uses.

use serde_json::{Value, json};

use super::Echo;
use crate::wire::openai::{ChatCompletion, Usage};

/// The output items of an answer, in order: reasoning, message, function calls.
#[derive(Debug, Clone, Default, PartialEq)]
struct Output {
    reasoning: Option<String>,
    text: Option<String>,
    calls: Vec<(String, String, String)>,
}

impl Output {
    fn items(&self, rid: &str, echo: &Echo) -> Vec<Value> {
        let mut items = Vec::new();
        if let Some(r) = &self.reasoning {
            items.push(reasoning_item(rid, r));
        }
        if let Some(t) = &self.text {
            items.push(message_item(rid, t, "completed"));
        }
        for (n, (call_id, name, args)) in self.calls.iter().enumerate() {
            items.push(tool_call_item(rid, n, call_id, name, args, echo, "completed"));
        }
        items
    }
}

/// The one output item of a compaction: the model's summary, encoded (see the module docs).
pub(super) fn compaction_item(rid: &str, summary: &str) -> Value {
    json!({"id": format!("cmp_{rid}"), "type": "compaction", "encrypted_content": super::encode_compaction(summary)})
}

pub(super) fn reasoning_item(rid: &str, text: &str) -> Value {
    json!({"id": format!("rs_{rid}"), "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]})
}

pub(super) fn message_item(rid: &str, text: &str, status: &str) -> Value {
    let content = if status == "completed" {
        json!([{"type": "output_text", "text": text, "annotations": []}])
    } else {
        json!([])
    };
    json!({"id": format!("msg_{rid}"), "type": "message", "status": status, "role": "assistant", "content": content})
}

/// The output item of the model's `n`th tool call (`upstream` is the function name it called):
/// a `function_call`, or a `custom_tool_call` for a custom tool, with the client's name and
/// namespace. `args` empty and status `in_progress` for the `output_item.added` event.
pub(super) fn tool_call_item(
    rid: &str,
    n: usize,
    call_id: &str,
    upstream: &str,
    args: &str,
    echo: &Echo,
    status: &str,
) -> Value {
    let tool = echo.tool(upstream);
    let name = tool.map_or(upstream, |t| t.name.as_str());
    let mut item = if tool.is_some_and(|t| t.custom) {
        json!({"id": format!("ctc_{n}_{rid}"), "type": "custom_tool_call", "status": status, "call_id": call_id, "name": name, "input": custom_input(args)})
    } else {
        json!({"id": format!("fc_{n}_{rid}"), "type": "function_call", "status": status, "call_id": call_id, "name": name, "arguments": args})
    };
    if let Some(ns) = tool.and_then(|t| t.namespace.as_deref()) {
        item["namespace"] = json!(ns);
    }
    item
}

/// A custom tool's input from the function arguments the model wrote (`{"input": "..."}`);
/// arguments that are not that object are passed on as they are.
fn custom_input(args: &str) -> String {
    if args.is_empty() {
        return String::new();
    }
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(o)) => match o.get("input") {
            Some(Value::String(s)) => s.clone(),
            _ => args.to_owned(),
        },
        _ => args.to_owned(),
    }
}

/// `resp_…` from the upstream's id (kept to letters, digits, `-` and `_`).
pub fn response_id(upstream_id: &str) -> String {
    let clean: String = upstream_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    let clean = clean.strip_prefix("chatcmpl-").unwrap_or(&clean).to_owned();
    if clean.is_empty() { "resp_gateway".to_owned() } else { format!("resp_{clean}") }
}

pub(super) fn usage_json(u: Option<&Usage>) -> Value {
    match u {
        None => Value::Null,
        Some(u) => json!({
            "input_tokens": u.prompt_tokens,
            "input_tokens_details": {"cached_tokens": u.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0)},
            "output_tokens": u.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": u.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens).unwrap_or(0)},
            "total_tokens": u.total_tokens,
        }),
    }
}

/// `(status, incomplete_details)` from the chat finish reason.
pub(super) fn status_of(finish: Option<&str>) -> (&'static str, Value) {
    match finish {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// The whole response object.
#[allow(clippy::too_many_arguments)]
pub(super) fn response_object(
    rid: &str,
    alias: &str,
    created: i64,
    status: &str,
    incomplete: Value,
    output: Vec<Value>,
    usage: Value,
    echo: &Echo,
) -> Value {
    json!({
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": alias,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": null,
        "reasoning": echo.reasoning,
        "store": false,
        "temperature": echo.temperature,
        "text": echo.text,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    })
}

/// A hub completion as a Responses response object.
pub fn from_hub(c: ChatCompletion, alias: &str, echo: &Echo) -> Value {
    let rid = response_id(&c.id);
    let choice = c.choices.into_iter().next();
    let finish = choice.as_ref().and_then(|ch| ch.finish_reason.clone());
    let mut out = Output::default();
    if let Some(ch) = choice {
        let m = ch.message;
        out.reasoning = m.reasoning_content.filter(|r| !r.is_empty());
        out.text = m.content.map(|c| c.text()).filter(|t| !t.is_empty());
        for call in m.tool_calls.unwrap_or_default() {
            out.calls.push((call.id, call.function.name, call.function.arguments));
        }
    }
    let (status, incomplete) = status_of(finish.as_deref());
    let items = if echo.compaction {
        vec![compaction_item(&rid, out.text.as_deref().unwrap_or_default())]
    } else {
        out.items(&rid, echo)
    };
    response_object(
        &rid,
        alias,
        c.created,
        status,
        incomplete,
        items,
        usage_json(c.usage.as_ref()),
        echo,
    )
}

/// `POST /v1/responses/compact`'s answer: the input's user messages as they were, then the
/// compaction item (the conversation a client continues with).
pub fn compacted(c: ChatCompletion, alias: &str, input: Option<&Value>) -> Value {
    let rid = response_id(&c.id);
    let summary = c
        .choices
        .into_iter()
        .next()
        .and_then(|ch| ch.message.content)
        .map(|c| c.text())
        .unwrap_or_default();
    let mut output: Vec<Value> = match input {
        Some(Value::String(text)) => {
            vec![
                json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}),
            ]
        }
        Some(Value::Array(items)) => items
            .iter()
            .filter(|i| {
                i.get("role").and_then(Value::as_str) == Some("user")
                    && i.get("type").and_then(Value::as_str).is_none_or(|t| t == "message")
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    output.push(compaction_item(&rid, &summary));
    json!({
        "id": rid,
        "object": "response.compaction",
        "created_at": c.created,
        "model": alias,
        "output": output,
        "usage": usage_json(c.usage.as_ref()),
    })
}

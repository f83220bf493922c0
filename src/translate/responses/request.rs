//! Responses request → hub chat request: instructions and input items to messages, tools to
//! functions (with the name map in [`Echo`]), the other parameters to their chat forms.

use serde_json::{Map, Value, json};

use super::{Echo, Invalid, ToolName, decode_compaction, invalid, upstream_name};
use crate::wire::openai::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, ImageUrl, Message, NamedFunction,
    NamedToolChoice, ResponseFormat, Tool, ToolCall, ToolChoice,
};
use crate::wire::responses::ResponsesRequest;
use crate::wire::{RawJson, RawString};

/// A Responses request as a hub chat request, and what its response repeats.
pub fn to_hub(req: ResponsesRequest) -> Result<(ChatRequest, Echo), Invalid> {
    if let Some(id) = &req.previous_response_id {
        // OpenAI's answer for an id it does not know: clients that keep the conversation
        // themselves (Codex) then send all of it.
        return Err(Invalid {
            code: Some("previous_response_not_found"),
            ..invalid(
                "previous_response_id",
                format!(
                    "Previous response with id '{id}' not found. ai-proxy keeps no responses: send the whole conversation in `input` (with store: false)"
                ),
            )
        });
    }
    if req.conversation.is_some() {
        return Err(invalid(
            "conversation",
            "conversation is not supported: ai-proxy keeps no conversations. Send the whole conversation in `input`",
        ));
    }
    let mut messages = Vec::new();
    let mut notes = Notes::default();
    if let Some(text) = req.instructions.as_ref().filter(|t| !t.is_empty()) {
        messages.push(Message {
            role: "system".into(),
            content: Some(Content::Text(text.clone())),
            ..Message::default()
        });
    }
    match &req.input {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.push(Message {
            role: "user".into(),
            content: Some(Content::Text(text.clone())),
            ..Message::default()
        }),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                add_item(&mut messages, &mut notes, item, i)?;
            }
        }
        Some(_) => return Err(invalid("input", "input must be a string or a list of input items")),
    }
    if messages.iter().all(|m| m.role == "system") {
        return Err(invalid("input", "input has no message for the model to answer"));
    }
    if notes.compaction {
        messages.push(Message {
            role: "user".into(),
            content: Some(Content::Text(COMPACTION_REQUEST.to_owned())),
            ..Message::default()
        });
    }

    let mut names = Vec::new();
    let mut dropped_tools = Vec::new();
    let mut tools = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        add_tool(&mut tools, &mut names, &mut dropped_tools, t, &format!("tools[{i}]"), None)?;
    }
    // A compaction is a summary in words: no tool to call, no format to follow.
    let tools = (!tools.is_empty() && !notes.compaction).then_some(tools);
    let tool_choice = req.tool_choice.as_ref().map(tool_choice).transpose()?;
    let tool_choice = tool_choice.filter(|_| !notes.compaction);
    let effort = req
        .reasoning
        .as_ref()
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let response_format =
        req.text.as_ref().and_then(|t| t.get("format")).map(response_format).transpose()?.flatten();
    let response_format = response_format.filter(|_| !notes.compaction);

    let echo = Echo {
        instructions: req.instructions.clone(),
        tools: req.tools.clone().unwrap_or_default(),
        tool_choice: req.tool_choice.clone().unwrap_or_else(|| json!("auto")),
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        max_output_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        reasoning: req
            .reasoning
            .clone()
            .unwrap_or_else(|| json!({"effort": null, "summary": null})),
        text: req.text.clone().unwrap_or_else(|| json!({"format": {"type": "text"}})),
        names,
        dropped_tools,
        dropped_items: notes.dropped,
        compaction: notes.compaction,
    };
    let hub = ChatRequest {
        model: req.model,
        messages,
        stream: req.stream,
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format,
        reasoning_effort: effort,
        user: req.user,
        ..ChatRequest::default()
    };
    Ok((hub, echo))
}

/// What the instruction for a compaction asks of the model (ai-proxy's own words).
const COMPACTION_REQUEST: &str = "The conversation above will be replaced by your summary of it. Write a handoff summary for another assistant who continues the task with no other context: the user's goal and constraints, what has been done so far (files, commands and their results), decisions made and why, open problems, and the next steps. Be concise and specific; keep names, paths and values exact. Do not call tools.";

/// Input items that are not messages for the model but change what the request is.
#[derive(Default)]
struct Notes {
    compaction: bool,
    dropped: Vec<String>,
}

fn add_item(
    messages: &mut Vec<Message>,
    notes: &mut Notes,
    item: &Value,
    i: usize,
) -> Result<(), Invalid> {
    let param = format!("input[{i}]");
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
    match kind {
        "message" => {
            let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
            if !matches!(role, "user" | "assistant" | "system" | "developer") {
                return Err(invalid(
                    format!("{param}.role"),
                    format!("{param}: role must be user, assistant, system or developer"),
                ));
            }
            let content = message_content(item.get("content"), &param)?;
            messages.push(Message {
                role: if role == "developer" { "system".into() } else { role.into() },
                content: Some(content),
                ..Message::default()
            });
        }
        "function_call" | "custom_tool_call" => {
            let field = |k: &str| item.get(k).and_then(Value::as_str);
            let (Some(call_id), Some(name)) = (field("call_id"), field("name")) else {
                return Err(invalid(
                    param.clone(),
                    format!("{param}: a {kind} needs call_id and name"),
                ));
            };
            let arguments = if kind == "custom_tool_call" {
                json!({"input": field("input").unwrap_or_default()}).to_string()
            } else {
                field("arguments").unwrap_or("{}").to_owned()
            };
            let call = ToolCall {
                id: call_id.to_owned(),
                kind: "function".into(),
                function: FunctionCall { name: upstream_name(name, field("namespace")), arguments },
                extra: Map::new(),
            };
            // Calls right after an assistant turn (its text, or other calls) belong to it.
            match messages.last_mut() {
                Some(last) if last.role == "assistant" => {
                    last.tool_calls.get_or_insert_with(Vec::new).push(call)
                }
                _ => messages.push(Message {
                    role: "assistant".into(),
                    tool_calls: Some(vec![call]),
                    ..Message::default()
                }),
            }
        }
        "function_call_output" | "custom_tool_call_output" => {
            let Some(call_id) = item.get("call_id").and_then(Value::as_str) else {
                return Err(invalid(param.clone(), format!("{param}: a {kind} needs call_id")));
            };
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => {
                    parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect()
                }
                Some(other) => other.to_string(),
                None => String::new(),
            };
            messages.push(Message {
                role: "tool".into(),
                content: Some(Content::Text(output)),
                tool_call_id: Some(call_id.to_owned()),
                ..Message::default()
            });
        }
        // The upstreams take no reasoning back; OpenAI's encrypted reasoning means nothing to them.
        "reasoning" => {}
        "compaction_trigger" => notes.compaction = true,
        "compaction" | "compaction_summary" => {
            match item.get("encrypted_content").and_then(Value::as_str).and_then(decode_compaction)
            {
                Some(summary) => messages.push(Message {
                    role: "user".into(),
                    content: Some(Content::Text(format!(
                        "Summary of the earlier conversation (compacted):\n{summary}"
                    ))),
                    ..Message::default()
                }),
                None => notes.dropped.push(format!("{param} ({kind}, not made by ai-proxy)")),
            }
        }
        other => {
            return Err(invalid(
                format!("{param}.type"),
                format!(
                    "{param}: input items of type `{other}` are not supported (message, function_call, function_call_output, custom_tool_call, custom_tool_call_output, reasoning, compaction and compaction_trigger are)"
                ),
            ));
        }
    }
    Ok(())
}

fn message_content(content: Option<&Value>, param: &str) -> Result<Content, Invalid> {
    match content {
        Some(Value::String(s)) => Ok(Content::Text(s.clone())),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
                match kind {
                    "input_text" | "output_text" | "text" => out.push(ContentPart::Text {
                        text: part
                            .get("text")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    }),
                    "refusal" => out.push(ContentPart::Text {
                        text: part
                            .get("refusal")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    }),
                    "input_image" => {
                        let Some(url) = part.get("image_url").and_then(Value::as_str) else {
                            return Err(invalid(
                                format!("{param}.content[{j}]"),
                                format!(
                                    "{param}.content[{j}]: input_image needs an image_url (a URL or a data: URL; file ids are not supported)"
                                ),
                            ));
                        };
                        out.push(ContentPart::ImageUrl {
                            image_url: ImageUrl {
                                url: url.to_owned(),
                                detail: part
                                    .get("detail")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned),
                            },
                        });
                    }
                    other => {
                        return Err(invalid(
                            format!("{param}.content[{j}].type"),
                            format!(
                                "{param}.content[{j}]: content parts of type `{other}` are not supported (input_text, output_text and input_image are)"
                            ),
                        ));
                    }
                }
            }
            // A text-only message stays a plain string (every upstream takes that).
            if out.iter().all(|p| matches!(p, ContentPart::Text { .. })) {
                let text: String = out
                    .iter()
                    .filter_map(|p| match p {
                        ContentPart::Text { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                Ok(Content::Text(text))
            } else {
                Ok(Content::Parts(out))
            }
        }
        _ => Err(invalid(
            format!("{param}.content"),
            format!("{param}: content must be a string or a list of content parts"),
        )),
    }
}

/// Add one request tool (a namespace adds its members) as upstream functions. Tools only
/// OpenAI can run (hosted search, code interpreter, ...) are left out and reported.
fn add_tool(
    tools: &mut Vec<Tool>,
    names: &mut Vec<ToolName>,
    dropped: &mut Vec<String>,
    t: &Value,
    param: &str,
    namespace: Option<&str>,
) -> Result<(), Invalid> {
    let kind = t.get("type").and_then(Value::as_str);
    let name = t.get("name").and_then(Value::as_str);
    let (name, custom) = match (kind, name) {
        (Some("namespace"), Some(ns)) => {
            for (j, inner) in
                t.get("tools").and_then(Value::as_array).into_iter().flatten().enumerate()
            {
                add_tool(tools, names, dropped, inner, &format!("{param}.tools[{j}]"), Some(ns))?;
            }
            return Ok(());
        }
        (Some("function"), Some(n)) => (n, false),
        (Some("custom"), Some(n)) => (n, true),
        (Some("function" | "custom" | "namespace"), None) => {
            return Err(invalid(
                format!("{param}.name"),
                format!("{param}: a {} tool needs a name", kind.unwrap_or_default()),
            ));
        }
        (Some(other), _) => {
            dropped.push(name.map_or_else(|| other.to_owned(), |n| format!("{other} {n}")));
            return Ok(());
        }
        (None, _) => {
            return Err(invalid(format!("{param}.type"), format!("{param}: a tool needs a type")));
        }
    };
    let upstream = upstream_name(name, namespace);
    let function = if custom {
        let mut description =
            t.get("description").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(def) = t.pointer("/format/definition").and_then(Value::as_str) {
            description.push_str("\n\nThe input must follow this grammar:\n");
            description.push_str(def);
        }
        FunctionDef {
            name: upstream.clone(),
            description: (!description.is_empty()).then(|| RawString::from(description.as_str())),
            parameters: Some(json!({
                "type": "object",
                "properties": {"input": {"type": "string", "description": "The tool's whole input, as free-form text"}},
                "required": ["input"]
            }).into()),
            strict: None,
        }
    } else {
        FunctionDef {
            name: upstream.clone(),
            description: t.get("description").and_then(Value::as_str).map(RawString::from),
            parameters: t.get("parameters").filter(|p| !p.is_null()).cloned().map(RawJson::from),
            strict: t.get("strict").and_then(Value::as_bool),
        }
    };
    tools.push(Tool { kind: "function".into(), function });
    names.push(ToolName {
        upstream,
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
        custom,
    });
    Ok(())
}

fn tool_choice(v: &Value) -> Result<ToolChoice, Invalid> {
    match v {
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => {
            Ok(ToolChoice::Mode(mode.clone()))
        }
        Value::Object(o)
            if matches!(o.get("type").and_then(Value::as_str), Some("function" | "custom")) =>
        {
            let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction {
                    name: upstream_name(name, o.get("namespace").and_then(Value::as_str)),
                },
            }))
        }
        _ => Err(invalid(
            "tool_choice",
            "tool_choice must be auto, none, required or {\"type\": \"function\" or \"custom\", \"name\": ...}",
        )),
    }
}

fn response_format(format: &Value) -> Result<Option<ResponseFormat>, Invalid> {
    match format.get("type").and_then(Value::as_str) {
        None | Some("text") => Ok(None),
        Some("json_object") => {
            Ok(Some(ResponseFormat { kind: "json_object".into(), json_schema: None }))
        }
        Some("json_schema") => {
            let mut schema = Map::new();
            for key in ["name", "schema", "strict", "description"] {
                if let Some(v) = format.get(key) {
                    schema.insert(key.into(), v.clone());
                }
            }
            Ok(Some(ResponseFormat {
                kind: "json_schema".into(),
                json_schema: Some(Value::Object(schema)),
            }))
        }
        Some(other) => Err(invalid(
            "text.format.type",
            format!(
                "text.format type `{other}` is not supported (text, json_object, json_schema are)"
            ),
        )),
    }
}

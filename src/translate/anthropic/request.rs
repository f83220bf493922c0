//! Anthropic Messages request → hub (OpenAI chat) request.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::TranslateError;
use crate::wire::anthropic::{
    ContentBlock, InputMessage, MessageContent, MessagesRequest, Source, System,
    ToolChoice as AToolChoice, ToolDef, ToolResultContent,
};
use crate::wire::openai::{
    ChatRequest, Content, ContentPart, FilePart, FunctionCall, FunctionDef, ImageUrl, Message,
    NamedFunction, NamedToolChoice, ResponseFormat, Stop, StreamOptions, Tool, ToolCall,
    ToolChoice,
};

/// `reasoning_effort` for an Anthropic thinking budget (documented in README):
/// up to 4,096 tokens → `low`, up to 16,384 → `medium`, more → `high`.
pub fn effort_for_budget(budget: u32) -> &'static str {
    match budget {
        0..=4096 => "low",
        4097..=16384 => "medium",
        _ => "high",
    }
}

/// The hub's `reasoning_effort` for an Anthropic `output_config.effort` (`xhigh` and `max`
/// are `high`: no upstream here goes further), and the budget that stands for it (so the
/// wish is recognised as Anthropic's and mapped to token budgets where upstreams take them).
pub fn effort_for_level(effort: &str) -> (&'static str, u32) {
    match effort {
        "low" => ("low", 4096),
        "medium" => ("medium", 16384),
        _ => ("high", 32000),
    }
}

/// Translate a Messages request into the hub format. The result keeps the client's alias in
/// `model`; the router picks the deployment and each provider maps what it must.
pub fn to_hub(mut req: MessagesRequest) -> Result<ChatRequest, TranslateError> {
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        let text = system_text(system)?;
        if !text.is_empty() {
            messages.push(Message {
                role: "system".into(),
                content: Some(Content::Text(text)),
                ..Message::default()
            });
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        match m.role.as_str() {
            "user" => user_turn(m, i, &mut messages)?,
            "assistant" => assistant_turn(m, i, &mut messages)?,
            // Not in Anthropic's API, but clients send them mid-conversation; upstreams that
            // want one leading system prompt get them merged there (`adapt`).
            "system" => {
                let text = match &m.content {
                    MessageContent::Text(s) => s.clone(),
                    MessageContent::Blocks(blocks) => system_text(&System::Blocks(blocks.clone()))?,
                };
                messages.push(Message {
                    role: "system".into(),
                    content: Some(Content::Text(text)),
                    ..Message::default()
                });
            }
            other => {
                return Err(TranslateError::new(
                    format!(
                        "messages.{i}.role: unexpected role `{other}`; use `user` or `assistant`"
                    ),
                    format!("messages.{i}.role"),
                ));
            }
        }
    }

    // Server tools run on Anthropic's side; no upstream here can, so they are left out
    // (`left_out_tools` names them for the log) along with a tool_choice that names one.
    // Deferred tools (`defer_loading`) are not shown to the model until a `tool_reference`
    // in a tool result loads them (Claude Code's ToolSearch answers with those), so the
    // others are left out too (Claude Code offers a placeholder that must never be called).
    let loaded = referenced_tools(&req.messages);
    // Taken, not cloned: Claude Code's tool schemas are ~70 KB of JSON a turn.
    let tools = match req.tools.take() {
        Some(tools) if !tools.is_empty() => {
            let kept: Vec<Tool> = tools
                .into_iter()
                .enumerate()
                .filter(|(_, t)| {
                    !is_server_tool(t) && (!is_deferred(t) || loaded.contains(t.name.as_str()))
                })
                .map(|(i, t)| tool(t, i))
                .collect::<Result<_, _>>()?;
            (!kept.is_empty()).then_some(kept)
        }
        _ => None,
    };
    let choice = req.tool_choice.as_ref().filter(|c| {
        c.name.as_deref().is_none_or(|n| tools.iter().flatten().any(|t| t.function.name == n))
    });
    let (tool_choice, parallel_tool_calls) = match (choice, &tools) {
        (Some(c), Some(_)) => tool_choice(c)?,
        // A tool_choice without tools has nothing to choose from.
        _ => (None, None),
    };

    if let Some(servers) = req.extra.get("mcp_servers")
        && servers.as_array().is_some_and(|a| !a.is_empty())
    {
        return Err(TranslateError::new(
            "mcp_servers: the MCP connector runs on Anthropic's servers; ai-proxy's upstreams cannot run it. Connect MCP servers in the client instead (Claude Code: `claude mcp add`).",
            "mcp_servers",
        ));
    }

    let effort = req.output_config.as_ref().and_then(|o| o.effort.as_deref());
    let (reasoning_effort, reasoning_budget) = match req.thinking.as_ref().map(|t| t.kind.as_str())
    {
        Some("enabled") => {
            let budget = req.thinking.as_ref().and_then(|t| t.budget_tokens).unwrap_or(4096);
            (Some(effort_for_budget(budget).to_owned()), Some(budget))
        }
        // Adaptive thinking: the effort says how much (Anthropic's default is high).
        Some("adaptive") => {
            let (effort, budget) = effort_for_level(effort.unwrap_or("high"));
            (Some(effort.to_owned()), Some(budget))
        }
        // Disabled, absent (effort alone does not turn thinking on) or unknown.
        _ => (None, None),
    };
    let response_format = match req.output_config.as_ref().and_then(|o| o.format.as_ref()) {
        Some(format) => Some(structured_output(format)?),
        None => None,
    };

    let mut extra = Map::new();
    if let Some(k) = req.top_k {
        extra.insert("top_k".into(), Value::from(k));
    }
    let stream = req.stream.unwrap_or(false);
    Ok(ChatRequest {
        model: req.model,
        messages,
        stream: req.stream,
        stream_options: stream
            .then(|| StreamOptions { include_usage: Some(true), ..StreamOptions::default() }),
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop_sequences.filter(|s| !s.is_empty()).map(Stop::Many),
        tools,
        tool_choice,
        parallel_tool_calls,
        reasoning_effort,
        reasoning_budget,
        response_format,
        user: req.metadata.and_then(|m| m.user_id),
        extra,
        ..ChatRequest::default()
    })
}

/// `output_config.format` → `response_format`: a JSON schema becomes OpenAI's `json_schema`
/// format (not `strict`: OpenAI's strict mode refuses schemas with optional properties,
/// which `messages.parse` produces).
fn structured_output(format: &Value) -> Result<ResponseFormat, TranslateError> {
    let invalid = |message: &str| TranslateError::new(message, "output_config.format");
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            let schema = format.get("schema").filter(|s| s.is_object()).ok_or_else(|| {
                invalid("output_config.format.schema: a JSON schema object is required")
            })?;
            let name = format.get("name").and_then(Value::as_str).unwrap_or("output");
            Ok(ResponseFormat {
                kind: "json_schema".into(),
                json_schema: Some(serde_json::json!({ "name": name, "schema": schema })),
            })
        }
        Some(other) => Err(invalid(&format!(
            "output_config.format.type: `{other}` is not supported; use `json_schema`"
        ))),
        None => Err(invalid("output_config.format.type is required (`json_schema`)")),
    }
}

fn system_text(system: &System) -> Result<String, TranslateError> {
    match system {
        System::Text(s) => Ok(s.clone()),
        System::Blocks(blocks) => {
            let mut parts = Vec::new();
            for (i, b) in blocks.iter().enumerate() {
                match b {
                    ContentBlock::Text { text } => parts.push(text.as_str()),
                    other => {
                        return Err(TranslateError::new(
                            format!(
                                "system.{i}: only text blocks are allowed in `system`, got {}",
                                block_type(other)
                            ),
                            format!("system.{i}"),
                        ));
                    }
                }
            }
            Ok(parts.join("\n\n"))
        }
    }
}

/// A user turn: `tool_result` blocks become `tool` messages (first, as OpenAI requires them
/// right after the assistant's tool calls), the rest one `user` message.
fn user_turn(m: &InputMessage, i: usize, out: &mut Vec<Message>) -> Result<(), TranslateError> {
    let blocks = match &m.content {
        MessageContent::Text(s) => {
            out.push(user(Content::Text(s.clone())));
            return Ok(());
        }
        MessageContent::Blocks(b) => b,
    };
    let mut parts: Vec<ContentPart> = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let at = format!("messages.{i}.content.{j}");
        match b {
            ContentBlock::ToolResult { tool_use_id, content, is_error } => {
                let (text, images) = tool_result_content(content.as_ref(), &at)?;
                let text = if is_error.unwrap_or(false) { format!("Error: {text}") } else { text };
                out.push(Message {
                    role: "tool".into(),
                    content: Some(Content::Text(text)),
                    tool_call_id: Some(tool_use_id.clone()),
                    ..Message::default()
                });
                // Tool messages carry text only; images a tool returned follow as user content.
                if !images.is_empty() {
                    parts.push(ContentPart::Text {
                        text: format!("(image returned by tool call {tool_use_id})"),
                    });
                    parts.extend(images);
                }
            }
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {}
            other => parts.push(part(other, &at)?),
        }
    }
    if !parts.is_empty() {
        out.push(user(collapse(parts)));
    }
    Ok(())
}

fn assistant_turn(
    m: &InputMessage,
    i: usize,
    out: &mut Vec<Message>,
) -> Result<(), TranslateError> {
    let blocks = match &m.content {
        MessageContent::Text(s) => {
            out.push(Message {
                role: "assistant".into(),
                content: Some(Content::Text(s.clone())),
                ..Message::default()
            });
            return Ok(());
        }
        MessageContent::Blocks(b) => b,
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        match b {
            ContentBlock::Text { text: t } => text.push_str(t),
            ContentBlock::ToolUse { id, name, input } => {
                // A `Value` always encodes (`wire::encode::to_string`: `to_string`'s text).
                let arguments = if input.is_null() {
                    "{}".to_owned()
                } else {
                    crate::wire::encode::to_string(input).unwrap_or_default()
                };
                calls.push(ToolCall {
                    id: id.clone(),
                    kind: "function".into(),
                    function: FunctionCall { name: name.clone(), arguments },
                    extra: Map::new(),
                });
            }
            // Reasoning of earlier turns is not replayed: upstreams do not accept it back.
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {}
            other => {
                return Err(TranslateError::new(
                    format!(
                        "messages.{i}.content.{j}: {} blocks are not supported in assistant turns",
                        block_type(other)
                    ),
                    format!("messages.{i}.content.{j}"),
                ));
            }
        }
    }
    if text.is_empty() && calls.is_empty() {
        return Ok(());
    }
    out.push(Message {
        role: "assistant".into(),
        content: (!text.is_empty() || calls.is_empty()).then_some(Content::Text(text)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Message::default()
    });
    Ok(())
}

fn user(content: Content) -> Message {
    Message { role: "user".into(), content: Some(content), ..Message::default() }
}

/// One text part becomes plain string content.
fn collapse(parts: Vec<ContentPart>) -> Content {
    match parts.as_slice() {
        [ContentPart::Text { text }] => Content::Text(text.clone()),
        _ => Content::Parts(parts),
    }
}

fn part(b: &ContentBlock, at: &str) -> Result<ContentPart, TranslateError> {
    match b {
        ContentBlock::Text { text } => Ok(ContentPart::Text { text: text.clone() }),
        ContentBlock::Image { source } => match source {
            Source::Base64 { media_type, data } => Ok(ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: format!("data:{media_type};base64,{data}"),
                    detail: None,
                },
            }),
            Source::Url { url } => {
                Ok(ContentPart::ImageUrl { image_url: ImageUrl { url: url.clone(), detail: None } })
            }
            _ => Err(TranslateError::new(
                format!(
                    "{at}.source: image sources must be `base64` or `url` (Files API ids are not supported)"
                ),
                format!("{at}.source"),
            )),
        },
        ContentBlock::Document { source, title } => match source {
            Source::Base64 { media_type, data } => Ok(ContentPart::File {
                file: FilePart {
                    file_data: Some(format!("data:{media_type};base64,{data}")),
                    filename: title.clone(),
                    ..FilePart::default()
                },
            }),
            Source::Text { data, .. } => Ok(ContentPart::Text { text: data.clone() }),
            _ => Err(TranslateError::new(
                format!("{at}.source: document sources must be `base64` or `text`"),
                format!("{at}.source"),
            )),
        },
        ContentBlock::ToolUse { .. } => Err(TranslateError::new(
            format!("{at}: tool_use blocks belong in assistant turns"),
            at.to_owned(),
        )),
        other => Err(TranslateError::new(
            format!("{at}: unsupported content block type {}", block_type(other)),
            at.to_owned(),
        )),
    }
}

/// The text of a tool result, and the images it carried.
fn tool_result_content(
    content: Option<&ToolResultContent>,
    at: &str,
) -> Result<(String, Vec<ContentPart>), TranslateError> {
    match content {
        None => Ok((String::new(), Vec::new())),
        Some(ToolResultContent::Text(s)) => Ok((s.clone(), Vec::new())),
        Some(ToolResultContent::Blocks(blocks)) => {
            let mut texts = Vec::new();
            let mut images = Vec::new();
            for (k, b) in blocks.iter().enumerate() {
                // A tool search's answer: the tool is offered from now on (see `to_hub`).
                if let Some(name) = tool_reference(b) {
                    texts.push(format!("Tool {name} loaded: it can be called now."));
                    continue;
                }
                match part(b, &format!("{at}.content.{k}"))? {
                    ContentPart::Text { text } => texts.push(text),
                    other => images.push(other),
                }
            }
            Ok((texts.join("\n"), images))
        }
    }
}

/// Tool types Anthropic runs on its own servers (web search and fetch, code execution, tool
/// search): the model only asks for them, so without Anthropic they are simply unavailable.
const SERVER_TOOL_PREFIXES: &[&str] =
    &["web_search_", "web_fetch_", "code_execution_", "tool_search_tool_"];

fn is_server_tool(t: &ToolDef) -> bool {
    t.kind.as_deref().is_some_and(|k| SERVER_TOOL_PREFIXES.iter().any(|p| k.starts_with(p)))
}

/// A tool the model does not see until a tool search loads it (`defer_loading: true`).
fn is_deferred(t: &ToolDef) -> bool {
    t.extra.get("defer_loading").and_then(Value::as_bool) == Some(true)
}

/// The tool a `{"type": "tool_reference", "tool_name": …}` block loads.
fn tool_reference(b: &ContentBlock) -> Option<&str> {
    match b {
        ContentBlock::Other(v)
            if v.get("type").and_then(Value::as_str) == Some("tool_reference") =>
        {
            v.get("tool_name").and_then(Value::as_str)
        }
        _ => None,
    }
}

/// The names of the tools that `tool_reference` blocks in tool results have loaded.
fn referenced_tools(messages: &[InputMessage]) -> HashSet<&str> {
    messages
        .iter()
        .filter_map(|m| match &m.content {
            MessageContent::Blocks(blocks) => Some(blocks),
            MessageContent::Text(_) => None,
        })
        .flatten()
        .filter_map(|b| match b {
            ContentBlock::ToolResult {
                content: Some(ToolResultContent::Blocks(inner)), ..
            } => Some(inner),
            _ => None,
        })
        .flatten()
        .filter_map(tool_reference)
        .collect()
}

/// The tools of a request that [`to_hub`] leaves out, for the log: server tools as
/// `type (name)`, deferred tools no `tool_reference` has loaded as `name (deferred)`.
pub fn left_out_tools(req: &MessagesRequest) -> Vec<String> {
    let loaded = referenced_tools(&req.messages);
    req.tools
        .iter()
        .flatten()
        .filter_map(|t| {
            if is_server_tool(t) {
                Some(format!("{} ({})", t.kind.as_deref().unwrap_or_default(), t.name))
            } else if is_deferred(t) && !loaded.contains(t.name.as_str()) {
                Some(format!("{} (deferred)", t.name))
            } else {
                None
            }
        })
        .collect()
}

fn tool(t: ToolDef, i: usize) -> Result<Tool, TranslateError> {
    let custom = matches!(t.kind.as_deref(), None | Some("custom"));
    if !custom || t.input_schema.is_none() {
        return Err(TranslateError::new(
            format!(
                "tools.{i}: `{}` ({}) is one of Anthropic's built-in client tools, whose definition only Anthropic's models carry; the upstream model cannot use it. Remove it, or define a custom tool with `input_schema`.",
                t.name,
                t.kind.as_deref().unwrap_or("no input_schema")
            ),
            format!("tools.{i}"),
        ));
    }
    Ok(Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: t.name,
            description: t.description,
            parameters: t.input_schema,
            strict: None,
        },
    })
}

fn tool_choice(c: &AToolChoice) -> Result<(Option<ToolChoice>, Option<bool>), TranslateError> {
    let parallel = c.disable_parallel_tool_use.filter(|d| *d).map(|_| false);
    let choice = match c.kind.as_str() {
        "auto" => ToolChoice::Mode("auto".into()),
        "any" => ToolChoice::Mode("required".into()),
        "none" => ToolChoice::Mode("none".into()),
        "tool" => {
            let Some(name) = &c.name else {
                return Err(TranslateError::new(
                    "tool_choice.name: required when tool_choice.type is `tool`",
                    "tool_choice.name",
                ));
            };
            ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction { name: name.clone() },
            })
        }
        other => {
            return Err(TranslateError::new(
                format!(
                    "tool_choice.type: unexpected value `{other}`; use auto, any, tool or none"
                ),
                "tool_choice.type",
            ));
        }
    };
    Ok((Some(choice), parallel))
}

fn block_type(b: &ContentBlock) -> String {
    match b {
        ContentBlock::Text { .. } => "`text`".into(),
        ContentBlock::Image { .. } => "`image`".into(),
        ContentBlock::Document { .. } => "`document`".into(),
        ContentBlock::ToolUse { .. } => "`tool_use`".into(),
        ContentBlock::ToolResult { .. } => "`tool_result`".into(),
        ContentBlock::Thinking { .. } => "`thinking`".into(),
        ContentBlock::RedactedThinking { .. } => "`redacted_thinking`".into(),
        ContentBlock::Other(v) => {
            format!("`{}`", v.get("type").and_then(Value::as_str).unwrap_or("unknown"))
        }
    }
}

//! Hub (OpenAI chat) request → Anthropic Messages request.
//!
//! - `system` / `developer` messages, wherever they are, become the top-level `system`
//!   (texts in order, a blank line between); Messages has no system turns.
//! - User parts: text, images (`data:` URLs as base64, `https:` URLs by URL), PDFs and text
//!   files (`file.file_data`) as `document` blocks; audio and file ids are refused.
//! - Assistant turns: text, then one `tool_use` per tool call (the id kept, the arguments
//!   parsed into `input`); earlier reasoning is dropped (Claude takes thinking back only
//!   with its signature, which the hub does not carry).
//! - `tool` messages: `tool_result` blocks in one user turn; consecutive turns of one role
//!   are merged, as the API requires alternation.
//! - `max_tokens` (or `max_completion_tokens`) is required by Anthropic: 4,096 when absent.
//! - `reasoning_effort` (or an Anthropic budget carried in the hub) turns thinking on with a
//!   budget (low 4,096, medium 16,384, high 32,000 tokens), kept under `max_tokens`; then
//!   `temperature`, `top_p` and `top_k` are left out (Claude refuses them with thinking).
//!   A conversation whose last assistant turn called tools is sent without thinking:
//!   Anthropic requires that turn's signed thinking block, which the hub cannot carry.
//! - `tool_choice` auto / none / required / named → auto / none / any / tool;
//!   `parallel_tool_calls: false` → `disable_parallel_tool_use`.
//! - `response_format` `json_schema` → `output_config.format`; `json_object` adds an
//!   instruction to the system prompt (Messages has no JSON mode).

use serde_json::{Map, Value, json};

use super::TranslateError;
use crate::wire::RawJson;
use crate::wire::anthropic::{
    ContentBlock, InputMessage, MessageContent, MessagesRequest, Metadata, OutputConfig, Source,
    System, Thinking, ToolChoice as AToolChoice, ToolDef, ToolResultContent,
};
use crate::wire::openai::{ChatRequest, Content, ContentPart, Message, ToolChoice};

/// `max_tokens` when the client sent none (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// `max_tokens` when thinking is on and the client sent none: room for the budget and the
/// answer, within what every current Claude model accepts.
pub const DEFAULT_THINKING_MAX_TOKENS: u32 = 32000;
/// The smallest thinking budget Anthropic accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// What the caller decides.
#[derive(Debug, Clone, Copy)]
pub struct RequestOptions<'a> {
    /// The upstream's model id, sent as `model`.
    pub model: &'a str,
}

/// The thinking budget for a hub `reasoning_effort` (the inverse of the mapping in
/// `translate::anthropic`): `none` / `minimal` mean no thinking.
pub fn budget_for_effort(effort: &str) -> Option<u32> {
    match effort {
        "none" | "minimal" => None,
        "low" => Some(4096),
        "medium" => Some(16384),
        _ => Some(32000),
    }
}

/// Translate a hub request for a Claude upstream.
pub fn to_messages(
    req: &ChatRequest,
    opts: &RequestOptions<'_>,
) -> Result<MessagesRequest, TranslateError> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(String, Vec<ContentBlock>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        match m.role.as_str() {
            "system" | "developer" => {
                let text = m.content.as_ref().map(Content::text).unwrap_or_default();
                if !text.trim().is_empty() {
                    system.push(text);
                }
            }
            "user" => push(&mut turns, "user", user_blocks(m, i)?),
            "assistant" => push(&mut turns, "assistant", assistant_blocks(m, i)?),
            "tool" => push(&mut turns, "user", vec![tool_result(m, i)?]),
            other => {
                return Err(TranslateError::new(
                    format!("messages[{i}].role: `{other}` has no Anthropic equivalent"),
                    format!("messages[{i}].role"),
                ));
            }
        }
    }
    if turns.is_empty() {
        return Err(TranslateError::new(
            "messages: Claude needs at least one user or assistant message with content",
            "messages",
        ));
    }
    if matches!(req.response_format.as_ref().map(|f| f.kind.as_str()), Some("json_object")) {
        system.push("Respond with one JSON object and nothing else.".to_owned());
    }

    let tools = req.tools.as_ref().filter(|t| !t.is_empty()).map(|tools| {
        tools
            .iter()
            .map(|t| ToolDef {
                name: t.function.name.clone(),
                kind: None,
                description: t.function.description.clone(),
                input_schema: Some(
                    t.function
                        .parameters
                        .clone()
                        .filter(RawJson::is_object)
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}}).into()),
                ),
                extra: Map::new(),
            })
            .collect::<Vec<_>>()
    });
    let tool_choice = if tools.is_some() { tool_choice(req) } else { None };

    let asked = req.max_tokens.or(req.max_completion_tokens);
    let last_assistant_called_tools = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "assistant")
        .is_some_and(|m| m.tool_calls.as_ref().is_some_and(|c| !c.is_empty()));
    let budget = req
        .reasoning_budget
        .or_else(|| req.reasoning_effort.as_deref().and_then(budget_for_effort))
        .filter(|_| !last_assistant_called_tools);
    let (max_tokens, thinking) = match (budget, asked) {
        (Some(b), None) => {
            let b = b.clamp(MIN_THINKING_BUDGET, DEFAULT_THINKING_MAX_TOKENS - DEFAULT_MAX_TOKENS);
            (DEFAULT_THINKING_MAX_TOKENS, Some(b))
        }
        // Thinking needs a budget of at least 1,024 below max_tokens, and room to answer.
        (Some(b), Some(max)) if max > 2 * MIN_THINKING_BUDGET => {
            (max, Some(b.min(max - MIN_THINKING_BUDGET).max(MIN_THINKING_BUDGET)))
        }
        (_, max) => (max.unwrap_or(DEFAULT_MAX_TOKENS), None),
    };

    let mut extra = Map::new();
    let output_config = match &req.response_format {
        Some(f) if f.kind == "json_schema" => {
            let schema = f
                .json_schema
                .as_ref()
                .and_then(|s| s.get("schema"))
                .filter(|s| s.is_object())
                .cloned()
                .ok_or_else(|| {
                    TranslateError::new(
                        "response_format.json_schema.schema: a JSON schema object is required",
                        "response_format",
                    )
                })?;
            Some(OutputConfig {
                format: Some(json!({"type": "json_schema", "schema": schema})),
                ..OutputConfig::default()
            })
        }
        _ => None,
    };
    let top_k = req.extra.get("top_k").and_then(Value::as_u64).and_then(|k| u32::try_from(k).ok());
    if let Some(service_tier) = req.extra.get("service_tier").filter(|v| v.is_string()) {
        extra.insert("service_tier".into(), service_tier.clone());
    }
    let thinking_on = thinking.is_some();
    Ok(MessagesRequest {
        model: opts.model.to_owned(),
        messages: turns
            .into_iter()
            .map(|(role, blocks)| InputMessage { role, content: content(blocks) })
            .collect(),
        max_tokens: Some(max_tokens),
        system: (!system.is_empty()).then(|| System::Text(system.join("\n\n"))),
        metadata: req.user.clone().map(|u| Metadata { user_id: Some(u), extra: Map::new() }),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()).filter(|s| !s.is_empty()),
        stream: req.is_stream().then_some(true),
        temperature: req.temperature.filter(|_| !thinking_on),
        top_p: req.top_p.filter(|_| !thinking_on),
        top_k: top_k.filter(|_| !thinking_on),
        tools,
        tool_choice,
        thinking: thinking.map(|b| Thinking { kind: "enabled".into(), budget_tokens: Some(b) }),
        output_config,
        extra,
    })
}

/// Append blocks as a turn of `role`, merged into the previous turn when it has the same
/// role (Anthropic wants user and assistant turns to alternate).
fn push(turns: &mut Vec<(String, Vec<ContentBlock>)>, role: &str, blocks: Vec<ContentBlock>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, existing)) if last == role => {
            // Tool results go first in a user turn, as Anthropic asks.
            if role == "user" && blocks.iter().all(|b| matches!(b, ContentBlock::ToolResult { .. }))
            {
                let at = existing
                    .iter()
                    .position(|b| !matches!(b, ContentBlock::ToolResult { .. }))
                    .unwrap_or(existing.len());
                existing.splice(at..at, blocks);
            } else {
                existing.extend(blocks);
            }
        }
        _ => turns.push((role.to_owned(), blocks)),
    }
}

/// One text block alone is sent as a plain string.
fn content(blocks: Vec<ContentBlock>) -> MessageContent {
    match blocks.as_slice() {
        [ContentBlock::Text { text }] => MessageContent::Text(text.clone()),
        _ => MessageContent::Blocks(blocks),
    }
}

fn user_blocks(m: &Message, i: usize) -> Result<Vec<ContentBlock>, TranslateError> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(Content::Text(t)) => Ok(text_block(t)),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                out.extend(part_block(p, &format!("messages[{i}].content[{j}]"))?);
            }
            Ok(out)
        }
    }
}

/// A text block, unless the text is empty (Anthropic refuses empty text blocks).
fn text_block(text: &str) -> Vec<ContentBlock> {
    if text.is_empty() { Vec::new() } else { vec![ContentBlock::Text { text: text.to_owned() }] }
}

fn part_block(p: &ContentPart, at: &str) -> Result<Vec<ContentBlock>, TranslateError> {
    Ok(match p {
        ContentPart::Text { text } => text_block(text),
        ContentPart::ImageUrl { image_url } => {
            vec![ContentBlock::Image { source: source(&image_url.url, at)? }]
        }
        ContentPart::File { file } => {
            let Some(data) = file.file_data.as_deref() else {
                return Err(TranslateError::new(
                    format!(
                        "{at}: Claude takes files as data (file.file_data); file ids are not supported"
                    ),
                    at,
                ));
            };
            let source = match data_url(data) {
                Some((mime, payload)) if mime.starts_with("text/") => {
                    use base64::Engine;
                    let bytes =
                        base64::engine::general_purpose::STANDARD.decode(payload).map_err(|e| {
                            TranslateError::new(
                                format!("{at}: the file's data is not base64 ({e})"),
                                at,
                            )
                        })?;
                    Source::Text {
                        media_type: Some("text/plain".into()),
                        data: String::from_utf8_lossy(&bytes).into_owned(),
                    }
                }
                Some((mime, payload)) => {
                    Source::Base64 { media_type: mime.to_owned(), data: payload.to_owned() }
                }
                None => {
                    Source::Base64 { media_type: "application/pdf".into(), data: data.to_owned() }
                }
            };
            vec![ContentBlock::Document { source, title: file.filename.clone() }]
        }
        ContentPart::InputAudio { .. } => {
            return Err(TranslateError::new(format!("{at}: Claude does not take audio input"), at));
        }
        ContentPart::Other(v) => {
            let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
            return Err(TranslateError::new(
                format!("{at}: content part type `{kind}` has no Anthropic equivalent"),
                at,
            ));
        }
    })
}

/// `data:<mime>;base64,<payload>` → (mime, payload).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((mime, payload))
}

fn source(url: &str, at: &str) -> Result<Source, TranslateError> {
    if let Some((mime, payload)) = data_url(url) {
        return Ok(Source::Base64 { media_type: mime.to_owned(), data: payload.to_owned() });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Source::Url { url: url.to_owned() });
    }
    Err(TranslateError::new(format!("{at}: Claude takes images as data: URLs or http(s) URLs"), at))
}

fn assistant_blocks(m: &Message, i: usize) -> Result<Vec<ContentBlock>, TranslateError> {
    let mut out = text_block(&m.content.as_ref().map(Content::text).unwrap_or_default());
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        let args = call.function.arguments.trim();
        let input = if args.is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(args) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return Err(TranslateError::new(
                        format!(
                            "messages[{i}].tool_calls[{j}].function.arguments: Claude needs a JSON object, got {}",
                            super::truncate(args, 120)
                        ),
                        format!("messages[{i}].tool_calls[{j}].function.arguments"),
                    ));
                }
            }
        };
        out.push(ContentBlock::ToolUse {
            id: call.id.clone(),
            name: call.function.name.clone(),
            input,
        });
    }
    Ok(out)
}

fn tool_result(m: &Message, i: usize) -> Result<ContentBlock, TranslateError> {
    let id = m.tool_call_id.clone().ok_or_else(|| {
        TranslateError::new(
            format!("messages[{i}].tool_call_id: a tool message needs the id of its call"),
            format!("messages[{i}].tool_call_id"),
        )
    })?;
    let content = match &m.content {
        None => None,
        Some(Content::Text(t)) => Some(ToolResultContent::Text(t.clone())),
        Some(Content::Parts(parts)) => {
            let mut blocks = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                blocks.extend(part_block(p, &format!("messages[{i}].content[{j}]"))?);
            }
            Some(ToolResultContent::Blocks(blocks))
        }
    };
    Ok(ContentBlock::ToolResult { tool_use_id: id, content, is_error: None })
}

fn tool_choice(req: &ChatRequest) -> Option<AToolChoice> {
    let no_parallel = (req.parallel_tool_calls == Some(false)).then_some(true);
    let (kind, name) = match &req.tool_choice {
        None => ("auto", None),
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "none" => ("none", None),
            "required" => ("any", None),
            _ => ("auto", None),
        },
        Some(ToolChoice::Named(n)) => ("tool", Some(n.function.name.clone())),
    };
    if req.tool_choice.is_none() && no_parallel.is_none() {
        return None;
    }
    Some(AToolChoice {
        kind: kind.into(),
        name,
        disable_parallel_tool_use: no_parallel.filter(|_| kind != "none"),
    })
}

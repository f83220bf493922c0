//! Hub `ChatRequest` → Gemini `GenerateContentRequest`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{generation, schema, signature_from_id};
use crate::wire::gemini::{
    Blob, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration,
    FunctionResponse, GenerateContentRequest, GenerationConfig, Part, ThinkingConfig, Tool,
    ToolConfig,
};
use crate::wire::openai::{ChatRequest, Content as MsgContent, ContentPart, Message, ToolChoice};

/// The signature Google documents for function calls whose real signature is unknown
/// (history from another model or a client that rewrote the ids).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// What the translation needs besides the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestOptions<'a> {
    /// The Vertex model id (`gemini-2.5-pro`, `gemini-3-pro-preview`).
    pub model: &'a str,
    /// The deployment's `safety_settings`, used when the request has none.
    pub safety_settings: Option<&'a Value>,
}

/// The request cannot be expressed for Gemini (a client fault: 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub message: String,
    pub param: Option<String>,
}

fn invalid(message: impl Into<String>, param: &str) -> RequestError {
    RequestError { message: message.into(), param: Some(param.to_owned()) }
}

/// Translate a chat request.
pub fn request(
    req: &ChatRequest,
    opts: &RequestOptions<'_>,
) -> Result<GenerateContentRequest, RequestError> {
    let gemini3 = generation(opts.model).is_some_and(|g| g >= 3);
    let mut system_parts = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    // tool_call id → function name, to name the functionResponse parts.
    let mut call_names: HashMap<&str, &str> = HashMap::new();

    for (i, m) in req.messages.iter().enumerate() {
        let param = format!("messages[{i}]");
        let (role, parts) = match m.role.as_str() {
            "system" | "developer" => {
                if let Some(c) = &m.content {
                    system_parts.extend(text_parts(c, &param)?);
                }
                continue;
            }
            "user" => ("user", user_parts(m, &param)?),
            "assistant" => {
                for tc in m.tool_calls.iter().flatten() {
                    call_names.insert(tc.id.as_str(), tc.function.name.as_str());
                }
                ("model", assistant_parts(m, gemini3, &param)?)
            }
            "tool" | "function" => ("user", vec![tool_result_part(m, &call_names, &param)?]),
            other => {
                return Err(invalid(
                    format!(
                        "{param}: role `{other}` is not supported (use system, developer, user, assistant or tool)"
                    ),
                    &format!("{param}.role"),
                ));
            }
        };
        if parts.is_empty() {
            continue;
        }
        // Gemini wants turns of one role merged (parallel tool results stay together).
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content { role: Some(role.to_owned()), parts }),
        }
    }

    if contents.is_empty() && !system_parts.is_empty() {
        // Gemini needs at least one turn: a system-only request becomes the user's turn.
        contents.push(Content {
            role: Some("user".to_owned()),
            parts: std::mem::take(&mut system_parts),
        });
    }
    let tools = tools(req)?;
    let tool_config = tool_config(req)?;
    let generation_config = generation_config(req, opts.model)?;
    let safety_settings = match req.extra.get("safety_settings").or(opts.safety_settings) {
        Some(Value::Array(list)) => Some(list.clone()),
        Some(Value::Null) | None => None,
        Some(_) => {
            return Err(invalid(
                "safety_settings must be a list of {category, threshold}",
                "safety_settings",
            ));
        }
    };
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system_parts.is_empty())
            .then(|| Content { role: None, parts: system_parts }),
        tools,
        tool_config,
        safety_settings,
        generation_config,
    })
}

fn text_part(text: impl Into<String>) -> Part {
    Part { text: Some(text.into()), ..Part::default() }
}

/// System / developer content: text only.
fn text_parts(c: &MsgContent, param: &str) -> Result<Vec<Part>, RequestError> {
    match c {
        MsgContent::Text(t) if t.is_empty() => Ok(vec![]),
        MsgContent::Text(t) => Ok(vec![text_part(t.clone())]),
        MsgContent::Parts(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| match p {
                ContentPart::Text { text } => Ok(text_part(text.clone())),
                _ => Err(invalid(
                    format!("{param}.content[{j}]: system messages may contain text only"),
                    &format!("{param}.content"),
                )),
            })
            .collect(),
    }
}

fn user_parts(m: &Message, param: &str) -> Result<Vec<Part>, RequestError> {
    let Some(c) = &m.content else { return Ok(vec![]) };
    match c {
        MsgContent::Text(t) if t.is_empty() => Ok(vec![]),
        MsgContent::Text(t) => Ok(vec![text_part(t.clone())]),
        MsgContent::Parts(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| content_part(p, &format!("{param}.content[{j}]")))
            .collect(),
    }
}

fn content_part(p: &ContentPart, param: &str) -> Result<Part, RequestError> {
    match p {
        ContentPart::Text { text } => Ok(text_part(text.clone())),
        ContentPart::ImageUrl { image_url } => {
            media_part(&image_url.url, None, "image/jpeg", param)
        }
        ContentPart::InputAudio { input_audio } => {
            let mime = match input_audio.format.as_str() {
                "mp3" => "audio/mp3".to_owned(),
                "wav" => "audio/wav".to_owned(),
                other => format!("audio/{other}"),
            };
            Ok(Part {
                inline_data: Some(Blob { mime_type: mime, data: input_audio.data.clone() }),
                ..Part::default()
            })
        }
        ContentPart::File { file } => {
            let mime = file.format.as_deref();
            if let Some(data) = &file.file_data {
                let default = mime.unwrap_or("application/pdf");
                media_part(data, mime, default, param)
            } else if let Some(id) = &file.file_id {
                media_part(id, mime, "application/pdf", param)
            } else {
                Err(invalid(format!("{param}: a file part needs file_data or file_id"), param))
            }
        }
        ContentPart::Other(v) => {
            let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
            Err(invalid(
                format!("{param}: content part type `{kind}` is not supported by Vertex AI"),
                param,
            ))
        }
    }
}

/// A data URL becomes `inlineData`; an http(s) or gs:// URL becomes `fileData`.
fn media_part(
    url: &str,
    mime: Option<&str>,
    default_mime: &str,
    param: &str,
) -> Result<Part, RequestError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err(invalid(format!("{param}: malformed data URL"), param));
        };
        let Some(media) = meta.strip_suffix(";base64") else {
            return Err(invalid(
                format!("{param}: data URLs must be base64 (`data:<mime>;base64,…`)"),
                param,
            ));
        };
        let mime_type = mime.map(str::to_owned).unwrap_or_else(|| {
            if media.is_empty() { default_mime.to_owned() } else { media.to_owned() }
        });
        return Ok(Part {
            inline_data: Some(Blob { mime_type, data: data.to_owned() }),
            ..Part::default()
        });
    }
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("gs://") {
        let mime_type =
            mime.map(str::to_owned).unwrap_or_else(|| mime_from_path(url, default_mime));
        return Ok(Part {
            file_data: Some(FileData { mime_type, file_uri: url.to_owned() }),
            ..Part::default()
        });
    }
    Err(invalid(format!("{param}: expected a data: URL or an http(s):// or gs:// URL"), param))
}

fn mime_from_path(url: &str, default: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "txt" => "text/plain",
        _ => default,
    }
    .to_owned()
}

fn assistant_parts(m: &Message, gemini3: bool, param: &str) -> Result<Vec<Part>, RequestError> {
    let mut parts = Vec::new();
    if let Some(c) = &m.content {
        let text = c.text();
        if !text.is_empty() {
            parts.push(text_part(text));
        }
    }
    for (k, tc) in m.tool_calls.iter().flatten().enumerate() {
        let args = if tc.function.arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(&tc.function.arguments) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) | Err(_) => {
                    return Err(invalid(
                        format!("{param}.tool_calls[{k}].function.arguments must be a JSON object"),
                        &format!("{param}.tool_calls"),
                    ));
                }
            }
        };
        let mut signature = signature_from_id(&tc.id);
        // Gemini 3 requires a signature on the first call of each step.
        if signature.is_none() && gemini3 && k == 0 {
            signature = Some(SKIP_SIGNATURE.to_owned());
        }
        parts.push(Part {
            function_call: Some(FunctionCall {
                id: None,
                name: tc.function.name.clone(),
                args: Some(args),
            }),
            thought_signature: signature,
            ..Part::default()
        });
    }
    Ok(parts)
}

fn tool_result_part(
    m: &Message,
    call_names: &HashMap<&str, &str>,
    param: &str,
) -> Result<Part, RequestError> {
    let name = match (m.tool_call_id.as_deref(), m.name.as_deref()) {
        (Some(id), _) if call_names.contains_key(id) => call_names[id].to_owned(),
        (_, Some(n)) => n.to_owned(),
        (Some(id), None) => {
            return Err(invalid(
                format!(
                    "{param}: tool_call_id `{id}` does not match a tool call of an earlier assistant message"
                ),
                &format!("{param}.tool_call_id"),
            ));
        }
        (None, None) => {
            return Err(invalid(format!("{param}: a tool message needs tool_call_id"), param));
        }
    };
    let text = m.content.as_ref().map(MsgContent::text).unwrap_or_default();
    // Gemini wants an object; a JSON object result is passed as is, anything else as output.
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "output": text }),
    };
    Ok(Part {
        function_response: Some(FunctionResponse { id: None, name, response }),
        ..Part::default()
    })
}

fn tools(req: &ChatRequest) -> Result<Option<Vec<Tool>>, RequestError> {
    let Some(list) = &req.tools else { return Ok(None) };
    if list.is_empty() {
        return Ok(None);
    }
    let mut decls = Vec::new();
    for (i, t) in list.iter().enumerate() {
        if t.kind != "function" {
            return Err(invalid(
                format!("tools[{i}]: tool type `{}` is not supported by Vertex AI", t.kind),
                "tools",
            ));
        }
        let parameters = t.function.parameters.as_ref().and_then(|p| {
            let s = schema::to_gemini(&p.to_value());
            // An object with no properties is rejected by Gemini: declare no parameters.
            let empty = s.get("type").and_then(Value::as_str) == Some("OBJECT")
                && s.get("properties").is_none();
            (!empty).then_some(s)
        });
        decls.push(FunctionDeclaration {
            name: t.function.name.clone(),
            description: t.function.description.clone(),
            parameters,
        });
    }
    Ok(Some(vec![Tool { function_declarations: Some(decls) }]))
}

fn tool_config(req: &ChatRequest) -> Result<Option<ToolConfig>, RequestError> {
    let Some(choice) = &req.tool_choice else { return Ok(None) };
    let (mode, names) = match choice {
        ToolChoice::Mode(m) => match m.as_str() {
            "auto" => ("AUTO", None),
            "none" => ("NONE", None),
            "required" => ("ANY", None),
            other => {
                return Err(invalid(
                    format!("tool_choice `{other}` is not one of auto, none, required"),
                    "tool_choice",
                ));
            }
        },
        ToolChoice::Named(n) => ("ANY", Some(vec![n.function.name.clone()])),
    };
    Ok(Some(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode: mode.to_owned(),
            allowed_function_names: names,
        },
    }))
}

fn generation_config(
    req: &ChatRequest,
    model: &str,
) -> Result<Option<GenerationConfig>, RequestError> {
    let number = |k: &str| req.extra.get(k).and_then(Value::as_f64);
    let mut g = GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: number("top_k"),
        candidate_count: req.n.filter(|n| *n != 1),
        max_output_tokens: req.max_completion_tokens.or(req.max_tokens),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()).filter(|s| !s.is_empty()),
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        seed: req.seed,
        ..GenerationConfig::default()
    };
    if req.extra.get("logprobs") == Some(&Value::Bool(true)) {
        g.response_logprobs = Some(true);
        g.logprobs = req.extra.get("top_logprobs").and_then(Value::as_u64).map(|n| n as u32);
    }
    if let Some(rf) = &req.response_format {
        match rf.kind.as_str() {
            "text" => {}
            "json_object" => g.response_mime_type = Some("application/json".into()),
            "json_schema" => {
                g.response_mime_type = Some("application/json".into());
                let schema = rf.json_schema.as_ref().and_then(|j| j.get("schema"));
                g.response_schema = schema.map(schema::to_gemini);
            }
            other => {
                return Err(invalid(
                    format!(
                        "response_format type `{other}` is not one of text, json_object, json_schema"
                    ),
                    "response_format",
                ));
            }
        }
    }
    g.thinking_config = thinking(req, model)?;
    Ok((g != GenerationConfig::default()).then_some(g))
}

/// `reasoning_effort` (or an exact `thinking_budget` / Anthropic-style `thinking`) →
/// `thinkingConfig`: a level for Gemini 3, a budget for Gemini 2.5, nothing for older models.
fn thinking(req: &ChatRequest, model: &str) -> Result<Option<ThinkingConfig>, RequestError> {
    let budget = exact_budget(&req.extra);
    let effort = req.reasoning_effort.as_deref().map(str::to_ascii_lowercase);
    if budget.is_none() && effort.is_none() {
        return Ok(None);
    }
    let effort = match effort.as_deref() {
        None => None,
        Some("xhigh") => Some("high"),
        Some(e @ ("none" | "minimal" | "low" | "medium" | "high")) => Some(e),
        Some(other) => {
            return Err(invalid(
                format!(
                    "reasoning_effort `{other}` is not one of none, minimal, low, medium, high"
                ),
                "reasoning_effort",
            ));
        }
    };
    let Some(generation) = generation(model) else { return Ok(None) };
    let lower = model.to_ascii_lowercase();
    let off = effort == Some("none") || budget == Some(0);
    if generation >= 3 {
        // Gemini 3 always thinks; Pro knows LOW and HIGH, Flash also MINIMAL and MEDIUM.
        let flash = lower.contains("flash");
        let level = match (effort, budget) {
            (Some("none" | "minimal"), _) => {
                if flash {
                    "MINIMAL"
                } else {
                    "LOW"
                }
            }
            (Some("low"), _) => "LOW",
            (Some("medium"), _) => {
                if flash {
                    "MEDIUM"
                } else {
                    "HIGH"
                }
            }
            (Some(_), _) => "HIGH",
            (None, Some(b)) if b <= 0 => {
                if flash {
                    "MINIMAL"
                } else {
                    "LOW"
                }
            }
            (None, Some(b)) if b <= 1024 => "LOW",
            (None, Some(b)) if b <= 8192 && flash => "MEDIUM",
            (None, _) => "HIGH",
        };
        return Ok(Some(ThinkingConfig {
            include_thoughts: Some(!off),
            thinking_budget: None,
            thinking_level: Some(level.to_owned()),
        }));
    }
    if !lower.contains("gemini-2.5") {
        return Ok(None);
    }
    let pro = lower.contains("pro");
    let budget = budget.unwrap_or(match effort {
        Some("none") => 0,
        Some("minimal") => 512,
        Some("low") => 1024,
        Some("medium") => 8192,
        _ => 24576,
    });
    // 2.5 Pro cannot stop thinking: its minimum budget is 128.
    let budget = if pro && (0..128).contains(&budget) { 128 } else { budget };
    Ok(Some(ThinkingConfig {
        include_thoughts: Some(!off),
        thinking_budget: Some(budget),
        thinking_level: None,
    }))
}

/// `thinking_budget: N` (as Qwen takes it) or `thinking: {"type": "enabled", "budget_tokens": N}`.
fn exact_budget(extra: &Map<String, Value>) -> Option<i64> {
    if let Some(b) = extra.get("thinking_budget").and_then(Value::as_i64) {
        return Some(b);
    }
    let t = extra.get("thinking")?;
    match t.get("type").and_then(Value::as_str) {
        Some("disabled") => Some(0),
        Some("enabled") => t.get("budget_tokens").and_then(Value::as_i64),
        _ => None,
    }
}

//! OpenAI Responses API ⇄ the chat hub. Pure: requests, completions and chunks in; hub
//! requests, response objects and stream events out.
//!
//! Requests: `instructions` becomes a system message; `input` (a string, or items) becomes
//! messages: `message` items (roles user / assistant / system / developer, `input_text`,
//! `output_text` and `input_image` parts), `function_call` items (an assistant turn's tool
//! calls, `call_id` as the tool-call id), `function_call_output` items (tool messages).
//! `custom` tools (free-form input, e.g. Codex's `apply_patch` for GPT-5 models) become
//! functions with one `input` string (their grammar, if any, goes into the description), and
//! their calls come back as `custom_tool_call` items.
//! `reasoning` items are dropped (the upstreams take no reasoning back, and `encrypted_content`
//! is OpenAI's). Function tools, `tool_choice`, `max_output_tokens`, `reasoning.effort`,
//! `text.format`, `temperature`, `top_p` and `parallel_tool_calls` map to their chat forms.
//! `namespace` tools add their members as `{namespace}__{name}` functions (calls come back
//! with `name` and `namespace`). Tools only OpenAI can run (hosted `web_search`,
//! `file_search`, `code_interpreter`, ...) are left out and reported in [`Echo`] for the log;
//! server-side state (`previous_response_id`, `conversation`) is refused with a message.
//!
//! Responses: one output item per kind, in the order the model produced them: `reasoning`
//! (its text as a summary), `message` (`output_text`), then a `function_call` per tool call.
//! Streams: text and reasoning are relayed as they come (`response.output_text.delta`,
//! `response.reasoning_summary_text.delta`); function calls are sent whole when the upstream
//! finishes (their argument fragments may interleave), then `response.completed` carries the
//! whole response with usage. An upstream failure ends the stream with `response.failed`.

use serde_json::{Map, Value, json};

use crate::wire::openai::{
    ChatChunk, ChatCompletion, ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, ImageUrl, Message,
    NamedFunction, NamedToolChoice, ResponseFormat, Tool, ToolCall, ToolChoice, Usage,
};
use crate::wire::responses::ResponsesRequest;

/// A request the hub cannot express, with the parameter at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub message: String,
    pub param: String,
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        message: message.into(),
        param: param.into(),
    }
}

/// What the response object repeats from the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Echo {
    pub instructions: Option<String>,
    pub tools: Vec<Value>,
    pub tool_choice: Value,
    pub parallel_tool_calls: bool,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub reasoning: Value,
    pub text: Value,
    /// The request's callable tools by the function name the upstream sees.
    pub names: Vec<ToolName>,
    /// Tools the upstream cannot run (OpenAI's hosted `web_search`, `file_search`, ...), left
    /// out of the request: `type` (and name) of each, for the log.
    pub dropped_tools: Vec<String>,
}

/// A tool as the client named it, and as the upstream sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolName {
    /// The upstream function name: `name`, or `{namespace}__{name}` inside a namespace.
    pub upstream: String,
    pub name: String,
    pub namespace: Option<String>,
    /// A `custom` (free-form input) tool: called as a function with one `input` string, given
    /// back as a custom tool call.
    pub custom: bool,
}

impl Echo {
    fn tool(&self, upstream: &str) -> Option<&ToolName> {
        self.names.iter().find(|t| t.upstream == upstream)
    }
}

/// The upstream function name of a tool, inside a namespace or not.
fn upstream_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}__{name}"),
        _ => name.to_owned(),
    }
}

/// A Responses request as a hub chat request, and what its response repeats.
pub fn to_hub(req: ResponsesRequest) -> Result<(ChatRequest, Echo), Invalid> {
    if req.previous_response_id.is_some() {
        return Err(invalid(
            "previous_response_id",
            "previous_response_id is not supported: ai-proxy keeps no responses. Send the whole conversation in `input` (with store: false)",
        ));
    }
    if req.conversation.is_some() {
        return Err(invalid(
            "conversation",
            "conversation is not supported: ai-proxy keeps no conversations. Send the whole conversation in `input`",
        ));
    }
    let mut messages = Vec::new();
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
                add_item(&mut messages, item, i)?;
            }
        }
        Some(_) => return Err(invalid("input", "input must be a string or a list of input items")),
    }
    if messages.iter().all(|m| m.role == "system") {
        return Err(invalid("input", "input has no message for the model to answer"));
    }

    let mut names = Vec::new();
    let mut dropped_tools = Vec::new();
    let mut tools = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        add_tool(&mut tools, &mut names, &mut dropped_tools, t, &format!("tools[{i}]"), None)?;
    }
    let tools = (!tools.is_empty()).then_some(tools);
    let tool_choice = req.tool_choice.as_ref().map(tool_choice).transpose()?;
    let effort = req
        .reasoning
        .as_ref()
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let response_format = req
        .text
        .as_ref()
        .and_then(|t| t.get("format"))
        .map(response_format)
        .transpose()?
        .flatten();

    let echo = Echo {
        instructions: req.instructions.clone(),
        tools: req.tools.clone().unwrap_or_default(),
        tool_choice: req.tool_choice.clone().unwrap_or_else(|| json!("auto")),
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        max_output_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        reasoning: req.reasoning.clone().unwrap_or_else(|| json!({"effort": null, "summary": null})),
        text: req.text.clone().unwrap_or_else(|| json!({"format": {"type": "text"}})),
        names,
        dropped_tools,
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

fn add_item(messages: &mut Vec<Message>, item: &Value, i: usize) -> Result<(), Invalid> {
    let param = format!("input[{i}]");
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
    match kind {
        "message" => {
            let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
            if !matches!(role, "user" | "assistant" | "system" | "developer") {
                return Err(invalid(format!("{param}.role"), format!("{param}: role must be user, assistant, system or developer")));
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
                return Err(invalid(param.clone(), format!("{param}: a {kind} needs call_id and name")));
            };
            let arguments = if kind == "custom_tool_call" {
                json!({"input": field("input").unwrap_or_default()}).to_string()
            } else {
                field("arguments").unwrap_or("{}").to_owned()
            };
            let call = ToolCall {
                id: call_id.to_owned(),
                kind: "function".into(),
                function: FunctionCall {
                    name: upstream_name(name, field("namespace")),
                    arguments,
                },
                extra: Map::new(),
            };
            // Calls right after an assistant turn (its text, or other calls) belong to it.
            match messages.last_mut() {
                Some(last) if last.role == "assistant" => last.tool_calls.get_or_insert_with(Vec::new).push(call),
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
                Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
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
        other => {
            return Err(invalid(
                format!("{param}.type"),
                format!("{param}: input items of type `{other}` are not supported (message, function_call, function_call_output, custom_tool_call, custom_tool_call_output and reasoning are)"),
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
                        text: part.get("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    }),
                    "refusal" => out.push(ContentPart::Text {
                        text: part.get("refusal").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    }),
                    "input_image" => {
                        let Some(url) = part.get("image_url").and_then(Value::as_str) else {
                            return Err(invalid(
                                format!("{param}.content[{j}]"),
                                format!("{param}.content[{j}]: input_image needs an image_url (a URL or a data: URL; file ids are not supported)"),
                            ));
                        };
                        out.push(ContentPart::ImageUrl {
                            image_url: ImageUrl {
                                url: url.to_owned(),
                                detail: part.get("detail").and_then(Value::as_str).map(str::to_owned),
                            },
                        });
                    }
                    other => {
                        return Err(invalid(
                            format!("{param}.content[{j}].type"),
                            format!("{param}.content[{j}]: content parts of type `{other}` are not supported (input_text, output_text and input_image are)"),
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
        _ => Err(invalid(format!("{param}.content"), format!("{param}: content must be a string or a list of content parts"))),
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
            for (j, inner) in t.get("tools").and_then(Value::as_array).into_iter().flatten().enumerate() {
                add_tool(tools, names, dropped, inner, &format!("{param}.tools[{j}]"), Some(ns))?;
            }
            return Ok(());
        }
        (Some("function"), Some(n)) => (n, false),
        (Some("custom"), Some(n)) => (n, true),
        (Some("function" | "custom" | "namespace"), None) => {
            return Err(invalid(format!("{param}.name"), format!("{param}: a {} tool needs a name", kind.unwrap_or_default())));
        }
        (Some(other), _) => {
            dropped.push(name.map_or_else(|| other.to_owned(), |n| format!("{other} {n}")));
            return Ok(());
        }
        (None, _) => return Err(invalid(format!("{param}.type"), format!("{param}: a tool needs a type"))),
    };
    let upstream = upstream_name(name, namespace);
    let function = if custom {
        let mut description = t.get("description").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(def) = t.pointer("/format/definition").and_then(Value::as_str) {
            description.push_str("\n\nThe input must follow this grammar:\n");
            description.push_str(def);
        }
        FunctionDef {
            name: upstream.clone(),
            description: (!description.is_empty()).then_some(description),
            parameters: Some(json!({
                "type": "object",
                "properties": {"input": {"type": "string", "description": "The tool's whole input, as free-form text"}},
                "required": ["input"]
            })),
            strict: None,
        }
    } else {
        FunctionDef {
            name: upstream.clone(),
            description: t.get("description").and_then(Value::as_str).map(str::to_owned),
            parameters: t.get("parameters").cloned().filter(|p| !p.is_null()),
            strict: t.get("strict").and_then(Value::as_bool),
        }
    };
    tools.push(Tool {
        kind: "function".into(),
        function,
    });
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
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => Ok(ToolChoice::Mode(mode.clone())),
        Value::Object(o) if matches!(o.get("type").and_then(Value::as_str), Some("function" | "custom")) => {
            let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction {
                    name: upstream_name(name, o.get("namespace").and_then(Value::as_str)),
                },
            }))
        }
        _ => Err(invalid("tool_choice", "tool_choice must be auto, none, required or {\"type\": \"function\" or \"custom\", \"name\": ...}")),
    }
}

fn response_format(format: &Value) -> Result<Option<ResponseFormat>, Invalid> {
    match format.get("type").and_then(Value::as_str) {
        None | Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat {
            kind: "json_object".into(),
            json_schema: None,
        })),
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
        Some(other) => Err(invalid("text.format.type", format!("text.format type `{other}` is not supported (text, json_object, json_schema are)"))),
    }
}

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

fn reasoning_item(rid: &str, text: &str) -> Value {
    json!({"id": format!("rs_{rid}"), "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]})
}

fn message_item(rid: &str, text: &str, status: &str) -> Value {
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
fn tool_call_item(rid: &str, n: usize, call_id: &str, upstream: &str, args: &str, echo: &Echo, status: &str) -> Value {
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
    let clean: String = upstream_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect();
    let clean = clean.strip_prefix("chatcmpl-").unwrap_or(&clean).to_owned();
    if clean.is_empty() { "resp_gateway".to_owned() } else { format!("resp_{clean}") }
}

fn usage_json(u: Option<&Usage>) -> Value {
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
fn status_of(finish: Option<&str>) -> (&'static str, Value) {
    match finish {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// The whole response object.
#[allow(clippy::too_many_arguments)]
fn response_object(rid: &str, alias: &str, created: i64, status: &str, incomplete: Value, output: Vec<Value>, usage: Value, echo: &Echo) -> Value {
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
    response_object(&rid, alias, c.created, status, incomplete, out.items(&rid, echo), usage_json(c.usage.as_ref()), echo)
}

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
    /// Tool calls by their stream index: id, name, argument fragments joined.
    calls: Vec<(u32, String, String, String)>,
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
            calls: Vec::new(),
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
        response_object(&self.rid, &self.alias, self.created, status, incomplete, output, usage, &self.echo)
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
            self.emit(out, json!({"type": "response.output_item.added", "output_index": index, "item": item}));
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
            self.usage = chunk.usage;
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let d = choice.delta;
            if let Some(r) = d.reasoning_content.filter(|r| !r.is_empty()) {
                self.reasoning_delta(&mut out, &r);
            }
            if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                self.text_delta(&mut out, &t);
            }
            for call in d.tool_calls.into_iter().flatten() {
                let at = match self.calls.iter().position(|c| c.0 == call.index) {
                    Some(p) => p,
                    None => {
                        self.calls.push((call.index, String::new(), String::new(), String::new()));
                        self.calls.len() - 1
                    }
                };
                let slot = &mut self.calls[at];
                if let Some(id) = call.id.filter(|s| !s.is_empty())
                    && slot.1.is_empty()
                {
                    slot.1 = id;
                }
                if let Some(f) = call.function {
                    if let Some(name) = f.name.filter(|s| !s.is_empty())
                        && slot.2.is_empty()
                    {
                        slot.2 = name;
                    }
                    slot.3.push_str(f.arguments.as_deref().unwrap_or_default());
                }
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
        self.close(&mut out);
        let calls = std::mem::take(&mut self.calls);
        for (n, (_, id, name, args)) in calls.into_iter().enumerate() {
            let index = self.output_index();
            let call_id = if id.is_empty() { format!("call_{n}_{}", self.rid) } else { id };
            let added = tool_call_item(&self.rid, n, &call_id, &name, "", &self.echo, "in_progress");
            let item = tool_call_item(&self.rid, n, &call_id, &name, &args, &self.echo, "completed");
            let item_id = item["id"].clone();
            self.emit(&mut out, json!({"type": "response.output_item.added", "output_index": index, "item": added}));
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
        let resp = self.snapshot(status, incomplete, self.done.clone(), usage_json(self.usage.as_ref()));
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
        let mut resp = self.snapshot("failed", Value::Null, self.done.clone(), usage_json(self.usage.as_ref()));
        resp["error"] = json!({"code": code, "message": message});
        self.emit(&mut out, json!({"type": "response.failed", "response": resp}));
        self.ended = true;
        out
    }
}

#[cfg(test)]
mod tests;

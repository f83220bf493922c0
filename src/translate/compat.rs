//! The quirks of the OpenAI-compatible family (`config::Compat`), both ways. Pure.
//!
//! Requests ([`adapt`], run by `translate::adapt::for_provider`):
//! - DeepSeek: `reasoning_effort` is its thinking switch: `none` sends `thinking: {type:
//!   disabled}`, any other effort `thinking: {type: enabled}` with the effort kept. In thinking
//!   mode DeepSeek wants every earlier assistant turn's `reasoning_content` back; a turn that
//!   lost it (history from another model, an Anthropic client that does not keep thinking)
//!   gets a single space, the smallest value it accepts (as LiteLLM does).
//! - Z.AI (GLM) and Volcengine (Doubao): `reasoning_effort` becomes their `thinking: {type:
//!   enabled | disabled}`; GLM drops list-form content in tool and assistant turns, so those
//!   are sent as text.
//! - Mistral: `tool_choice` `required` or a named tool is `any` (it takes nothing else),
//!   `max_completion_tokens` is `max_tokens`, `seed` is `random_seed`, `name` is kept on tool
//!   turns only, and tool-call ids are 9 letters or digits (it refuses others): ids from
//!   elsewhere are mapped, the same way in the assistant turn and its tool results.
//!
//! Answers ([`normalize_completion`], [`normalize_chunk`]): OpenRouter, Ollama, vLLM and Groq
//! return reasoning as `reasoning`; it becomes the hub's `reasoning_content`.

use serde_json::{Map, Value, json};

use crate::config::Compat;
use crate::wire::openai::{ChatChunk, ChatCompletion, ChatRequest, Content, ToolChoice};

/// Adapt a hub request for one OpenAI-compatible server.
pub fn adapt(kind: Compat, req: &mut ChatRequest) {
    req.reasoning_budget = None;
    match kind {
        Compat::DeepSeek => deepseek(req),
        Compat::Zai => {
            thinking_switch(req);
            flatten_tool_and_assistant_content(req);
        }
        Compat::Volcengine => thinking_switch(req),
        Compat::Mistral => mistral(req),
        _ => {}
    }
}

fn deepseek(req: &mut ChatRequest) {
    let Some(effort) = req.reasoning_effort.clone() else { return };
    let on = effort != "none";
    if !on {
        req.reasoning_effort = None;
    }
    req.extra
        .entry("thinking")
        .or_insert_with(|| json!({"type": if on { "enabled" } else { "disabled" }}));
    if on {
        for m in req.messages.iter_mut().filter(|m| m.role == "assistant") {
            if m.reasoning_content.as_deref().is_none_or(str::is_empty) {
                m.reasoning_content = Some(" ".to_owned());
            }
        }
    }
}

/// `reasoning_effort` → `thinking: {type}` (`none` / `minimal` off), unless the client set
/// `thinking` itself.
fn thinking_switch(req: &mut ChatRequest) {
    let Some(effort) = req.reasoning_effort.take() else { return };
    let on = !matches!(effort.as_str(), "none" | "minimal");
    req.extra
        .entry("thinking")
        .or_insert_with(|| json!({"type": if on { "enabled" } else { "disabled" }}));
}

fn flatten_tool_and_assistant_content(req: &mut ChatRequest) {
    for m in req.messages.iter_mut().filter(|m| m.role == "tool" || m.role == "assistant") {
        if let Some(Content::Parts(_)) = &m.content {
            let text = m.content.as_ref().map(Content::text).unwrap_or_default();
            m.content = Some(Content::Text(text));
        }
    }
}

fn mistral(req: &mut ChatRequest) {
    match &req.tool_choice {
        Some(ToolChoice::Named(_)) => req.tool_choice = Some(ToolChoice::Mode("any".into())),
        Some(ToolChoice::Mode(m)) if m == "required" => {
            req.tool_choice = Some(ToolChoice::Mode("any".into()))
        }
        _ => {}
    }
    if let Some(n) = req.max_completion_tokens.take() {
        req.max_tokens = Some(n);
    }
    if let Some(seed) = req.seed.take() {
        req.extra.entry("random_seed").or_insert(Value::from(seed));
    }
    for m in &mut req.messages {
        if m.role != "tool" {
            m.name = None;
        }
        if let Some(id) = &m.tool_call_id {
            m.tool_call_id = Some(mistral_id(id));
        }
        for call in m.tool_calls.iter_mut().flatten() {
            call.id = mistral_id(&call.id);
        }
    }
}

/// A tool-call id Mistral accepts (`[a-zA-Z0-9]{9}`): its own ids unchanged, any other mapped
/// to 9 characters from a hash of it (the same id always maps to the same 9).
pub fn mistral_id(id: &str) -> String {
    if id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return id.to_owned();
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // FNV-1a, 64 bits: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..9)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// `reasoning` (a string) → `reasoning_content`, where the latter is missing.
fn reasoning_field(extra: &mut Map<String, Value>, reasoning_content: &mut Option<String>) {
    if reasoning_content.is_some() {
        extra.shift_remove("reasoning");
        return;
    }
    if let Some(Value::String(text)) = extra.get("reasoning")
        && !text.is_empty()
    {
        *reasoning_content = Some(text.clone());
        extra.shift_remove("reasoning");
    }
}

/// Bring a whole answer to the hub's shape.
pub fn normalize_completion(c: &mut ChatCompletion) {
    for choice in &mut c.choices {
        let m = &mut choice.message;
        reasoning_field(&mut m.extra, &mut m.reasoning_content);
    }
}

/// Bring a stream chunk to the hub's shape.
pub fn normalize_chunk(c: &mut ChatChunk) {
    for choice in &mut c.choices {
        let d = &mut choice.delta;
        reasoning_field(&mut d.extra, &mut d.reasoning_content);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::openai::{FunctionCall, Message, ToolCall};

    fn request(v: Value) -> ChatRequest {
        serde_json::from_value(v).expect("request")
    }

    #[test]
    fn deepseek_thinking_follows_reasoning_effort_and_keeps_reasoning_content() {
        let mut r = request(json!({"model": "m", "reasoning_effort": "high", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "assistant", "content": "again", "reasoning_content": "kept"},
            {"role": "user", "content": "go"}]}));
        r.reasoning_budget = Some(20000);
        adapt(Compat::DeepSeek, &mut r);
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["thinking"], json!({"type": "enabled"}));
        assert_eq!(v["reasoning_effort"], "high");
        assert_eq!(v["messages"][1]["reasoning_content"], " ");
        assert_eq!(v["messages"][2]["reasoning_content"], "kept");
        assert_eq!(r.reasoning_budget, None);

        let mut r = request(json!({"model": "m", "reasoning_effort": "none", "messages": [
            {"role": "assistant", "content": "hello"}]}));
        adapt(Compat::DeepSeek, &mut r);
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["thinking"], json!({"type": "disabled"}));
        assert!(v.get("reasoning_effort").is_none());
        assert!(v["messages"][0].get("reasoning_content").is_none());

        let mut plain =
            request(json!({"model": "m", "messages": [{"role": "assistant", "content": "x"}]}));
        let before = plain.clone();
        adapt(Compat::DeepSeek, &mut plain);
        assert_eq!(plain, before, "no effort: nothing changes");
    }

    #[test]
    fn glm_and_doubao_get_their_thinking_switch_and_glm_text_turns() {
        let mut r = request(json!({"model": "m", "reasoning_effort": "minimal", "messages": [
            {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "user", "content": [{"type": "text", "text": "u"}]}]}));
        adapt(Compat::Zai, &mut r);
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["thinking"], json!({"type": "disabled"}));
        assert!(v.get("reasoning_effort").is_none());
        assert_eq!(v["messages"][0]["content"], "ab");
        assert_eq!(v["messages"][1]["content"][0]["text"], "u", "user parts stay parts");

        let mut r = request(
            json!({"model": "m", "reasoning_effort": "low", "thinking": {"type": "auto"}, "messages": []}),
        );
        adapt(Compat::Volcengine, &mut r);
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["thinking"], json!({"type": "auto"}), "the client's own setting wins");
    }

    #[test]
    fn mistral_gets_its_parameter_names_and_tool_ids() {
        let call = |id: &str| ToolCall {
            id: id.into(),
            kind: "function".into(),
            function: FunctionCall { name: "f".into(), arguments: "{}".into() },
            extra: Map::new(),
        };
        let mut r = request(
            json!({"model": "m", "tool_choice": "required", "max_completion_tokens": 9, "seed": 3, "messages": []}),
        );
        r.messages = vec![
            Message { role: "user".into(), name: Some("bob".into()), ..Message::default() },
            Message {
                role: "assistant".into(),
                tool_calls: Some(vec![call("toolu_01ABC"), call("Ab3dE6gH9")]),
                ..Message::default()
            },
            Message {
                role: "tool".into(),
                tool_call_id: Some("toolu_01ABC".into()),
                name: Some("f".into()),
                ..Message::default()
            },
        ];
        adapt(Compat::Mistral, &mut r);
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["tool_choice"], "any");
        assert_eq!(v["max_tokens"], 9);
        assert!(v.get("max_completion_tokens").is_none() && v.get("seed").is_none());
        assert_eq!(v["random_seed"], 3);
        assert!(v["messages"][0].get("name").is_none());
        assert_eq!(v["messages"][2]["name"], "f");
        let mapped = v["messages"][1]["tool_calls"][0]["id"].as_str().expect("id");
        assert_eq!(mapped.len(), 9);
        assert!(mapped.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(v["messages"][2]["tool_call_id"], mapped, "the result follows its call");
        assert_eq!(v["messages"][1]["tool_calls"][1]["id"], "Ab3dE6gH9", "Mistral's own id kept");
        assert_ne!(mistral_id("call_1"), mistral_id("call_2"));
    }

    #[test]
    fn reasoning_becomes_reasoning_content() {
        let mut c: ChatChunk = serde_json::from_value(json!({"id": "x", "choices": [
            {"index": 0, "delta": {"reasoning": "hmm"}},
            {"index": 1, "delta": {"reasoning_content": "own", "reasoning": "dup"}}]}))
        .expect("chunk");
        normalize_chunk(&mut c);
        assert_eq!(c.choices[0].delta.reasoning_content.as_deref(), Some("hmm"));
        assert!(c.choices[0].delta.extra.is_empty());
        assert_eq!(c.choices[1].delta.reasoning_content.as_deref(), Some("own"));
        assert!(c.choices[1].delta.extra.is_empty());

        let mut done: ChatCompletion = serde_json::from_value(json!({"id": "x", "model": "m", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "a", "reasoning": "why"}, "finish_reason": "stop"}]}))
        .expect("completion");
        normalize_completion(&mut done);
        assert_eq!(done.choices[0].message.reasoning_content.as_deref(), Some("why"));
    }
}

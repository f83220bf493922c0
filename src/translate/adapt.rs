//! Per-upstream request adaptation the hub format cannot express once for all: reasoning
//! controls and sampling parameters some upstreams reject. Runs in the router right before
//! a request goes to a deployment, before `drop_params`.
//!
//! - DashScope (Qwen) rejects `reasoning_effort`; it takes `enable_thinking` and
//!   `thinking_budget`. A hub `reasoning_effort` (from an OpenAI client, or an Anthropic
//!   `thinking` block) becomes `enable_thinking: true` (`false` for `none` / `minimal`), and
//!   the hub's `reasoning_budget` becomes `thinking_budget`. Explicit Qwen parameters win.
//!   DashScope refuses thinking on non-streaming calls; the provider streams those upstream
//!   and folds the answer (`translate::collect`).
//! - DashScope also rejects a system message after the first turn ("System message must be
//!   at the beginning"): later ones are merged into the leading system prompt.
//! - Azure OpenAI rejects `top_k`; it is dropped there.
//! - The rest of the OpenAI-compatible family: `translate::compat` (DeepSeek, GLM and
//!   Doubao thinking switches, Mistral's parameter names and tool ids).
//! - An Anthropic `thinking` request (hub `reasoning_budget` set) is a wish, not a parameter:
//!   where the upstream has no reasoning control (`reasoning_effort` unsupported, e.g. Azure
//!   gpt-4o), [`optional_thinking`] drops it instead of failing the request.
//! - Other upstreams read `reasoning_effort` / `reasoning_budget` themselves.

use serde_json::Value;

use crate::config::ProviderKind;
use crate::wire::openai::{ChatRequest, Content, Message};

/// Adapt a hub request for one kind of upstream.
pub fn for_provider(kind: ProviderKind, req: &mut ChatRequest) {
    match kind {
        ProviderKind::DashScope => {
            leading_system_only(req);
            let budget = req.reasoning_budget.take();
            if let Some(effort) = req.reasoning_effort.take() {
                let on = !matches!(effort.as_str(), "none" | "minimal");
                req.extra.entry("enable_thinking").or_insert(Value::Bool(on));
                if on && let Some(b) = budget {
                    req.extra.entry("thinking_budget").or_insert(Value::from(b));
                }
            }
        }
        ProviderKind::Azure => {
            req.extra.shift_remove("top_k");
        }
        ProviderKind::Compat(c) => super::compat::adapt(c, req),
        ProviderKind::Mock
        | ProviderKind::OpenAi
        | ProviderKind::Vertex
        | ProviderKind::Gemini
        | ProviderKind::Anthropic
        | ProviderKind::VertexClaude
        | ProviderKind::AzureAi => {}
    }
}

/// Merge every system message into one at the start (texts in their order, blank line
/// between), for upstreams that take a system prompt only there.
pub fn leading_system_only(req: &mut ChatRequest) {
    let first_other = req.messages.iter().position(|m| m.role != "system").unwrap_or(0);
    if !req.messages.iter().skip(first_other).any(|m| m.role == "system") {
        return;
    }
    let mut texts = Vec::new();
    req.messages.retain(|m| {
        if m.role != "system" {
            return true;
        }
        if let Some(c) = &m.content {
            texts.push(c.text());
        }
        false
    });
    let text = texts.into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n\n");
    req.messages.insert(
        0,
        Message { role: "system".into(), content: Some(Content::Text(text)), ..Message::default() },
    );
}

/// Drop reasoning that came from an Anthropic `thinking` block where the upstream does not
/// take `reasoning_effort` (`unsupported` is the provider's list). A client's own
/// `reasoning_effort` (no budget) is left for `drop_params` to judge.
pub fn optional_thinking(unsupported: &[&str], req: &mut ChatRequest) {
    if req.reasoning_budget.is_some() && unsupported.contains(&"reasoning_effort") {
        req.reasoning_effort = None;
        req.reasoning_budget = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(effort: Option<&str>, budget: Option<u32>) -> ChatRequest {
        ChatRequest {
            reasoning_effort: effort.map(str::to_owned),
            reasoning_budget: budget,
            stream: Some(true),
            ..ChatRequest::default()
        }
    }

    #[test]
    fn dashscope_gets_enable_thinking_and_budget_instead_of_reasoning_effort() {
        let mut r = req(Some("high"), Some(20000));
        for_provider(ProviderKind::DashScope, &mut r);
        assert_eq!(r.reasoning_effort, None);
        assert_eq!(r.extra.get("enable_thinking"), Some(&Value::Bool(true)));
        assert_eq!(r.extra.get("thinking_budget"), Some(&Value::from(20000)));

        let mut r = req(Some("minimal"), None);
        for_provider(ProviderKind::DashScope, &mut r);
        assert_eq!(r.extra.get("enable_thinking"), Some(&Value::Bool(false)));
        assert_eq!(r.extra.get("thinking_budget"), None);
    }

    #[test]
    fn dashscope_non_streaming_calls_ask_for_thinking_too() {
        // The provider streams them upstream (DashScope thinks only on streams).
        let mut r = req(Some("high"), Some(20000));
        r.stream = None;
        for_provider(ProviderKind::DashScope, &mut r);
        assert_eq!(r.reasoning_effort, None);
        assert_eq!(r.extra.get("enable_thinking"), Some(&Value::Bool(true)));
        assert_eq!(r.extra.get("thinking_budget"), Some(&Value::from(20000)));
    }

    #[test]
    fn thinking_is_dropped_where_reasoning_effort_is_unsupported() {
        let mut r = req(Some("high"), Some(20000));
        optional_thinking(&["reasoning_effort"], &mut r);
        assert_eq!((r.reasoning_effort, r.reasoning_budget), (None, None));
        let mut r = req(Some("high"), None);
        optional_thinking(&["reasoning_effort"], &mut r);
        assert_eq!(
            r.reasoning_effort.as_deref(),
            Some("high"),
            "a client's own reasoning_effort stays"
        );
        let mut r = req(Some("high"), Some(20000));
        optional_thinking(&["logit_bias"], &mut r);
        assert_eq!(r.reasoning_effort.as_deref(), Some("high"));
    }

    #[test]
    fn dashscope_gets_one_leading_system_prompt() {
        let msg = |role: &str, text: &str| Message {
            role: role.into(),
            content: Some(Content::Text(text.into())),
            ..Message::default()
        };
        let mut r = ChatRequest {
            messages: vec![
                msg("system", "be brief"),
                msg("user", "hi"),
                msg("assistant", "hello"),
                msg("system", "<reminder>todo list is empty</reminder>"),
                msg("user", "go on"),
            ],
            ..ChatRequest::default()
        };
        for_provider(ProviderKind::DashScope, &mut r);
        let roles: Vec<&str> = r.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(
            r.messages[0].content.as_ref().map(Content::text).as_deref(),
            Some("be brief\n\n<reminder>todo list is empty</reminder>")
        );
        // Already leading only: untouched.
        let before = r.clone();
        leading_system_only(&mut r);
        assert_eq!(r, before);
    }

    #[test]
    fn explicit_qwen_parameters_win() {
        let mut r = req(Some("low"), Some(1024));
        r.extra.insert("enable_thinking".into(), Value::Bool(false));
        for_provider(ProviderKind::DashScope, &mut r);
        assert_eq!(r.extra.get("enable_thinking"), Some(&Value::Bool(false)));
    }

    #[test]
    fn others_keep_reasoning_effort_and_azure_loses_top_k() {
        let mut r = req(Some("low"), Some(1024));
        r.extra.insert("top_k".into(), Value::from(5));
        let mut v = r.clone();
        for_provider(ProviderKind::Vertex, &mut v);
        assert_eq!(v, r);
        for_provider(ProviderKind::Azure, &mut r);
        assert_eq!(r.reasoning_effort.as_deref(), Some("low"));
        assert!(!r.extra.contains_key("top_k"));
    }
}

//! Per-upstream request adaptation the hub format cannot express once for all: reasoning
//! controls and sampling parameters some upstreams reject. Runs in the router right before
//! a request goes to a deployment, before `drop_params`.
//!
//! - DashScope (Qwen) rejects `reasoning_effort`; it takes `enable_thinking` and
//!   `thinking_budget`. A hub `reasoning_effort` (from an OpenAI client, or an Anthropic
//!   `thinking` block) becomes `enable_thinking: true` (`false` for `none` / `minimal`), and
//!   the hub's `reasoning_budget` becomes `thinking_budget`. Explicit Qwen parameters win.
//! - Azure OpenAI rejects `top_k`; it is dropped there.
//! - Other upstreams read `reasoning_effort` / `reasoning_budget` themselves.

use serde_json::Value;

use crate::config::ProviderKind;
use crate::wire::openai::ChatRequest;

/// Adapt a hub request for one kind of upstream.
pub fn for_provider(kind: ProviderKind, req: &mut ChatRequest) {
    match kind {
        ProviderKind::DashScope => {
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
        ProviderKind::Mock | ProviderKind::OpenAi | ProviderKind::Vertex => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(effort: Option<&str>, budget: Option<u32>) -> ChatRequest {
        ChatRequest {
            reasoning_effort: effort.map(str::to_owned),
            reasoning_budget: budget,
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

//! Output-token ceilings: a request asking for more than a model can write (Claude Code asks
//! for 32,000 or 64,000 whatever the model) is clamped to the model's maximum instead of
//! being refused upstream ("max_tokens is too large"). The maximum comes from the
//! deployment's `model_info.max_output_tokens` (or `max_tokens`, LiteLLM's older key), else
//! from a table of the models the seed configures, matched on `model_info.base_model` or the
//! deployment's model name. Unknown models are left alone.

use serde_json::{Map, Value};

use crate::wire::openai::ChatRequest;

/// Known output ceilings, most specific name first (a name matches when it contains the
/// pattern). From the providers' model pages.
const KNOWN: &[(&str, u32)] = &[
    ("gpt-4o-mini", 16_384),
    ("gpt-4o", 16_384),
    ("gpt-4.1", 32_768),
    ("gpt-4-turbo", 4_096),
    ("gpt-4-32k", 4_096),
    ("gpt-35-turbo", 4_096),
    ("gpt-3.5-turbo", 4_096),
    ("gpt-5-chat", 16_384),
    ("gpt-5", 128_000),
    ("o4-mini", 100_000),
    ("o3", 100_000),
    ("o1", 100_000),
    ("gemini-3", 65_536),
    ("gemini-2.5", 65_536),
    ("gemini-2.0", 8_192),
    ("gemini-1.5", 8_192),
    ("qwen-max", 8_192),
    ("qwen-plus", 32_768),
    ("qwen-turbo", 16_384),
    ("qwen-flash", 32_768),
    ("qwen3-coder", 65_536),
    ("qwen3", 32_768),
];

/// The output ceiling of a deployment, if known.
pub fn max_output_tokens(model_info: &Map<String, Value>, model: &str) -> Option<u32> {
    let configured = ["max_output_tokens", "max_tokens"].iter().find_map(|k| {
        model_info.get(*k).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok())
    });
    if configured.is_some() {
        return configured;
    }
    let name = model_info.get("base_model").and_then(Value::as_str).unwrap_or(model);
    let name = name.to_ascii_lowercase();
    let name = name.rsplit('/').next().unwrap_or(&name);
    KNOWN.iter().find(|(pattern, _)| name.contains(pattern)).map(|(_, n)| *n)
}

/// Lower `max_tokens` / `max_completion_tokens` to `ceiling`; says whether anything changed.
pub fn clamp(req: &mut ChatRequest, ceiling: u32) -> bool {
    let mut changed = false;
    for field in [&mut req.max_tokens, &mut req.max_completion_tokens] {
        if let Some(n) = field
            && *n > ceiling
        {
            *n = ceiling;
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn info(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_configured_ceiling_wins_then_the_table() {
        assert_eq!(
            max_output_tokens(&info(json!({"max_output_tokens": 1000})), "gpt-4o"),
            Some(1000)
        );
        assert_eq!(max_output_tokens(&info(json!({"max_tokens": 2000})), "x"), Some(2000));
        assert_eq!(max_output_tokens(&info(json!({})), "gpt-4o"), Some(16_384));
        assert_eq!(max_output_tokens(&info(json!({})), "gpt-4o-mini-2024-07-18"), Some(16_384));
        assert_eq!(max_output_tokens(&info(json!({})), "gpt-5-mini"), Some(128_000));
        assert_eq!(
            max_output_tokens(&info(json!({})), "publishers/google/models/gemini-2.5-pro"),
            Some(65_536)
        );
        // A deployment named by the user: base_model says what it is.
        assert_eq!(
            max_output_tokens(&info(json!({"base_model": "gpt-4o"})), "my-deployment"),
            Some(16_384)
        );
        assert_eq!(max_output_tokens(&info(json!({})), "my-deployment"), None);
    }

    #[test]
    fn only_larger_requests_are_lowered() {
        let mut r = ChatRequest { max_tokens: Some(32_000), ..ChatRequest::default() };
        assert!(clamp(&mut r, 16_384));
        assert_eq!(r.max_tokens, Some(16_384));
        let mut r = ChatRequest { max_completion_tokens: Some(100), ..ChatRequest::default() };
        assert!(!clamp(&mut r, 16_384));
        assert_eq!(r.max_completion_tokens, Some(100));
    }
}

//! Request rewriting for OpenAI reasoning models (gpt-5 family, o1 / o3 / o4): they take
//! `max_completion_tokens` instead of `max_tokens` and only the default sampling parameters.
//!
//! Detection rule (documented in the README): the model family is read from
//! `model_info.base_model` when the deployment gives one, otherwise from the deployment name.
//! After lower-casing and dropping any `provider/` prefix, a name is a reasoning model when it
//! starts with `gpt-5` / `gpt5` (except the `gpt-5…-chat…` models, which are chat-tuned and take
//! sampling parameters), or is `o1`, `o3`, `o4` alone or followed by `-`, `_` or `.`.

use crate::wire::openai::ChatRequest;

/// Whether a model or deployment name belongs to a reasoning family.
pub fn is_reasoning_model(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    if name.starts_with("gpt-5") || name.starts_with("gpt5") {
        return !name.contains("-chat");
    }
    ["o1", "o3", "o4"].iter().any(|family| {
        name.strip_prefix(family)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_', '.']))
    })
}

/// The name reasoning detection looks at: `model_info.base_model` if set, else the deployment.
pub fn family_name<'a>(base_model: Option<&'a str>, deployment: &'a str) -> &'a str {
    base_model.filter(|b| !b.trim().is_empty()).unwrap_or(deployment)
}

/// A sampling parameter a reasoning model does not accept, with drop_params off.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub param: &'static str,
    pub message: String,
}

/// Sampling parameters reasoning models only accept at their default value.
const FIXED: [(&str, f64); 4] =
    [("temperature", 1.0), ("top_p", 1.0), ("presence_penalty", 0.0), ("frequency_penalty", 0.0)];

/// Rewrite a request for a reasoning model:
/// - `max_tokens` becomes `max_completion_tokens` (an explicit `max_completion_tokens` wins);
/// - `temperature` / `top_p` (and the penalties) at their default value are removed, since
///   they change nothing; other values are dropped when `drop_params` is on, otherwise the
///   request is rejected naming the parameter;
/// - `reasoning_effort` passes through untouched.
///
/// Returns the names of the parameters dropped because of `drop_params`.
pub fn rewrite(
    req: &mut ChatRequest,
    model: &str,
    drop_params: bool,
) -> Result<Vec<String>, Rejected> {
    if let Some(max) = req.max_tokens.take() {
        req.max_completion_tokens.get_or_insert(max);
    }
    let mut dropped = Vec::new();
    for (param, default) in FIXED {
        let slot = match param {
            "temperature" => &mut req.temperature,
            "top_p" => &mut req.top_p,
            "presence_penalty" => &mut req.presence_penalty,
            _ => &mut req.frequency_penalty,
        };
        let Some(value) = *slot else { continue };
        if (value - default).abs() < f64::EPSILON {
            *slot = None;
            continue;
        }
        if !drop_params {
            return Err(Rejected {
                param,
                message: format!(
                    "model `{model}` is a reasoning model and only supports {param}={default}; got {param}={value}. \
                     Remove it, or set `drop_params: true` (litellm_settings or the model's litellm_params) to drop it."
                ),
            });
        }
        *slot = None;
        dropped.push(param.to_owned());
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> ChatRequest {
        serde_json::from_str(json).expect("request")
    }

    #[test]
    fn reasoning_families_are_recognised() {
        for name in [
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "GPT-5.1",
            "gpt5-prod",
            "azure/gpt-5-mini",
            "o1",
            "o1-mini",
            "o3-mini",
            "o4-mini",
            "o3_2025",
            "o1.prod",
        ] {
            assert!(is_reasoning_model(name), "{name}");
        }
        for name in [
            "gpt-4",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4o",
            "gpt-5-chat",
            "gpt-5-chat-latest",
            "omni",
            "o10",
            "my-o3",
            "text-embedding-3-small",
            "",
        ] {
            assert!(!is_reasoning_model(name), "{name}");
        }
    }

    #[test]
    fn base_model_wins_over_the_deployment_name() {
        assert_eq!(family_name(Some("azure/o3-mini"), "prod-chat"), "azure/o3-mini");
        assert_eq!(family_name(Some(" "), "gpt-5"), "gpt-5");
        assert_eq!(family_name(None, "gpt-5"), "gpt-5");
    }

    #[test]
    fn max_tokens_becomes_max_completion_tokens() {
        let mut r = req(r#"{"messages":[],"max_tokens":64,"reasoning_effort":"low"}"#);
        assert_eq!(rewrite(&mut r, "gpt-5", false), Ok(vec![]));
        assert_eq!(r.max_tokens, None);
        assert_eq!(r.max_completion_tokens, Some(64));
        assert_eq!(r.reasoning_effort.as_deref(), Some("low"), "reasoning_effort passes through");

        let mut r = req(r#"{"messages":[],"max_tokens":64,"max_completion_tokens":500}"#);
        rewrite(&mut r, "gpt-5", false).expect("ok");
        assert_eq!(
            (r.max_tokens, r.max_completion_tokens),
            (None, Some(500)),
            "explicit value wins"
        );
    }

    #[test]
    fn default_sampling_values_are_removed_silently() {
        let mut r = req(r#"{"messages":[],"temperature":1,"top_p":1.0,"presence_penalty":0}"#);
        assert_eq!(rewrite(&mut r, "o3-mini", false), Ok(vec![]));
        assert_eq!((r.temperature, r.top_p, r.presence_penalty), (None, None, None));
    }

    #[test]
    fn other_sampling_values_are_rejected_or_dropped() {
        let mut r = req(r#"{"messages":[],"temperature":0.2,"top_p":0.9}"#);
        let err = rewrite(&mut r, "gpt-5-mini", false).expect_err("rejected");
        assert_eq!(err.param, "temperature");
        assert!(err.message.contains("only supports temperature=1"), "{}", err.message);
        assert!(err.message.contains("drop_params"), "{}", err.message);

        let mut r = req(r#"{"messages":[],"temperature":0.2,"top_p":0.9,"max_tokens":10}"#);
        let dropped = rewrite(&mut r, "gpt-5-mini", true).expect("dropped");
        assert_eq!(dropped, vec!["temperature", "top_p"]);
        assert_eq!((r.temperature, r.top_p, r.max_completion_tokens), (None, None, Some(10)));
    }
}

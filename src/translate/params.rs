//! Request shaping before a call: per-deployment defaults, `drop_params` and
//! `additional_drop_params`, as LiteLLM applies them.

use serde_json::{Map, Value};

use crate::wire::openai::ChatRequest;

/// A parameter the upstream does not accept, with drop_params off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub params: Vec<String>,
}

/// Names of the parameters present in a request (typed fields and extras).
pub fn present(req: &ChatRequest) -> Vec<&str> {
    let typed: [(&str, bool); 17] = [
        ("stream_options", req.stream_options.is_some()),
        ("max_tokens", req.max_tokens.is_some()),
        ("max_completion_tokens", req.max_completion_tokens.is_some()),
        ("temperature", req.temperature.is_some()),
        ("top_p", req.top_p.is_some()),
        ("n", req.n.is_some()),
        ("stop", req.stop.is_some()),
        ("presence_penalty", req.presence_penalty.is_some()),
        ("frequency_penalty", req.frequency_penalty.is_some()),
        ("seed", req.seed.is_some()),
        ("tools", req.tools.is_some()),
        ("tool_choice", req.tool_choice.is_some()),
        ("parallel_tool_calls", req.parallel_tool_calls.is_some()),
        ("response_format", req.response_format.is_some()),
        ("reasoning_effort", req.reasoning_effort.is_some()),
        ("user", req.user.is_some()),
        ("stream", req.stream.is_some()),
    ];
    typed
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .chain(req.extra.keys().map(String::as_str))
        .collect()
}

/// Remove one top-level parameter; true if it was there.
pub fn remove(req: &mut ChatRequest, name: &str) -> bool {
    fn take<T>(o: &mut Option<T>) -> bool {
        o.take().is_some()
    }
    match name {
        "stream_options" => take(&mut req.stream_options),
        "max_tokens" => take(&mut req.max_tokens),
        "max_completion_tokens" => take(&mut req.max_completion_tokens),
        "temperature" => take(&mut req.temperature),
        "top_p" => take(&mut req.top_p),
        "n" => take(&mut req.n),
        "stop" => take(&mut req.stop),
        "presence_penalty" => take(&mut req.presence_penalty),
        "frequency_penalty" => take(&mut req.frequency_penalty),
        "seed" => take(&mut req.seed),
        "tools" => take(&mut req.tools),
        "tool_choice" => take(&mut req.tool_choice),
        "parallel_tool_calls" => take(&mut req.parallel_tool_calls),
        "response_format" => take(&mut req.response_format),
        "reasoning_effort" => take(&mut req.reasoning_effort),
        "user" => take(&mut req.user),
        _ => req.extra.shift_remove(name).is_some(),
    }
}

/// Fill in per-deployment defaults (`litellm_params.temperature: 0.2`, ...) the client did
/// not set. `extra_body` entries are merged as top-level parameters, as the OpenAI SDK does.
pub fn apply_defaults(
    req: ChatRequest,
    defaults: &Map<String, Value>,
) -> Result<ChatRequest, String> {
    if defaults.is_empty() {
        return Ok(req);
    }
    let budget = req.reasoning_budget;
    let Value::Object(mut body) = serde_json::to_value(&req).map_err(|e| e.to_string())? else {
        return Ok(req);
    };
    for (k, v) in defaults {
        if k == "extra_body" {
            if let Value::Object(extra) = v {
                for (ek, ev) in extra {
                    body.entry(ek.clone()).or_insert_with(|| ev.clone());
                }
            }
            continue;
        }
        if !v.is_null() {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut out: ChatRequest = serde_json::from_value(Value::Object(body))
        .map_err(|e| format!("a litellm_params default has the wrong type: {e}"))?;
    out.reasoning_budget = budget;
    Ok(out)
}

/// Apply `additional_drop_params` (always) and the provider's unsupported list (dropped when
/// `drop_params`, otherwise reported).
pub fn drop_unsupported(
    req: &mut ChatRequest,
    unsupported: &[&str],
    drop_params: bool,
    additional: &[String],
) -> Result<Vec<String>, Unsupported> {
    let mut dropped = Vec::new();
    for name in additional {
        if remove(req, name) {
            dropped.push(name.clone());
        }
    }
    let offending: Vec<String> =
        present(req).into_iter().filter(|p| unsupported.contains(p)).map(str::to_owned).collect();
    if offending.is_empty() {
        return Ok(dropped);
    }
    if !drop_params {
        return Err(Unsupported { params: offending });
    }
    for name in offending {
        remove(req, &name);
        dropped.push(name);
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
    fn unsupported_params_are_reported_or_dropped() {
        let base = r#"{"model":"m","messages":[],"logit_bias":{"1":2},"temperature":0.5,"enable_thinking":true}"#;
        let mut r = req(base);
        let err = drop_unsupported(&mut r, &["logit_bias", "reasoning_effort"], false, &[])
            .expect_err("reported");
        assert_eq!(err.params, vec!["logit_bias"]);

        let mut r = req(base);
        let dropped = drop_unsupported(&mut r, &["logit_bias"], true, &[]).expect("dropped");
        assert_eq!(dropped, vec!["logit_bias"]);
        assert!(!r.extra.contains_key("logit_bias"));
        assert_eq!(
            r.extra.get("enable_thinking"),
            Some(&Value::Bool(true)),
            "Qwen extras pass through"
        );
        assert_eq!(r.temperature, Some(0.5));
    }

    #[test]
    fn additional_drop_params_always_apply() {
        let mut r = req(r#"{"model":"m","messages":[],"temperature":0.5,"user":"u","x_custom":1}"#);
        let dropped = drop_unsupported(
            &mut r,
            &[],
            false,
            &["temperature".into(), "x_custom".into(), "absent".into()],
        )
        .expect("ok");
        assert_eq!(dropped, vec!["temperature", "x_custom"]);
        assert_eq!(r.temperature, None);
        assert_eq!(r.user.as_deref(), Some("u"));
    }

    #[test]
    fn defaults_fill_gaps_and_client_wins() {
        let mut defaults = Map::new();
        defaults.insert("temperature".into(), Value::from(0.1));
        defaults.insert("max_tokens".into(), Value::from(100));
        defaults.insert("extra_body".into(), serde_json::json!({"enable_thinking": false}));
        let r = apply_defaults(req(r#"{"model":"m","messages":[],"temperature":0.9}"#), &defaults)
            .expect("ok");
        assert_eq!(r.temperature, Some(0.9));
        assert_eq!(r.max_tokens, Some(100));
        assert_eq!(r.extra.get("enable_thinking"), Some(&Value::Bool(false)));
    }
}

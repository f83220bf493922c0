//! `GET /v1/models` (OpenAI's list shape as LiteLLM answers it, or Anthropic's when the
//! caller sends `anthropic-version`), `GET /v1/models/{model}` and `GET /model/info`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::json;
use crate::server::AppState;
use crate::server::error::{ApiError, Dialect};
use crate::wire::openai::ModelEntry;

/// LiteLLM reports this fixed `created` for every model.
const LITELLM_CREATED: i64 = 1677610602;
/// The same instant as Anthropic's model list writes it.
const LITELLM_CREATED_RFC3339: &str = "2023-02-28T18:56:42Z";

/// Concrete aliases, which clients may send as they are; wildcard aliases (`claude-*`) are
/// patterns, listed apart (`wildcard_patterns`) so no client picks `claude-*` as a model.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (concrete, patterns): (Vec<&String>, Vec<&String>) =
        state.router().aliases().iter().partition(|a| !a.contains('*'));
    let mut body = if headers.contains_key("anthropic-version") {
        let data: Vec<Value> = concrete.iter().map(|a| anthropic_entry(a)).collect();
        json!({
            "data": data,
            "has_more": false,
            "first_id": concrete.first(),
            "last_id": concrete.last(),
        })
    } else {
        let data: Vec<ModelEntry> = concrete.iter().map(|a| openai_entry(a)).collect();
        json!({ "data": data, "object": "list" })
    };
    // Only when there are any, so the usual answer stays byte for byte LiteLLM's.
    if let (false, Some(obj)) = (patterns.is_empty(), body.as_object_mut()) {
        obj.insert("wildcard_patterns".into(), json!(patterns));
    }
    json(&body)
}

/// One model, by alias (a name a wildcard alias matches counts too).
pub async fn retrieve(
    State(state): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    if state.router().resolve(&model).is_err() {
        let dialect = if anthropic { Dialect::Anthropic } else { Dialect::OpenAi };
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("model `{model}` is not served here; GET /v1/models lists the aliases"),
        )
        .in_dialect(dialect)
        .into_response();
    }
    if anthropic { json(&anthropic_entry(&model)) } else { json(&openai_entry(&model)) }
}

fn openai_entry(alias: &str) -> ModelEntry {
    ModelEntry {
        id: alias.to_owned(),
        object: "model".into(),
        created: LITELLM_CREATED,
        owned_by: "openai".into(),
    }
}

fn anthropic_entry(alias: &str) -> Value {
    json!({
        "type": "model",
        "id": alias,
        "display_name": alias,
        "created_at": LITELLM_CREATED_RFC3339,
    })
}

/// One entry per deployment: alias, provider/model, public params (never keys), model_info
/// and whether it can serve; the whole body redacted (a password in `api_base`).
pub async fn info(State(state): State<AppState>) -> Response {
    let data: Vec<Value> = state
        .router()
        .deployments()
        .iter()
        .map(|r| {
            let d = &r.dep;
            let mut params = Map::new();
            params.insert("model".into(), json!(format!("{}/{}", d.provider.name(), d.model)));
            if let Some(b) = &d.api_base {
                params.insert("api_base".into(), json!(b));
            }
            if let Some(v) = &d.api_version {
                params.insert("api_version".into(), json!(v));
            }
            if let Some(v) = d.rpm {
                params.insert("rpm".into(), json!(v));
            }
            if let Some(v) = d.tpm {
                params.insert("tpm".into(), json!(v));
            }
            let mut info = d.model_info.clone();
            info.insert("id".into(), json!(d.index.to_string()));
            info.entry("mode").or_insert_with(|| json!("chat"));
            info.insert("available".into(), json!(r.unavailable_reason().is_none()));
            if let Some(reason) = r.unavailable_reason() {
                info.insert("unavailable_reason".into(), json!(reason));
            }
            json!({ "model_name": d.alias, "litellm_params": params, "model_info": info })
        })
        .collect();
    let mut body = json!({ "data": data });
    crate::redact::redact_json(&mut body);
    json(&body)
}

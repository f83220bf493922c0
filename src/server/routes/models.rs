//! `GET /v1/models` (OpenAI list shape, as LiteLLM answers it) and `GET /model/info`.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::json;
use crate::server::AppState;
use crate::wire::openai::ModelEntry;

/// LiteLLM reports this fixed `created` for every model.
const LITELLM_CREATED: i64 = 1677610602;

pub async fn list(State(state): State<AppState>) -> Response {
    let data: Vec<ModelEntry> = state
        .router()
        .aliases()
        .iter()
        .map(|a| ModelEntry {
            id: a.clone(),
            object: "model".into(),
            created: LITELLM_CREATED,
            owned_by: "openai".into(),
        })
        .collect();
    json(&json!({ "data": data, "object": "list" }))
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

//! Health probes, unauthenticated as in LiteLLM: liveliness/liveness and readiness.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::json;
use crate::server::AppState;

/// `GET /` (and `HEAD /`, which Claude Code sends at every start to check it can connect):
/// a short JSON saying what answers here, no auth needed.
pub async fn root() -> Response {
    json(&json!({
        "name": "ai-proxy",
        "version": env!("CARGO_PKG_VERSION"),
        "status": "ok",
        "docs": "POST /v1/chat/completions, /v1/messages, /v1/responses; GET /v1/models, /health/readiness",
    }))
}

pub async fn liveliness() -> Response {
    json(&"I'm alive!")
}

/// LiteLLM's `{"status": "healthy", "db": "Not connected"}` plus version and model counts,
/// and each unavailable deployment with what to set.
pub async fn readiness(State(state): State<AppState>) -> Response {
    let deployments = state.router().deployments();
    let unavailable: Vec<Value> = deployments
        .iter()
        .filter_map(|r| {
            r.unavailable_reason().map(|reason| json!({ "model": r.dep.alias, "reason": reason }))
        })
        .collect();
    json(&json!({
        "status": "healthy",
        "db": "Not connected",
        "version": env!("CARGO_PKG_VERSION"),
        "models": deployments.len(),
        "models_available": deployments.len() - unavailable.len(),
        "unavailable": unavailable,
        "uptime_seconds": state.uptime().as_secs(),
    }))
}

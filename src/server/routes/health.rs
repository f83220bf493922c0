//! Health probes, unauthenticated as in LiteLLM (liveliness/liveness and readiness), and
//! `GET /health` (master key, as in LiteLLM): each deployment's state as the router sees it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::json;
use crate::redact::{redact, redact_json};
use crate::router::Routed;
use crate::router::health::{Report, State as DeploymentState};
use crate::server::AppState;
use crate::utc::rfc3339;

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
/// each unavailable deployment with what to set, and every deployment's state (ready,
/// cooling down until when and after which error, unavailable).
pub async fn readiness(State(state): State<AppState>) -> Response {
    let deployments = state.router().deployments();
    let reports: Vec<Report> = deployments.iter().map(|r| r.report()).collect();
    let unavailable: Vec<Value> = deployments
        .iter()
        .filter_map(|r| {
            r.unavailable_reason().map(|reason| json!({ "model": r.dep.alias, "reason": reason }))
        })
        .collect();
    let cooling =
        reports.iter().filter(|r| matches!(r.state, DeploymentState::CoolingDown { .. })).count();
    let states: Vec<Value> =
        deployments.iter().zip(&reports).map(|(r, report)| deployment(r, report)).collect();
    let mut body = json!({
        "status": "healthy",
        "db": "Not connected",
        "version": env!("CARGO_PKG_VERSION"),
        "models": deployments.len(),
        "models_available": deployments.len() - unavailable.len(),
        "models_cooling_down": cooling,
        "unavailable": unavailable,
        "deployments": states,
        "uptime_seconds": state.uptime().as_secs(),
    });
    redact_json(&mut body);
    json(&body)
}

/// `GET /health[?model=alias]`: LiteLLM's shape (`healthy_endpoints`,
/// `unhealthy_endpoints`, `healthy_count`, `unhealthy_count`) from the router's state, with
/// no call to any upstream. Healthy: ready. Unhealthy: cooling down (with `error`, the
/// upstream failure, and `cooling_down_until`) or unavailable (`error` says what to set).
pub async fn health(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let only = query.get("model");
    let mut healthy = Vec::new();
    let mut unhealthy = Vec::new();
    for r in state.router().deployments() {
        if only.is_some_and(|m| *m != r.dep.alias) {
            continue;
        }
        let report = r.report();
        let mut entry = endpoint(r, &report);
        match &report.state {
            DeploymentState::Ready => healthy.push(entry),
            DeploymentState::CoolingDown { .. } => {
                let error = report.last_error.as_ref().map(|e| e.message.clone());
                entry.insert("error".into(), json!(error));
                unhealthy.push(entry);
            }
            DeploymentState::Unavailable { reason } => {
                entry.insert("error".into(), json!(reason));
                unhealthy.push(entry);
            }
        }
    }
    let mut body = json!({
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
        "healthy_count": healthy.len(),
        "unhealthy_count": unhealthy.len(),
    });
    redact_json(&mut body);
    json(&body)
}

/// One deployment's line in the readiness probe.
fn deployment(r: &Routed, report: &Report) -> Value {
    let mut out = Map::new();
    out.insert("model".into(), json!(r.dep.alias));
    out.insert("deployment".into(), json!(r.label()));
    out.insert("index".into(), json!(r.dep.index));
    state_fields(&mut out, report);
    Value::Object(out)
}

/// One deployment as LiteLLM's `/health` lists it (`model` is `provider/model`, as in its
/// `litellm_params`), plus its state.
fn endpoint(r: &Routed, report: &Report) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("model".into(), json!(r.label()));
    out.insert("model_name".into(), json!(r.dep.alias));
    if let Some(base) = &r.dep.api_base {
        out.insert("api_base".into(), json!(redact(base)));
    }
    state_fields(&mut out, report);
    out
}

fn state_fields(out: &mut Map<String, Value>, report: &Report) {
    match &report.state {
        DeploymentState::Ready => {
            out.insert("state".into(), json!("ready"));
        }
        DeploymentState::CoolingDown { until, remaining } => {
            out.insert("state".into(), json!("cooling_down"));
            out.insert("cooling_down_until".into(), json!(rfc3339(*until)));
            let secs = (remaining.as_secs_f64() * 10.0).ceil() / 10.0;
            out.insert("cooldown_remaining_seconds".into(), json!(secs));
        }
        DeploymentState::Unavailable { reason } => {
            out.insert("state".into(), json!("unavailable"));
            out.insert("reason".into(), json!(reason));
        }
    }
    if let Some(e) = &report.last_error {
        out.insert(
            "last_error".into(),
            json!({
                "message": e.message,
                "status": e.status,
                "at": rfc3339(e.at),
                "current": report.failing,
            }),
        );
    }
    if report.in_flight > 0 {
        out.insert("in_flight".into(), json!(report.in_flight));
    }
}

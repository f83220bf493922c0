//! The request log over HTTP, behind the master key: LiteLLM's `GET /spend/logs` and
//! `GET /global/spend/report` shapes, and `GET /usage?window=day|week|month` (totals per
//! model since local midnight, the last 7 or 30 days).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::json;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::usage::store::{self, LogFilter, ModelTotals};
use crate::usage::{Record, UsageLog, now_ms};

/// `/spend/logs` answers at most this many calls (default 100).
const MAX_LOGS: usize = 1000;
const DEFAULT_LOGS: usize = 100;
const DAY_MS: i64 = 86_400_000;

fn log_of(state: &AppState) -> Result<UsageLog, ApiError> {
    state.usage().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            state.usage_off_reason(),
        )
    })
}

fn store_error(e: crate::usage::StoreError) -> ApiError {
    ApiError::internal(format!("cannot read the request log: {e}"))
}

/// `GET /metrics`: Prometheus text format, behind the master key like every route but the
/// health probes (Prometheus sends it with `authorization: {credentials: …}`).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let dropped = state.usage().map(UsageLog::dropped);
    let text = crate::usage::metrics::global().render(dropped);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// `GET /usage?window=day|week|month`: per-model totals and their sum.
pub async fn usage(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let days_back = match q.get("window").map(String::as_str).unwrap_or("day") {
        "day" => 0,
        "week" => 6,
        "month" => 29,
        other => {
            return ApiError::bad_request(format!(
                "window must be day, week or month (got {:?})",
                crate::telemetry::printable(other)
            ))
            .with_param("window")
            .into_response();
        }
    };
    let window = q.get("window").cloned().unwrap_or_else(|| "day".into());
    let log = match log_of(&state) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let dropped = log.dropped();
    let read = log
        .read(move |c| {
            let since = store::local_day_start_ms(c, days_back)?;
            let until = now_ms() + 1;
            let models = store::totals(c, since, until)?;
            Ok((store::iso_time(c, since)?, store::iso_time(c, until)?, models))
        })
        .await;
    match read {
        Ok((start, end, models)) => json(&json!({
            "window": window,
            "start": start,
            "end": end,
            "total": sum(&models),
            "models": models,
            "not_logged": dropped,
        })),
        Err(e) => store_error(e).into_response(),
    }
}

/// The sum over models; the cost is unknown only when no model had one.
fn sum(models: &[ModelTotals]) -> ModelTotals {
    let mut t = ModelTotals { model: "total".into(), ..Default::default() };
    for m in models {
        t.requests += m.requests;
        t.failed_requests += m.failed_requests;
        t.prompt_tokens += m.prompt_tokens;
        t.completion_tokens += m.completion_tokens;
        t.cached_tokens += m.cached_tokens;
        t.reasoning_tokens += m.reasoning_tokens;
        t.total_tokens += m.total_tokens;
        t.unpriced_requests += m.unpriced_requests;
        if let Some(c) = m.cost_usd {
            t.cost_usd = Some(t.cost_usd.unwrap_or(0.0) + c);
        }
    }
    t
}

/// A time range in unix milliseconds, either end open.
type Range = (Option<i64>, Option<i64>);

/// `start_date` / `end_date` (local `YYYY-MM-DD`, both days included) to a time range.
fn date_range(
    c: &rusqlite::Connection,
    q: &HashMap<String, String>,
) -> rusqlite::Result<Result<Range, ApiError>> {
    let mut out = [None, None];
    for (i, key) in ["start_date", "end_date"].into_iter().enumerate() {
        let Some(text) = q.get(key) else { continue };
        match store::local_date_ms(c, text.trim())? {
            Some(ms) => out[i] = Some(if i == 1 { ms + DAY_MS } else { ms }),
            None => {
                return Ok(Err(ApiError::bad_request(format!(
                    "{key} must be a date as YYYY-MM-DD (got {:?})",
                    crate::telemetry::printable(text)
                ))
                .with_param(key)));
            }
        }
    }
    Ok(Ok((out[0], out[1])))
}

/// `GET /spend/logs`: the newest calls as LiteLLM's SpendLogs rows. Filters: `start_date`,
/// `end_date`, `request_id`, `model` (the alias), `status=failure`, `limit` (≤ 1000).
pub async fn logs(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LOGS,
        Some(Ok(n)) if (1..=MAX_LOGS).contains(&n) => n,
        Some(_) => {
            return ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {MAX_LOGS}"
            ))
            .with_param("limit")
            .into_response();
        }
    };
    let failed_only = match q.get("status").map(String::as_str) {
        None | Some("") => false,
        Some("failure") => true,
        Some(_) => {
            return ApiError::bad_request("status must be `failure` (or left out for every call)")
                .with_param("status")
                .into_response();
        }
    };
    let log = match log_of(&state) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let read = log
        .read(move |c| {
            let (since_ms, until_ms) = match date_range(c, &q)? {
                Ok(r) => r,
                Err(api) => return Ok(Err(api)),
            };
            let filter = LogFilter {
                since_ms,
                until_ms,
                alias: q.get("model").cloned(),
                request_id: q.get("request_id").cloned(),
                failed_only,
                limit,
            };
            let rows = store::logs(c, &filter)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(spend_row(c, r)?);
            }
            Ok(Ok(out))
        })
        .await;
    match read {
        Ok(Ok(rows)) => json(&rows),
        Ok(Err(api)) => api.into_response(),
        Err(e) => store_error(e).into_response(),
    }
}

/// LiteLLM's `call_type` for an endpoint.
fn call_type(endpoint: &str) -> &str {
    match endpoint {
        "chat" => "acompletion",
        "messages" => "anthropic_messages",
        "responses" | "responses.compact" => "aresponses",
        "embeddings" => "aembedding",
        other => other,
    }
}

/// One call as a row of LiteLLM's SpendLogs table (keys it has and we can fill; ours under
/// `metadata`).
fn spend_row(c: &rusqlite::Connection, r: &Record) -> rusqlite::Result<Value> {
    let end_ms = r.ts_ms + r.latency_ms.round() as i64;
    let first_ms = r.ttft_ms.map(|t| r.ts_ms + t.round() as i64).unwrap_or(end_ms);
    let model =
        r.deployment.as_deref().map(|d| d.split_once('/').map_or(d, |(_, m)| m)).unwrap_or("");
    Ok(json!({
        "request_id": r.request_id,
        "call_type": call_type(&r.endpoint),
        "api_key": "",
        "spend": r.cost,
        "total_tokens": r.prompt_tokens + r.completion_tokens,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "startTime": store::iso_time(c, r.ts_ms)?,
        "endTime": store::iso_time(c, end_ms)?,
        "completionStartTime": store::iso_time(c, first_ms)?,
        "model": model,
        "model_group": r.alias,
        "model_id": r.model_id.as_deref().unwrap_or(""),
        "custom_llm_provider": r.provider,
        "user": "",
        "status": if r.status >= 400 || r.error.is_some() { "failure" } else { "success" },
        "metadata": {
            "status_code": r.status,
            "error": r.error,
            "deployment": r.deployment.as_deref(),
            "stream": r.stream,
            "latency_ms": r.latency_ms,
            "time_to_first_token_ms": r.ttft_ms,
            "cached_tokens": r.cached_tokens,
            "reasoning_tokens": r.reasoning_tokens,
            "user_agent": r.user_agent,
        },
    }))
}

/// `GET /global/spend/report`: spend per day and model in LiteLLM's shape (one "team": this
/// gateway has none). `start_date`/`end_date` default to the last 7 days.
pub async fn report(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let log = match log_of(&state) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let read = log
        .read(move |c| {
            let (since, until) = match date_range(c, &q)? {
                Ok(r) => r,
                Err(api) => return Ok(Err(api)),
            };
            let since = match since {
                Some(s) => s,
                None => store::local_day_start_ms(c, 6)?,
            };
            let rows = store::daily(c, since, until.unwrap_or(now_ms() + 1))?;
            Ok(Ok(rows))
        })
        .await;
    let rows = match read {
        Ok(Ok(rows)) => rows,
        Ok(Err(api)) => return api.into_response(),
        Err(e) => return store_error(e).into_response(),
    };
    let mut days: Vec<(String, Vec<ModelTotals>)> = Vec::new();
    for (day, totals) in rows {
        match days.last_mut() {
            Some((d, list)) if *d == day => list.push(totals),
            _ => days.push((day, vec![totals])),
        }
    }
    let out: Vec<Value> = days
        .into_iter()
        .map(|(day, models)| {
            let total = sum(&models);
            json!({
                "group_by_day": day,
                "teams": [{
                    "team_name": "ai-proxy",
                    "total_spend": total.cost_usd,
                    "metadata": models.iter().map(|m| json!({
                        "model": m.model,
                        "spend": m.cost_usd,
                        "total_tokens": m.total_tokens,
                        "requests": m.requests,
                    })).collect::<Vec<_>>(),
                }],
            })
        })
        .collect();
    json(&out)
}

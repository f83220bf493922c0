//! Errors as clients see them, classified by fault and rendered in the caller's dialect:
//! OpenAI's `{"error": {message, type, param, code}}` or Anthropic's
//! `{"type": "error", "error": {type, message}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::providers::{ProviderError, TimeoutPhase};
use crate::redact::{redact, redact_json};
use crate::router::{RouteError, budget};

/// Which API shape the caller speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

/// A client-facing error.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI-style `type` (`invalid_request_error`, `auth_error`, ...).
    pub kind: String,
    pub message: String,
    pub param: Option<String>,
    /// OpenAI-style `code`; LiteLLM puts the status there as a string.
    pub code: Option<String>,
    pub retry_after: Option<String>,
    pub details: Option<Value>,
    pub dialect: Dialect,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind: kind.to_owned(),
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
            details: None,
            dialect: Dialect::OpenAi,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "auth_error", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error", message)
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn in_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// The OpenAI-shaped body. Every text in it has been through `redact`.
    pub fn openai_body(&self) -> Value {
        let mut error = json!({
            "message": redact(&self.message),
            "type": self.kind,
            "param": self.param,
            "code": self.code.clone().unwrap_or_else(|| self.status.as_u16().to_string()),
        });
        if let (Some(d), Some(obj)) = (&self.details, error.as_object_mut()) {
            obj.insert("innererror".into(), d.clone());
        }
        let mut body = json!({ "error": error });
        redact_json(&mut body);
        body
    }

    /// The Anthropic-shaped body (its message redacted; `details` when there are any, as
    /// Anthropic sends them for thread errors).
    pub fn anthropic_body(&self) -> Value {
        let mut error =
            json!({ "type": anthropic_type(self.status), "message": redact(&self.message) });
        if let (Some(d), Some(obj)) = (&self.details, error.as_object_mut()) {
            let mut d = d.clone();
            redact_json(&mut d);
            obj.insert("details".into(), d);
        }
        json!({ "type": "error", "error": error })
    }

    /// The message as it may leave the process (for log lines and stream error events).
    pub fn public_message(&self) -> String {
        redact(&self.message).into_owned()
    }

    /// The body in the error's dialect (also used for mid-stream error events).
    pub fn body(&self) -> Value {
        match self.dialect {
            Dialect::OpenAi => self.openai_body(),
            Dialect::Anthropic => self.anthropic_body(),
        }
    }
}

/// Anthropic's error `type` for a status.
pub fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 405 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The `type` of a 429 for a spent `max_budget` (LiteLLM's name for budget errors).
pub const BUDGET_EXCEEDED: &str = "budget_exceeded";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(r) = self.retry_after.as_deref().and_then(|r| HeaderValue::from_str(r).ok()) {
            h.insert(header::RETRY_AFTER, r);
        }
        // A spent budget frees up in minutes to hours: an SDK's quick retries cannot help
        // (`headers::stamp` keeps this instead of its per-status answer).
        if self.kind == BUDGET_EXCEEDED {
            h.insert(super::headers::X_SHOULD_RETRY, HeaderValue::from_static("false"));
        }
        resp
    }
}

impl From<ProviderError> for ApiError {
    fn from(err: ProviderError) -> Self {
        match err {
            ProviderError::Unavailable(message) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", message)
            }
            ProviderError::InvalidRequest { message, param } => {
                ApiError { param, ..ApiError::bad_request(message) }
            }
            ProviderError::Connect { message } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unreachable", message)
            }
            ProviderError::Timeout { phase, message } => {
                let kind = match phase {
                    TimeoutPhase::Connect => "upstream_connect_timeout",
                    TimeoutPhase::Response | TimeoutPhase::StreamIdle => "upstream_timeout",
                };
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, kind, message)
            }
            ProviderError::Credential { message } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_credential_error", message)
            }
            ProviderError::Upstream {
                status,
                message,
                kind,
                code,
                param,
                retry_after,
                details,
            } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                let kind = kind.unwrap_or_else(|| default_kind(status).to_owned());
                ApiError {
                    status,
                    kind,
                    message,
                    param,
                    code,
                    retry_after,
                    details,
                    dialect: Dialect::OpenAi,
                }
            }
            ProviderError::Protocol { message } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_protocol_error", message)
            }
        }
    }
}

fn default_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 404 | 413 | 422 => "invalid_request_error",
        401 => "auth_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        _ => "api_error",
    }
}

/// Map a routing failure; `endpoint` is the path prefix LiteLLM puts in messages.
pub fn route_error(err: RouteError, endpoint: &str) -> ApiError {
    match err {
        RouteError::UnknownModel { model, available } => ApiError::bad_request(format!(
            "{endpoint}: Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key. Available models: {}",
            if available.is_empty() { "(none configured)".to_owned() } else { available.join(", ") }
        ))
        .with_param("model"),
        RouteError::Unavailable { model, reasons } => {
            // Reasons are written to stand alone ("model `x`: ... not set"); here the model is
            // already named once.
            let reasons: Vec<String> = reasons
                .into_iter()
                .filter(|r| !r.is_empty())
                .map(|r| match r.strip_prefix("model `").and_then(|rest| rest.split_once("`: ")) {
                    Some((_, tail)) => tail.to_owned(),
                    None => r,
                })
                .collect();
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!("model `{model}` is not available: {}", reasons.join("; ")),
            )
        }
        RouteError::RateLimited { model, retry_after } => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            ApiError {
                retry_after: Some(secs.to_string()),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    format!("model `{model}` is over its configured rpm/tpm limit; retry after {secs}s"),
                )
            }
        }
        RouteError::OverBudget { model, deployment, over } => {
            let secs = over.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            ApiError {
                retry_after: Some(secs.to_string()),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    BUDGET_EXCEEDED,
                    format!(
                        "No deployments available - crossed budget: model `{model}` has spent ${} of its ${} budget (max_budget) in the last {} (budget_duration), on {deployment}; it is back under budget in about {}. Raise max_budget in its litellm_params, or wait.",
                        budget::usd(over.spent),
                        budget::usd(over.limit.max_usd),
                        budget::human(over.limit.period),
                        budget::human(over.retry_after),
                    ),
                )
            }
        }
        RouteError::Busy { model, limit } => ApiError {
            retry_after: Some("1".to_owned()),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!(
                    "model `{model}` is busy: every deployment already has its max_parallel_requests ({limit}) requests in flight; retry shortly, or raise max_parallel_requests (litellm_params) or router_settings.default_max_parallel_requests"
                ),
            )
        },
        RouteError::UnsupportedParams { model, provider, params } => ApiError::bad_request(format!(
            "{provider} does not support parameters: {params:?}, for model={model}. To drop these, set `drop_params: true` in litellm_settings or the model's litellm_params, or list them in `additional_drop_params`."
        ))
        .with_param(params.first().cloned().unwrap_or_default()),
        RouteError::InvalidDefaults { model, message } => {
            ApiError::internal(format!("model `{model}`: {message}"))
        }
        RouteError::Provider { err } => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_shape_matches_litellm() {
        let e = ApiError::bad_request("/chat/completions: Missing required parameter: 'messages'.")
            .with_param("messages");
        assert_eq!(
            serde_json::to_string(&e.openai_body()).expect("json"),
            r#"{"error":{"message":"/chat/completions: Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"400"}}"#
        );
    }

    #[test]
    fn unavailable_models_are_named_once() {
        let e = route_error(
            RouteError::Unavailable {
                model: "qwen-max".into(),
                reasons: vec!["model `qwen-max`: os.environ/DASHSCOPE_API_KEY not set".into()],
            },
            "/chat/completions",
        );
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            e.message,
            "model `qwen-max` is not available: os.environ/DASHSCOPE_API_KEY not set"
        );
    }

    #[test]
    fn anthropic_shape() {
        let e = ApiError::unauthorized("bad key").in_dialect(Dialect::Anthropic);
        assert_eq!(
            e.body(),
            json!({"type":"error","error":{"type":"authentication_error","message":"bad key"}})
        );
    }

    #[test]
    fn upstream_errors_keep_status_and_retry_after() {
        let e: ApiError = ProviderError::Upstream {
            status: 429,
            message: "slow down".into(),
            kind: None,
            code: None,
            param: None,
            retry_after: Some("7".into()),
            details: None,
        }
        .into();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.kind, "rate_limit_error");
        let resp = e.into_response();
        assert_eq!(resp.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"7"[..]));
    }
}

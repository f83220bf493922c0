//! Mocks of Entra ID's token endpoint and of Azure OpenAI, speaking their real wire formats:
//! the form-encoded client-credentials grant and its `{token_type, expires_in,
//! ext_expires_in, access_token}` answer or AADSTS error bodies; Azure's chat completions
//! (classic `/openai/deployments/{d}/...?api-version=` and v1 `/openai/v1/...` paths), its
//! streams (a first chunk with empty `choices` and `prompt_filter_results`, filter results
//! in every later chunk), embeddings, and its error bodies.
//!
//! Credentials: `api-key: KEY`, or `Authorization: Bearer` with a token this Entra mock issued
//! (`entra-token-N`), `cli-token…` (the fake `az`) or `STATIC_TOKEN`, unless rejected.
//! Deployments: `gpt-4o`, `gpt-4.1`, `text-embedding-3-small` answer; names starting `gpt-5`
//! or `o3` behave as reasoning models (reject `max_tokens` and non-default `temperature`);
//! `no-role` answers 401 PermissionDenied to tokens; `filtered` is a content-filter 400;
//! `throttled` is a 429 with `Retry-After: 7`; anything else is 404 DeploymentNotFound.
//! Tenants: `TENANT` works, `unknown-tenant` is AADSTS90002; secrets: `CLIENT_SECRET` works,
//! `expired-secret` is AADSTS7000222, others AADSTS7000215.

#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

pub const KEY: &str = "azure-test-key";
pub const TENANT: &str = "contoso-tenant";
pub const CLIENT_ID: &str = "ai-proxy-app";
pub const CLIENT_SECRET: &str = "sp-secret-value";
pub const STATIC_TOKEN: &str = "static-entra-token";

/// What the mocks share: issued tokens, token lifetimes to hand out, rejected tokens.
#[derive(Default)]
pub struct AzureState {
    issued: AtomicUsize,
    /// `expires_in` for the next tokens, in order; 3599 when empty.
    lifetimes: Mutex<VecDeque<u64>>,
    rejected: Mutex<HashSet<String>>,
}

impl AzureState {
    /// How many tokens the Entra mock issued.
    pub fn tokens_issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// Hand out these `expires_in` values for the next tokens.
    pub fn lifetimes(&self, secs: &[u64]) {
        self.lifetimes.lock().expect("lock").extend(secs);
    }

    /// Azure answers 401 to this token from now on.
    pub fn reject(&self, token: &str) {
        self.rejected.lock().expect("lock").insert(token.to_owned());
    }
}

pub fn router() -> Router {
    router_with(Arc::default())
}

pub fn router_with(state: Arc<AzureState>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/openai/deployments/{deployment}/chat/completions", post(classic_chat))
        .route("/openai/deployments/{deployment}/embeddings", post(classic_embeddings))
        .route("/openai/v1/chat/completions", post(v1_chat))
        .route("/openai/v1/embeddings", post(v1_embeddings))
        .with_state(state)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

// ---- Entra ID ----

fn aadsts(status: StatusCode, error: &str, code: u64, text: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 2f1f8d2c-0000-4000-8000-000000000000\r\nCorrelation ID: 7d0c5a11-0000-4000-8000-000000000000\r\nTimestamp: 2025-06-01 12:00:00Z"),
        "error_codes": [code],
        "timestamp": "2025-06-01 12:00:00Z",
        "trace_id": "2f1f8d2c-0000-4000-8000-000000000000",
        "correlation_id": "7d0c5a11-0000-4000-8000-000000000000",
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
    });
    json_response(status, body)
}

async fn token(
    State(st): State<Arc<AzureState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form_encoded = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if field("scope").is_empty() {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    }
    if tenant != TENANT {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if field("client_id") != CLIENT_ID {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory 'Contoso'.",
                field("client_id")
            ),
        );
    }
    match field("client_secret") {
        CLIENT_SECRET => {}
        "expired-secret" => {
            return aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000222,
                &format!(
                    "The provided client secret keys for app '{CLIENT_ID}' are expired. Visit the Azure portal to create new keys for your app."
                ),
            );
        }
        _ => {
            return aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{CLIENT_ID}'."
                ),
            );
        }
    }
    // Slow enough that concurrent callers overlap with the fetch.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let n = st.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let expires_in = st.lifetimes.lock().expect("lock").pop_front().unwrap_or(3599);
    json_response(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": format!("entra-token-{n}")}),
    )
}

// ---- Azure OpenAI ----

fn azure_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, json!({"error": {"code": code, "message": message}}))
}

fn openai_style_error(status: StatusCode, message: &str, param: &str, code: &str) -> Response {
    json_response(
        status,
        json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}),
    )
}

/// How the caller authenticated, or the 401 Azure answers.
enum Caller {
    Key,
    Token,
}

fn authenticate(st: &AzureState, headers: &HeaderMap) -> Result<Caller, Response> {
    if let Some(key) = headers.get("api-key").and_then(|v| v.to_str().ok()) {
        return if key == KEY {
            Ok(Caller::Key)
        } else {
            Err(azure_error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            ))
        };
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let known = token.starts_with("entra-token-")
        || token.starts_with("cli-token")
        || token == STATIC_TOKEN;
    if !known || st.rejected.lock().expect("lock").contains(token) {
        return Err(azure_error(
            StatusCode::UNAUTHORIZED,
            "401",
            "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.",
        ));
    }
    Ok(Caller::Token)
}

fn filter_results() -> Value {
    json!({
        "hate": {"filtered": false, "severity": "safe"},
        "self_harm": {"filtered": false, "severity": "safe"},
        "sexual": {"filtered": false, "severity": "safe"},
        "violence": {"filtered": false, "severity": "safe"}
    })
}

fn is_reasoning(deployment: &str) -> bool {
    deployment.starts_with("gpt-5") || deployment.starts_with("o3")
}

/// Deployment-independent checks and errors; `Ok` means answer normally.
fn check(
    st: &AzureState,
    headers: &HeaderMap,
    deployment: &str,
    operation: &str,
) -> Result<(), Response> {
    let caller = authenticate(st, headers)?;
    match deployment {
        "gpt-4o" | "gpt-4.1" | "text-embedding-3-small" | "filtered" => Ok(()),
        d if is_reasoning(d) => Ok(()),
        "no-role" => match caller {
            Caller::Token => Err(azure_error(
                StatusCode::UNAUTHORIZED,
                "PermissionDenied",
                &format!(
                    "The principal `00000000-0000-0000-0000-000000000000` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/{operation}/action` to perform `POST /openai/deployments/{{deployment-id}}/{operation}` operation."
                ),
            )),
            Caller::Key => Ok(()),
        },
        "throttled" => {
            let mut r = azure_error(
                StatusCode::TOO_MANY_REQUESTS,
                "429",
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2025-04-01-preview have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 7 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
            );
            r.headers_mut().insert("retry-after", "7".parse().expect("header"));
            r.headers_mut().insert("retry-after-ms", "7000".parse().expect("header"));
            Err(r)
        }
        _ => Err(azure_error(
            StatusCode::NOT_FOUND,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
        )),
    }
}

fn classic_version(query: &HashMap<String, String>) -> Result<String, Response> {
    match query.get("api-version") {
        None => Err(azure_error(StatusCode::NOT_FOUND, "404", "Resource not found")),
        Some(v) if v.len() >= 10 && v.as_bytes()[4] == b'-' => Ok(v.clone()),
        Some(_) => Err(azure_error(StatusCode::NOT_FOUND, "404", "Resource not found")),
    }
}

fn v1_version(query: &HashMap<String, String>) -> Result<String, Response> {
    match query.get("api-version").map(String::as_str) {
        None => Ok("v1".into()),
        Some("preview") => Ok("preview".into()),
        Some(other) => Err(azure_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("API version not supported: {other}"),
        )),
    }
}

async fn classic_chat(
    State(st): State<Arc<AzureState>>,
    Path(deployment): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match classic_version(&query) {
        Ok(v) => chat(&st, &headers, &deployment, &v, &body),
        Err(r) => r,
    }
}

async fn v1_chat(
    State(st): State<Arc<AzureState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let version = match v1_version(&query) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let deployment = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["model"].as_str().map(str::to_owned))
        .unwrap_or_default();
    chat(&st, &headers, &deployment, &version, &body)
}

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

fn chat(
    st: &AzureState,
    headers: &HeaderMap,
    deployment: &str,
    version: &str,
    body: &[u8],
) -> Response {
    if let Err(r) = check(st, headers, deployment, "chat/completions") {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return azure_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Could not parse the JSON body of your request.",
        );
    };
    if deployment == "filtered" {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
                "type": null, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                    "hate": {"filtered": false, "severity": "safe"},
                    "jailbreak": {"filtered": false, "detected": false},
                    "self_harm": {"filtered": false, "severity": "safe"},
                    "sexual": {"filtered": false, "severity": "safe"},
                    "violence": {"filtered": true, "severity": "medium"}}}}}),
        );
    }
    for unknown in ["top_k", "enable_thinking"] {
        if req.get(unknown).is_some() {
            return azure_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Unrecognized request argument supplied: {unknown}"),
            );
        }
    }
    if req.get("stream_options").is_some()
        && version.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && version < "2024-09-01"
    {
        return azure_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unrecognized request argument supplied: stream_options",
        );
    }
    let reasoning = is_reasoning(deployment);
    if reasoning {
        if req.get("max_tokens").is_some() {
            return openai_style_error(
                StatusCode::BAD_REQUEST,
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "max_tokens",
                "unsupported_parameter",
            );
        }
        if let Some(t) = req.get("temperature").filter(|t| t.as_f64() != Some(1.0)) {
            return openai_style_error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Unsupported value: 'temperature' does not support {t} with this model. Only the default (1) value is supported."
                ),
                "temperature",
                "unsupported_value",
            );
        }
    } else if req.get("reasoning_effort").is_some() {
        return openai_style_error(
            StatusCode::BAD_REQUEST,
            "Unrecognized request argument supplied: reasoning_effort",
            "reasoning_effort",
            "BadRequest",
        );
    }
    let model = if reasoning { "gpt-5-mini-2025-08-07" } else { "gpt-4o-2024-11-20" };
    let text = format!("Azure {deployment} says: {}", last_user(&req));
    let reasoning_tokens = if reasoning { 64 } else { 0 };
    let usage = json!({
        "completion_tokens": 9 + reasoning_tokens, "prompt_tokens": 12, "total_tokens": 21 + reasoning_tokens,
        "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0, "reasoning_tokens": reasoning_tokens, "rejected_prediction_tokens": 0},
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0}
    });
    let prompt_filters = json!([{"prompt_index": 0, "content_filter_results": {
        "hate": {"filtered": false, "severity": "safe"}, "jailbreak": {"filtered": false, "detected": false},
        "self_harm": {"filtered": false, "severity": "safe"}, "sexual": {"filtered": false, "severity": "safe"},
        "violence": {"filtered": false, "severity": "safe"}}}]);
    if req["stream"] != json!(true) {
        let body = json!({
            "choices": [{"content_filter_results": filter_results(), "finish_reason": "stop", "index": 0, "logprobs": null,
                         "message": {"annotations": [], "content": text, "refusal": null, "role": "assistant"}}],
            "created": 1748779200, "id": "chatcmpl-BdAzureMock0001", "model": model, "object": "chat.completion",
            "prompt_filter_results": prompt_filters, "system_fingerprint": "fp_ee1d74bde0", "usage": usage
        });
        return json_response(StatusCode::OK, body);
    }
    let chunk = |choices: Value| {
        json!({"choices": choices, "created": 1748779200, "id": "chatcmpl-BdAzureMock0002", "model": model,
               "object": "chat.completion.chunk", "system_fingerprint": "fp_ee1d74bde0"})
        .to_string()
    };
    let mut frames = vec![
        json!({"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": prompt_filters}).to_string(),
        chunk(json!([{"content_filter_results": {}, "delta": {"content": "", "refusal": null, "role": "assistant"}, "finish_reason": null, "index": 0, "logprobs": null}])),
    ];
    for word in text.split_inclusive(' ') {
        frames.push(chunk(json!([{"content_filter_results": filter_results(), "delta": {"content": word}, "finish_reason": null, "index": 0, "logprobs": null}])));
    }
    frames.push(chunk(json!([{"content_filter_results": {}, "delta": {}, "finish_reason": "stop", "index": 0, "logprobs": null}])));
    if req["stream_options"]["include_usage"] == json!(true) {
        let mut last: Value = serde_json::from_str(&chunk(json!([]))).expect("json");
        last["usage"] = usage;
        frames.push(last.to_string());
    }
    frames.push("[DONE]".into());
    let body: String = frames.iter().map(|f| format!("data: {f}\n\n")).collect();
    Response::builder()
        .header("content-type", "text/event-stream; charset=utf-8")
        .body(Body::from(body))
        .expect("response")
}

async fn classic_embeddings(
    State(st): State<Arc<AzureState>>,
    Path(deployment): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match classic_version(&query) {
        Ok(_) => embeddings(&st, &headers, &deployment, &body),
        Err(r) => r,
    }
}

async fn v1_embeddings(
    State(st): State<Arc<AzureState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = v1_version(&query) {
        return r;
    }
    let deployment = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["model"].as_str().map(str::to_owned))
        .unwrap_or_default();
    embeddings(&st, &headers, &deployment, &body)
}

fn embeddings(st: &AzureState, headers: &HeaderMap, deployment: &str, body: &[u8]) -> Response {
    if let Err(r) = check(st, headers, deployment, "embeddings") {
        return r;
    }
    let req: Value = serde_json::from_slice(body).unwrap_or_default();
    let inputs: Vec<Value> = match &req["input"] {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let dims = req["dimensions"].as_u64().unwrap_or(8) as usize;
    let base64 = req["encoding_format"] == json!("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let vector: Vec<f64> = (0..dims).map(|k| (i + k) as f64 / 10.0).collect();
            let embedding = if base64 {
                let bytes: Vec<u8> =
                    vector.iter().flat_map(|f| (*f as f32).to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"object": "list", "data": data, "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2 * inputs.len(), "total_tokens": 2 * inputs.len()}}),
    )
}

//! Mocks of Google's OAuth token endpoint and Vertex AI, speaking the real wire formats.
//!
//! - `POST /token`: the JWT-bearer grant (the assertion's RS256 signature is verified against
//!   the registered service account's public key, with `iss`, `aud` = this endpoint, `scope`,
//!   `kid` and lifetime checked) and the refresh-token grant (client id, secret and refresh
//!   token checked). Errors are Google's `{"error", "error_description"}`.
//! - `POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:{method}`:
//!   `generateContent`, `streamGenerateContent?alt=sse` and `predict`. Bodies are parsed into
//!   strict types that reject every field Gemini does not know (Google answers
//!   `Invalid JSON payload received. Unknown name …`), Gemini 3 requests must carry thought
//!   signatures on function calls, and tokens must be ones this mock issued.
//!
//! Behaviour by the last user text: "weather in X" calls `get_weather` (a parallel pair for
//! "weather in X and Y"); "blocked" is refused by promptFeedback; "json" answers JSON;
//! "long" stops at MAX_TOKENS; "midway" streams a little, then an error event; "unfinished"
//! streams its text and ends without the event that carries `finishReason`.
//! A function result answers "The weather: …". Models `gemini-403` / `gemini-404` fail.
//! `POST /test/service-account` hands out a fresh registered key file (for the Python tests).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

/// The client id / secret / refresh token the mock accepts for `authorized_user`.
pub const CLIENT_ID: &str = "764086051850-mock.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "d-FL95Q19q7MQmFpd7hHD0Ty";
pub const REFRESH_TOKEN: &str = "1//0mock-refresh-token";
/// A refresh token whose access tokens live 60 s (inside the refresh margin: every call
/// fetches a new one).
pub const SHORT_REFRESH_TOKEN: &str = "1//0mock-short-lived";
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

#[derive(Default)]
pub struct MockState {
    /// Service accounts: client_email → (key id, public key PEM).
    accounts: Mutex<BTreeMap<String, (String, String)>>,
    /// Access tokens this mock issued and still accepts.
    valid: Mutex<HashSet<String>>,
    pub token_requests: AtomicUsize,
    issued: AtomicUsize,
    /// Tokens seen on Vertex calls, in order.
    pub seen_tokens: Mutex<Vec<String>>,
}

impl MockState {
    /// Revoke every issued token (Vertex answers 401 until a new one is fetched).
    pub fn revoke_all(&self) {
        self.valid.lock().expect("lock").clear();
    }

    /// Whether `token` is an access token this mock issued and still accepts (for mocks of
    /// other Vertex publishers that share this token endpoint).
    pub fn accepts(&self, token: &str) -> bool {
        self.valid.lock().expect("lock").contains(token)
    }

    pub fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// Generate an RSA key, register it, and return a service-account key file pointing
    /// `token_uri` at `token_uri`.
    pub fn service_account(&self, token_uri: &str, email: &str) -> String {
        let key =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key (aws-lc-rs)");
        let key_id = format!("kid-{}", email.len());
        self.accounts
            .lock()
            .expect("lock")
            .insert(email.to_owned(), (key_id.clone(), key.public_key_pem()));
        json!({
            "type": "service_account",
            "project_id": "sa-project",
            "private_key_id": key_id,
            "private_key": key.serialize_pem(),
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com"
        })
        .to_string()
    }
}

/// gcloud's ADC file for a user, pointing `token_uri` at the mock.
pub fn authorized_user(token_uri: &str, refresh_token: &str) -> String {
    json!({
        "account": "",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "quota_project_id": "quota-project",
        "refresh_token": refresh_token,
        "token_uri": token_uri,
        "type": "authorized_user",
        "universe_domain": "googleapis.com"
    })
    .to_string()
}

pub fn router() -> Router {
    router_with(Arc::default())
}

pub fn router_with(state: Arc<MockState>) -> Router {
    Router::new()
        .route("/token", post(token))
        .route("/test/service-account", post(new_service_account))
        .route("/test/access-token", post(new_access_token))
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{call}",
            post(vertex),
        )
        .route("/v1beta/models/{call}", post(ai_studio))
        .with_state(state)
}

/// The Gemini API key the AI Studio mock accepts.
pub const AI_STUDIO_KEY: &str = "AIzaMockGeminiApiKey";

/// The Gemini API of Google AI Studio: `x-goog-api-key`, `/v1beta/models/{model}:method`,
/// the same `generateContent` as Vertex, embeddings through `:batchEmbedContents`.
async fn ai_studio(
    Path(call): Path<String>,
    Query(q): Query<AltQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.contains_key("authorization") {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "API keys are not supported with an OAuth token here.",
            "UNAUTHENTICATED",
        );
    }
    if headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()) != Some(AI_STUDIO_KEY) {
        return google_error(
            StatusCode::BAD_REQUEST,
            "API key not valid. Please pass a valid API key.",
            "INVALID_ARGUMENT",
        );
    }
    let Some((model, method)) = call.split_once(':') else {
        return google_error(StatusCode::NOT_FOUND, "Method not found.", "NOT_FOUND");
    };
    match method {
        "generateContent" => generate(model, &body, false),
        "streamGenerateContent" if q.alt.as_deref() == Some("sse") => generate(model, &body, true),
        "batchEmbedContents" => batch_embed(model, &body),
        _ => google_error(StatusCode::NOT_FOUND, "Method not found.", "NOT_FOUND"),
    }
}

/// `:batchEmbedContents`: every request names `models/{model}` and holds one text part; the
/// vector is `[words, characters, dimensions or 3 …]`.
fn batch_embed(model: &str, body: &[u8]) -> Response {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload received. {e}"),
                "INVALID_ARGUMENT",
            );
        }
    };
    let Some(requests) = v["requests"].as_array() else {
        return google_error(StatusCode::BAD_REQUEST, "requests: required", "INVALID_ARGUMENT");
    };
    let mut out = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if r["model"] != format!("models/{model}") {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("requests[{i}].model: must be models/{model}"),
                "INVALID_ARGUMENT",
            );
        }
        let Some(text) = r["content"]["parts"][0]["text"].as_str() else {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("requests[{i}].content: a text part is required"),
                "INVALID_ARGUMENT",
            );
        };
        let dims = r["outputDimensionality"].as_u64().unwrap_or(3) as usize;
        let mut values = vec![text.split_whitespace().count() as f64, text.len() as f64];
        values.resize(dims.max(2), 0.5);
        out.push(json!({"values": values}));
    }
    (StatusCode::OK, [("content-type", "application/json")], json!({"embeddings": out}).to_string())
        .into_response()
}

/// For tests in other languages (the Python e2e suite): a fresh service-account key file
/// whose `token_uri` is this mock.
async fn new_service_account(State(st): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let key = st.service_account(
        &format!("http://{host}/token"),
        "e2e@mock-project.iam.gserviceaccount.com",
    );
    (StatusCode::OK, [("content-type", "application/json")], key).into_response()
}

/// For tests in other languages: an access token this mock accepts, as a client that did its
/// own OAuth would hold (the `anthropic` SDK's `AnthropicVertex` takes one as is).
async fn new_access_token(State(st): State<Arc<MockState>>) -> Response {
    let n = st.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("ya29.mock-e2e-{n}");
    st.valid.lock().expect("lock").insert(token.clone());
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"access_token": token}).to_string(),
    )
        .into_response()
}

fn oauth_error(code: &str, desc: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/json")],
        json!({"error": code, "error_description": desc}).to_string(),
    )
        .into_response()
}

async fn token(State(st): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    st.token_requests.fetch_add(1, Ordering::SeqCst);
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let my_uri = format!("http://{host}/token");
    let (kind, lifetime) = match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = form.get("assertion") else {
                return oauth_error("invalid_request", "Missing required parameter: assertion");
            };
            if let Err(e) = verify_assertion(&st, assertion, &my_uri) {
                return oauth_error("invalid_grant", &e);
            }
            ("sa", 3599)
        }
        Some("refresh_token") => {
            if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
            {
                return oauth_error("invalid_client", "The OAuth client was not found.");
            }
            match form.get("refresh_token").map(String::as_str) {
                Some(REFRESH_TOKEN) => ("user", 3599),
                Some(SHORT_REFRESH_TOKEN) => ("user", 60),
                _ => return oauth_error("invalid_grant", "Token has been expired or revoked."),
            }
        }
        _ => return oauth_error("unsupported_grant_type", "Invalid grant_type"),
    };
    let n = st.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("ya29.mock-{kind}-{n}");
    st.valid.lock().expect("lock").insert(token.clone());
    let body = json!({"access_token": token, "expires_in": lifetime, "scope": SCOPE, "token_type": "Bearer"});
    (StatusCode::OK, [("content-type", "application/json")], body.to_string()).into_response()
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    scope: String,
    aud: String,
    iat: u64,
    exp: u64,
}

fn verify_assertion(st: &MockState, jwt: &str, my_uri: &str) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("Invalid JWT: {e}"))?;
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err(format!("Invalid JWT: alg {:?}", header.alg));
    }
    let unverified: Claims = jsonwebtoken::dangerous::insecure_decode(jwt)
        .map_err(|e| format!("Invalid JWT: {e}"))?
        .claims;
    let (kid, pem) =
        st.accounts.lock().expect("lock").get(&unverified.iss).cloned().ok_or_else(|| {
            format!("Invalid JWT Signature: unknown service account {}", unverified.iss)
        })?;
    if header.kid.as_deref() != Some(kid.as_str()) {
        return Err("Invalid JWT Signature: kid does not match a key of the account".into());
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[my_uri]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims: Claims = jsonwebtoken::decode(jwt, &key, &validation)
        .map_err(|e| format!("Invalid JWT Signature: {e}"))?
        .claims;
    if claims.aud != my_uri {
        return Err(format!("Invalid JWT: aud {} is not {my_uri}", claims.aud));
    }
    if claims.scope != SCOPE {
        return Err(format!("Invalid JWT: scope {}", claims.scope));
    }
    if claims.exp <= claims.iat || claims.exp - claims.iat > 3600 {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes)".into());
    }
    Ok(())
}

fn google_error(status: StatusCode, message: &str, code: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": code}});
    (status, [("content-type", "application/json; charset=UTF-8")], body.to_string())
        .into_response()
}

#[derive(Deserialize)]
struct AltQuery {
    alt: Option<String>,
}

async fn vertex(
    State(st): State<Arc<MockState>>,
    Path((project, location, call)): Path<(String, String, String)>,
    Query(q): Query<AltQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    st.seen_tokens.lock().expect("lock").push(token.clone());
    if !st.valid.lock().expect("lock").contains(&token) {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            "UNAUTHENTICATED",
        );
    }
    let Some((model, method)) = call.split_once(':') else {
        return google_error(StatusCode::NOT_FOUND, "Method not found.", "NOT_FOUND");
    };
    match model {
        "gemini-403" => {
            return google_error(
                StatusCode::FORBIDDEN,
                &format!(
                    "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/{project}/locations/{location}/publishers/google/models/{model}' (or it may not exist)."
                ),
                "PERMISSION_DENIED",
            );
        }
        "gemini-404" => {
            return google_error(
                StatusCode::NOT_FOUND,
                &format!(
                    "Publisher Model `projects/{project}/locations/{location}/publishers/google/models/{model}` was not found or your project does not have access to it."
                ),
                "NOT_FOUND",
            );
        }
        _ => {}
    }
    match method {
        "generateContent" => generate(model, &body, false),
        "streamGenerateContent" if q.alt.as_deref() == Some("sse") => generate(model, &body, true),
        "streamGenerateContent" => google_error(
            StatusCode::BAD_REQUEST,
            "this mock streams with alt=sse only",
            "INVALID_ARGUMENT",
        ),
        "predict" => predict(model, &body),
        "countTokens" => count_tokens(&body),
        _ => google_error(StatusCode::NOT_FOUND, "Method not found.", "NOT_FOUND"),
    }
}

/// `:countTokens`: strict body; counts whitespace-separated words of every text part.
fn count_tokens(body: &[u8]) -> Response {
    let req: strict::CountTokensRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload received. {e}"),
                "INVALID_ARGUMENT",
            );
        }
    };
    let words = |c: &strict::Content| -> usize {
        c.parts.iter().filter_map(|p| p.text.as_deref()).map(|t| t.split_whitespace().count()).sum()
    };
    let total: usize = req.contents.iter().map(words).sum::<usize>()
        + req.system_instruction.as_ref().map(words).unwrap_or(0);
    let body = json!({"totalTokens": total, "totalBillableCharacters": total * 4});
    (StatusCode::OK, [("content-type", "application/json")], body.to_string()).into_response()
}

/// The signature this mock issues for a call, and checks on the way back.
pub fn signature_for(name: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("mock-signature/{name}/+?>"))
}

fn generate(model: &str, body: &[u8], stream: bool) -> Response {
    let req: strict::GenerateContentRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload received. {e}"),
                "INVALID_ARGUMENT",
            );
        }
    };
    let gemini3 = model.starts_with("gemini-3");
    if let Err(msg) = req.validate(gemini3) {
        return google_error(StatusCode::BAD_REQUEST, &msg, "INVALID_ARGUMENT");
    }
    let last = req.contents.last();
    let last_text: String = last
        .map(|c| c.parts.iter().filter_map(|p| p.text.clone()).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let results: Vec<Value> = last
        .map(|c| {
            c.parts
                .iter()
                .filter_map(|p| {
                    p.function_response.as_ref().map(|r| Value::Object(r.response.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let thoughts = req
        .generation_config
        .as_ref()
        .and_then(|g| g.thinking_config.as_ref())
        .and_then(|t| t.include_thoughts)
        .unwrap_or(false);
    let usage = json!({"promptTokenCount": 12, "candidatesTokenCount": 8, "totalTokenCount": 25,
                       "thoughtsTokenCount": 5, "cachedContentTokenCount": 4, "trafficType": "ON_DEMAND",
                       "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]});
    if last_text.contains("blocked") {
        let body = json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "The prompt was blocked."},
                          "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}, "modelVersion": model,
                          "createTime": "2025-11-20T10:00:00.000000Z", "responseId": "blocked-1"});
        return respond(vec![body], stream);
    }

    // The parts of the answer, in order.
    let mut parts: Vec<Value> = Vec::new();
    if thoughts {
        parts.push(json!({"text": "**Planning** I should answer briefly.", "thought": true}));
    }
    let mut finish = "STOP";
    if !results.is_empty() {
        let shown: Vec<String> = results.iter().map(|r| r.to_string()).collect();
        parts.push(json!({"text": format!("The weather: {}", shown.join("; "))}));
    } else if let Some(rest) = last_text.split("weather in ").nth(1) {
        let places: Vec<&str> =
            rest.split(" and ").map(|p| p.trim_end_matches(['?', '.', '!'])).collect();
        for (i, place) in places.iter().enumerate() {
            let mut part = json!({"functionCall": {"name": "get_weather", "args": {"city": place, "unit": "celsius"}}});
            if i == 0 {
                part["thoughtSignature"] = json!(signature_for("get_weather"));
            }
            parts.push(part);
        }
    } else if last_text.contains("json") {
        parts.push(json!({"text": "{\"answer\": 42, \"unit\": \"none\"}"}));
    } else if last_text.contains("long") {
        parts.push(json!({"text": "This answer is cut"}));
        finish = "MAX_TOKENS";
    } else {
        let images = last
            .map(|c| {
                c.parts.iter().filter(|p| p.inline_data.is_some() || p.file_data.is_some()).count()
            })
            .unwrap_or(0);
        let mut text = format!("Gemini says: {last_text}");
        if images > 0 {
            text.push_str(&format!(" [{images} image(s) seen]"));
        }
        parts.push(json!({"text": text}));
    }

    let meta = |v: &mut Value| {
        v["modelVersion"] = json!(model);
        v["createTime"] = json!("2025-11-20T10:00:00.000000Z");
        v["responseId"] = json!("mock-response-1");
    };
    if !stream {
        let mut body = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish,
                              "avgLogprobs": -0.25}], "usageMetadata": usage});
        meta(&mut body);
        return respond(vec![body], false);
    }
    // Stream: text split in pieces, other parts whole, finish + usage on the last event.
    let mut events = Vec::new();
    for p in parts {
        let pieces: Vec<Value> = match p.get("text").and_then(Value::as_str) {
            Some(t) if p.get("thought").is_none() => {
                t.split_inclusive(' ').map(|w| json!({"text": w})).collect()
            }
            _ => vec![p.clone()],
        };
        for piece in pieces {
            let mut ev = json!({"candidates": [{"content": {"role": "model", "parts": [piece]}}],
                                "usageMetadata": {"trafficType": "ON_DEMAND"}});
            meta(&mut ev);
            events.push(ev);
        }
    }
    if last_text.contains("midway") {
        // Vertex reports a failure after the stream started as an error event.
        events.truncate(2);
        events.push(json!({"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}));
        return respond(events, true);
    }
    if last_text.contains("unfinished") {
        // The body ends cleanly, but before the finishReason: a cut answer.
        return respond(events, true);
    }
    let mut last_ev = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": finish}],
                             "usageMetadata": usage});
    meta(&mut last_ev);
    events.push(last_ev);
    respond(events, true)
}

fn respond(events: Vec<Value>, stream: bool) -> Response {
    if !stream {
        let body = events.into_iter().next().unwrap_or_default();
        return (
            StatusCode::OK,
            [("content-type", "application/json; charset=UTF-8")],
            body.to_string(),
        )
            .into_response();
    }
    let frames: Vec<Result<Bytes, std::io::Error>> =
        events.into_iter().map(|e| Ok(Bytes::from(format!("data: {e}\r\n\r\n")))).collect();
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(futures_util::stream::iter(frames)))
        .expect("response")
}

fn predict(model: &str, body: &[u8]) -> Response {
    let req: strict::PredictRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload received. {e}"),
                "INVALID_ARGUMENT",
            );
        }
    };
    if model.starts_with("gemini-embedding") && req.instances.len() > 1 {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Unable to submit request because the model supports only 1 instance per request.",
            "INVALID_ARGUMENT",
        );
    }
    let dims =
        req.parameters.as_ref().and_then(|p| p.output_dimensionality).unwrap_or(768) as usize;
    let predictions: Vec<Value> = req
        .instances
        .iter()
        .map(|i| {
            let words = i.content.split_whitespace().count();
            let values: Vec<f64> = (0..dims).map(|d| ((d + i.content.len()) % 7) as f64 / 8.0).collect();
            json!({"embeddings": {"statistics": {"truncated": false, "token_count": words}, "values": values}})
        })
        .collect();
    let body = json!({"predictions": predictions, "metadata": {"billableCharacterCount": 10}});
    (StatusCode::OK, [("content-type", "application/json; charset=UTF-8")], body.to_string())
        .into_response()
}

/// Gemini's request schema, strict: an unknown field anywhere is an error, as at Google.
#[allow(clippy::enum_variant_names)]
pub mod strict {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct GenerateContentRequest {
        pub contents: Vec<Content>,
        pub system_instruction: Option<Content>,
        pub tools: Option<Vec<Tool>>,
        pub tool_config: Option<ToolConfig>,
        pub safety_settings: Option<Vec<SafetySetting>>,
        pub generation_config: Option<GenerationConfig>,
        pub labels: Option<BTreeMap<String, String>>,
        pub cached_content: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CountTokensRequest {
        pub contents: Vec<Content>,
        pub system_instruction: Option<Content>,
        pub tools: Option<Vec<Tool>>,
        pub generation_config: Option<GenerationConfig>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Content {
        pub role: Option<String>,
        pub parts: Vec<Part>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Part {
        pub text: Option<String>,
        pub thought: Option<bool>,
        pub thought_signature: Option<String>,
        pub inline_data: Option<Blob>,
        pub file_data: Option<FileData>,
        pub function_call: Option<FunctionCall>,
        pub function_response: Option<FunctionResponse>,
        pub video_metadata: Option<Value>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Blob {
        pub mime_type: String,
        pub data: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct FileData {
        pub mime_type: String,
        pub file_uri: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FunctionCall {
        pub id: Option<String>,
        pub name: String,
        pub args: Option<serde_json::Map<String, Value>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FunctionResponse {
        pub id: Option<String>,
        pub name: String,
        pub response: serde_json::Map<String, Value>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Tool {
        pub function_declarations: Option<Vec<FunctionDeclaration>>,
        pub google_search: Option<Value>,
        pub code_execution: Option<Value>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct FunctionDeclaration {
        pub name: String,
        pub description: Option<String>,
        pub parameters: Option<Schema>,
        pub parameters_json_schema: Option<Value>,
    }

    /// Gemini's OpenAPI-subset Schema.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Schema {
        #[serde(rename = "type")]
        pub kind: Option<Type>,
        pub format: Option<String>,
        pub title: Option<String>,
        pub description: Option<String>,
        pub nullable: Option<bool>,
        pub default: Option<Value>,
        pub items: Option<Box<Schema>>,
        pub min_items: Option<String>,
        pub max_items: Option<String>,
        #[serde(rename = "enum")]
        pub enum_values: Option<Vec<String>>,
        pub properties: Option<BTreeMap<String, Schema>>,
        pub property_ordering: Option<Vec<String>>,
        pub required: Option<Vec<String>>,
        pub min_properties: Option<String>,
        pub max_properties: Option<String>,
        pub min_length: Option<String>,
        pub max_length: Option<String>,
        pub pattern: Option<String>,
        pub example: Option<Value>,
        pub any_of: Option<Vec<Schema>>,
        pub minimum: Option<f64>,
        pub maximum: Option<f64>,
    }

    #[derive(Deserialize, PartialEq, Eq)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum Type {
        TypeUnspecified,
        String,
        Number,
        Integer,
        Boolean,
        Array,
        Object,
        Null,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct ToolConfig {
        pub function_calling_config: Option<FunctionCallingConfig>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct FunctionCallingConfig {
        pub mode: Option<Mode>,
        pub allowed_function_names: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum Mode {
        ModeUnspecified,
        Auto,
        Any,
        None,
        Validated,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SafetySetting {
        pub category: String,
        pub threshold: String,
        pub method: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct GenerationConfig {
        pub temperature: Option<f64>,
        pub top_p: Option<f64>,
        pub top_k: Option<f64>,
        pub candidate_count: Option<u32>,
        pub max_output_tokens: Option<u32>,
        pub stop_sequences: Option<Vec<String>>,
        pub presence_penalty: Option<f64>,
        pub frequency_penalty: Option<f64>,
        pub seed: Option<i64>,
        pub response_mime_type: Option<String>,
        pub response_schema: Option<Schema>,
        pub response_json_schema: Option<Value>,
        pub response_logprobs: Option<bool>,
        pub logprobs: Option<u32>,
        pub thinking_config: Option<ThinkingConfig>,
        pub media_resolution: Option<String>,
        pub response_modalities: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct ThinkingConfig {
        pub include_thoughts: Option<bool>,
        pub thinking_budget: Option<i64>,
        pub thinking_level: Option<Level>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum Level {
        ThinkingLevelUnspecified,
        Minimal,
        Low,
        Medium,
        High,
    }

    impl GenerateContentRequest {
        /// Rules Vertex enforces beyond the schema.
        pub fn validate(&self, gemini3: bool) -> Result<(), String> {
            if self.contents.is_empty() {
                return Err("contents is not specified".into());
            }
            for (i, c) in self.contents.iter().enumerate() {
                match c.role.as_deref() {
                    Some("user") | Some("model") => {}
                    other => return Err(format!("contents[{i}].role: invalid role {other:?}")),
                }
                if c.parts.is_empty() {
                    return Err(format!("contents[{i}]: must include at least one parts field"));
                }
                if gemini3 && c.role.as_deref() == Some("model") {
                    let first_call = c.parts.iter().position(|p| p.function_call.is_some());
                    if let Some(k) = first_call {
                        let sig = c.parts[k].thought_signature.as_deref();
                        let name = &c.parts[k]
                            .function_call
                            .as_ref()
                            .map(|f| f.name.clone())
                            .unwrap_or_default();
                        let ok = sig == Some(super::signature_for(name).as_str())
                            || sig == Some("skip_thought_signature_validator");
                        if !ok {
                            return Err(format!(
                                "Unable to submit request because function call `{name}` in the {}. content block is missing a `thought_signature`. Learn more: https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures",
                                i + 1
                            ));
                        }
                    }
                }
            }
            for t in self.tools.iter().flatten() {
                for d in t.function_declarations.iter().flatten() {
                    if let Some(p) = &d.parameters
                        && p.kind == Some(Type::Object)
                        && p.properties.as_ref().is_none_or(BTreeMap::is_empty)
                    {
                        return Err(format!(
                            "* GenerateContentRequest.tools[0].function_declarations[{}].parameters.properties: should be non-empty for OBJECT type",
                            d.name
                        ));
                    }
                }
            }
            if let Some(tc) =
                self.generation_config.as_ref().and_then(|g| g.thinking_config.as_ref())
            {
                if tc.thinking_level.is_some() && tc.thinking_budget.is_some() {
                    return Err("thinking_level and thinking_budget cannot both be set".into());
                }
                if tc.thinking_level.is_some() && !gemini3 {
                    return Err("Thinking level is not supported for this model.".into());
                }
            }
            Ok(())
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PredictRequest {
        pub instances: Vec<Instance>,
        pub parameters: Option<PredictParameters>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Instance {
        pub content: String,
        pub task_type: Option<String>,
        pub title: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct PredictParameters {
        pub auto_truncate: Option<bool>,
        pub output_dimensionality: Option<u32>,
    }
}

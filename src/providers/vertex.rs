//! Google Vertex AI Gemini (`vertex_ai/<model>`): chat through `generateContent` /
//! `streamGenerateContent?alt=sse`, embeddings through `:predict`, with Google OAuth tokens.
//! The same code serves the Gemini API of Google AI Studio (`gemini/<model>`):
//! `{base}/v1beta/models/{model}:generateContent` with an `x-goog-api-key` (`GEMINI_API_KEY`),
//! embeddings through `:batchEmbedContents`; base `https://generativelanguage.googleapis.com`
//! unless `api_base` or `GEMINI_API_BASE` names another.
//!
//! Endpoint: `https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/
//! {location}/publishers/google/models/{model}`; location `global` uses
//! `https://aiplatform.googleapis.com`. `api_base` replaces the scheme and host (a path in it
//! is kept as a prefix). A 401 from Vertex drops the cached token and retries once.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::http::{ChunkFold, error_from_body, folded_chunks, read_json, send, sse_events};
use super::sse::SseEvent;
use super::{ChatOutput, ProviderError, Timeouts};
use crate::auth::google::{self, GoogleAuth};
use crate::config::{BodyLimits, Deployment, Env};
use crate::egress::Egress;
use crate::secrets::Secret;
use crate::translate::gemini::{
    self, RequestOptions, ResponseMeta, StreamState, embeddings as embed,
};
use crate::wire::gemini::{GenerateContentResponse, PredictResponse};
use crate::wire::openai::{ChatChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse};

pub const DEFAULT_LOCATION: &str = "us-central1";
/// The Gemini API of Google AI Studio.
pub const GEMINI_API_DEFAULT_BASE: &str = "https://generativelanguage.googleapis.com";

/// How calls are authenticated.
enum Auth {
    /// Vertex AI: Google OAuth bearer tokens.
    OAuth(GoogleAuth),
    /// The Gemini API: `x-goog-api-key`.
    ApiKey(Secret<String>),
}

/// OpenAI parameters Gemini has no equivalent for.
const UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "store",
    "metadata",
    "service_tier",
    "prediction",
    "audio",
    "modalities",
    "web_search_options",
];

pub struct Vertex {
    client: crate::egress::Client,
    auth: Auth,
    /// `…/publishers/google/models/{model}`; the method (`:generateContent`) is appended.
    model_url: String,
    model: String,
    project: String,
    location: String,
    safety_settings: Option<Value>,
    extra_headers: Vec<(String, String)>,
    timeouts: Timeouts,
    limits: BodyLimits,
    label: String,
}

impl Vertex {
    pub fn new(dep: &Deployment, egress: &Egress, env: &Env) -> Result<Self, String> {
        if dep.provider == crate::config::ProviderKind::Gemini {
            return Self::gemini_api(dep, egress, env);
        }
        let alias = &dep.alias;
        let found = google::discover(dep.params.get("vertex_credentials"), env)
            .map_err(|e| format!("model `{alias}`: {e}"))?;
        let auth = GoogleAuth::new(found);
        let location = dep
            .params
            .str("vertex_location")
            .map(str::to_owned)
            .or_else(|| env.get("VERTEX_LOCATION"))
            .unwrap_or_else(|| DEFAULT_LOCATION.to_owned());
        let project = dep
            .params
            .str("vertex_project")
            .map(str::to_owned)
            .or_else(|| env.get("VERTEX_PROJECT"))
            .or_else(|| env.get("GOOGLE_CLOUD_PROJECT"))
            .or_else(|| auth.project_id())
            .ok_or_else(|| {
                format!("model `{alias}`: no Google Cloud project: set VERTEX_PROJECT or `vertex_project` in litellm_params")
            })?;
        let model_url = model_url(dep.api_base.as_deref(), &project, &location, &dep.model)
            .map_err(|e| format!("model `{alias}`: {e}"))?;
        let client = egress.client_for(dep).map_err(|e| format!("model `{alias}`: {e}"))?;
        Ok(Vertex {
            client,
            model_url,
            model: dep.model.clone(),
            label: format!("Vertex AI ({}, project {project}, location {location})", dep.model),
            project,
            location,
            auth: Auth::OAuth(auth),
            safety_settings: dep.params.get("safety_settings").filter(|v| !v.is_null()).cloned(),
            extra_headers: dep.extra_headers.clone(),
            timeouts: Timeouts::for_deployment(dep),
            limits: dep.body_limits,
        })
    }

    /// A `gemini/` deployment: the Gemini API with an API key.
    fn gemini_api(dep: &Deployment, egress: &Egress, env: &Env) -> Result<Self, String> {
        let alias = &dep.alias;
        let base = gemini_api_base(dep, env)?;
        let key = dep
            .api_key
            .clone()
            .or_else(|| env.first_of(&["GEMINI_API_KEY", "GOOGLE_API_KEY"]).map(|(_, v)| Secret::new(v)))
            .ok_or_else(|| {
                format!("model `{alias}`: no Gemini API key: set GEMINI_API_KEY (from https://aistudio.google.com/apikey) or api_key in litellm_params")
            })?;
        let client = egress.client_for(dep).map_err(|e| format!("model `{alias}`: {e}"))?;
        Ok(Vertex {
            client,
            auth: Auth::ApiKey(key),
            model_url: format!("{base}/v1beta/models/{}", dep.model),
            model: dep.model.clone(),
            project: String::new(),
            location: String::new(),
            label: format!("Gemini API ({})", dep.model),
            safety_settings: dep.params.get("safety_settings").filter(|v| !v.is_null()).cloned(),
            extra_headers: dep.extra_headers.clone(),
            timeouts: Timeouts::for_deployment(dep),
            limits: dep.body_limits,
        })
    }

    /// The Gemini API key, sent with every call.
    pub fn fixed_credential(&self) -> Option<&Secret<String>> {
        match &self.auth {
            Auth::ApiKey(key) => Some(key),
            Auth::OAuth(_) => None,
        }
    }

    pub fn unsupported_params(&self) -> &'static [&'static str] {
        UNSUPPORTED
    }

    pub fn has_api_key(&self) -> bool {
        matches!(self.auth, Auth::ApiKey(_))
    }

    /// For `ai-proxy doctor`: get an access token (through this deployment's egress client)
    /// without calling the model; says where the credential came from, never the token.
    pub async fn check_credentials(&self) -> Result<String, ProviderError> {
        let auth = match &self.auth {
            Auth::OAuth(a) => a,
            Auth::ApiKey(_) => return Ok("API key configured (checked by --live)".into()),
        };
        auth.token(&self.client)
            .await
            .map(|_| format!("access token obtained with {}", auth.source()))
            .map_err(|e| ProviderError::Credential { message: e.to_string() })
    }

    /// POST with a bearer token; a 401 drops the token and retries once with a fresh one.
    async fn post(
        &self,
        method: &str,
        body: Vec<u8>,
        timeouts: Timeouts,
    ) -> Result<reqwest::Response, ProviderError> {
        let url = format!("{}:{method}", self.model_url);
        let auth = match &self.auth {
            Auth::OAuth(a) => a,
            Auth::ApiKey(key) => {
                let mut rb = self
                    .client
                    .post(&url)
                    .header("x-goog-api-key", super::key_header(key, &self.label)?)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body);
                for (k, v) in &self.extra_headers {
                    rb = rb.header(k, v);
                }
                return send(&self.client, rb, timeouts, &self.label)
                    .await
                    .map_err(|e| self.with_hint(e));
            }
        };
        let mut retried = false;
        loop {
            let token = auth
                .token(&self.client)
                .await
                .map_err(|e| ProviderError::Credential { message: e.to_string() })?;
            let mut rb = self
                .client
                .post(&url)
                .bearer_auth(token.expose())
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(q) = auth.quota_project() {
                rb = rb.header("x-goog-user-project", q);
            }
            for (k, v) in &self.extra_headers {
                rb = rb.header(k, v);
            }
            match send(&self.client, rb, timeouts, &self.label).await {
                Err(ProviderError::Upstream { status: 401, .. }) if !retried => {
                    tracing::info!(model = %self.model, "Vertex AI rejected the access token; refreshing it once");
                    auth.invalidate(&token).await;
                    retried = true;
                }
                Err(e) => return Err(self.with_hint(e)),
                Ok(r) => return Ok(r),
            }
        }
    }

    /// Add what to do to Google's own message for the errors users hit most.
    fn with_hint(&self, err: ProviderError) -> ProviderError {
        let auth = match &self.auth {
            Auth::OAuth(a) => a,
            Auth::ApiKey(_) => {
                return err.explain_upstream(|status, message| match status {
                    400 if message.contains("API key") => format!("{message} (hint: check GEMINI_API_KEY or api_key: a key from https://aistudio.google.com/apikey)"),
                    401 | 403 => format!("{message} (hint: check GEMINI_API_KEY or api_key: a key from https://aistudio.google.com/apikey with the Generative Language API enabled)"),
                    404 => format!("{message} (hint: check the model name `gemini/{}`; the Gemini API lists its models at https://ai.google.dev/gemini-api/docs/models)", self.model),
                    _ => message,
                });
            }
        };
        err.explain_upstream(|status, message| {
            let hint = match status {
                401 => format!(
                    "the access token from {} was rejected twice: {}",
                    auth.source(),
                    google::LOGIN_HINT
                ),
                403 => format!(
                    "check that the Vertex AI API is enabled for project `{}` (https://console.cloud.google.com/apis/library/aiplatform.googleapis.com?project={}) and that the account from {} has the Vertex AI User role; for a personal account run `gcloud auth application-default login`",
                    self.project,
                    self.project,
                    auth.source()
                ),
                404 if self.location != "global" => format!(
                    "model `{}` may not be served in location `{}`: Gemini 3 and other preview models are served in `global` (set `vertex_location: global`)",
                    self.model, self.location
                ),
                _ => return message,
            };
            format!("{message} (hint: {hint})")
        })
    }

    /// Translated and encoded before the future starts, which keeps only the body: see
    /// [`super::Provider::chat`].
    pub fn chat(
        &self,
        req: ChatRequest,
    ) -> impl Future<Output = Result<ChatOutput, ProviderError>> + '_ {
        let encoded = self.encode_chat(&req);
        let timeouts = self.timeouts.with(req.call_timeouts);
        let stream = req.is_stream();
        async move { self.send_chat(encoded?, stream, timeouts).await }
    }

    fn encode_chat(&self, req: &ChatRequest) -> Result<Vec<u8>, ProviderError> {
        let opts =
            RequestOptions { model: &self.model, safety_settings: self.safety_settings.as_ref() };
        let body = gemini::request(req, &opts)
            .map_err(|e| ProviderError::InvalidRequest { message: e.message, param: e.param })?;
        super::http::encode_json_sized(&body, req.size_hint)
    }

    async fn send_chat(
        &self,
        body: Vec<u8>,
        stream: bool,
        timeouts: Timeouts,
    ) -> Result<ChatOutput, ProviderError> {
        let seed = format!("{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
        let created = unix_now();
        if !stream {
            let resp = self.post("generateContent", body, timeouts).await?;
            let parsed: GenerateContentResponse =
                read_json(resp, timeouts, self.limits.response_bytes, &self.label).await?;
            let meta = ResponseMeta { id_seed: &seed, created, model: &self.model };
            return gemini::response(parsed, &meta)
                .map(ChatOutput::Complete)
                .map_err(blocked_error);
        }
        let resp = self.post("streamGenerateContent?alt=sse", body, timeouts).await?;
        let events = sse_events(
            resp,
            timeouts.stream_idle,
            self.limits.stream_event_bytes,
            self.label.clone(),
        );
        let fold = GeminiFold {
            state: StreamState::new(seed, created, self.model.clone()),
            label: self.label.clone(),
        };
        Ok(ChatOutput::Stream(folded_chunks(events, fold)))
    }

    /// Vertex's own counter (`:countTokens`) for the request's contents, system instruction
    /// and tools; `None` for the Gemini API (its counter takes no system instruction or
    /// tools at the top level: estimated locally).
    pub async fn count_tokens(&self, req: &ChatRequest) -> Option<Result<u64, ProviderError>> {
        match self.auth {
            Auth::OAuth(_) => Some(self.vertex_count_tokens(req).await),
            Auth::ApiKey(_) => None,
        }
    }

    async fn vertex_count_tokens(&self, req: &ChatRequest) -> Result<u64, ProviderError> {
        let opts = RequestOptions { model: &self.model, safety_settings: None };
        let full = gemini::request(req, &opts)
            .map_err(|e| ProviderError::InvalidRequest { message: e.message, param: e.param })?;
        let body = crate::wire::gemini::CountTokensRequest {
            contents: full.contents,
            system_instruction: full.system_instruction,
            tools: full.tools,
        };
        let body = super::http::encode_json(&body)?;
        let resp = self.post("countTokens", body, self.timeouts).await?;
        let counted: crate::wire::gemini::CountTokensResponse =
            read_json(resp, self.timeouts, self.limits.response_bytes, &self.label).await?;
        Ok(counted.total_tokens)
    }

    pub async fn embeddings(
        &self,
        req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        let Some(texts) = req.input.texts() else {
            return Err(ProviderError::InvalidRequest {
                message: "Vertex AI embeds text inputs only, not token arrays".into(),
                param: Some("input".into()),
            });
        };
        let base64 = req.encoding_format.as_deref() == Some("base64");
        let timeouts = self.timeouts.with(req.call_timeouts);
        if let Auth::ApiKey(_) = self.auth {
            return self.batch_embed(&texts, &req, base64, timeouts).await;
        }
        // gemini-embedding models take one text per request; text-embedding-* take up to 250.
        let batch = if self.model.starts_with("gemini-embedding") { 1 } else { 250 };
        let mut data = Vec::with_capacity(texts.len());
        let mut tokens = 0;
        for (n, group) in texts.chunks(batch).enumerate() {
            let body = embed::predict_request(group, req.dimensions, &req.extra);
            let body = super::http::encode_json(&body)?;
            let resp = self.post("predict", body, timeouts).await?;
            let parsed: PredictResponse =
                read_json(resp, timeouts, self.limits.response_bytes, &self.label).await?;
            if parsed.predictions.len() != group.len() {
                return Err(ProviderError::protocol(format!(
                    "{} returned {} embeddings for {} inputs",
                    self.label,
                    parsed.predictions.len(),
                    group.len()
                )));
            }
            let (d, t) = embed::embeddings(parsed, (n * batch) as u32, base64);
            data.extend(d);
            tokens += t;
        }
        Ok(embed::response(data, tokens, &self.model))
    }
}

impl Vertex {
    /// The Gemini API's `:batchEmbedContents`, at most 100 texts a call.
    async fn batch_embed(
        &self,
        texts: &[String],
        req: &EmbeddingsRequest,
        base64: bool,
        timeouts: Timeouts,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        let mut data = Vec::with_capacity(texts.len());
        for (n, group) in texts.chunks(100).enumerate() {
            let body = embed::batch_request(group, &self.model, req.dimensions, &req.extra);
            let body = super::http::encode_json(&body)?;
            let resp = self.post("batchEmbedContents", body, timeouts).await?;
            let parsed: crate::wire::gemini::BatchEmbedResponse =
                read_json(resp, timeouts, self.limits.response_bytes, &self.label).await?;
            if parsed.embeddings.len() != group.len() {
                return Err(ProviderError::protocol(format!(
                    "{} returned {} embeddings for {} inputs",
                    self.label,
                    parsed.embeddings.len(),
                    group.len()
                )));
            }
            data.extend(embed::batch_embeddings(parsed, (n * 100) as u32, base64));
        }
        Ok(embed::response(data, 0, &self.model))
    }
}

/// The Gemini API's base URL for a `gemini/` deployment: `api_base`, else `GEMINI_API_BASE`,
/// else Google's; without a trailing `/` or `/v1beta`.
pub fn gemini_api_base(dep: &Deployment, env: &Env) -> Result<String, String> {
    let base = dep
        .api_base
        .clone()
        .or_else(|| env.get("GEMINI_API_BASE"))
        .unwrap_or_else(|| GEMINI_API_DEFAULT_BASE.to_owned());
    let mut b = base.trim().trim_end_matches('/').to_owned();
    if b.ends_with("/v1beta") {
        b.truncate(b.len() - "/v1beta".len());
    }
    let u = url::Url::parse(&b)
        .map_err(|e| format!("model `{}`: api_base `{base}` is not a URL: {e}", dep.alias))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("model `{}`: api_base `{base}` must be an https URL", dep.alias));
    }
    Ok(b)
}

/// `{origin}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}`:
/// the origin is `api_base` (scheme, host and any path prefix), else the regional host, else
/// `https://aiplatform.googleapis.com` for `global`.
pub fn model_url(
    api_base: Option<&str>,
    project: &str,
    location: &str,
    model: &str,
) -> Result<String, String> {
    publisher_model_url(api_base, project, location, "google", model)
}

/// [`model_url`] for any publisher of the Model Garden (`anthropic` for Claude).
pub fn publisher_model_url(
    api_base: Option<&str>,
    project: &str,
    location: &str,
    publisher: &str,
    model: &str,
) -> Result<String, String> {
    let origin = match api_base {
        Some(base) => {
            let u = url::Url::parse(base)
                .map_err(|e| format!("api_base `{base}` is not a URL: {e}"))?;
            format!("{}{}", &u[..url::Position::BeforePath], u.path().trim_end_matches('/'))
        }
        None if location == "global" => "https://aiplatform.googleapis.com".to_owned(),
        None => format!("https://{location}-aiplatform.googleapis.com"),
    };
    Ok(format!(
        "{origin}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}"
    ))
}

/// One SSE `data:` payload: a response, nothing (keep-alive), or Google's error object.
fn parse_event(data: &str, label: &str) -> Result<Option<GenerateContentResponse>, ProviderError> {
    let data = data.trim();
    if data.is_empty() || data == "[DONE]" {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(data).map_err(|e| {
        ProviderError::protocol(format!(
            "{label} sent a stream event that is not JSON ({e}): {}",
            super::http::truncate(data, 300)
        ))
    })?;
    if let Some(err) = v.get("error") {
        let status = err
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .unwrap_or(502);
        return Err(error_from_body(status, data.as_bytes(), label));
    }
    serde_json::from_value(v).map(Some).map_err(|e| {
        ProviderError::protocol(format!("{label} sent a stream event that could not be read ({e})"))
    })
}

/// Gemini's stream events through `translate::gemini::StreamState`.
struct GeminiFold {
    state: StreamState,
    label: String,
}

impl ChunkFold for GeminiFold {
    fn on_event(
        &mut self,
        ev: SseEvent,
        out: &mut VecDeque<ChatChunk>,
    ) -> Result<(), ProviderError> {
        if let Some(resp) = parse_event(&ev.data, &self.label)? {
            out.extend(self.state.on_event(resp).map_err(blocked_error)?);
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut VecDeque<ChatChunk>) -> Result<(), ProviderError> {
        if !self.state.is_complete() {
            return Err(ProviderError::protocol(format!(
                "{} ended the stream before its finishReason: the answer was cut off",
                self.label
            )));
        }
        out.extend(self.state.on_end());
        Ok(())
    }
}

fn blocked_error(b: gemini::Blocked) -> ProviderError {
    ProviderError::Upstream {
        status: 400,
        message: b.message,
        kind: Some("invalid_request_error".into()),
        code: Some("content_filter".into()),
        param: None,
        retry_after: None,
        details: Some(serde_json::json!({ "promptFeedback": b.feedback })),
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_location_and_api_base() {
        let path = "/v1/projects/p/locations/LOC/publishers/google/models/m";
        assert_eq!(
            model_url(None, "p", "us-central1", "m").expect("url"),
            format!(
                "https://us-central1-aiplatform.googleapis.com{}",
                path.replace("LOC", "us-central1")
            )
        );
        assert_eq!(
            model_url(None, "p", "global", "m").expect("url"),
            format!("https://aiplatform.googleapis.com{}", path.replace("LOC", "global"))
        );
        assert_eq!(
            model_url(Some("http://127.0.0.1:9/"), "p", "global", "m").expect("url"),
            format!("http://127.0.0.1:9{}", path.replace("LOC", "global"))
        );
        assert_eq!(
            model_url(Some("https://gw.corp.example/vertex/"), "p", "europe-west4", "m")
                .expect("url"),
            format!("https://gw.corp.example/vertex{}", path.replace("LOC", "europe-west4"))
        );
        assert!(model_url(Some("not a url"), "p", "l", "m").is_err());
    }

    #[test]
    fn stream_error_events_become_upstream_errors() {
        let e = parse_event(r#"{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}"#, "V")
            .expect_err("error");
        match e {
            ProviderError::Upstream { status, message, kind, .. } => {
                assert_eq!(status, 429);
                assert_eq!(message, "Resource exhausted");
                assert_eq!(kind.as_deref(), Some("RESOURCE_EXHAUSTED"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_event("", "V").expect("empty").is_none());
    }
}

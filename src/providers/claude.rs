//! Claude through the Anthropic Messages API, on three hosts: Anthropic itself
//! (`anthropic/<model>`, `x-api-key`), Vertex AI (`vertex_ai/claude-*`, `rawPredict` /
//! `streamRawPredict` on `publishers/anthropic/models/{model}` with Google OAuth tokens and
//! `anthropic_version: vertex-2023-10-16` in the body) and Azure AI Foundry
//! (`azure_ai/claude-*`, `{endpoint}/anthropic/v1/messages` with a key or an Entra token).
//!
//! Two ways in: [`Claude::chat`] for hub requests (`/v1/chat/completions`, `/v1/responses`),
//! translated by `translate::claude`; and [`Claude::passthrough`] for `/v1/messages`, which
//! sends the client's body with only `model` replaced (Vertex: removed, `anthropic_version`
//! set), the gateway's auth headers, `anthropic-version`, and the client's `anthropic-beta`
//! values this host accepts ([`betas_for`]); the answer is relayed by `server` unchanged.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::{RequestBuilder, Response};

use super::azure::{self, Credential};
use super::http::{ChunkFold, folded_chunks, read_json, send, sse_events};
use super::sse::SseEvent;
use super::{ChatOutput, ProviderError, Timeouts};
use crate::auth::google::{self, GoogleAuth};
use crate::auth::{AuthError, TokenCache};
use crate::config::{BodyLimits, Deployment, Env, ProviderKind};
use crate::egress::Egress;
use crate::secrets::Secret;
use crate::translate::claude::{self, RequestOptions, StreamState, raw};
use crate::wire::anthropic::UpstreamMessage;
use crate::wire::openai::{ChatChunk, ChatRequest};

/// Anthropic's API when neither `api_base` nor a base variable names another.
pub const ANTHROPIC_DEFAULT_BASE: &str = "https://api.anthropic.com";
/// The `anthropic-version` header the gateway sends (Anthropic and Azure AI Foundry).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Variables read for Anthropic's base URL, in order (LiteLLM's names).
pub const ANTHROPIC_BASE_VARS: &[&str] = &["ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"];
/// Variables read for the Azure AI Foundry endpoint.
pub const AZURE_AI_BASE_VARS: &[&str] = &["AZURE_AI_API_BASE"];

/// OpenAI parameters the Messages API has no equivalent for.
const UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "seed",
    "store",
    "service_tier",
    "prediction",
    "audio",
    "modalities",
    "web_search_options",
    "enable_thinking",
    "thinking_budget",
    "enable_search",
];

/// `anthropic-beta` values Vertex AI and Azure AI Foundry accept (by prefix: the date part
/// changes); both refuse the whole request for a value they do not know, and clients such
/// as Claude Code send Anthropic-only ones (`claude-code-*`, `oauth-*`).
const HOSTED_BETAS: &[&str] = &[
    "interleaved-thinking-",
    "context-1m-",
    "context-management-",
    "fine-grained-tool-streaming-",
    "token-efficient-tools-",
    "output-128k-",
    "computer-use-",
    "tool-search-tool-",
    "web-search-",
    "web-fetch-",
    "effort-",
    "structured-outputs-",
];

/// How a request is authenticated.
enum Auth {
    /// `x-api-key` (Anthropic).
    ApiKey(Secret<String>),
    /// Google OAuth bearer tokens (Vertex AI).
    Google(GoogleAuth),
    /// Azure AI Foundry: a key (`x-api-key` and `api-key`) or an Entra token.
    Foundry(Credential),
}

pub struct Claude {
    client: crate::egress::Client,
    kind: ProviderKind,
    auth: Auth,
    /// Where a whole answer comes from, and where a stream does (Vertex: two methods).
    url: String,
    stream_url: String,
    /// Anthropic's own token counter.
    count_url: Option<String>,
    model: String,
    extra_headers: Vec<(String, String)>,
    timeouts: Timeouts,
    limits: BodyLimits,
    label: String,
}

impl Claude {
    pub fn new(dep: &Deployment, egress: &Egress, env: &Env) -> Result<Self, String> {
        let alias = &dep.alias;
        let model = dep.model.trim().to_owned();
        if model.is_empty() {
            return Err(format!("model `{alias}`: `model:` names no Claude model"));
        }
        let client = egress.client_for(dep).map_err(|e| format!("model `{alias}`: {e}"))?;
        let (auth, url, stream_url, count_url, label) = match dep.provider {
            ProviderKind::VertexClaude => {
                let found = google::discover(dep.params.get("vertex_credentials"), env)
                    .map_err(|e| format!("model `{alias}`: {e}"))?;
                let auth = GoogleAuth::new(found);
                let location = dep
                    .params
                    .str("vertex_location")
                    .map(str::to_owned)
                    .or_else(|| env.get("VERTEX_LOCATION"))
                    .unwrap_or_else(|| super::vertex::DEFAULT_LOCATION.to_owned());
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
                let base = super::vertex::publisher_model_url(
                    dep.api_base.as_deref(),
                    &project,
                    &location,
                    "anthropic",
                    &model,
                )
                .map_err(|e| format!("model `{alias}`: {e}"))?;
                let label = format!("Vertex AI ({model}, project {project}, location {location})");
                (
                    Auth::Google(auth),
                    format!("{base}:rawPredict"),
                    format!("{base}:streamRawPredict"),
                    None,
                    label,
                )
            }
            ProviderKind::AzureAi => {
                let base = base_of(dep, env)?;
                // A key for this Foundry resource wins over a service principal set for
                // Azure OpenAI (`azure/`) in the same environment.
                let credential = match (&dep.api_key, env.get("AZURE_AI_API_KEY")) {
                    (None, Some(key)) => Credential::ApiKey(Secret::new(key)),
                    _ => azure::choose_credential(dep, env, "AZURE_AI_API_KEY", |p| p.is_file())?,
                };
                let url = format!("{base}/v1/messages");
                let label = format!("Azure AI Foundry ({model} at {base})");
                (Auth::Foundry(credential), url.clone(), url, None, label)
            }
            _ => {
                let base = base_of(dep, env)?;
                let key = dep
                    .api_key
                    .clone()
                    .or_else(|| env.get("ANTHROPIC_API_KEY").map(Secret::new))
                    .ok_or_else(|| {
                        format!("model `{alias}`: no Anthropic API key: set ANTHROPIC_API_KEY (or api_key in litellm_params)")
                    })?;
                let url = format!("{base}/v1/messages");
                let label = format!("Anthropic ({model})");
                let count = format!("{base}/v1/messages/count_tokens");
                (Auth::ApiKey(key), url.clone(), url, Some(count), label)
            }
        };
        Ok(Claude {
            client,
            kind: dep.provider,
            auth,
            url,
            stream_url,
            count_url,
            model,
            extra_headers: dep.extra_headers.clone(),
            timeouts: Timeouts::for_deployment(dep),
            limits: dep.body_limits,
            label,
        })
    }

    /// The key or token sent as it is with every call (Anthropic's key, a Foundry key or
    /// `azure_ad_token`).
    pub fn fixed_credential(&self) -> Option<&Secret<String>> {
        match &self.auth {
            Auth::ApiKey(key) => Some(key),
            Auth::Foundry(credential) => credential.fixed(),
            Auth::Google(_) => None,
        }
    }

    pub fn unsupported_params(&self) -> &'static [&'static str] {
        UNSUPPORTED
    }

    /// The upstream's body limits (the `/v1/messages` relay reads answers within them).
    pub fn limits(&self) -> BodyLimits {
        self.limits
    }

    /// For logs and errors: "Anthropic (claude-…)".
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn has_api_key(&self) -> bool {
        matches!(self.auth, Auth::ApiKey(_) | Auth::Foundry(Credential::ApiKey(_)))
    }

    /// For `ai-proxy doctor`: the credential (a token obtained through this deployment's
    /// egress client, or a key configured), never the secret.
    pub async fn check_credentials(&self) -> Result<String, ProviderError> {
        match &self.auth {
            Auth::ApiKey(_) => Ok("API key configured (checked by --live)".into()),
            Auth::Google(g) => g
                .token(&self.client)
                .await
                .map(|_| format!("access token obtained with {}", g.source()))
                .map_err(|e| ProviderError::Credential { message: e.to_string() }),
            Auth::Foundry(Credential::ApiKey(_)) => {
                Ok("API key configured (checked by --live)".into())
            }
            Auth::Foundry(Credential::StaticToken(_)) => {
                Ok("static Entra token from azure_ad_token (checked by --live)".into())
            }
            Auth::Foundry(c @ Credential::ServicePrincipal { cred, cache }) => cache
                .get(|| cred.fetch(&self.client))
                .await
                .map(|_| format!("token obtained for {}", c.describe()))
                .map_err(|e| self.credential_error(e)),
            Auth::Foundry(c @ Credential::Cli { cli, cache }) => cache
                .get(|| cli.fetch())
                .await
                .map(|_| format!("token obtained for {}", c.describe()))
                .map_err(|e| self.credential_error(e)),
        }
    }

    /// A hub request, translated to a Messages request and back.
    ///
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

    fn encode_chat(&self, req: &ChatRequest) -> Result<Bytes, ProviderError> {
        let body = claude::to_messages(req, &RequestOptions { model: &self.model })
            .map_err(|e| ProviderError::InvalidRequest { message: e.message, param: e.param })?;
        self.for_host(&super::http::encode_json_sized(&body, req.size_hint)?)
    }

    async fn send_chat(
        &self,
        body: Bytes,
        stream: bool,
        timeouts: Timeouts,
    ) -> Result<ChatOutput, ProviderError> {
        let created = unix_now();
        let resp = self.send(body, stream, None, timeouts).await?;
        if !stream {
            let message: UpstreamMessage =
                read_json(resp, timeouts, self.limits.response_bytes, &self.label).await?;
            return Ok(ChatOutput::Complete(claude::to_hub(message, created)));
        }
        let events = sse_events(
            resp,
            timeouts.stream_idle,
            self.limits.stream_event_bytes,
            self.label.clone(),
        );
        let fold = ClaudeFold {
            state: StreamState::new(self.model.clone(), created),
            label: self.label.clone(),
        };
        Ok(ChatOutput::Stream(folded_chunks(events, fold)))
    }

    /// A `/v1/messages` body, sent as the client wrote it but for the model (and Vertex's
    /// version field); `betas` is the client's `anthropic-beta` header. The answer (a 2xx
    /// response: JSON, or an event stream when `stream`) is the caller's to relay.
    pub async fn passthrough(
        &self,
        body: &[u8],
        stream: bool,
        betas: Option<&str>,
        timeouts: Timeouts,
    ) -> Result<Response, ProviderError> {
        let body = self.for_host(body)?;
        let betas = betas.and_then(|b| betas_for(self.kind, b));
        self.send(body, stream, betas, timeouts).await
    }

    /// Anthropic's token counter for a `/v1/messages/count_tokens` body (model replaced);
    /// `None` where the host has none (Vertex AI, Azure AI Foundry: estimated locally).
    pub async fn count_tokens_raw(
        &self,
        body: &[u8],
        betas: Option<&str>,
    ) -> Option<Result<u64, ProviderError>> {
        let url = self.count_url.as_deref()?;
        Some(self.count(url, body, betas).await)
    }

    async fn count(
        &self,
        url: &str,
        body: &[u8],
        betas: Option<&str>,
    ) -> Result<u64, ProviderError> {
        #[derive(serde::Deserialize)]
        struct Counted {
            input_tokens: u64,
        }
        let body = self.for_host(body)?;
        let betas = betas.and_then(|b| betas_for(self.kind, b));
        let resp = self.post(url, body, betas, self.timeouts).await?;
        let counted: Counted =
            read_json(resp, self.timeouts, self.limits.response_bytes, &self.label).await?;
        Ok(counted.input_tokens)
    }

    /// The body for this host: `model` set, or for Vertex removed with `anthropic_version`.
    fn for_host(&self, body: &[u8]) -> Result<Bytes, ProviderError> {
        let edited = match self.kind {
            ProviderKind::VertexClaude => raw::for_vertex(body, raw::VERTEX_VERSION),
            _ => raw::with_model(body, &self.model),
        };
        edited.map(Bytes::from).map_err(|e| ProviderError::InvalidRequest {
            message: e.to_string(),
            param: Some("request_body".into()),
        })
    }

    async fn send(
        &self,
        body: Bytes,
        stream: bool,
        betas: Option<String>,
        timeouts: Timeouts,
    ) -> Result<Response, ProviderError> {
        let url = if stream { &self.stream_url } else { &self.url };
        self.post(url, body, betas, timeouts).await
    }

    /// POST with this host's headers; a 401 answered to a cached token drops it and the call
    /// is made once more with a fresh one.
    async fn post(
        &self,
        url: &str,
        body: Bytes,
        betas: Option<String>,
        timeouts: Timeouts,
    ) -> Result<Response, ProviderError> {
        let mut retried = false;
        loop {
            let mut rb = self
                .client
                .post(url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if self.kind != ProviderKind::VertexClaude {
                rb = rb.header("anthropic-version", ANTHROPIC_VERSION);
            }
            if let Some(b) = &betas {
                rb = rb.header("anthropic-beta", b.as_str());
            }
            for (k, v) in &self.extra_headers {
                rb = rb.header(k, v);
            }
            let (rb, token) = self.authorize(rb).await?;
            match send(&self.client, rb, timeouts, &self.label).await {
                Err(ProviderError::Upstream { status: 401, .. }) if !retried && token.is_some() => {
                    tracing::info!(model = %self.model, "{} rejected the access token; refreshing it once", self.label);
                    match (token, &self.auth) {
                        (Some(Rejected::Google(t)), Auth::Google(g)) => g.invalidate(&t).await,
                        (Some(Rejected::Entra(cache, t)), _) => cache.invalidate(&t).await,
                        _ => {}
                    }
                    retried = true;
                }
                Err(e) => return Err(self.explain(e)),
                Ok(r) => return Ok(r),
            }
        }
    }

    /// The auth headers, and the token sent (to drop it on a 401).
    async fn authorize(
        &self,
        rb: RequestBuilder,
    ) -> Result<(RequestBuilder, Option<Rejected<'_>>), ProviderError> {
        Ok(match &self.auth {
            Auth::ApiKey(key) => {
                (rb.header("x-api-key", super::key_header(key, &self.label)?), None)
            }
            Auth::Google(g) => {
                let token = g
                    .token(&self.client)
                    .await
                    .map_err(|e| ProviderError::Credential { message: e.to_string() })?;
                let mut rb = rb.bearer_auth(token.expose());
                if let Some(q) = g.quota_project() {
                    rb = rb.header("x-goog-user-project", q);
                }
                (rb, Some(Rejected::Google(token)))
            }
            Auth::Foundry(Credential::ApiKey(key)) => {
                let v = super::key_header(key, &self.label)?;
                (rb.header("x-api-key", v.clone()).header("api-key", v), None)
            }
            Auth::Foundry(Credential::StaticToken(t)) => (rb.bearer_auth(t.expose()), None),
            Auth::Foundry(Credential::ServicePrincipal { cred, cache }) => {
                let t = cache
                    .get(|| cred.fetch(&self.client))
                    .await
                    .map_err(|e| self.credential_error(e))?;
                (rb.bearer_auth(t.expose()), Some(Rejected::Entra(cache, t)))
            }
            Auth::Foundry(Credential::Cli { cli, cache }) => {
                let t = cache.get(|| cli.fetch()).await.map_err(|e| self.credential_error(e))?;
                (rb.bearer_auth(t.expose()), Some(Rejected::Entra(cache, t)))
            }
        })
    }

    fn credential_error(&self, err: AuthError) -> ProviderError {
        ProviderError::Credential {
            message: format!("cannot authenticate to {}: {err}", self.label),
        }
    }

    /// What to do, added to the host's own message for the errors users hit most.
    fn explain(&self, err: ProviderError) -> ProviderError {
        err.explain_upstream(|status, message| {
            let hint = match (self.kind, status) {
                (ProviderKind::Anthropic, 401) => {
                    "check ANTHROPIC_API_KEY (or api_key) at https://console.anthropic.com/settings/keys".to_owned()
                }
                (ProviderKind::VertexClaude, 401) => google::LOGIN_HINT.to_owned(),
                (ProviderKind::VertexClaude, 403) => "check that the Vertex AI API is enabled, that the account has the Vertex AI User role, and that the Claude model is enabled for the project in the Model Garden".to_owned(),
                (ProviderKind::VertexClaude, 404) => format!(
                    "check that `{}` is a Claude model id of the Vertex AI Model Garden (with its `@date`) served in this location (`vertex_location`; `global` serves the most models)",
                    self.model
                ),
                (ProviderKind::AzureAi, 401 | 403) => "check api_key / AZURE_AI_API_KEY (Azure AI Foundry > the resource > Keys and Endpoint), or that the Entra identity has the `Cognitive Services User` role on the resource".to_owned(),
                (ProviderKind::AzureAi, 404) => format!(
                    "check the deployment name (`azure_ai/{}`) and the endpoint in api_base (https://<resource>.services.ai.azure.com/anthropic)",
                    self.model
                ),
                _ => return message,
            };
            format!("{message} (hint: {hint})")
        })
    }
}

/// A token that was sent, to drop if the host rejects it.
enum Rejected<'a> {
    Google(Secret<String>),
    Entra(&'a TokenCache, Secret<String>),
}

/// The base URL of an Anthropic or Azure AI Foundry deployment, without `/v1/messages`:
/// `api_base`, else the base variables, else (Anthropic) `https://api.anthropic.com`. An
/// Azure AI Foundry endpoint given as the resource (`https://x.services.ai.azure.com`) gets
/// `/anthropic`, the path Foundry serves Claude under.
pub fn base_of(dep: &Deployment, env: &Env) -> Result<String, String> {
    let alias = &dep.alias;
    let foundry = dep.provider == ProviderKind::AzureAi;
    let vars = if foundry { AZURE_AI_BASE_VARS } else { ANTHROPIC_BASE_VARS };
    let base = dep
        .api_base
        .clone()
        .or_else(|| env.first_of(vars).map(|(_, v)| v))
        .or_else(|| (!foundry).then(|| ANTHROPIC_DEFAULT_BASE.to_owned()))
        .ok_or_else(|| {
            format!("model `{alias}`: no Azure AI Foundry endpoint: set api_base (https://<resource>.services.ai.azure.com/anthropic) or AZURE_AI_API_BASE")
        })?;
    normalize_base(&base, foundry).map_err(|e| format!("model `{alias}`: {e}"))
}

/// `base` without a trailing `/`, `/v1/messages` or `/v1`; for Foundry, `/anthropic` added
/// to a bare resource endpoint.
fn normalize_base(base: &str, foundry: bool) -> Result<String, String> {
    let mut b = base.trim().trim_end_matches('/').to_owned();
    for suffix in ["/v1/messages", "/v1"] {
        if b.to_ascii_lowercase().ends_with(suffix) {
            b.truncate(b.len() - suffix.len());
            break;
        }
    }
    let url = url::Url::parse(&b).map_err(|e| format!("api_base `{base}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("api_base `{base}` must be an https URL"));
    }
    if foundry && matches!(url.path(), "" | "/") {
        b.push_str("/anthropic");
    }
    Ok(b)
}

/// The `anthropic-beta` header for this host from the client's (comma-separated values,
/// possibly several headers joined): Anthropic gets every value but `oauth-*` (the gateway
/// authenticates with its own key); Vertex AI and Azure AI Foundry get the values they
/// accept ([`HOSTED_BETAS`]). `None` when nothing is left.
pub fn betas_for(kind: ProviderKind, header: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .filter(|b| match kind {
            ProviderKind::Anthropic => !b.starts_with("oauth-"),
            _ => HOSTED_BETAS.iter().any(|p| b.starts_with(p)),
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// Claude's stream events through `translate::claude::StreamState`.
struct ClaudeFold {
    state: StreamState,
    label: String,
}

impl ChunkFold for ClaudeFold {
    fn on_event(
        &mut self,
        ev: SseEvent,
        out: &mut VecDeque<ChatChunk>,
    ) -> Result<(), ProviderError> {
        let name = ev.event.as_deref().unwrap_or("");
        match self.state.on_event(name, &ev.data) {
            Ok(chunks) => {
                out.extend(chunks);
                Ok(())
            }
            Err(e) => Err(upstream_stream_error(e.kind, e.message, &self.label)),
        }
    }

    fn on_end(&mut self, _out: &mut VecDeque<ChatChunk>) -> Result<(), ProviderError> {
        if self.state.is_complete() {
            return Ok(());
        }
        Err(ProviderError::protocol(format!(
            "{} ended the stream before message_stop: the answer was cut off",
            self.label
        )))
    }
}

/// An `error` event in the middle of a Claude stream (`overloaded_error` and kin).
fn upstream_stream_error(kind: String, message: String, label: &str) -> ProviderError {
    let status = match kind.as_str() {
        "overloaded_error" => 529,
        "rate_limit_error" => 429,
        "invalid_request_error" => 400,
        "api_error" => 500,
        _ => 502,
    };
    ProviderError::Upstream {
        status,
        message: format!("{label}: {message}"),
        kind: Some(kind),
        code: None,
        param: None,
        retry_after: None,
        details: None,
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn betas_are_filtered_per_host() {
        let claude_code = "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14, fine-grained-tool-streaming-2025-05-14";
        assert_eq!(
            betas_for(ProviderKind::Anthropic, claude_code).as_deref(),
            Some(
                "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
            )
        );
        for kind in [ProviderKind::VertexClaude, ProviderKind::AzureAi] {
            assert_eq!(
                betas_for(kind, claude_code).as_deref(),
                Some("interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14")
            );
            assert_eq!(betas_for(kind, "claude-code-20250219"), None);
        }
        assert_eq!(betas_for(ProviderKind::Anthropic, "oauth-2025-04-20"), None);
    }

    #[test]
    fn bases_are_normalized() {
        for (base, foundry, want) in [
            ("https://api.anthropic.com/", false, "https://api.anthropic.com"),
            ("https://api.anthropic.com/v1", false, "https://api.anthropic.com"),
            ("https://gw.example/anthropic/v1/messages", false, "https://gw.example/anthropic"),
            ("https://r.services.ai.azure.com", true, "https://r.services.ai.azure.com/anthropic"),
            (
                "https://r.services.ai.azure.com/anthropic/",
                true,
                "https://r.services.ai.azure.com/anthropic",
            ),
            (
                "https://r.services.ai.azure.com/anthropic/v1/messages",
                true,
                "https://r.services.ai.azure.com/anthropic",
            ),
        ] {
            assert_eq!(normalize_base(base, foundry).as_deref(), Ok(want), "{base}");
        }
        assert!(normalize_base("ftp://x", false).is_err());
        assert!(normalize_base("not a url", true).is_err());
    }

    #[test]
    fn stream_errors_keep_anthropics_type() {
        let e = upstream_stream_error("overloaded_error".into(), "Overloaded".into(), "Anthropic");
        assert!(e.is_retryable());
        assert!(matches!(e, ProviderError::Upstream { status: 529, .. }));
    }
}

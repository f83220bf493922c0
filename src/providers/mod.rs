//! Upstream providers: one module per upstream family, all speaking the hub format.
//!
//! A [`Provider`] is built once per deployment at start-up (its HTTP client comes from
//! `egress` and is shared and pooled) and turns a hub [`ChatRequest`] into a complete
//! response or a stream of hub chunks. Providers never render client-facing errors: they
//! return a [`ProviderError`] that `server` renders in the caller's dialect.

pub mod azure;
pub mod body;
pub mod claude;
pub mod http;
pub mod mock;
pub mod openai_compat;
pub mod sse;
pub mod vertex;

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use serde_json::Value;

use crate::config::{Deployment, Env, ProviderKind};
use crate::egress::Egress;
use crate::secrets::Secret;
use crate::translate::verbatim::Verbatim;
use crate::wire::openai::{
    CallTimeouts, ChatChunk, ChatCompletion, ChatRequest, EmbeddingsRequest, EmbeddingsResponse,
};

/// A stream of hub chunks; an `Err` item ends the stream.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send>>;

/// What a chat call produced.
// One per call, moved a few times and never stored: boxing the completion would cost an
// allocation per call to save stack bytes.
#[allow(clippy::large_enum_variant)]
pub enum ChatOutput {
    Complete(ChatCompletion),
    /// Only for a request with `verbatim` set (see `translate::verbatim`).
    Verbatim(Verbatim),
    Stream(ChunkStream),
}

/// Which phase of an upstream call timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    Connect,
    /// Waiting for the response head or the whole body.
    Response,
    /// Waiting for the next chunk of a stream.
    StreamIdle,
}

/// Everything that can go wrong between the gateway and an upstream.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The deployment cannot serve requests (missing variable or credential).
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot be sent to this upstream as it is (client fault, 400).
    #[error("{message}")]
    InvalidRequest { message: String, param: Option<String> },
    /// Could not reach the upstream (or its proxy): DNS, TCP, TLS, proxy refusal.
    #[error("{message}")]
    Connect { message: String },
    #[error("{message}")]
    Timeout { phase: TimeoutPhase, message: String },
    /// Getting an upstream token failed (Entra, Google OAuth, Azure CLI).
    #[error("{message}")]
    Credential { message: String },
    /// The upstream answered with an error status; its message is passed through.
    #[error("{message}")]
    Upstream {
        status: u16,
        message: String,
        /// The upstream's error type/status string, if it sent one.
        kind: Option<String>,
        code: Option<String>,
        param: Option<String>,
        retry_after: Option<String>,
        /// Provider details worth keeping (Azure content-filter results).
        details: Option<Value>,
    },
    /// The upstream answered 2xx with something we cannot understand.
    #[error("{message}")]
    Protocol { message: String },
}

impl ProviderError {
    /// Whether another attempt (same or next deployment) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Connect { .. } => true,
            ProviderError::Timeout { phase, .. } => *phase == TimeoutPhase::Connect,
            ProviderError::Upstream { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The upstream's `Retry-After`, as it sent it.
    pub fn retry_after(&self) -> Option<&str> {
        match self {
            ProviderError::Upstream { retry_after, .. } => retry_after.as_deref(),
            _ => None,
        }
    }

    /// Rewrite the message of an upstream error answer (to add what to do), keeping its
    /// status, codes, `Retry-After` and details; other errors are returned unchanged.
    pub fn explain_upstream(self, explain: impl FnOnce(u16, String) -> String) -> Self {
        match self {
            ProviderError::Upstream {
                status,
                message,
                kind,
                code,
                param,
                retry_after,
                details,
            } => ProviderError::Upstream {
                status,
                message: explain(status, message),
                kind,
                code,
                param,
                retry_after,
                details,
            },
            other => other,
        }
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        ProviderError::Protocol { message: message.into() }
    }
}

/// Timeouts for one call, from the deployment's `timeout` / `stream_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub total: Duration,
    pub stream_idle: Duration,
}

impl Timeouts {
    pub fn for_deployment(dep: &Deployment) -> Self {
        Timeouts { total: dep.timeout, stream_idle: dep.stream_timeout.unwrap_or(dep.timeout) }
    }

    /// These timeouts with a request's own (`timeout`, `stream_timeout` in the body) in
    /// place of the deployment's.
    pub fn with(self, call: CallTimeouts) -> Self {
        Timeouts {
            total: call.timeout.unwrap_or(self.total),
            stream_idle: call.stream_timeout.unwrap_or(self.stream_idle),
        }
    }
}

/// Why a credential cannot be sent in an HTTP header, or `None`: a line break (a key pasted
/// with its newline, a `\n` in a quoted value) or another control character.
pub fn unsendable(value: &str) -> Option<&'static str> {
    if value.contains(['\r', '\n']) {
        return Some("a line break");
    }
    ::http::HeaderValue::from_str(value).is_err().then_some("a control character")
}

/// The reason a deployment whose key or token [`unsendable`] refuses is unavailable. It never
/// shows the value.
pub fn unsendable_credential(alias: &str, why: &str) -> String {
    format!(
        "model `{alias}`: its API key or token contains {why}, which an HTTP header cannot carry: remove it from litellm_params or the variable that holds it"
    )
}

/// A fixed API key as a sensitive header value, for each call. `Provider::build` refuses a
/// key no header can carry, so the error is only for a provider built some other way; `label`
/// names the upstream ("Azure OpenAI deployment `x` at …").
pub fn key_header(key: &Secret<String>, label: &str) -> Result<::http::HeaderValue, ProviderError> {
    let mut value = ::http::HeaderValue::from_str(key.expose()).map_err(|_| {
        let why = unsendable(key.expose()).unwrap_or("a control character");
        ProviderError::Credential {
            message: format!(
                "the API key of {label} contains {why}, which an HTTP header cannot carry"
            ),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A deployment's upstream.
pub enum Provider {
    Mock(mock::Mock),
    OpenAiCompat(openai_compat::OpenAiCompat),
    Vertex(vertex::Vertex),
    Azure(azure::AzureOpenAi),
    /// Anthropic, Claude on Vertex AI, Claude on Azure AI Foundry.
    Claude(claude::Claude),
}

impl Provider {
    /// Build the provider for a deployment. An `Err` marks the deployment unavailable with
    /// that reason (the gateway still starts).
    pub fn build(dep: &Deployment, egress: &Egress, env: &Env) -> Result<Provider, String> {
        let provider = Provider::build_unchecked(dep, egress, env)?;
        if let Some(secret) = provider.fixed_credential()
            && let Some(why) = unsendable(secret.expose())
        {
            return Err(unsendable_credential(&dep.alias, why));
        }
        Ok(provider)
    }

    fn build_unchecked(dep: &Deployment, egress: &Egress, env: &Env) -> Result<Provider, String> {
        match dep.provider {
            ProviderKind::Mock => Ok(Provider::Mock(mock::Mock::new(dep))),
            ProviderKind::OpenAi | ProviderKind::DashScope | ProviderKind::Compat(_) => {
                openai_compat::OpenAiCompat::new(dep, egress, env).map(Provider::OpenAiCompat)
            }
            ProviderKind::Vertex => vertex::Vertex::new(dep, egress, env).map(Provider::Vertex),
            ProviderKind::Azure => azure::AzureOpenAi::new(dep, egress, env).map(Provider::Azure),
            ProviderKind::Anthropic | ProviderKind::VertexClaude | ProviderKind::AzureAi => {
                claude::Claude::new(dep, egress, env).map(Provider::Claude)
            }
            ProviderKind::Gemini => vertex::Vertex::new(dep, egress, env).map(Provider::Vertex),
        }
    }

    /// The key or token sent as it is with every call, if the deployment has one (not one
    /// fetched, which comes from a token endpoint).
    fn fixed_credential(&self) -> Option<&Secret<String>> {
        match self {
            // The OpenAI-compatible family checks its key as it makes the header from it.
            Provider::Mock(_) | Provider::OpenAiCompat(_) => None,
            Provider::Vertex(p) => p.fixed_credential(),
            Provider::Azure(p) => p.credential().fixed(),
            Provider::Claude(p) => p.fixed_credential(),
        }
    }

    /// Request parameters this upstream does not accept (dropped with `drop_params`,
    /// otherwise rejected with a 400 that says how to drop them).
    pub fn unsupported_params(&self) -> &'static [&'static str] {
        match self {
            Provider::Mock(_) => &[],
            Provider::OpenAiCompat(p) => p.unsupported_params(),
            Provider::Vertex(p) => p.unsupported_params(),
            Provider::Azure(p) => p.unsupported_params(),
            Provider::Claude(p) => p.unsupported_params(),
        }
    }

    /// For `ai-proxy doctor`: acquire the deployment's upstream credential (a token from
    /// Entra / Google OAuth, through the deployment's egress client) without calling the
    /// model, and say what was obtained (never the secret). `None`: nothing to acquire.
    /// Providers with tokens add their arm here.
    pub async fn check_credentials(&self) -> Option<Result<String, ProviderError>> {
        match self {
            Provider::Mock(_) => None,
            Provider::OpenAiCompat(p) => {
                p.has_api_key().then(|| Ok("API key configured (checked by --live)".to_owned()))
            }
            Provider::Azure(p) => Some(p.check_credentials().await),
            Provider::Vertex(p) => Some(p.check_credentials().await),
            Provider::Claude(p) => Some(p.check_credentials().await),
        }
    }

    /// Send a chat request to the provider.
    ///
    /// Not an `async fn`, and neither are the providers' `chat`s: each translates and encodes
    /// the request when called and returns a future that keeps only the body. A request (600
    /// bytes) given to an `async fn` is stored in its future, twice if it is alive across an
    /// `.await` (argument and local), and the futures of a call nest up to the handler's and
    /// are copied whole when they move, so every byte of room here is copied several times.
    /// For the same reason an upstream call's future is boxed: they are 1.4 KB (OpenAI
    /// compatible) to 3.1 KB (Claude), and inline the largest sized every call's futures above
    /// it, which the router moves several times per attempt; one allocation costs less.
    pub fn chat(
        &self,
        req: ChatRequest,
    ) -> impl Future<Output = Result<ChatOutput, ProviderError>> + '_ {
        use futures_util::future::{Either, ready};
        let call: Pin<Box<dyn Future<Output = Result<ChatOutput, ProviderError>> + Send + '_>> =
            match self {
                Provider::Mock(p) => return Either::Left(ready(p.chat(req))),
                Provider::OpenAiCompat(p) => Box::pin(p.chat(req)),
                Provider::Vertex(p) => Box::pin(p.chat(req)),
                Provider::Azure(p) => Box::pin(p.chat(req)),
                Provider::Claude(p) => Box::pin(p.chat(req)),
            };
        Either::Right(call)
    }

    /// The upstream's own input-token count for a request, where it has a counter (Vertex
    /// `countTokens`). `None`: no counter here; the caller falls back to a local estimate
    /// (`translate::tokens`).
    pub async fn count_tokens(&self, req: &ChatRequest) -> Option<Result<u64, ProviderError>> {
        match self {
            Provider::Vertex(p) => p.count_tokens(req).await,
            Provider::Mock(_)
            | Provider::OpenAiCompat(_)
            | Provider::Azure(_)
            | Provider::Claude(_) => None,
        }
    }

    pub async fn embeddings(
        &self,
        req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        match self {
            Provider::Mock(p) => p.embeddings(req),
            Provider::OpenAiCompat(p) => p.embeddings(req).await,
            Provider::Vertex(p) => p.embeddings(req).await,
            Provider::Azure(p) => p.embeddings(req).await,
            Provider::Claude(p) => Err(ProviderError::InvalidRequest {
                message: format!("{} has no embeddings model", p.label()),
                param: Some("model".into()),
            }),
        }
    }
}

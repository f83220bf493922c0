//! Azure OpenAI: deployments on a resource endpoint, classic (`/openai/deployments/{d}/...
//! ?api-version=`) and v1 (`/openai/v1/...`, deployment in `model`) APIs, with an API key, a
//! static Entra token, a service principal or the Azure CLI's login.
//!
//! Token credentials share a [`TokenCache`] per (authority, tenant, client, scope); a 401
//! answered to a cached token invalidates it and the call is retried once with a fresh one.
//! Azure's error answers are reworded so users can act on them (role to grant, deployment
//! that does not exist) without losing Azure's own message, code or filter details.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{RequestBuilder, Response};

use super::http::{read_completion, read_json, send};
use super::openai_compat::{ChatCall, StreamRead, chunk_stream};
use super::{ChatOutput, ProviderError, Timeouts};
use crate::auth::azure_cli::{self, AzureCli};
use crate::auth::entra::{self, EntraCredential};
use crate::auth::{AuthError, TokenCache, shared_cache};
use crate::config::{BodyLimits, Deployment, Env};
use crate::egress::Egress;
use crate::secrets::Secret;
use crate::translate::azure::{StreamFold, accepts_stream_options, is_v1};
use crate::translate::reasoning;
use crate::wire::openai::{ChatRequest, EmbeddingsRequest, EmbeddingsResponse, StreamOptions};

/// `api_version` when neither the deployment nor `AZURE_API_VERSION` sets one. Recent enough
/// for `max_completion_tokens`, `reasoning_effort`, `stream_options` and the gpt-5 family.
pub const DEFAULT_API_VERSION: &str = "2025-04-01-preview";

/// Parameters Azure OpenAI rejects for every model (Qwen / Gemini extras, `top_k`).
const UNSUPPORTED: &[&str] =
    &["top_k", "enable_thinking", "thinking_budget", "enable_search", "reasoning_effort"];
/// For reasoning deployments: `reasoning_effort` is accepted, log-probability options are not.
const UNSUPPORTED_REASONING: &[&str] = &[
    "top_k",
    "enable_thinking",
    "thinking_budget",
    "enable_search",
    "logprobs",
    "top_logprobs",
    "logit_bias",
];

/// How a deployment authenticates (Azure OpenAI here, Claude on Azure AI Foundry in
/// `providers::claude`).
pub enum Credential {
    /// `api-key` header (`api_key`, else the provider's key variable).
    ApiKey(Secret<String>),
    /// A static Entra token from `azure_ad_token`.
    StaticToken(Secret<String>),
    ServicePrincipal {
        cred: EntraCredential,
        cache: Arc<TokenCache>,
    },
    Cli {
        cli: AzureCli,
        cache: Arc<TokenCache>,
    },
}

impl Credential {
    /// The key or token sent as it is with every call (`api-key`, or `azure_ad_token` as a
    /// bearer token); `None` for tokens fetched from Entra ID or the Azure CLI.
    pub fn fixed(&self) -> Option<&Secret<String>> {
        match self {
            Credential::ApiKey(s) | Credential::StaticToken(s) => Some(s),
            Credential::ServicePrincipal { .. } | Credential::Cli { .. } => None,
        }
    }

    /// For logs and messages; never the secret.
    pub fn describe(&self) -> String {
        match self {
            Credential::ApiKey(_) => "an API key".into(),
            Credential::StaticToken(_) => "the Entra token from azure_ad_token".into(),
            Credential::ServicePrincipal { cred, .. } => {
                format!("service principal `{}` (tenant `{}`)", cred.client_id, cred.tenant)
            }
            Credential::Cli { cli, .. } => {
                format!("the Azure CLI login ({})", cli.program.display())
            }
        }
    }
}

pub struct AzureOpenAi {
    client: crate::egress::Client,
    deployment: String,
    /// Resource endpoint without `/openai/...`, for messages.
    resource: String,
    api_version: String,
    chat_url: String,
    embeddings_url: String,
    credential: Credential,
    reasoning: bool,
    drop_params: bool,
    extra_headers: Vec<(String, String)>,
    timeouts: Timeouts,
    limits: BodyLimits,
    label: String,
}

impl AzureOpenAi {
    pub fn new(dep: &Deployment, egress: &Egress, env: &Env) -> Result<Self, String> {
        let alias = &dep.alias;
        let base = dep
            .api_base
            .clone()
            .or_else(|| env.get("AZURE_API_BASE"))
            .ok_or_else(|| {
                format!("model `{alias}`: no Azure OpenAI endpoint: set api_base (https://<resource>.openai.azure.com/) or AZURE_API_BASE")
            })?;
        let api_version = dep
            .api_version
            .clone()
            .or_else(|| env.get("AZURE_API_VERSION"))
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        let deployment = dep.model.trim().to_owned();
        if deployment.is_empty() {
            return Err(format!(
                "model `{alias}`: `model: azure/<deployment>` names no deployment"
            ));
        }
        let urls = endpoints(&base, &deployment, &api_version)
            .map_err(|e| format!("model `{alias}`: {e}"))?;
        let credential = choose_credential(dep, env, "AZURE_API_KEY", |p| p.is_file())?;
        let client = egress.client_for(dep).map_err(|e| format!("model `{alias}`: {e}"))?;
        let base_model = dep.model_info.get("base_model").and_then(|v| v.as_str());
        let reasoning =
            reasoning::is_reasoning_model(reasoning::family_name(base_model, &deployment));
        tracing::debug!(model = %alias, deployment = %deployment, credential = %credential.describe(), reasoning, "Azure OpenAI deployment");
        Ok(AzureOpenAi {
            client,
            label: format!("Azure OpenAI deployment `{deployment}` at {}", urls.resource),
            deployment,
            resource: urls.resource,
            api_version,
            chat_url: urls.chat,
            embeddings_url: urls.embeddings,
            credential,
            reasoning,
            drop_params: dep.drop_params,
            extra_headers: dep.extra_headers.clone(),
            timeouts: Timeouts::for_deployment(dep),
            limits: dep.body_limits,
        })
    }

    /// How calls authenticate.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    pub fn unsupported_params(&self) -> &'static [&'static str] {
        if self.reasoning { UNSUPPORTED_REASONING } else { UNSUPPORTED }
    }

    /// Encoded before the future starts, which keeps only the body: see
    /// [`super::Provider::chat`].
    pub fn chat(
        &self,
        mut req: ChatRequest,
    ) -> impl Future<Output = Result<ChatOutput, ProviderError>> + '_ {
        let call = self.encode_chat(&mut req);
        async move { self.send_chat(call?).await }
    }

    /// The body of a chat request and how to read its answer.
    fn encode_chat(&self, req: &mut ChatRequest) -> Result<ChatCall, ProviderError> {
        req.model = self.deployment.clone();
        if self.reasoning {
            let dropped =
                reasoning::rewrite(req, &self.deployment, self.drop_params).map_err(|r| {
                    ProviderError::InvalidRequest {
                        message: r.message,
                        param: Some(r.param.to_owned()),
                    }
                })?;
            if !dropped.is_empty() {
                tracing::debug!(deployment = %self.deployment, ?dropped, "dropped for a reasoning model");
            }
        }
        let stream = req.is_stream();
        let usage_requested = stream && accepts_stream_options(&self.api_version);
        if usage_requested {
            // Usage for the request log and tpm; `server` strips it if the client did not ask.
            req.stream_options.get_or_insert_with(StreamOptions::default).include_usage =
                Some(true);
        }
        Ok(ChatCall {
            body: super::http::encode_json_sized(&*req, req.size_hint)?,
            timeouts: self.timeouts.with(req.call_timeouts),
            stream,
            usage_requested,
            verbatim: req.verbatim,
        })
    }

    async fn send_chat(&self, call: ChatCall) -> Result<ChatOutput, ProviderError> {
        let ChatCall { body, timeouts, stream, usage_requested, verbatim } = call;
        let resp = self.call(&self.chat_url, Bytes::from(body), timeouts).await?;
        if !stream {
            let limit = self.limits.response_bytes;
            return read_completion(resp, timeouts, limit, &self.label, verbatim).await;
        }
        let mut fold = StreamFold::new();
        let read = StreamRead {
            idle: timeouts.stream_idle,
            max_event_bytes: self.limits.stream_event_bytes,
            usage_requested,
            // The content-filter fold reads and merges chunks typed.
            verbatim: false,
        };
        let chunks = chunk_stream(resp, read, self.label.clone()).filter_map(move |item| {
            let out = match item {
                Ok(chunk) => fold.push(chunk).map(Ok),
                Err(e) => Some(Err(e)),
            };
            futures_util::future::ready(out)
        });
        Ok(ChatOutput::Stream(Box::pin(chunks)))
    }

    pub async fn embeddings(
        &self,
        mut req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        req.model = self.deployment.clone();
        let timeouts = self.timeouts.with(req.call_timeouts);
        let body = Bytes::from(super::http::encode_json(&req)?);
        let resp = self.call(&self.embeddings_url, body, timeouts).await?;
        read_json(resp, timeouts, self.limits.response_bytes, &self.label).await
    }

    /// POST with credentials; a 401 to a cached token refreshes it and retries once.
    async fn call(
        &self,
        url: &str,
        body: Bytes,
        timeouts: Timeouts,
    ) -> Result<Response, ProviderError> {
        let (rb, token) = self.request(url, body.clone()).await?;
        match send(&self.client, rb, timeouts, &self.label).await {
            Ok(resp) => Ok(resp),
            Err(ProviderError::Upstream { status: 401, .. }) if token.is_some() => {
                if let Some((cache, rejected)) = token {
                    tracing::info!(deployment = %self.deployment, "Azure answered 401 to a cached token; refreshing it once");
                    cache.invalidate(&rejected).await;
                }
                let (rb, _) = self.request(url, body).await?;
                send(&self.client, rb, timeouts, &self.label).await.map_err(|e| self.explain(e))
            }
            Err(e) => Err(self.explain(e)),
        }
    }

    /// The request with its auth header, and the cached token it carries (if any).
    async fn request(
        &self,
        url: &str,
        body: Bytes,
    ) -> Result<(RequestBuilder, Option<(&TokenCache, Secret<String>)>), ProviderError> {
        let mut rb =
            self.client.post(url).header(http::header::CONTENT_TYPE, "application/json").body(body);
        for (k, v) in &self.extra_headers {
            rb = rb.header(k, v);
        }
        let (cache, token) = match &self.credential {
            Credential::ApiKey(key) => {
                return Ok((rb.header("api-key", super::key_header(key, &self.label)?), None));
            }
            Credential::StaticToken(t) => return Ok((rb.bearer_auth(t.expose()), None)),
            Credential::ServicePrincipal { cred, cache } => {
                (cache, cache.get(|| cred.fetch(&self.client)).await)
            }
            Credential::Cli { cli, cache } => (cache, cache.get(|| cli.fetch()).await),
        };
        let token = token.map_err(|e| self.credential_error(e))?;
        Ok((rb.bearer_auth(token.expose()), Some((cache.as_ref(), token))))
    }

    /// For `ai-proxy doctor`: obtain the token (through the deployment's egress client, so
    /// through its proxy) and say which credential it came from; never the token.
    pub async fn check_credentials(&self) -> Result<String, ProviderError> {
        let token = match &self.credential {
            Credential::ApiKey(_) => return Ok("API key configured (checked by --live)".into()),
            Credential::StaticToken(_) => {
                return Ok("static Entra token from azure_ad_token (checked by --live)".into());
            }
            Credential::ServicePrincipal { cred, cache } => {
                cache.get(|| cred.fetch(&self.client)).await
            }
            Credential::Cli { cli, cache } => cache.get(|| cli.fetch()).await,
        };
        token
            .map(|_| format!("token obtained for {}", self.credential.describe()))
            .map_err(|e| self.credential_error(e))
    }

    fn credential_error(&self, err: AuthError) -> ProviderError {
        ProviderError::Credential {
            message: format!(
                "cannot authenticate to Azure OpenAI deployment `{}`: {err}",
                self.deployment
            ),
        }
    }

    /// Add what to do to Azure's error answers; status, code, Retry-After and filter details
    /// stay as Azure sent them.
    fn explain(&self, err: ProviderError) -> ProviderError {
        err.explain_upstream(|status, message| {
            match status {
                401 | 403 => {
                    let fix = match &self.credential {
                        Credential::ApiKey(_) if status == 403 => format!(
                            "the key was accepted but access was refused: check the network rules of {} (Azure portal > the resource > Networking: firewall, private endpoint)",
                            self.resource
                        ),
                        Credential::ApiKey(_) => format!(
                            "check that the API key (api_key / AZURE_API_KEY) is a key of {} (Azure portal > the resource > Keys and Endpoint)",
                            self.resource
                        ),
                        other => format!(
                            "check that {} has the `Cognitive Services OpenAI User` role on {} (Azure portal > the resource > Access control (IAM) > Add role assignment); new role assignments can take a few minutes to apply",
                            other.describe(),
                            self.resource
                        ),
                    };
                    format!("Azure OpenAI refused the request to deployment `{}` (HTTP {status}): {message}. To fix: {fix}", self.deployment)
                }
                404 => format!(
                    "Azure OpenAI deployment `{}` was not found on resource {} (api-version {}): {message}. Check the deployment name (Azure AI Foundry > Deployments; `model: azure/<deployment name>`), the endpoint in api_base, and api_version",
                    self.deployment, self.resource, self.api_version
                ),
                _ => message,
            }
        })
    }
}

/// The URLs of one deployment.
#[derive(Debug, PartialEq)]
struct Endpoints {
    resource: String,
    chat: String,
    embeddings: String,
}

/// Build a deployment's URLs from `api_base` (with or without trailing slash, with or without
/// `/openai` or `/openai/v1`), the deployment name and the API version.
fn endpoints(base: &str, deployment: &str, api_version: &str) -> Result<Endpoints, String> {
    let v1 = is_v1(Some(api_version), base);
    let mut resource = base.trim().trim_end_matches('/').to_owned();
    for suffix in ["/openai/v1", "/openai"] {
        if resource.to_ascii_lowercase().ends_with(suffix) {
            resource.truncate(resource.len() - suffix.len());
            break;
        }
    }
    let root =
        url::Url::parse(&resource).map_err(|e| format!("api_base `{base}` is not a URL: {e}"))?;
    if !matches!(root.scheme(), "http" | "https") {
        return Err(format!("api_base `{base}` must be an https URL"));
    }
    let build = |tail: &[&str]| -> Result<String, String> {
        let mut u = root.clone();
        u.path_segments_mut()
            .map_err(|()| format!("api_base `{base}` cannot have a path"))?
            .pop_if_empty()
            .extend(tail);
        if !v1 {
            u.query_pairs_mut().append_pair("api-version", api_version);
        } else if api_version.eq_ignore_ascii_case("preview") {
            u.query_pairs_mut().append_pair("api-version", "preview");
        }
        Ok(u.to_string())
    };
    let (chat, embeddings) = if v1 {
        (build(&["openai", "v1", "chat", "completions"])?, build(&["openai", "v1", "embeddings"])?)
    } else {
        (
            build(&["openai", "deployments", deployment, "chat", "completions"])?,
            build(&["openai", "deployments", deployment, "embeddings"])?,
        )
    };
    Ok(Endpoints { resource, chat, embeddings })
}

/// Pick the first credential that applies: `api_key`; `azure_ad_token`; a service principal
/// (each of tenant / client / secret from litellm_params, else AZURE_TENANT_ID /
/// AZURE_CLIENT_ID / AZURE_CLIENT_SECRET); `key_var` (`AZURE_API_KEY`); the Azure CLI.
pub fn choose_credential(
    dep: &Deployment,
    env: &Env,
    key_var: &str,
    is_file: impl Fn(&Path) -> bool,
) -> Result<Credential, String> {
    let alias = &dep.alias;
    if let Some(key) = &dep.api_key {
        return Ok(Credential::ApiKey(key.clone()));
    }
    if let Some(token) = dep.params.secret("azure_ad_token") {
        return Ok(Credential::StaticToken(token));
    }
    let param_or_env =
        |key: &str, var: &str| dep.params.str(key).map(str::to_owned).or_else(|| env.get(var));
    let tenant = param_or_env("tenant_id", "AZURE_TENANT_ID");
    let client_id = param_or_env("client_id", "AZURE_CLIENT_ID");
    let secret = param_or_env("client_secret", "AZURE_CLIENT_SECRET");
    let scope = dep.params.str("azure_scope").unwrap_or(entra::DEFAULT_SCOPE).to_owned();
    if let Some(secret) = secret {
        let mut missing = Vec::new();
        if tenant.is_none() {
            missing.push("tenant_id / AZURE_TENANT_ID");
        }
        if client_id.is_none() {
            missing.push("client_id / AZURE_CLIENT_ID");
        }
        let (Some(tenant), Some(client_id)) = (tenant, client_id) else {
            return Err(format!(
                "model `{alias}`: a client secret is set but {} is not: a service principal needs tenant, client id and secret",
                missing.join(" and ")
            ));
        };
        let authority_raw = dep
            .params
            .str("azure_authority_host")
            .map(str::to_owned)
            .or_else(|| env.get("AZURE_AUTHORITY_HOST"))
            .unwrap_or_else(|| entra::DEFAULT_AUTHORITY.to_owned());
        let authority =
            entra::parse_authority(&authority_raw).map_err(|e| format!("model `{alias}`: {e}"))?;
        let cred = EntraCredential {
            authority,
            tenant,
            client_id,
            client_secret: Secret::new(secret),
            scope,
        };
        let cache = shared_cache(&cred.cache_key());
        return Ok(Credential::ServicePrincipal { cred, cache });
    }
    if let Some(key) = env.get(key_var) {
        return Ok(Credential::ApiKey(Secret::new(key)));
    }
    let path_var = env.get("PATH");
    if let Some(program) = azure_cli::find_az(path_var.as_deref(), is_file) {
        let cli = AzureCli { program, scope, tenant, path_var };
        let cache = shared_cache(&cli.cache_key());
        return Ok(Credential::Cli { cli, cache });
    }
    Err(format!(
        "model `{alias}`: no Azure credential: set api_key (or {key_var}), a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), or install the Azure CLI and run `az login`"
    ))
}

#[cfg(test)]
mod tests;

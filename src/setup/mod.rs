//! The setup wizard's model: what it asks ([`Answers`]), reading the current setup back as
//! defaults ([`Answers::from_existing`]), and the files it writes ([`render`]). Pure: the
//! prompts live in `cli/setup.rs`, file writing in `files`.
//!
//! Invariant: secrets (client secret, API keys, master key, proxy URLs with a password) are
//! returned in [`Rendered::secrets`] for the secret store and never appear in the rendered
//! config.yaml or .env.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value as Yaml;

use crate::config::validate::placeholder;
use crate::config::{Env, env_reference, raw};
use crate::secrets::Secret;
use crate::secrets::dotenv::{self, url_has_password};

pub const DEFAULT_PORT: u16 = 4000;
pub const DASHSCOPE_CHINA: &str = "https://dashscope.aliyuncs.com/compatible-mode/v1";
pub const DASHSCOPE_INTL: &str = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1";
pub const DEFAULT_AZURE_API_VERSION: &str = "2025-04-01-preview";
pub const DEFAULT_NO_PROXY: &str = "localhost,127.0.0.1";

/// Everything the wizard asks. Also the format of `setup --answers FILE` (YAML or JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    #[serde(default)]
    pub azure: Option<Azure>,
    #[serde(default)]
    pub vertex: Option<Vertex>,
    #[serde(default)]
    pub dashscope: Option<DashScope>,
    /// The Gemini API of Google AI Studio (an API key instead of a Google Cloud project).
    #[serde(default)]
    pub gemini_api: Option<GeminiApi>,
    /// Hosts that bypass the proxies (`NO_PROXY`).
    #[serde(default)]
    pub no_proxy: Option<String>,
    /// A corporate CA bundle (PEM) trusted on top of the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub port: Option<u16>,
    /// The client key. Omitted: keep the stored one, or generate a random one.
    #[serde(default)]
    pub master_key: Option<String>,
}

/// One alias → upstream model/deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub alias: String,
    pub model: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AzureAuth {
    /// Entra ID service principal: tenant, client id, client secret (to the store).
    #[default]
    ServicePrincipal,
    /// The signed-in Azure CLI (`az login`).
    AzureCli,
    /// A resource API key (to the store).
    ApiKey,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Azure {
    /// `https://<resource>.openai.azure.com/`
    pub endpoint: String,
    #[serde(default)]
    pub api_version: Option<String>,
    pub deployments: Vec<Model>,
    #[serde(default)]
    pub auth: AzureAuth,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Service principal secret; omitted: keep the stored one.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// For `auth: api_key`; omitted: keep the stored one.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vertex {
    pub project: String,
    /// `global` (needed by Gemini 3 models) or a region such as `us-central1`.
    pub location: String,
    pub models: Vec<Model>,
    /// Claude models of the Vertex AI Model Garden (`claude-sonnet-4-5@20250929`), served
    /// through the same project, location and credentials.
    #[serde(default)]
    pub claude_models: Vec<Model>,
    /// A service-account JSON (or ADC file); omitted: gcloud's ADC file.
    #[serde(default)]
    pub credentials: Option<PathBuf>,
    #[serde(default)]
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashScope {
    /// Omitted: keep the stored one.
    #[serde(default)]
    pub api_key: Option<String>,
    /// `china`, `international`, or an endpoint URL (a private gateway).
    #[serde(default = "default_region")]
    pub region: String,
    pub models: Vec<Model>,
    #[serde(default)]
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeminiApi {
    /// Omitted: keep the stored one.
    #[serde(default)]
    pub api_key: Option<String>,
    pub models: Vec<Model>,
    #[serde(default)]
    pub proxy: Option<String>,
}

fn default_region() -> String {
    "china".to_owned()
}

impl DashScope {
    pub fn api_base(&self) -> &str {
        match self.region.as_str() {
            "china" | "" => DASHSCOPE_CHINA,
            "international" | "intl" => DASHSCOPE_INTL,
            url => url,
        }
    }
}

pub fn default_azure_deployments() -> Vec<Model> {
    models(&[("gpt-4.1", "gpt-4.1"), ("gpt-5-mini", "gpt-5-mini")])
}

pub fn default_vertex_models() -> Vec<Model> {
    models(&[
        ("gemini-3-flash", "gemini-3-flash-preview"),
        ("gemini-3-pro", "gemini-3-pro-preview"),
    ])
}

/// Claude on Vertex AI: the Model Garden ids (with their snapshot date).
pub fn default_vertex_claude_models() -> Vec<Model> {
    models(&[("claude-sonnet-4-5", "claude-sonnet-4-5@20250929")])
}

pub fn default_gemini_api_models() -> Vec<Model> {
    models(&[("gemini-flash", "gemini-2.5-flash"), ("gemini-pro", "gemini-2.5-pro")])
}

pub fn default_dashscope_models() -> Vec<Model> {
    models(&[("qwen-max", "qwen-max"), ("qwen-plus", "qwen-plus")])
}

fn models(pairs: &[(&str, &str)]) -> Vec<Model> {
    pairs.iter().map(|(a, m)| Model { alias: (*a).into(), model: (*m).into() }).collect()
}

/// `alias=model, alias2=model2` (a bare `name` means alias = model).
pub fn parse_models(text: &str) -> Result<Vec<Model>, String> {
    let mut out = Vec::new();
    for part in text.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let (alias, model) =
            part.split_once('=').map(|(a, m)| (a.trim(), m.trim())).unwrap_or((part, part));
        if alias.is_empty()
            || model.is_empty()
            || alias.contains(char::is_whitespace)
            || model.contains(char::is_whitespace)
        {
            return Err(format!("`{part}` is not alias=model"));
        }
        out.push(Model { alias: alias.into(), model: model.into() });
    }
    if out.is_empty() {
        return Err("name at least one model".into());
    }
    Ok(out)
}

pub fn format_models(models: &[Model]) -> String {
    models
        .iter()
        .map(
            |m| {
                if m.alias == m.model {
                    m.alias.clone()
                } else {
                    format!("{}={}", m.alias, m.model)
                }
            },
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the wizard writes: file contents and the secrets for the store.
pub struct Rendered {
    pub config_yaml: String,
    pub dotenv: String,
    pub secrets: Vec<(String, Secret<String>)>,
}

/// The config.yaml (LiteLLM format, `os.environ/` references) and .env (no secrets) for
/// `answers`, plus the secrets to store. `master_key` is the key to store (new or given).
pub fn render(answers: &Answers, master_key: Option<Secret<String>>) -> Rendered {
    let mut y = String::from(
        "# Written by `ai-proxy setup` (re-run it to change this setup). LiteLLM's config format:\n\
         # `os.environ/NAME` values come from the environment, the .env beside this file, or the\n\
         # secret store (`ai-proxy secrets list` shows which).\n\nmodel_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/echo\n",
    );
    let mut env: Vec<(String, String)> = Vec::new();
    let mut secrets: Vec<(String, Secret<String>)> = Vec::new();
    let proxy = |var: &str,
                 url: &Option<String>,
                 env: &mut Vec<(String, String)>,
                 secrets: &mut Vec<(String, Secret<String>)>|
     -> Option<String> {
        let url = url.as_deref().map(str::trim).filter(|u| !u.is_empty())?;
        if url_has_password(url) {
            secrets.push((var.to_owned(), Secret::from(url)));
        } else {
            env.push((var.to_owned(), url.to_owned()));
        }
        Some(format!("      https_proxy: os.environ/{var}\n"))
    };

    if let Some(a) = &answers.azure {
        env.push(("AZURE_API_BASE".into(), a.endpoint.trim().into()));
        let version = a.api_version.clone().unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.into());
        let proxy_line = proxy("AZURE_PROXY", &a.proxy, &mut env, &mut secrets).unwrap_or_default();
        let auth_lines = match a.auth {
            AzureAuth::ServicePrincipal => {
                env.push(("AZURE_TENANT_ID".into(), a.tenant_id.clone().unwrap_or_default()));
                env.push(("AZURE_CLIENT_ID".into(), a.client_id.clone().unwrap_or_default()));
                if let Some(s) = a.client_secret.as_deref().filter(|s| !s.is_empty()) {
                    secrets.push(("AZURE_CLIENT_SECRET".into(), Secret::from(s)));
                }
                "      tenant_id: os.environ/AZURE_TENANT_ID\n      client_id: os.environ/AZURE_CLIENT_ID\n      client_secret: os.environ/AZURE_CLIENT_SECRET\n"
            }
            AzureAuth::ApiKey => {
                if let Some(k) = a.api_key.as_deref().filter(|s| !s.is_empty()) {
                    secrets.push(("AZURE_API_KEY".into(), Secret::from(k)));
                }
                "      api_key: os.environ/AZURE_API_KEY\n"
            }
            AzureAuth::AzureCli => "",
        };
        y.push_str("\n  # --- Azure OpenAI ---\n");
        for d in &a.deployments {
            let _ = write!(
                y,
                "  - model_name: {}\n    litellm_params:\n      model: azure/{}\n      api_base: os.environ/AZURE_API_BASE\n      api_version: \"{version}\"\n{auth_lines}{proxy_line}",
                yaml_str(&d.alias),
                d.model
            );
        }
    }
    if let Some(v) = &answers.vertex {
        env.push(("VERTEX_PROJECT".into(), v.project.trim().into()));
        env.push(("VERTEX_LOCATION".into(), v.location.trim().into()));
        let cred_line = match &v.credentials {
            Some(p) => {
                env.push(("GOOGLE_APPLICATION_CREDENTIALS".into(), p.display().to_string()));
                "      vertex_credentials: os.environ/GOOGLE_APPLICATION_CREDENTIALS\n"
            }
            None => "",
        };
        let proxy_line =
            proxy("GEMINI_PROXY", &v.proxy, &mut env, &mut secrets).unwrap_or_default();
        y.push_str("\n  # --- Google Vertex AI (Gemini; Claude through the Model Garden) ---\n");
        for m in v.models.iter().chain(&v.claude_models) {
            let _ = write!(
                y,
                "  - model_name: {}\n    litellm_params:\n      model: vertex_ai/{}\n      vertex_project: os.environ/VERTEX_PROJECT\n      vertex_location: os.environ/VERTEX_LOCATION\n{cred_line}{proxy_line}",
                yaml_str(&m.alias),
                m.model
            );
        }
    }
    if let Some(d) = &answers.dashscope {
        if let Some(k) = d.api_key.as_deref().filter(|s| !s.is_empty()) {
            secrets.push(("DASHSCOPE_API_KEY".into(), Secret::from(k)));
        }
        let proxy_line = proxy("QWEN_PROXY", &d.proxy, &mut env, &mut secrets).unwrap_or_default();
        let base = d.api_base();
        let base_line = if base == DASHSCOPE_CHINA {
            String::new()
        } else {
            format!("      api_base: {base}\n")
        };
        y.push_str("\n  # --- Alibaba DashScope (Qwen) ---\n");
        for m in &d.models {
            let _ = write!(
                y,
                "  - model_name: {}\n    litellm_params:\n      model: dashscope/{}\n      api_key: os.environ/DASHSCOPE_API_KEY\n{base_line}{proxy_line}",
                yaml_str(&m.alias),
                m.model
            );
        }
    }

    if let Some(g) = &answers.gemini_api {
        if let Some(k) = g.api_key.as_deref().filter(|s| !s.is_empty()) {
            secrets.push(("GEMINI_API_KEY".into(), Secret::from(k)));
        }
        let proxy_line =
            proxy("GEMINI_API_PROXY", &g.proxy, &mut env, &mut secrets).unwrap_or_default();
        y.push_str("\n  # --- Gemini API (Google AI Studio) ---\n");
        for m in &g.models {
            let _ = write!(
                y,
                "  - model_name: {}\n    litellm_params:\n      model: gemini/{}\n      api_key: os.environ/GEMINI_API_KEY\n{proxy_line}",
                yaml_str(&m.alias),
                m.model
            );
        }
    }

    y.push_str("\nlitellm_settings:\n  drop_params: true\n");
    if let Some(ca) = &answers.ca_file {
        let _ = writeln!(y, "  ssl_verify: {}", yaml_str(&ca.display().to_string()));
    }
    y.push_str("\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n");
    if let Some(k) = master_key {
        secrets.push(("LITELLM_MASTER_KEY".into(), k));
    }

    if let Some(np) = answers.no_proxy.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        env.push(("NO_PROXY".into(), np.into()));
    }
    env.push(("LITELLM_PORT".into(), answers.port.unwrap_or(DEFAULT_PORT).to_string()));

    let mut dotenv = String::from(
        "# Written by `ai-proxy setup`. No secrets here: keys, client secrets, the master key and\n\
         # proxy passwords are in the secret store (`ai-proxy secrets list`).\n",
    );
    for (k, v) in env {
        let _ = writeln!(dotenv, "{k}={}", dotenv_value(&v));
    }
    Rendered { config_yaml: y, dotenv, secrets }
}

/// Keep what the user added to the previous `.env`: variables setup does not manage stay (a
/// secret-looking one moves to the store instead, as `secrets import` would). Returns the
/// names carried over.
pub fn carry_over(previous: &str, rendered: &mut Rendered) -> Vec<String> {
    let managed: Vec<String> = rendered
        .dotenv
        .lines()
        .filter_map(dotenv::assignment)
        .map(|(k, _)| k)
        .chain(rendered.secrets.iter().map(|(k, _)| k.clone()))
        .collect();
    let mut kept = Vec::new();
    for line in previous.lines() {
        let Some((name, value)) = dotenv::assignment(line) else { continue };
        if managed.contains(&name) || kept.contains(&name) {
            continue;
        }
        if dotenv::is_secret(&name, &value) {
            // A template placeholder is dropped: validate would only flag it again.
            if placeholder(&value).is_none() {
                rendered.secrets.push((name.clone(), Secret::new(value)));
                kept.push(name);
            }
            continue;
        }
        if !rendered.dotenv.contains("# kept from the previous .env\n") {
            rendered.dotenv.push_str("# kept from the previous .env\n");
        }
        rendered.dotenv.push_str(line.trim());
        rendered.dotenv.push('\n');
        kept.push(name);
    }
    kept
}

fn yaml_str(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) && !s.is_empty() {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn dotenv_value(v: &str) -> String {
    if v.chars().any(|c| c.is_whitespace() || "#\"'$\\".contains(c)) {
        format!("'{}'", v.replace('\'', ""))
    } else {
        v.to_owned()
    }
}

/// A random master key: `sk-` and 32 bytes from the OS generator, hex (67 characters).
pub fn generate_master_key() -> Result<Secret<String>, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Secret::new(format!("sk-{hex}")))
}

impl Answers {
    /// The current setup as defaults: providers and models from `config_text`, other values
    /// from `env` (environment, .env, store). Secrets are not read back (the wizard keeps
    /// stored ones when left empty).
    pub fn from_existing(config_text: &str, env: &Env) -> Answers {
        let Ok(cfg) = raw::parse(config_text) else { return Answers::default() };
        let get = |v: Option<&str>| -> Option<String> {
            let v = v?;
            match env_reference(v) {
                Some(name) => env.get(name),
                None => Some(v.to_owned()),
            }
        };
        let extra = |p: &raw::RawParams, k: &str| -> Option<String> {
            match p.extra.get(k) {
                Some(Yaml::String(s)) => get(Some(s)),
                _ => None,
            }
        };
        let mut a = Answers::default();
        let mut by_provider: BTreeMap<&str, Vec<(Model, &raw::RawParams)>> = BTreeMap::new();
        for m in &cfg.model_list {
            let Some((prefix, model)) = m.litellm_params.model.split_once('/') else { continue };
            by_provider.entry(prefix).or_default().push((
                Model { alias: m.model_name.clone(), model: model.to_owned() },
                &m.litellm_params,
            ));
        }
        let proxy = |p: &raw::RawParams, var: &str| {
            extra(p, "https_proxy").or_else(|| extra(p, "http_proxy")).or_else(|| env.get(var))
        };
        if let Some(list) = by_provider.get("azure") {
            let p = list[0].1;
            let auth = if p.api_key.is_some() {
                AzureAuth::ApiKey
            } else if p.extra.contains_key("client_secret") || env.get("AZURE_CLIENT_ID").is_some()
            {
                AzureAuth::ServicePrincipal
            } else {
                AzureAuth::AzureCli
            };
            a.azure = Some(Azure {
                endpoint: get(p.api_base.as_deref())
                    .or_else(|| env.get("AZURE_API_BASE"))
                    .unwrap_or_default(),
                api_version: get(p.api_version.as_deref()),
                deployments: list.iter().map(|(m, _)| m.clone()).collect(),
                auth,
                tenant_id: extra(p, "tenant_id").or_else(|| env.get("AZURE_TENANT_ID")),
                client_id: extra(p, "client_id").or_else(|| env.get("AZURE_CLIENT_ID")),
                client_secret: None,
                api_key: None,
                proxy: proxy(p, "AZURE_PROXY"),
            });
        }
        if let Some(list) = by_provider.get("vertex_ai") {
            let p = list[0].1;
            let (claude, gemini): (Vec<_>, Vec<_>) =
                list.iter().partition(|(m, _)| crate::config::is_claude(&m.model));
            a.vertex = Some(Vertex {
                project: extra(p, "vertex_project")
                    .or_else(|| env.get("VERTEX_PROJECT"))
                    .unwrap_or_default(),
                location: extra(p, "vertex_location")
                    .or_else(|| env.get("VERTEX_LOCATION"))
                    .unwrap_or_else(|| "global".into()),
                models: gemini.iter().map(|(m, _)| m.clone()).collect(),
                claude_models: claude.iter().map(|(m, _)| m.clone()).collect(),
                credentials: extra(p, "vertex_credentials")
                    .or_else(|| env.get("GOOGLE_APPLICATION_CREDENTIALS"))
                    .map(PathBuf::from),
                proxy: proxy(p, "GEMINI_PROXY"),
            });
        }
        if let Some(list) = by_provider.get("dashscope") {
            let p = list[0].1;
            let region = match get(p.api_base.as_deref()).as_deref() {
                None | Some(DASHSCOPE_CHINA) => "china".to_owned(),
                Some(DASHSCOPE_INTL) => "international".to_owned(),
                Some(other) => other.to_owned(),
            };
            a.dashscope = Some(DashScope {
                api_key: None,
                region,
                models: list.iter().map(|(m, _)| m.clone()).collect(),
                proxy: proxy(p, "QWEN_PROXY"),
            });
        }
        if let Some(list) = by_provider.get("gemini") {
            a.gemini_api = Some(GeminiApi {
                api_key: None,
                models: list.iter().map(|(m, _)| m.clone()).collect(),
                proxy: proxy(list[0].1, "GEMINI_API_PROXY"),
            });
        }
        a.no_proxy = env.get("NO_PROXY");
        a.ca_file = cfg
            .litellm_settings
            .as_ref()
            .and_then(|s| s.get("ssl_verify"))
            .and_then(|v| v.as_str())
            .map(PathBuf::from);
        a.port = env.get("LITELLM_PORT").and_then(|p| p.trim().parse().ok());
        a
    }
}

#[cfg(test)]
mod tests;

//! The resolved, validated configuration the gateway runs on.
//!
//! `raw` mirrors the YAML; [`load`] turns it into a [`Config`]: providers parsed, durations
//! typed, `os.environ/NAME` references resolved through [`env::Env`], secrets wrapped in
//! [`Secret`]. A deployment whose variables are missing is kept but marked unavailable, so
//! one missing credential never stops the gateway (unless `--strict`).

pub mod connections;
pub mod env;
pub mod locate;
pub mod raw;
pub mod validate;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

use crate::secrets::Secret;
pub use connections::ConnectionSettings;
pub use env::{Env, Origin};

/// The embedded default configuration: one mock model, no credentials needed.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../resources/default-config.yaml");

/// Default request timeout, as LiteLLM's (`request_timeout: 600`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Default cap on a request body.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;
/// The template key from LiteLLM's docs and the seed's `.env`.
pub const TEMPLATE_MASTER_KEY: &str = "sk-1234";

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Embedded,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Embedded => f.write_str("<embedded default config>"),
        }
    }
}

/// The upstream family a deployment talks to (the prefix of `litellm_params.model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Mock,
    OpenAi,
    DashScope,
    Azure,
    Vertex,
}

impl ProviderKind {
    /// Parse the prefix before the first `/` of `litellm_params.model`.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Some(match prefix {
            "mock" => ProviderKind::Mock,
            "openai" => ProviderKind::OpenAi,
            "dashscope" => ProviderKind::DashScope,
            "azure" => ProviderKind::Azure,
            "vertex_ai" => ProviderKind::Vertex,
            _ => return None,
        })
    }

    /// The name used in `model:` prefixes, logs and `/model/info`.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Mock => "mock",
            ProviderKind::OpenAi => "openai",
            ProviderKind::DashScope => "dashscope",
            ProviderKind::Azure => "azure",
            ProviderKind::Vertex => "vertex_ai",
        }
    }
}

pub const SUPPORTED_PROVIDERS: &str = "azure, vertex_ai, dashscope, openai, mock";

/// TLS verification for one deployment's upstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum SslVerify {
    /// The operating system's trust store (plus `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    #[default]
    System,
    /// System roots plus the CA certificates in this PEM file.
    ExtraCa(PathBuf),
    /// No verification at all (`ssl_verify: false`).
    Disabled,
}

/// Provider-specific `litellm_params` keys, resolved. Debug shows keys only: values can be
/// client secrets or credential JSON.
#[derive(Clone, Default, PartialEq)]
pub struct Params(pub Map<String, Value>);

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Params {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    pub fn secret(&self, key: &str) -> Option<Secret<String>> {
        self.str(key).map(Secret::from)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

/// One entry of `model_list`.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Position in `model_list` (stable id for rate limits and logs).
    pub index: usize,
    /// `model_name`: the alias clients send. May be a wildcard such as `claude-*`.
    pub alias: String,
    pub provider: ProviderKind,
    /// `litellm_params.model` after the provider prefix (deployment, model id).
    pub model: String,
    pub api_base: Option<String>,
    pub api_key: Option<Secret<String>>,
    pub api_version: Option<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub timeout: Duration,
    pub stream_timeout: Option<Duration>,
    pub max_retries: Option<u32>,
    pub drop_params: bool,
    pub additional_drop_params: Vec<String>,
    pub ssl_verify: SslVerify,
    pub mock_response: Option<String>,
    /// OpenAI request parameters given in litellm_params (`temperature: 0.2`, ...): defaults
    /// the client's own values override.
    pub request_defaults: Map<String, Value>,
    /// Headers from `extra_headers`.
    pub extra_headers: Vec<(String, String)>,
    /// Provider-owned keys (`vertex_project`, `tenant_id`, `http_proxy`, ...).
    pub params: Params,
    pub model_info: Map<String, Value>,
    /// Why this deployment cannot serve requests (missing variables, unsupported provider).
    pub unavailable: Option<String>,
}

impl Deployment {
    pub fn is_available(&self) -> bool {
        self.unavailable.is_none()
    }
}

/// Global settings from `litellm_settings` / `general_settings` / `router_settings`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub drop_params: bool,
    pub request_timeout: Duration,
    pub num_retries: u32,
    pub max_request_bytes: usize,
    pub ssl_verify: Option<SslVerify>,
    /// Client connection timeouts and limit (`general_settings`, ai-proxy extensions).
    pub connections: ConnectionSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            drop_params: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            num_retries: 0,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            ssl_verify: None,
            connections: ConnectionSettings::default(),
        }
    }
}

/// The whole resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub deployments: Vec<Deployment>,
    pub master_key: Option<Secret<String>>,
    pub master_key_origin: Option<Origin>,
    /// Why the configured master key could not be read from the secret store (e.g. a locked
    /// keyring). Serve refuses to start rather than run without the key the user set.
    pub master_key_unreadable: Option<String>,
    pub settings: Settings,
    /// One line per unsupported key or ignored value, for the start-up log.
    pub warnings: Vec<String>,
    /// The environment the config was resolved against (providers read their variables here).
    pub env: Env,
}

impl Config {
    pub fn available_count(&self) -> usize {
        self.deployments.iter().filter(|d| d.is_available()).count()
    }

    /// Distinct aliases in config order.
    pub fn aliases(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for d in &self.deployments {
            if !seen.contains(&d.alias.as_str()) {
                seen.push(d.alias.as_str());
            }
        }
        seen
    }
}

/// A configuration that cannot be used at all.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{file}: {reason}")]
    Read { file: String, reason: String },
    #[error("{file}{}{}: {message}", location_suffix(*.location), path_suffix(.path.as_deref()))]
    Parse { file: String, location: Option<(usize, usize)>, path: Option<String>, message: String },
    #[error("{file}: {path}: {message}")]
    Invalid { file: String, path: String, message: String },
}

fn location_suffix(location: Option<(usize, usize)>) -> String {
    location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default()
}

fn path_suffix(path: Option<&str>) -> String {
    path.map(|p| format!(" (at `{p}`)")).unwrap_or_default()
}

/// Read and resolve a config file.
pub fn load_file(path: &Path, env: Env) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    load(&text, Source::File(path.to_owned()), env)
}

/// Parse and resolve config text.
pub fn load(text: &str, source: Source, mut env: Env) -> Result<Config, ConfigError> {
    let file = source.to_string();
    let raw = raw::parse(text).map_err(|e| ConfigError::Parse {
        file: file.clone(),
        location: e.location,
        path: e.path,
        message: e.message,
    })?;
    let mut warnings = Vec::new();
    for key in raw.unknown.keys() {
        warnings.push(format!(
            "{file}: top-level key `{key}` is not supported by ai-proxy and is ignored"
        ));
    }

    // environment_variables: lower priority than the real environment and .env.
    if let Some(vars) = &raw.environment_variables {
        let mut map = HashMap::new();
        for (k, v) in vars {
            match yaml_scalar_string(v) {
                Some(s) => {
                    map.insert(k.clone(), s);
                }
                None => warnings.push(format!(
                    "{file}: environment_variables.{k} is not a string and is ignored"
                )),
            }
        }
        env.set_config_vars(map);
    }

    let mut settings = Settings::default();
    let mut resolver = Resolver { env: &env, missing: Vec::new(), store_failures: Vec::new() };
    for (key, value) in raw.litellm_settings.iter().flatten() {
        let path = format!("litellm_settings.{key}");
        match key.as_str() {
            "drop_params" => settings.drop_params = expect_bool(&file, &path, value)?,
            "request_timeout" => {
                settings.request_timeout = expect_duration(&file, &path, value)?;
            }
            "num_retries" => settings.num_retries = expect_u32(&file, &path, value)?,
            "ssl_verify" => {
                settings.ssl_verify = Some(ssl_verify_from_yaml(&file, &path, value, &mut resolver)?);
            }
            "max_request_size_mb" => {
                settings.max_request_bytes = (expect_f64(&file, &path, value)? * 1024.0 * 1024.0) as usize;
            }
            "set_verbose" | "json_logs" => warnings.push(format!(
                "{file}: {path} is ignored: ai-proxy logs one line per request; set RUST_LOG=debug for more"
            )),
            _ => warnings.push(format!("{file}: {path} is not supported by ai-proxy and is ignored")),
        }
    }
    for (key, value) in raw.router_settings.iter().flatten() {
        let path = format!("router_settings.{key}");
        match key.as_str() {
            "num_retries" => settings.num_retries = expect_u32(&file, &path, value)?,
            "timeout" => settings.request_timeout = expect_duration(&file, &path, value)?,
            _ => {
                warnings.push(format!("{file}: {path} is not supported by ai-proxy and is ignored"))
            }
        }
    }

    let mut master_key = None;
    let mut master_key_origin = None;
    for (key, value) in raw.general_settings.iter().flatten() {
        let path = format!("general_settings.{key}");
        match key.as_str() {
            "master_key" => {
                let Some(text) = yaml_scalar_string(value) else {
                    return Err(invalid(&file, &path, "expected a string"));
                };
                match resolver.resolve_with_origin(&text) {
                    Some((v, origin)) => {
                        master_key = Some(Secret::new(v));
                        master_key_origin = origin;
                    }
                    // Unset LITELLM_MASTER_KEY just means "no key"; another unset
                    // variable is worth a warning.
                    None if env_reference(&text) == Some("LITELLM_MASTER_KEY") => {}
                    None => warnings.push(format!(
                        "{file}: {path} refers to {text}, which is not set; falling back to LITELLM_MASTER_KEY"
                    )),
                }
            }
            k if connections::KEYS.contains(&k) => {
                connections::set(&mut settings.connections, &file, &path, k, value)?;
            }
            _ => {
                warnings.push(format!("{file}: {path} is not supported by ai-proxy and is ignored"))
            }
        }
    }
    let mut unreadable = std::mem::take(&mut resolver.store_failures);
    resolver.missing.clear();
    if master_key.is_none() {
        match env.lookup("LITELLM_MASTER_KEY") {
            Some((v, origin)) => {
                master_key = Some(Secret::new(v));
                master_key_origin = Some(origin);
            }
            None => unreadable.extend(env.store_failure("LITELLM_MASTER_KEY")),
        }
    }
    unreadable.dedup();
    let master_key_unreadable =
        (master_key.is_none() && !unreadable.is_empty()).then(|| unreadable.join("; "));

    let mut deployments = Vec::with_capacity(raw.model_list.len());
    for (index, model) in raw.model_list.into_iter().enumerate() {
        let dep = resolve_deployment(&file, index, model, &settings, &env, &mut warnings)?;
        deployments.push(dep);
    }

    Ok(Config {
        source,
        deployments,
        master_key,
        master_key_origin,
        master_key_unreadable,
        settings,
        warnings,
        env,
    })
}

/// `litellm_params` keys read by a provider or by egress; anything else is a request default
/// (if it is an OpenAI request parameter) or warned about.
pub const PROVIDER_KEYS: &[&str] = &[
    // egress
    "http_proxy",
    "https_proxy",
    "no_proxy",
    // azure
    "azure_ad_token",
    "tenant_id",
    "client_id",
    "client_secret",
    "azure_scope",
    "azure_authority_host",
    // vertex
    "vertex_project",
    "vertex_location",
    "vertex_credentials",
    "safety_settings",
];

/// Egress keys: a variable they name that is not set falls through to the next proxy rule.
const EGRESS_KEYS: &[&str] = &["http_proxy", "https_proxy", "no_proxy"];

/// OpenAI request parameters that may be given as per-deployment defaults.
const REQUEST_DEFAULT_KEYS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
    "enable_thinking",
    "thinking_budget",
    "response_format",
    "user",
    "extra_body",
];

/// LiteLLM bookkeeping keys that have no meaning here; accepted with a warning.
const IGNORED_KEYS: &[&str] = &[
    "input_cost_per_token",
    "output_cost_per_token",
    "weight",
    "order",
    "custom_llm_provider",
    "litellm_credential_name",
    "merge_reasoning_content_in_choices",
    "use_in_pass_through",
    "region_name",
];

fn resolve_deployment(
    file: &str,
    index: usize,
    model: raw::RawModel,
    settings: &Settings,
    env: &Env,
    warnings: &mut Vec<String>,
) -> Result<Deployment, ConfigError> {
    let base = format!("model_list[{index}]");
    let alias = model.model_name.clone();
    for key in model.unknown.keys() {
        warnings.push(format!("{file}: {base}.{key} is not supported by ai-proxy and is ignored"));
    }
    let p = model.litellm_params;
    let mut resolver = Resolver { env, missing: Vec::new(), store_failures: Vec::new() };
    let mut unsupported = None;

    let model_str = resolver.resolve(&p.model).unwrap_or_default();
    let (provider, upstream_model) = match model_str.split_once('/') {
        Some((prefix, rest)) => match ProviderKind::from_prefix(prefix) {
            Some(kind) => (kind, rest.to_owned()),
            None => {
                unsupported = Some(format!(
                    "provider `{prefix}` (from model `{model_str}`) is not supported by ai-proxy; supported: {SUPPORTED_PROVIDERS}"
                ));
                (ProviderKind::OpenAi, rest.to_owned())
            }
        },
        // LiteLLM treats a bare model name as an OpenAI model.
        None => (ProviderKind::OpenAi, model_str.clone()),
    };

    let api_base = p.api_base.as_deref().and_then(|v| resolver.resolve(v));
    let api_key = p.api_key.as_deref().and_then(|v| resolver.resolve(v)).map(Secret::new);
    let api_version = p.api_version.as_deref().and_then(|v| resolver.resolve(v));
    let mock_response = p.mock_response.as_deref().and_then(|v| resolver.resolve(v));
    let ssl_verify = match &p.ssl_verify {
        None => settings.ssl_verify.clone().unwrap_or_default(),
        Some(raw::SslVerifyRaw::Flag(true)) => SslVerify::System,
        Some(raw::SslVerifyRaw::Flag(false)) => SslVerify::Disabled,
        Some(raw::SslVerifyRaw::Path(path)) => match resolver.resolve(path) {
            Some(p) => ssl_verify_from_str(&p),
            None => SslVerify::System,
        },
    };

    let mut params = Map::new();
    let mut request_defaults = Map::new();
    let mut extra_headers = Vec::new();
    for (key, value) in &p.extra {
        let path = format!("{base}.litellm_params.{key}");
        if EGRESS_KEYS.contains(&key.as_str()) {
            // An unset proxy variable means "no proxy from this rule", not "unavailable".
            let mut lenient = Resolver { env, missing: Vec::new(), store_failures: Vec::new() };
            params.insert(key.clone(), lenient.resolve_yaml(value));
        } else if PROVIDER_KEYS.contains(&key.as_str()) {
            params.insert(key.clone(), resolver.resolve_yaml(value));
        } else if key == "extra_headers" {
            let Yaml::Mapping(map) = value else {
                return Err(invalid(file, &path, "expected a mapping of header names to values"));
            };
            for (k, v) in map {
                match (k.as_str(), yaml_scalar_string(v)) {
                    (Some(k), Some(v)) => {
                        if let Some(v) = resolver.resolve(&v) {
                            extra_headers.push((k.to_owned(), v));
                        }
                    }
                    _ => {
                        return Err(invalid(
                            file,
                            &path,
                            "header names and values must be strings",
                        ));
                    }
                }
            }
        } else if REQUEST_DEFAULT_KEYS.contains(&key.as_str()) {
            request_defaults.insert(key.clone(), resolver.resolve_yaml(value));
        } else if IGNORED_KEYS.contains(&key.as_str()) {
            warnings.push(format!("{file}: {path} has no effect in ai-proxy and is ignored"));
        } else {
            warnings.push(format!("{file}: {path} is not supported by ai-proxy and is ignored"));
        }
    }
    let model_info = model
        .model_info
        .map(|m| m.into_iter().map(|(k, v)| (k, yaml_to_json(&v))).collect::<Map<String, Value>>())
        .unwrap_or_default();

    let unavailable = unsupported.or_else(|| {
        (!resolver.missing.is_empty()).then(|| {
            let names = resolver.missing.join(", ");
            let mut text = format!("model `{alias}`: {names} not set (set it in the environment, the .env file or the secret store)");
            for reason in &resolver.store_failures {
                text.push_str("; ");
                text.push_str(reason);
            }
            text
        })
    });

    Ok(Deployment {
        index,
        alias,
        provider,
        model: upstream_model,
        api_base,
        api_key,
        api_version,
        rpm: p.rpm,
        tpm: p.tpm,
        timeout: p.timeout.map(Duration::from_secs_f64).unwrap_or(settings.request_timeout),
        stream_timeout: p.stream_timeout.map(Duration::from_secs_f64),
        max_retries: p.max_retries,
        drop_params: p.drop_params.unwrap_or(settings.drop_params),
        additional_drop_params: p.additional_drop_params.unwrap_or_default(),
        ssl_verify,
        mock_response,
        request_defaults,
        extra_headers,
        params: Params(params),
        model_info,
        unavailable,
    })
}

/// Resolves `os.environ/NAME` references and remembers the names that were not set.
struct Resolver<'a> {
    env: &'a Env,
    missing: Vec<String>,
    /// Why the secret store could not answer for some of `missing` (e.g. a locked keyring).
    store_failures: Vec<String>,
}

impl Resolver<'_> {
    fn resolve(&mut self, value: &str) -> Option<String> {
        self.resolve_with_origin(value).map(|(v, _)| v)
    }

    fn resolve_with_origin(&mut self, value: &str) -> Option<(String, Option<Origin>)> {
        match env_reference(value) {
            Some(name) => match self.env.lookup(name) {
                Some((v, origin)) => Some((v, Some(origin))),
                None => {
                    let reference = format!("os.environ/{name}");
                    if !self.missing.contains(&reference) {
                        self.missing.push(reference);
                        self.store_failures.extend(self.env.store_failure(name));
                    }
                    None
                }
            },
            None => Some((value.to_owned(), None)),
        }
    }

    /// Resolve references in any YAML value (strings inside maps and lists too).
    fn resolve_yaml(&mut self, value: &Yaml) -> Value {
        match value {
            Yaml::String(s) => self.resolve(s).map(Value::String).unwrap_or(Value::Null),
            Yaml::Sequence(items) => {
                Value::Array(items.iter().map(|v| self.resolve_yaml(v)).collect())
            }
            Yaml::Mapping(map) => Value::Object(
                map.iter()
                    .filter_map(|(k, v)| Some((yaml_scalar_string(k)?, self.resolve_yaml(v))))
                    .collect(),
            ),
            other => yaml_to_json(other),
        }
    }
}

/// `os.environ/NAME` → `Some("NAME")`.
pub fn env_reference(value: &str) -> Option<&str> {
    value.trim().strip_prefix("os.environ/").map(str::trim)
}

fn ssl_verify_from_str(value: &str) -> SslVerify {
    match value.trim().to_ascii_lowercase().as_str() {
        "false" | "0" | "no" => SslVerify::Disabled,
        "true" | "1" | "yes" | "" => SslVerify::System,
        _ => SslVerify::ExtraCa(PathBuf::from(value.trim())),
    }
}

fn ssl_verify_from_yaml(
    file: &str,
    path: &str,
    value: &Yaml,
    resolver: &mut Resolver<'_>,
) -> Result<SslVerify, ConfigError> {
    match value {
        Yaml::Bool(true) => Ok(SslVerify::System),
        Yaml::Bool(false) => Ok(SslVerify::Disabled),
        Yaml::String(s) => {
            Ok(resolver.resolve(s).map(|s| ssl_verify_from_str(&s)).unwrap_or_default())
        }
        _ => Err(invalid(file, path, "expected true, false or a path to a PEM CA file")),
    }
}

fn invalid(file: &str, path: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_owned(),
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn expect_bool(file: &str, path: &str, value: &Yaml) -> Result<bool, ConfigError> {
    match value {
        Yaml::Bool(b) => Ok(*b),
        Yaml::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Yaml::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(file, path, "expected true or false")),
    }
}

fn expect_f64(file: &str, path: &str, value: &Yaml) -> Result<f64, ConfigError> {
    let n = match value {
        Yaml::Number(n) => n.as_f64(),
        Yaml::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(invalid(file, path, "expected a non-negative number")),
    }
}

fn expect_duration(file: &str, path: &str, value: &Yaml) -> Result<Duration, ConfigError> {
    expect_f64(file, path, value).map(Duration::from_secs_f64)
}

fn expect_u32(file: &str, path: &str, value: &Yaml) -> Result<u32, ConfigError> {
    match value {
        Yaml::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Yaml::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid(file, path, "expected a whole number"))
}

fn yaml_scalar_string(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Convert YAML to JSON (tags dropped, non-string keys stringified).
pub fn yaml_to_json(value: &Yaml) -> Value {
    match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map(Value::from).unwrap_or(Value::Null)
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .filter_map(|(k, v)| Some((yaml_scalar_string(k)?, yaml_to_json(v))))
                .collect(),
        ),
        Yaml::Tagged(t) => yaml_to_json(&t.value),
    }
}

#[cfg(test)]
mod tests;

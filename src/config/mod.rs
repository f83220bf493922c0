//! The resolved, validated configuration the gateway runs on.
//!
//! `raw` mirrors the YAML; [`load`] turns it into a [`Config`]: providers parsed, durations
//! typed, `os.environ/NAME` references resolved through [`env::Env`], secrets wrapped in
//! [`Secret`]. A deployment whose variables are missing is kept but marked unavailable, so
//! one missing credential never stops the gateway (unless `--strict`).

pub mod connections;
pub mod env;
pub mod locate;
pub mod providers;
pub mod raw;
pub mod routing;
pub mod usage;
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
pub use providers::{Compat, CompatSpec, ProviderKind, SUPPORTED_PROVIDERS, is_claude};
pub use routing::{RouterSettings, RoutingStrategy};

/// The embedded default configuration: one mock model, no credentials needed.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../resources/default-config.yaml");

/// Default request timeout, as LiteLLM's (`request_timeout: 600`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Default cap on a request body.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;
/// Default cap on a non-streaming upstream answer (`general_settings.max_response_size_mb`).
/// Chat completions are far smaller (128k output tokens are about 0.5 MiB of text); the
/// largest real answers are embeddings: 2,048 inputs of 3,072 dimensions in base64 (the
/// OpenAI SDKs' default) are about 32 MiB, and float JSON batches of ~1,000 inputs reach
/// 30-50 MiB. 64 MiB passes those and still bounds what a runaway upstream costs.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Default cap on one event of an upstream stream (`general_settings.max_stream_event_size_mb`,
/// an ai-proxy extension). OpenAI-style chunks are under 1 KiB; the largest real events are
/// Gemini's, which carry a whole function call or an inline image (a few MiB) in one event.
pub const DEFAULT_MAX_STREAM_EVENT_BYTES: usize = 16 * 1024 * 1024;
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
    /// `weight` for `simple-shuffle` (LiteLLM's name).
    pub weight: Option<f64>,
    /// `order`: lower values are tried first; deployments without one come last.
    pub order: Option<u32>,
    /// `max_parallel_requests`: requests in flight at once (else the router's default).
    pub max_parallel_requests: Option<u32>,
    /// `cooldown_time` for this deployment (else `router_settings.cooldown_time`).
    pub cooldown_time: Option<Duration>,
    /// `max_budget` over `budget_duration`: the deployment is skipped while its priced calls
    /// of the last `budget_duration` cost that much or more.
    pub budget: Option<BudgetLimit>,
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
    /// The global body limits (`general_settings`), copied here for the provider.
    pub body_limits: BodyLimits,
    /// Provider-owned keys (`vertex_project`, `tenant_id`, `http_proxy`, ...).
    pub params: Params,
    pub model_info: Map<String, Value>,
    /// Why this deployment cannot serve requests (missing variables, unsupported provider).
    pub unavailable: Option<String>,
}

/// A deployment's spending limit: `max_budget` USD per rolling `budget_duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetLimit {
    pub max_usd: f64,
    pub period: Duration,
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
    /// Extra names the gateway answers to besides this machine's (`general_settings.allowed_hosts`).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed besides local ones (`general_settings.allowed_origins`).
    pub allowed_origins: Vec<String>,
    pub body_limits: BodyLimits,
    /// Client connection timeouts and limit (`general_settings`, ai-proxy extensions).
    pub connections: ConnectionSettings,
    /// The request log (`disable_spend_logs`, retention, size).
    pub usage: usage::UsageSettings,
    /// Fallbacks, cooldowns, routing strategy (`router_settings`, some `litellm_settings`).
    pub router: RouterSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            drop_params: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            num_retries: 0,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            ssl_verify: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            body_limits: BodyLimits::default(),
            connections: ConnectionSettings::default(),
            usage: usage::UsageSettings::default(),
            router: RouterSettings::default(),
        }
    }
}

/// How much of an upstream answer the gateway will hold: a whole non-streaming body, one
/// event of a stream. Larger answers are refused with an error naming the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// `general_settings.max_response_size_mb`.
    pub response_bytes: usize,
    /// `general_settings.max_stream_event_size_mb`.
    pub stream_event_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            stream_event_bytes: DEFAULT_MAX_STREAM_EVENT_BYTES,
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
    #[error("{file}{}: {path}: {message}", location_suffix(*.location))]
    Invalid { file: String, location: Option<(usize, usize)>, path: String, message: String },
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

/// Parse and resolve config text. Errors carry the file, the key path and, where the key can
/// be found in the text, its line and column.
pub fn load(text: &str, source: Source, env: Env) -> Result<Config, ConfigError> {
    resolve(text, source, env).map_err(|e| match e {
        ConfigError::Invalid { file, location: None, path, message } => {
            ConfigError::Invalid { location: raw::locate(text, &path), file, path, message }
        }
        ConfigError::Parse { file, location: None, path: Some(path), message } => {
            ConfigError::Parse {
                location: raw::locate(text, &path),
                file,
                path: Some(path),
                message,
            }
        }
        other => other,
    })
}

fn resolve(text: &str, source: Source, mut env: Env) -> Result<Config, ConfigError> {
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
            "num_retries" => settings.num_retries = expect_retries(&file, &path, value)?,
            "ssl_verify" => {
                settings.ssl_verify = Some(ssl_verify_from_yaml(&file, &path, value, &mut resolver)?);
            }
            "max_request_size_mb" => {
                let mb = expect_number(&file, &path, value, &MEGABYTES)?;
                settings.max_request_bytes = mb_to_bytes(mb);
            }
            k if routing::LITELLM_KEYS.contains(&k) => {
                routing::set(&mut settings.router, &file, &path, k, value, &mut warnings)?;
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
            "num_retries" => settings.num_retries = expect_retries(&file, &path, value)?,
            "timeout" => settings.request_timeout = expect_duration(&file, &path, value)?,
            k if routing::ROUTER_KEYS.contains(&k) => {
                routing::set(&mut settings.router, &file, &path, k, value, &mut warnings)?;
            }
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
                        master_key = Some(config_secret(v));
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
            "allowed_hosts" => {
                settings.allowed_hosts = expect_list(&file, &path, value, &mut resolver)?;
                for host in &settings.allowed_hosts {
                    check_allowed_host(host).map_err(|m| invalid(&file, &path, &m))?;
                }
                if settings.allowed_hosts.iter().any(|h| h.trim() == "*") {
                    warnings.push(format!(
                        "{file}: {path} contains `*`: requests addressed to any host name are answered, so a web page that rebinds its DNS name to this machine can use the gateway; list the names instead"
                    ));
                }
            }
            "allowed_origins" => {
                settings.allowed_origins = expect_list(&file, &path, value, &mut resolver)?;
                for origin in &settings.allowed_origins {
                    check_allowed_origin(origin).map_err(|m| invalid(&file, &path, &m))?;
                }
            }
            // LiteLLM reads it here (ai-proxy also under litellm_settings, where it began).
            "max_request_size_mb" => {
                settings.max_request_bytes =
                    mb_to_bytes(expect_number(&file, &path, value, &MEGABYTES)?);
            }
            "max_response_size_mb" => {
                settings.body_limits.response_bytes =
                    mb_to_bytes(expect_number(&file, &path, value, &MEGABYTES)?);
            }
            "max_stream_event_size_mb" => {
                settings.body_limits.stream_event_bytes =
                    mb_to_bytes(expect_number(&file, &path, value, &MEGABYTES)?);
            }
            k if connections::KEYS.contains(&k) => {
                connections::set(&mut settings.connections, &file, &path, k, value)?;
            }
            k if usage::KEYS.contains(&k) => {
                usage::set(&mut settings.usage, &file, &path, k, value)?
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
                master_key = Some(config_secret(v));
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
    let serves = |name: &str| {
        deployments.iter().any(|d| d.alias == name || crate::router::wildcard_match(&d.alias, name))
    };
    routing::check_references(&settings.router, serves, &file, &mut warnings);

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

/// Provider keys whose values are credentials (remembered for redaction).
const SECRET_PARAMS: &[&str] = &["azure_ad_token", "client_secret"];

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
        Some((prefix, rest)) => match ProviderKind::parse(prefix, rest) {
            Ok(kind) => (kind, rest.to_owned()),
            Err(why) => {
                unsupported = Some(format!("model `{model_str}`: {why}"));
                (ProviderKind::OpenAi, rest.to_owned())
            }
        },
        // LiteLLM treats a bare model name as an OpenAI model.
        None => (ProviderKind::OpenAi, model_str.clone()),
    };

    let api_base = p.api_base.as_deref().and_then(|v| resolver.resolve(v));
    let api_key = p.api_key.as_deref().and_then(|v| resolver.resolve(v)).map(config_secret);
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
    // Header values (often from variables) that no header can carry: the model is unavailable.
    let mut bad_header_values = Vec::new();
    for (key, value) in &p.extra {
        let path = format!("{base}.litellm_params.{key}");
        if EGRESS_KEYS.contains(&key.as_str()) {
            // An unset proxy variable means "no proxy from this rule", not "unavailable".
            let mut lenient = Resolver { env, missing: Vec::new(), store_failures: Vec::new() };
            params.insert(key.clone(), lenient.resolve_yaml(value));
        } else if PROVIDER_KEYS.contains(&key.as_str()) {
            let resolved = resolver.resolve_yaml(value);
            if SECRET_PARAMS.contains(&key.as_str())
                && let Value::String(secret) = &resolved
            {
                crate::redact::remember(secret);
            }
            params.insert(key.clone(), resolved);
        } else if key == "extra_headers" {
            let Yaml::Mapping(map) = value else {
                return Err(invalid(file, &path, "expected a mapping of header names to values"));
            };
            for (k, v) in map {
                match (k.as_str(), yaml_scalar_string(v)) {
                    (Some(k), Some(v)) => {
                        if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                            return Err(invalid(
                                file,
                                &format!("{path}.{k}"),
                                "is not a valid HTTP header name (no spaces, `:` or other separators)",
                            ));
                        }
                        if let Some(v) = resolver.resolve(&v) {
                            if http::HeaderValue::from_str(&v).is_err() {
                                bad_header_values.push(k.to_owned());
                            }
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
    let number = |key: &str, value: &Option<Yaml>, range: &NumberRange| {
        let path = format!("{base}.litellm_params.{key}");
        value.as_ref().map(|v| expect_number(file, &path, v, range)).transpose()
    };
    let rpm = number("rpm", &p.rpm, &PER_MINUTE)?.map(|n| n as u32);
    let tpm = number("tpm", &p.tpm, &TOKENS_PER_MINUTE)?.map(|n| n as u64);
    let timeout = number("timeout", &p.timeout, &SECONDS)?.map(Duration::from_secs_f64);
    let stream_timeout =
        number("stream_timeout", &p.stream_timeout, &SECONDS)?.map(Duration::from_secs_f64);
    let max_retries = number("max_retries", &p.max_retries, &RETRIES)?.map(|n| n as u32);
    let weight = number("weight", &p.weight, &routing::WEIGHT)?;
    let order = number("order", &p.order, &routing::ORDER)?.map(|n| n as u32);
    let max_parallel_requests =
        number("max_parallel_requests", &p.max_parallel_requests, &routing::PARALLEL)?
            .map(|n| n as u32);
    let cooldown_time = number("cooldown_time", &p.cooldown_time, &routing::COOLDOWN_SECONDS)?
        .map(Duration::from_secs_f64);
    let max_budget = number("max_budget", &p.max_budget, &BUDGET_USD)?;
    let budget_duration = p
        .budget_duration
        .as_ref()
        .map(|v| {
            usage::parse_period(v).ok_or_else(|| {
                invalid(
                    file,
                    &format!("{base}.litellm_params.budget_duration"),
                    "expected a period such as \"1d\", \"12h\", \"7d\", \"1mo\" or a number of seconds (from a minute to ten years)",
                )
            })
        })
        .transpose()?;
    let budget = match (max_budget, budget_duration) {
        (Some(max_usd), Some(period)) => Some(BudgetLimit { max_usd, period }),
        (None, None) => None,
        (Some(_), None) => {
            warnings.push(format!("{file}: {base}.litellm_params.max_budget has no effect without budget_duration (e.g. budget_duration: 1d) and is ignored"));
            None
        }
        (None, Some(_)) => {
            warnings.push(format!("{file}: {base}.litellm_params.budget_duration has no effect without max_budget (USD) and is ignored"));
            None
        }
    };

    let model_info = model
        .model_info
        .map(|m| m.into_iter().map(|(k, v)| (k, yaml_to_json(&v))).collect::<Map<String, Value>>())
        .unwrap_or_default();

    let unavailable = unsupported
        .or_else(|| {
            (!resolver.missing.is_empty()).then(|| {
                let names = resolver.missing.join(", ");
                let mut text = format!("model `{alias}`: {names} not set (set it in the environment, the .env file or the secret store)");
                for reason in &resolver.store_failures {
                    text.push_str("; ");
                    text.push_str(reason);
                }
                text
            })
        })
        .or_else(|| {
            // The value is not shown: it may be a credential.
            (!bad_header_values.is_empty()).then(|| {
                format!(
                    "model `{alias}`: the value of litellm_params.extra_headers {} contains a line break or another character an HTTP header cannot carry",
                    bad_header_values.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                )
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
        rpm,
        tpm,
        weight,
        order,
        max_parallel_requests,
        cooldown_time,
        budget,
        timeout: timeout.unwrap_or(settings.request_timeout),
        stream_timeout,
        max_retries,
        drop_params: p.drop_params.unwrap_or(settings.drop_params),
        additional_drop_params: p.additional_drop_params.unwrap_or_default(),
        ssl_verify,
        mock_response,
        request_defaults,
        extra_headers,
        body_limits: settings.body_limits,
        params: Params(params),
        model_info,
        unavailable,
    })
}

/// A credential from the config: wrapped, and remembered so `redact` masks it wherever it
/// might appear (an upstream echoing it back, an error quoting it).
fn config_secret(value: String) -> Secret<String> {
    crate::redact::remember(&value);
    Secret::new(value)
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
        location: None,
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

/// The range a numeric setting accepts, and how to name it in an error.
pub struct NumberRange {
    pub min: f64,
    pub max: f64,
    pub whole: bool,
    pub what: &'static str,
}

/// The longest duration any timeout may be set to (7 days).
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// Timeouts: more than nothing, at most 7 days.
pub const SECONDS: NumberRange =
    NumberRange { min: 0.001, max: MAX_SECONDS, whole: false, what: "a number of seconds" };
/// Retry counts.
pub const RETRIES: NumberRange =
    NumberRange { min: 0.0, max: 100.0, whole: true, what: "a whole number of retries" };
/// `rpm`.
pub const PER_MINUTE: NumberRange =
    NumberRange { min: 0.0, max: u32::MAX as f64, whole: true, what: "a whole number of requests" };
/// `tpm`.
pub const TOKENS_PER_MINUTE: NumberRange =
    NumberRange { min: 0.0, max: 1e15, whole: true, what: "a whole number of tokens" };
/// `max_budget`, in USD.
pub const BUDGET_USD: NumberRange =
    NumberRange { min: 0.0, max: 1e9, whole: false, what: "an amount in USD" };
/// Sizes in MB (`max_request_size_mb`).
pub const MEGABYTES: NumberRange =
    NumberRange { min: 0.001, max: 4096.0, whole: false, what: "a size in MB" };

/// A number in `range`: a YAML number, or a string holding one (as `os.environ/` values do).
/// Negative, NaN, infinite, fractional-where-whole and huge values are errors that name the
/// accepted range and what was found.
pub fn expect_number(
    file: &str,
    path: &str,
    value: &Yaml,
    range: &NumberRange,
) -> Result<f64, ConfigError> {
    let n = match value {
        Yaml::Number(n) => n.as_f64(),
        Yaml::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let fits = |n: f64| {
        n.is_finite() && n >= range.min && n <= range.max && (!range.whole || n.fract() == 0.0)
    };
    match n {
        Some(n) if fits(n) => Ok(n),
        _ => {
            let (min, max) = (trim_number(range.min), trim_number(range.max));
            let got = match value {
                Yaml::Number(n) => n.to_string(),
                Yaml::String(s) => format!("{s:?}"),
                Yaml::Null => "nothing".to_owned(),
                Yaml::Bool(b) => b.to_string(),
                _ => "a list or mapping".to_owned(),
            };
            Err(invalid(
                file,
                path,
                &format!("expected {} from {min} to {max}, got {got}", range.what),
            ))
        }
    }
}

fn trim_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e16 { format!("{}", n as i64) } else { n.to_string() }
}

/// Megabytes (as settings give them) in bytes.
fn mb_to_bytes(mb: f64) -> usize {
    (mb * 1024.0 * 1024.0) as usize
}

/// A timeout in seconds ([`SECONDS`]).
pub fn expect_duration(file: &str, path: &str, value: &Yaml) -> Result<Duration, ConfigError> {
    expect_number(file, path, value, &SECONDS).map(Duration::from_secs_f64)
}

/// A retry count ([`RETRIES`]).
fn expect_retries(file: &str, path: &str, value: &Yaml) -> Result<u32, ConfigError> {
    expect_number(file, path, value, &RETRIES).map(|n| n as u32)
}

/// A list of strings: a YAML sequence, or one string with commas (as an environment
/// variable holds it).
fn expect_list(
    file: &str,
    path: &str,
    value: &Yaml,
    resolver: &mut Resolver<'_>,
) -> Result<Vec<String>, ConfigError> {
    let items: Vec<String> = match value {
        Yaml::Sequence(items) => items
            .iter()
            .map(|v| {
                yaml_scalar_string(v)
                    .ok_or_else(|| invalid(file, path, "expected a list of strings"))
            })
            .collect::<Result<_, _>>()?,
        Yaml::String(s) => vec![s.clone()],
        Yaml::Null => Vec::new(),
        _ => return Err(invalid(file, path, "expected a list of strings")),
    };
    Ok(items
        .iter()
        .filter_map(|v| resolver.resolve(v))
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect())
}

/// `allowed_hosts` entries: a host name, `*.suffix`, an IP address, or `*`.
fn check_allowed_host(host: &str) -> Result<(), String> {
    let h = host.trim();
    let name = h.strip_prefix("*.").unwrap_or(h);
    let ok = h == "*"
        || h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok()
        || (!name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{host}` is not a host name: write names as `tunnel.example.com` or `*.example.com` (no scheme, port or path)"
        ))
    }
}

/// `allowed_origins` entries: `http(s)://host[:port]`, nothing else (never `*`).
fn check_allowed_origin(origin: &str) -> Result<(), String> {
    let o = origin.trim();
    if o == "*" {
        return Err(
            "`*` is not accepted: any web site could then use the gateway (and your cloud credentials) from your browser; list the origins of the apps you trust, e.g. https://chat.example.com".to_owned(),
        );
    }
    let ok = url::Url::parse(o).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some()
            && u.username().is_empty()
            && u.path() == "/"
            && u.query().is_none()
            && !o.trim_end_matches('/').ends_with(':')
    }) && o.trim_end_matches('/').matches('/').count() == 2;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{origin}` is not an origin: write it as scheme://host[:port], e.g. https://chat.example.com or http://localhost:3000"
        ))
    }
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

//! Configuration checks behind `ai-proxy validate` and the start-up of `serve`: each check is
//! a line with ✓ or ✗ and, for ✗, the fix. Pure apart from reading the files the config names
//! (credential JSON, CA PEM) and trying to bind the port; no network traffic.
//!
//! At start-up (`startup_checks`) only the checks marked `fatal_at_start` stop the gateway:
//! a CA file that is not PEM, a proxy URL that does not parse, a credential file that is
//! missing or of the wrong type, a template placeholder in config.yaml, a master key the
//! secret store holds but could not give (a locked keyring). Missing variables,
//! the template master key on loopback and unusual Azure endpoints stay warnings there (a
//! model is marked unavailable instead; `--strict` makes that fatal, as before).

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{
    Config, ConfigError, Deployment, ProviderKind, SslVerify, TEMPLATE_MASTER_KEY, env_reference,
};

/// What a check is about (stable names for `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Yaml,
    DotEnv,
    MasterKey,
    Placeholder,
    Variable,
    CredentialFile,
    CaFile,
    ProxyUrl,
    AzureEndpoint,
    Budget,
    Port,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub kind: Kind,
    pub ok: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Whether `serve` refuses to start on this failure.
    #[serde(skip)]
    pub fatal_at_start: bool,
}

impl Check {
    fn pass(kind: Kind, message: impl Into<String>) -> Check {
        Check { kind, ok: true, message: message.into(), fix: None, fatal_at_start: false }
    }

    fn fail(kind: Kind, message: impl Into<String>, fix: impl Into<String>) -> Check {
        let fatal_at_start = matches!(
            kind,
            Kind::Yaml | Kind::CaFile | Kind::ProxyUrl | Kind::CredentialFile | Kind::Placeholder
        );
        Check { kind, ok: false, message: message.into(), fix: Some(fix.into()), fatal_at_start }
    }

    /// `✓ message` or `✗ message\n    fix: ...`.
    pub fn render(&self) -> String {
        match (&self.ok, &self.fix) {
            (true, _) => format!("✓ {}", self.message),
            (false, Some(fix)) => format!("✗ {}\n    fix: {fix}", self.message),
            (false, None) => format!("✗ {}", self.message),
        }
    }
}

/// Values left from the seed's template (`.env` and config.yaml examples) or LiteLLM's docs.
pub fn placeholder(value: &str) -> Option<&'static str> {
    let v = value.trim();
    if v == TEMPLATE_MASTER_KEY {
        return Some("the template key sk-1234");
    }
    if v.contains("您的") {
        return Some("a `您的…` template placeholder");
    }
    if let (Some(open), Some(close)) = (v.find('<'), v.rfind('>'))
        && open < close
    {
        return Some("a `<…>` template placeholder");
    }
    let lower = v.to_ascii_lowercase();
    let words = lower.split(|c: char| !c.is_ascii_alphanumeric() && c != '-');
    for w in words {
        if w.starts_with("your-") || w == "your" {
            return Some("a `your-…` template placeholder");
        }
    }
    None
}

/// The YAML/key check for a load result: ✓ with the model count, or the error with its line.
pub fn load_check(result: &Result<Config, ConfigError>) -> Check {
    match result {
        Ok(c) => Check::pass(
            Kind::Yaml,
            format!("config {} parses ({} models)", c.source, c.deployments.len()),
        ),
        Err(e) => {
            let fix = match e {
                ConfigError::Read { .. } => {
                    "create the file (ai-proxy setup writes one) or point --config at it".to_owned()
                }
                ConfigError::Parse { location: Some((line, _)), .. } => {
                    format!(
                        "correct the YAML at line {line} (indentation, a missing `:` or quotes around values with `:` or `#`)"
                    )
                }
                ConfigError::Parse { .. } => "correct the YAML syntax".to_owned(),
                ConfigError::Invalid { path, .. } => {
                    format!("give `{path}` a value of the expected type")
                }
            };
            Check::fail(Kind::Yaml, e.to_string(), fix)
        }
    }
}

/// Every check on a loaded config. `listen` is the address serve would bind (port check).
pub fn check_config(config: &Config, listen: Option<(&str, u16)>) -> Vec<Check> {
    let mut out = Vec::new();
    master_key(config, &mut out);
    dotenv_placeholders(config, &mut out);
    for d in &config.deployments {
        deployment_placeholders(d, &mut out);
        variables(d, &mut out);
        credential_files(d, config, &mut out);
        proxy_urls(d, &mut out);
        azure_endpoint(d, &mut out);
        budget(d, config, &mut out);
    }
    global_proxies(config, &mut out);
    ca_files(config, &mut out);
    if let Some((host, port)) = listen {
        out.push(port_check(host, port));
    }
    out
}

/// The checks serve runs before binding: an error listing every failure that is fatal at
/// start, with the same messages `validate` prints.
pub fn startup_checks(config: &Config) -> Result<Vec<Check>, StartupError> {
    let checks = check_config(config, None);
    let fatal: Vec<String> =
        checks.iter().filter(|c| !c.ok && c.fatal_at_start).map(Check::render).collect();
    if fatal.is_empty() {
        Ok(checks.into_iter().filter(|c| !c.ok).collect())
    } else {
        Err(StartupError(fatal))
    }
}

/// Configuration errors that stop `serve`.
#[derive(Debug, thiserror::Error)]
#[error("the configuration has {} error(s) (run `ai-proxy validate` for the full checklist):\n{}", .0.len(), .0.join("\n"))]
pub struct StartupError(pub Vec<String>);

fn master_key(config: &Config, out: &mut Vec<Check>) {
    match (&config.master_key, &config.master_key_origin) {
        (Some(k), _) if k.expose() == TEMPLATE_MASTER_KEY => out.push(Check::fail(
            Kind::MasterKey,
            "the master key is the template value sk-1234, which everyone knows",
            "store a random key: ai-proxy secrets set LITELLM_MASTER_KEY (or re-run ai-proxy setup)",
        )),
        (Some(_), Some(origin)) => out.push(Check::pass(Kind::MasterKey, format!("master key set (from {origin})"))),
        (Some(_), None) => out.push(Check::fail(
            Kind::MasterKey,
            "the master key is written in config.yaml in plain text",
            "write `master_key: os.environ/LITELLM_MASTER_KEY` and run ai-proxy secrets set LITELLM_MASTER_KEY",
        )),
        (None, _) if config.master_key_unreadable.is_some() => {
            let reason = config.master_key_unreadable.as_deref().unwrap_or_default();
            let mut check = Check::fail(
                Kind::MasterKey,
                format!("the master key could not be read from the secret store: {reason}"),
                "make the store readable (unlock the keyring) and start again; the gateway does not run without the key you set",
            );
            check.fatal_at_start = true;
            out.push(check);
        }
        (None, _) => out.push(Check::fail(
            Kind::MasterKey,
            "no master key: any program on this machine can call the gateway",
            "ai-proxy secrets set LITELLM_MASTER_KEY (or re-run ai-proxy setup, which generates one)",
        )),
    }
}

fn dotenv_placeholders(config: &Config, out: &mut Vec<Check>) {
    let Some(path) = config.env.dotenv_path() else { return };
    let mut bad = false;
    for name in config.env.dotenv_names() {
        if let Some(value) = config.env.dotenv_value(name)
            && let Some(what) = placeholder(value)
            // The master key check reports the template key, with its own fix.
            && !(name == "LITELLM_MASTER_KEY" && value.trim() == TEMPLATE_MASTER_KEY)
        {
            bad = true;
            let mut check = Check::fail(
                Kind::Placeholder,
                format!("{name} in {} is {what}", path.display()),
                format!(
                    "set the real value: ai-proxy secrets set {name} (secrets) or edit {}; remove the line if you do not use it",
                    path.display()
                ),
            );
            // Models that use it are caught by their own checks; an unused line is noise.
            check.fatal_at_start = false;
            out.push(check);
        }
    }
    if !bad {
        out.push(Check::pass(
            Kind::DotEnv,
            format!("{} has no template placeholders", path.display()),
        ));
    }
}

fn deployment_placeholders(d: &Deployment, out: &mut Vec<Check>) {
    let mut fields: Vec<(String, String)> = Vec::new();
    fields.push(("model".into(), d.model.clone()));
    if let Some(v) = &d.api_base {
        fields.push(("api_base".into(), v.clone()));
    }
    if let Some(v) = &d.api_version {
        fields.push(("api_version".into(), v.clone()));
    }
    for (k, v) in &d.params.0 {
        collect_strings(k, v, &mut fields);
    }
    for (field, value) in fields {
        if let Some(what) = placeholder(&value) {
            out.push(Check::fail(
                Kind::Placeholder,
                format!("model `{}`: {field} is {what} ({value})", d.alias),
                format!("replace it in model_list[{}].litellm_params.{field} with your real value (ai-proxy setup asks for it)", d.index),
            ));
        }
    }
    if let Some(key) = &d.api_key
        && let Some(what) = placeholder(key.expose())
    {
        out.push(Check::fail(
            Kind::Placeholder,
            format!("model `{}`: api_key is {what}", d.alias),
            "store the real key with ai-proxy secrets set NAME and refer to it as os.environ/NAME",
        ));
    }
}

fn collect_strings(path: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path.to_owned(), s.clone())),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_strings(&format!("{path}[{i}]"), v, out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                collect_strings(&format!("{path}.{k}"), v, out);
            }
        }
        _ => {}
    }
}

fn variables(d: &Deployment, out: &mut Vec<Check>) {
    let Some(reason) = &d.unavailable else {
        out.push(Check::pass(
            Kind::Variable,
            format!(
                "model `{}` ({}/{}) has everything it needs",
                d.alias,
                d.provider.name(),
                d.model
            ),
        ));
        return;
    };
    let names: Vec<&str> =
        reason.split(|c: char| c.is_whitespace() || c == ',').filter_map(env_reference).collect();
    let fix = match names.as_slice() {
        [] => "see the message; supported providers are listed there".to_owned(),
        names => names
            .iter()
            .map(|n| {
                format!("ai-proxy secrets set {n} (or add {n}=... to .env if it is not a secret)")
            })
            .collect::<Vec<_>>()
            .join("; "),
    };
    out.push(Check::fail(Kind::Variable, reason.clone(), fix));
}

/// The credential files a deployment names: `vertex_credentials` as a path, and
/// GOOGLE_APPLICATION_CREDENTIALS for Vertex models.
fn credential_files(d: &Deployment, config: &Config, out: &mut Vec<Check>) {
    if !matches!(d.provider, ProviderKind::Vertex | ProviderKind::VertexClaude) {
        return;
    }
    let (origin, path) = match d.params.str("vertex_credentials") {
        Some(v) if v.trim_start().starts_with('{') => {
            out.push(match serde_json::from_str::<Value>(v) {
                Ok(json) => {
                    credential_json(&format!("model `{}`: vertex_credentials", d.alias), &json)
                }
                Err(e) => Check::fail(
                    Kind::CredentialFile,
                    format!("model `{}`: vertex_credentials is not valid JSON ({e})", d.alias),
                    "give the path of the service-account JSON file instead",
                ),
            });
            return;
        }
        Some(v) => ("vertex_credentials", PathBuf::from(v)),
        None => match config.env.get("GOOGLE_APPLICATION_CREDENTIALS") {
            Some(v) => ("GOOGLE_APPLICATION_CREDENTIALS", PathBuf::from(v)),
            None => return,
        },
    };
    out.push(credential_file(&format!("model `{}`: {origin} {}", d.alias, path.display()), &path));
}

/// A Google credential file: readable JSON with `type` service_account or authorized_user.
pub fn credential_file(label: &str, path: &Path) -> Check {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::fail(
                Kind::CredentialFile,
                format!("{label} does not exist"),
                "point it at your service-account JSON, or unset it and run `gcloud auth application-default login`",
            );
        }
        Err(e) => {
            return Check::fail(
                Kind::CredentialFile,
                format!("{label} cannot be read: {e}"),
                format!("make it readable by you: chmod 600 {}", path.display()),
            );
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(json) => credential_json(label, &json),
        Err(e) => Check::fail(
            Kind::CredentialFile,
            format!("{label} is not JSON ({e})"),
            "download the key again (IAM → Service accounts → Keys → JSON)",
        ),
    }
}

fn credential_json(label: &str, json: &Value) -> Check {
    match json.get("type").and_then(Value::as_str) {
        Some("service_account")
            if json.get("private_key").is_some() && json.get("client_email").is_some() =>
        {
            Check::pass(Kind::CredentialFile, format!("{label} is a service-account key"))
        }
        Some("service_account") => Check::fail(
            Kind::CredentialFile,
            format!("{label} is a service-account file without private_key or client_email"),
            "download a new JSON key for the service account",
        ),
        Some("authorized_user") => {
            Check::pass(Kind::CredentialFile, format!("{label} is a gcloud user credential (ADC)"))
        }
        other => Check::fail(
            Kind::CredentialFile,
            format!(
                "{label} has type {}, expected service_account or authorized_user",
                other.map(|t| format!("`{t}`")).unwrap_or_else(|| "(none)".into())
            ),
            "use a service-account JSON key or the file `gcloud auth application-default login` writes",
        ),
    }
}

fn proxy_urls(d: &Deployment, out: &mut Vec<Check>) {
    for key in ["http_proxy", "https_proxy"] {
        if let Some(url) = d.params.str(key) {
            out.push(proxy_url(&format!("model `{}`: {key}", d.alias), url));
        }
    }
}

/// Proxy variables the gateway and its egress read.
pub const PROXY_VARIABLES: &[&str] = &[
    "AZURE_PROXY",
    "GEMINI_PROXY",
    "VERTEX_PROXY",
    "QWEN_PROXY",
    "DASHSCOPE_PROXY",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
];

fn global_proxies(config: &Config, out: &mut Vec<Check>) {
    for name in PROXY_VARIABLES {
        if let Some(url) = config.env.get(name) {
            out.push(proxy_url(name, &url));
        }
    }
}

/// A proxy URL: scheme http, https, socks5 or socks5h, and a host. Passwords never printed.
pub fn proxy_url(label: &str, value: &str) -> Check {
    let fix =
        "write it as http://host:port (or http://user:<password>@host:port, socks5://host:port)";
    match url::Url::parse(value.trim()) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Check::pass(Kind::ProxyUrl, format!("{label}: proxy {}", redacted(&u)))
        }
        Ok(u) => Check::fail(
            Kind::ProxyUrl,
            format!("{label}: proxy URL scheme `{}` is not supported", u.scheme()),
            fix,
        ),
        Err(e) => {
            Check::fail(Kind::ProxyUrl, format!("{label}: proxy URL does not parse ({e})"), fix)
        }
    }
}

fn redacted(u: &url::Url) -> String {
    let mut u = u.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    u.to_string()
}

fn ca_files(config: &Config, out: &mut Vec<Check>) {
    let mut seen: Vec<PathBuf> = Vec::new();
    let global = config.settings.ssl_verify.iter();
    for v in global.chain(config.deployments.iter().map(|d| &d.ssl_verify)) {
        if let SslVerify::ExtraCa(p) = v
            && !seen.contains(p)
        {
            seen.push(p.clone());
        }
    }
    if let Some(p) = config.env.get("SSL_CERT_FILE").map(PathBuf::from)
        && !seen.contains(&p)
    {
        seen.push(p);
    }
    for p in seen {
        out.push(ca_file(&p));
    }
}

/// A CA bundle: a readable file with at least one PEM certificate.
pub fn ca_file(path: &Path) -> Check {
    let fix = "export the corporate root CA as PEM (text starting with -----BEGIN CERTIFICATE-----), e.g. `openssl x509 -inform der -in ca.cer -out ca.pem`";
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Check::fail(
                Kind::CaFile,
                format!("CA file {} cannot be read: {e}", path.display()),
                fix,
            );
        }
    };
    // The system bundle itself (a common `SSL_CERT_FILE`): trusted already and decoded by the
    // TLS set-up off the start-up path, so its blocks are only counted here.
    if crate::egress::tls::is_system_bundle(&crate::egress::CaSource::CertFile(path.to_owned())) {
        let n = memchr::memmem::find_iter(&bytes, b"-----BEGIN CERTIFICATE-----").count();
        return Check::pass(
            Kind::CaFile,
            format!("CA file {} is the system CA bundle ({n} certificates)", path.display()),
        );
    }
    match crate::egress::pem::certificates(&bytes) {
        Ok(certs) if certs.is_empty() => Check::fail(
            Kind::CaFile,
            format!("CA file {} is not PEM: no certificate in it", path.display()),
            fix,
        ),
        Ok(certs) => Check::pass(
            Kind::CaFile,
            format!("CA file {} has {} PEM certificate(s)", path.display(), certs.len()),
        ),
        Err(e) => Check::fail(
            Kind::CaFile,
            format!("CA file {} is not valid PEM: {e}", path.display()),
            fix,
        ),
    }
}

/// A deployment's `max_budget`: it can only be kept when the model's price is known, and it
/// carries over restarts only through the request log.
fn budget(d: &Deployment, config: &Config, out: &mut Vec<Check>) {
    let Some(b) = d.budget else { return };
    let what = format!(
        "model `{}` ({}/{}): budget ${} per {}",
        d.alias,
        d.provider.name(),
        d.model,
        crate::router::budget::usd(b.max_usd),
        crate::router::budget::human(b.period)
    );
    if crate::usage::price::for_deployment(d).is_none() {
        out.push(Check::fail(
            Kind::Budget,
            format!("{what}, but its price is unknown, so its calls count nothing towards it"),
            "set input_cost_per_token and output_cost_per_token (USD) in its model_info",
        ));
    } else if !config.settings.usage.enabled {
        out.push(Check::fail(
            Kind::Budget,
            format!("{what}, counted from zero at every start: the request log is off"),
            "remove `disable_spend_logs: true` from general_settings to keep budgets across restarts",
        ));
    } else {
        out.push(Check::pass(Kind::Budget, what));
    }
}

fn azure_endpoint(d: &Deployment, out: &mut Vec<Check>) {
    if d.provider != ProviderKind::Azure {
        return;
    }
    let Some(base) = &d.api_base else { return };
    out.push(azure_base(&format!("model `{}`", d.alias), base));
}

/// An Azure OpenAI resource endpoint: `https://<name>.openai.azure.com` (or
/// cognitiveservices / services.ai), or a loopback address (a local relay or test upstream).
pub fn azure_base(label: &str, base: &str) -> Check {
    let fix = "use your resource's endpoint from the Azure portal (Keys and Endpoint): https://<resource>.openai.azure.com/";
    let Ok(u) = url::Url::parse(base.trim()) else {
        return Check::fail(
            Kind::AzureEndpoint,
            format!("{label}: api_base `{base}` is not a URL"),
            fix,
        );
    };
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    let loopback =
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let azure = [".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"]
        .iter()
        .any(|s| host.ends_with(s) && host.len() > s.len());
    if loopback || (azure && u.scheme() == "https") {
        Check::pass(
            Kind::AzureEndpoint,
            format!("{label}: Azure endpoint {}", u.origin().ascii_serialization()),
        )
    } else {
        Check::fail(
            Kind::AzureEndpoint,
            format!(
                "{label}: api_base `{base}` does not look like an Azure OpenAI resource (https://<resource>.openai.azure.com)"
            ),
            fix,
        )
    }
}

/// Whether the gateway could bind `host:port` now.
pub fn port_check(host: &str, port: u16) -> Check {
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    match TcpListener::bind(&addr) {
        Ok(_) => Check::pass(Kind::Port, format!("port {port} on {host} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Check::fail(
            Kind::Port,
            format!("port {port} on {host} is already in use (another ai-proxy or LiteLLM?)"),
            "stop that program, or choose another port with --port, LITELLM_PORT or AI_PROXY_PORT",
        ),
        Err(e) => Check::fail(
            Kind::Port,
            format!("cannot listen on {addr}: {e}"),
            "choose another host or port",
        ),
    }
}

#[cfg(test)]
mod tests;

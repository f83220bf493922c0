//! Which proxy a deployment's traffic goes through, and why. Pure: every input (the
//! deployment's params, an [`Env`], the macOS system settings) is passed in.
//!
//! Order, first that applies: `https_proxy` / `http_proxy` in the deployment's
//! `litellm_params`; the provider's variable ([`provider_vars`]: `AZURE_PROXY`; `GEMINI_PROXY`
//! or `VERTEX_PROXY` (Vertex, Claude on Vertex); `ANTHROPIC_PROXY`; `AZURE_AI_PROXY` or
//! `AZURE_PROXY`; `GEMINI_API_PROXY` or `GEMINI_PROXY` (AI Studio); `QWEN_PROXY` or `DASHSCOPE_PROXY`; `<PREFIX>_PROXY` for the others); the
//! standard variables, by target
//! scheme as curl reads them (`HTTPS_PROXY`/`https_proxy` for https targets,
//! `HTTP_PROXY`/`http_proxy` for http targets, then `ALL_PROXY`/`all_proxy`); the macOS
//! system proxy settings. `NO_PROXY`/`no_proxy` and the deployment's `no_proxy` then decide
//! per target host.

use std::fmt;

use url::Url;

use super::no_proxy::NoProxy;
use super::{EgressError, redact_url};
use crate::config::{Deployment, Env, ProviderKind};

/// Why a proxy was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `litellm_params.https_proxy` / `litellm_params.http_proxy` of the deployment.
    DeploymentParam(&'static str),
    /// The provider's own variable (`AZURE_PROXY`, `GEMINI_PROXY`, ...).
    ProviderVar(String),
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` (either case).
    StandardVar(String),
    /// The macOS network settings (System Settings > Network > Proxies).
    System,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::DeploymentParam(k) => write!(f, "litellm_params.{k} of the model"),
            Rule::ProviderVar(v) => write!(f, "{v}"),
            Rule::StandardVar(v) => write!(f, "{v}"),
            Rule::System => f.write_str("macOS system proxy settings"),
        }
    }
}

/// A proxy URL. `Display` and `Debug` hide the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyUrl(Url);

impl ProxyUrl {
    /// Parse `http://`, `https://`, `socks5://`, `socks5h://` (and socks4) URLs. A bare
    /// `host:port` is refused (as `ai-proxy validate` does): the scheme must be written.
    pub fn parse(text: &str) -> Result<ProxyUrl, EgressError> {
        let text = text.trim();
        let bad = |reason: String| EgressError::ProxyUrl { url: redact_url(text), reason };
        if !text.contains("://") {
            return Err(bad(
                "no scheme: write it as http://host:port (or socks5://host:port)".into()
            ));
        }
        let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
        match url.scheme() {
            "http" | "https" | "socks5" | "socks5h" | "socks4" | "socks4a" => {}
            other => {
                return Err(bad(format!(
                    "scheme `{other}` is not supported (use http, https or socks5)"
                )));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host".into()));
        }
        Ok(ProxyUrl(url))
    }

    /// The URL with credentials, for the HTTP client only.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(match self.0.scheme() {
            "http" => 80,
            "https" => 443,
            _ => 1080,
        })
    }

    pub fn scheme(&self) -> &str {
        self.0.scheme()
    }

    pub fn has_credentials(&self) -> bool {
        !self.0.username().is_empty()
    }

    /// `scheme://host:port` without user or password.
    pub fn endpoint(&self) -> String {
        format!("{}://{}:{}", self.scheme(), host_for_url(self.host()), self.port())
    }
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.endpoint();
        if self.has_credentials() {
            shown = format!(
                "{}://{}:***@{}:{}",
                self.scheme(),
                self.0.username(),
                host_for_url(self.host()),
                self.port()
            );
        }
        f.write_str(&shown)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// A chosen proxy and the rule that chose it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chosen {
    pub url: ProxyUrl,
    pub rule: Rule,
}

/// The macOS network proxy settings, as plain data (read by `system.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemProxy {
    /// `host:port` of the "Web proxy (HTTP)".
    pub http: Option<String>,
    /// `host:port` of the "Secure web proxy (HTTPS)".
    pub https: Option<String>,
    /// `host:port` of the "SOCKS proxy".
    pub socks: Option<String>,
    /// "Bypass proxy settings for these hosts & domains" (plus `<local>` when "Exclude
    /// simple hostnames" is ticked).
    pub exceptions: Vec<String>,
    /// "Automatic proxy configuration": the PAC file's URL (not evaluated: it is
    /// JavaScript).
    pub pac_url: Option<String>,
    /// "Auto proxy discovery" (WPAD) is on (not performed).
    pub auto_discovery: bool,
}

impl SystemProxy {
    /// Whether any fixed proxy (HTTP, HTTPS, SOCKS) is set.
    pub fn has_fixed_proxy(&self) -> bool {
        self.http.is_some() || self.https.is_some() || self.socks.is_some()
    }

    /// What automatic configuration macOS uses that ai-proxy does not follow, if any:
    /// "a proxy auto-configuration (PAC) file (http://wpad/wpad.dat)", "automatic proxy
    /// discovery (WPAD)", or both.
    pub fn automatic(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(url) = &self.pac_url {
            let url = redact_url(url);
            parts.push(format!("a proxy auto-configuration (PAC) file ({url})"));
        }
        if self.auto_discovery {
            parts.push("automatic proxy discovery (WPAD)".to_owned());
        }
        (!parts.is_empty()).then(|| parts.join(" and "))
    }
}

/// The warning for macOS automatic proxy configuration, which ai-proxy cannot evaluate:
/// which variables to set instead, for the providers (`vars`) whose traffic would otherwise
/// go direct. `None` without automatic configuration.
pub fn automatic_warning(system: &SystemProxy, vars: &[&str]) -> Option<String> {
    let what = system.automatic()?;
    let fixed =
        if system.has_fixed_proxy() { "; the fixed proxies set next to it are used" } else { "" };
    let advice = if vars.is_empty() {
        "HTTPS_PROXY=http://host:port".to_owned()
    } else {
        format!(
            "the provider's variable ({}) or HTTPS_PROXY",
            vars.iter().map(|v| format!("{v}=http://host:port")).collect::<Vec<_>>().join(", ")
        )
    };
    Some(format!(
        "macOS uses {what}, which ai-proxy does not evaluate{fixed}: requests without another proxy setting go direct. If your network needs the proxy that file chooses, set {advice} (ask IT for the host and port, or open the PAC file and read its PROXY lines)"
    ))
}

/// Everything needed to route one deployment's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxyPlan {
    /// Proxy for `https://` targets.
    pub https: Option<Chosen>,
    /// Proxy for `http://` targets.
    pub http: Option<Chosen>,
    /// Hosts that go direct whatever the proxy.
    pub no_proxy: NoProxy,
    /// Where the `no_proxy` entries came from (`NO_PROXY`, `litellm_params.no_proxy`, ...).
    pub no_proxy_sources: Vec<String>,
}

/// What happens to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    Proxy(&'a Chosen),
    /// Direct because this `NO_PROXY` entry matched.
    Bypass(String),
    /// Direct because no rule named a proxy.
    Direct,
}

impl Decision<'_> {
    /// One line for messages and `doctor`: "via proxy http://p:8080 (AZURE_PROXY)".
    pub fn describe(&self) -> String {
        match self {
            Decision::Proxy(c) => format!("via proxy {} (from {})", c.url, c.rule),
            Decision::Bypass(entry) => format!("direct (NO_PROXY entry `{entry}` matches)"),
            Decision::Direct => "direct (no proxy configured)".to_owned(),
        }
    }

    pub fn proxy(&self) -> Option<&Chosen> {
        match self {
            Decision::Proxy(c) => Some(c),
            _ => None,
        }
    }
}

impl ProxyPlan {
    /// No proxy at all.
    pub fn direct() -> ProxyPlan {
        ProxyPlan {
            https: None,
            http: None,
            no_proxy: NoProxy::default(),
            no_proxy_sources: Vec::new(),
        }
    }

    /// The route for one target URL.
    pub fn decide(&self, url: &Url) -> Decision<'_> {
        let chosen = if url.scheme() == "http" { self.http.as_ref() } else { self.https.as_ref() };
        let Some(chosen) = chosen else {
            return Decision::Direct;
        };
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        match self.no_proxy.matching(host, port) {
            Some(entry) => Decision::Bypass(entry.to_owned()),
            None => Decision::Proxy(chosen),
        }
    }
}

/// The provider variables, in the order they are read: the seed's names (`AZURE_PROXY`,
/// `GEMINI_PROXY`, `QWEN_PROXY`) and `<PREFIX>_PROXY` for every other provider (README
/// "Providers" has the table).
pub fn provider_vars(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Azure => &["AZURE_PROXY"],
        ProviderKind::Vertex | ProviderKind::VertexClaude => &["GEMINI_PROXY", "VERTEX_PROXY"],
        ProviderKind::Anthropic => &["ANTHROPIC_PROXY"],
        ProviderKind::AzureAi => &["AZURE_AI_PROXY", "AZURE_PROXY"],
        ProviderKind::Gemini => &["GEMINI_API_PROXY", "GEMINI_PROXY"],
        ProviderKind::DashScope => &["QWEN_PROXY", "DASHSCOPE_PROXY"],
        ProviderKind::OpenAi => &["OPENAI_PROXY"],
        ProviderKind::Compat(c) => c.spec().proxy_vars,
        ProviderKind::Mock => &[],
    }
}

const HTTPS_VARS: &[&str] = &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
const HTTP_VARS: &[&str] = &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// Resolve a deployment's plan. `system` is the macOS setting (None elsewhere).
pub fn resolve(
    dep: &Deployment,
    env: &Env,
    system: Option<&SystemProxy>,
) -> Result<ProxyPlan, EgressError> {
    let param = ["https_proxy", "http_proxy"]
        .into_iter()
        .find_map(|k| dep.params.str(k).map(|v| (k, v.to_owned())));
    let provider = env.first_of(provider_vars(dep.provider));
    let password = |url: ProxyUrl, var: Option<&str>| with_password(url, var, env);

    let (https, http) = if let Some((key, value)) = param {
        let c = Chosen {
            url: password(ProxyUrl::parse(&value)?, None),
            rule: Rule::DeploymentParam(key),
        };
        (Some(c.clone()), Some(c))
    } else if let Some((var, value)) = provider {
        let c = Chosen {
            url: password(ProxyUrl::parse(&value)?, Some(&var)),
            rule: Rule::ProviderVar(var),
        };
        (Some(c.clone()), Some(c))
    } else {
        let standard = |vars: &[&str],
                        system_value: Option<&String>|
         -> Result<Option<Chosen>, EgressError> {
            if let Some((var, value)) = env.first_of(vars) {
                return Ok(Some(Chosen {
                    url: password(ProxyUrl::parse(&value)?, Some(&var)),
                    rule: Rule::StandardVar(var),
                }));
            }
            Ok(match system_value {
                Some(v) => {
                    Some(Chosen { url: password(ProxyUrl::parse(v)?, None), rule: Rule::System })
                }
                None => None,
            })
        };
        let sys_socks = system.and_then(|s| s.socks.as_ref()).map(|s| format!("socks5://{s}"));
        // The "Secure web proxy" is an HTTP proxy that tunnels https:// traffic.
        let sys_https = system
            .and_then(|s| s.https.as_ref())
            .map(|v| format!("http://{v}"))
            .or_else(|| sys_socks.clone());
        let sys_http =
            system.and_then(|s| s.http.as_ref()).map(|v| format!("http://{v}")).or(sys_socks);
        (standard(HTTPS_VARS, sys_https.as_ref())?, standard(HTTP_VARS, sys_http.as_ref())?)
    };

    let mut no_proxy = NoProxy::default();
    let mut sources = Vec::new();
    if let Some((var, value)) = env.first_of(&["NO_PROXY", "no_proxy"]) {
        no_proxy.extend(&value);
        sources.push(var);
    }
    match dep.params.get("no_proxy") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => {
            no_proxy.extend(s);
            sources.push("litellm_params.no_proxy".into());
        }
        Some(serde_json::Value::Array(items)) if !items.is_empty() => {
            for item in items.iter().filter_map(serde_json::Value::as_str) {
                no_proxy.extend(item);
            }
            sources.push("litellm_params.no_proxy".into());
        }
        _ => {}
    }
    let uses_system =
        [&https, &http].iter().any(|c| c.as_ref().is_some_and(|c| c.rule == Rule::System));
    if uses_system && let Some(sys) = system.filter(|s| !s.exceptions.is_empty()) {
        no_proxy.extend(&sys.exceptions.join(","));
        sources.push("macOS proxy exceptions".into());
    }
    Ok(ProxyPlan { https, http, no_proxy, no_proxy_sources: sources })
}

/// A proxy URL with a user but no password takes it from `<VAR>_PASSWORD` (e.g.
/// `AZURE_PROXY_PASSWORD`), else `PROXY_PASSWORD`: both may live in the secret store.
fn with_password(mut url: ProxyUrl, var: Option<&str>, env: &Env) -> ProxyUrl {
    if url.0.username().is_empty() || url.0.password().is_some() {
        return url;
    }
    let names: Vec<String> = var
        .map(|v| format!("{}_PASSWORD", v.to_ascii_uppercase()))
        .into_iter()
        .chain(["PROXY_PASSWORD".to_owned()])
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Some((_, pw)) = env.first_of(&names) {
        let _ = url.0.set_password(Some(&pw));
    }
    url
}

#[cfg(test)]
mod tests;

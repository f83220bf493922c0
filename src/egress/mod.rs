//! Outbound HTTP clients: TLS roots (system verifier plus extra corporate CAs), the proxy a
//! deployment uses, and one pooled client per distinct (proxy, TLS) combination.
//!
//! Every byte a deployment sends (model calls and its token requests) goes through the
//! client returned by [`Egress::client_for`]. Proxy resolution is ours alone: reqwest's own
//! environment detection is switched off so that nothing implicit decides where traffic goes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Client;

use crate::config::{Deployment, Env, SslVerify};

/// How long to wait for a TCP (and proxy) connection before giving up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("proxy URL `{url}` is not valid: {reason}")]
    ProxyUrl { url: String, reason: String },
    #[error("cannot build HTTP client: {0}")]
    Build(String),
}

/// What decides a client: where it goes through and whom it trusts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    proxy: Option<String>,
    tls: SslVerify,
}

/// Builds and shares upstream clients.
pub struct Egress {
    clients: Mutex<HashMap<ClientKey, Client>>,
}

impl Egress {
    pub fn new(_env: &Env) -> Self {
        Egress {
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The pooled client for a deployment.
    pub fn client_for(&self, dep: &Deployment) -> Result<Client, EgressError> {
        let proxy = dep
            .params
            .str("https_proxy")
            .or_else(|| dep.params.str("http_proxy"))
            .map(str::to_owned);
        let key = ClientKey {
            proxy,
            tls: dep.ssl_verify.clone(),
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = build_client(&key)?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

fn build_client(key: &ClientKey) -> Result<Client, EgressError> {
    let mut b = Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("ai-proxy/", env!("CARGO_PKG_VERSION")));
    if let Some(url) = &key.proxy {
        let proxy = reqwest::Proxy::all(url).map_err(|e| EgressError::ProxyUrl {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        b = b.proxy(proxy);
    }
    match &key.tls {
        SslVerify::System => {}
        SslVerify::Disabled => b = b.tls_danger_accept_invalid_certs(true),
        SslVerify::ExtraCa(path) => {
            let pem = std::fs::read(path).map_err(|e| EgressError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| EgressError::CaFile {
                path: path.clone(),
                reason: format!("not a PEM certificate bundle ({e})"),
            })?;
            if certs.is_empty() {
                return Err(EgressError::CaFile {
                    path: path.clone(),
                    reason: "contains no PEM certificates".into(),
                });
            }
            b = b.tls_certs_merge(certs);
        }
    }
    b.build().map_err(|e| EgressError::Build(e.to_string()))
}

/// A URL with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => match url.rfind('@') {
            Some(i) => format!("***@{}", &url[i + 1..]),
            None => url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("http://bob:hunter2@proxy:8080"), "http://bob:***@proxy:8080/");
        assert_eq!(redact_url("http://proxy:8080"), "http://proxy:8080/");
        assert!(!redact_url("not a url:pw@host").contains("pw"));
    }
}

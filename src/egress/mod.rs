//! Outbound HTTP clients: which proxy each deployment goes through (`proxy`, `no_proxy`),
//! whom it trusts (`tls`, reading CA files with `pem`), what to say when a connection fails
//! (`failure`), the macOS system proxy (`system`), and step-by-step checks for
//! `ai-proxy doctor` (`diagnose`).
//!
//! Every byte a deployment sends (model calls and its token requests) goes through the
//! client returned by [`Egress::client_for`]. Proxy resolution is ours alone: reqwest's own
//! environment detection is switched off, the plan is applied per target host by
//! `Proxy::custom`, and clients are pooled per distinct (proxy plan, trust) and shared.

pub mod diagnose;
pub mod failure;
pub mod no_proxy;
pub mod pem;
pub mod proxy;
pub mod redirect;
pub mod system;
pub mod tls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::config::{Config, Deployment, Env};
pub use failure::{Failure, FailureKind};
pub use proxy::{Decision, ProxyPlan, SystemProxy};
pub use tls::{CaSource, Extras, Trust};

/// How long the connect phase (TCP, proxy handshake, TLS) may take.
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
    plan: ProxyPlan,
    trust: Trust,
}

/// A deployment's HTTP client: reqwest's pooled client (used through `Deref`) and the proxy
/// plan its connections follow, so a failure to connect can name the proxy
/// ([`Client::explain`]). The plan is kept here rather than attached to each failure by a
/// connector layer: reqwest boxes a layered connector and clones the box several times for
/// every request (23 allocations per call).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    plan: Arc<ProxyPlan>,
}

impl std::ops::Deref for Client {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        &self.http
    }
}

impl Client {
    /// What to tell a person about a request of this client that failed while connecting
    /// (TCP, proxy handshake, TLS): `None` for any other failure. `what` names the upstream.
    pub fn explain(&self, err: &reqwest::Error, what: &str) -> Option<Failure> {
        failure::explain(err, &self.plan, CONNECT_TIMEOUT, what)
    }
}

/// How long an upstream connection stays open unused in a client's pool.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Builds and shares upstream clients.
pub struct Egress {
    env: Env,
    system: Option<SystemProxy>,
    clients: Mutex<HashMap<ClientKey, Client>>,
    cas: Mutex<HashMap<CaSource, Vec<CertificateDer<'static>>>>,
}

impl Egress {
    /// Egress for an environment (proxy variables, `NO_PROXY`, `SSL_CERT_FILE`, ...). On
    /// macOS the system proxy settings are read once here.
    pub fn new(env: &Env) -> Self {
        Egress::with_system(env, system::read())
    }

    /// Egress with given system proxy settings (tests, other platforms).
    pub fn with_system(env: &Env, system: Option<SystemProxy>) -> Self {
        Egress {
            env: env.clone(),
            system,
            clients: Mutex::new(HashMap::new()),
            cas: Mutex::new(HashMap::new()),
        }
    }

    /// The proxy plan of a deployment (which proxy for which target, and why).
    pub fn plan_for(&self, dep: &Deployment) -> Result<ProxyPlan, EgressError> {
        proxy::resolve(dep, &self.env, self.system.as_ref())
    }

    /// The trust settings of a deployment.
    pub fn trust_for(&self, dep: &Deployment) -> Trust {
        Trust::resolve(&self.env, &dep.ssl_verify)
    }

    /// The pooled client for a deployment, with its plan, so [`Client::explain`] (used by
    /// `providers::http::transport_error`) can name the proxy.
    pub fn client_for(&self, dep: &Deployment) -> Result<Client, EgressError> {
        let key = ClientKey { plan: self.plan_for(dep)?, trust: self.trust_for(dep) };
        if let Some(c) = self.lock_clients().get(&key) {
            return Ok(c.clone());
        }
        let client = self.build_client(&key)?;
        Ok(self.lock_clients().entry(key).or_insert(client).clone())
    }

    /// Check everything start-up depends on: every CA file (fatal if missing, unreadable or
    /// not PEM) and every available deployment's proxy URLs. Returns warnings to log
    /// (`ssl_verify: false`; a macOS PAC file or WPAD, which is not evaluated, with the
    /// provider variables to set instead).
    pub fn check(&self, config: &Config) -> Result<Vec<String>, EgressError> {
        let mut warnings = Vec::new();
        let mut direct_vars: Vec<&str> = Vec::new();
        let mut any_direct = false;
        for source in tls::env_sources(&self.env) {
            self.ca(&source)?;
        }
        for dep in config.deployments.iter().filter(|d| d.is_available()) {
            let trust = self.trust_for(dep);
            if !trust.verify {
                warnings.push(format!(
                    "model `{}`: ssl_verify is false: TLS certificates of its upstream are NOT verified (anyone on the network path can read and alter this traffic)",
                    dep.alias
                ));
            }
            for source in &trust.extra {
                self.ca(source)?;
            }
            let plan = self.plan_for(dep).map_err(|e| match e {
                EgressError::ProxyUrl { url, reason } => EgressError::ProxyUrl {
                    url,
                    reason: format!("{reason} (model `{}`)", dep.alias),
                },
                other => other,
            })?;
            // The first variable of each provider whose traffic has no proxy.
            if plan.https.is_none() {
                any_direct = true;
                if let Some(var) = proxy::provider_vars(dep.provider).first()
                    && !direct_vars.contains(var)
                {
                    direct_vars.push(var);
                }
            }
        }
        if any_direct
            && let Some(w) =
                self.system.as_ref().and_then(|s| proxy::automatic_warning(s, &direct_vars))
        {
            warnings.push(w);
        }
        Ok(warnings)
    }

    /// The extra CAs of a trust setting for [`tls::verifier`]: each source's certificates
    /// (read once), except the system CA directory's, which the verifier reads when first used.
    pub(crate) fn extras(&self, trust: &Trust) -> Result<Extras, EgressError> {
        let mut extras = Extras::default();
        for source in &trust.extra {
            match source {
                CaSource::CertDir(dir) if tls::is_system_dir(source) => {
                    extras.system_dirs.push(dir.clone());
                }
                _ => extras.certs.extend(self.ca(source)?),
            }
        }
        Ok(extras)
    }

    /// The certificates of one CA source, read once. The system bundle and the system CA
    /// directory give none here: the bundle is trusted already, the directory is read later.
    pub(crate) fn ca(
        &self,
        source: &CaSource,
    ) -> Result<Vec<CertificateDer<'static>>, EgressError> {
        let mut cas = self.cas.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cas.get(source) {
            return Ok(c.clone());
        }
        // The system bundle named again as an extra CA adds nothing it does not already trust.
        let certs = if tls::is_system_bundle(source) || tls::is_system_dir(source) {
            Vec::new()
        } else {
            tls::load_source(source)?
        };
        cas.insert(source.clone(), certs.clone());
        Ok(certs)
    }

    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, Client>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn build_client(&self, key: &ClientKey) -> Result<Client, EgressError> {
        let verifier = tls::verifier(&key.trust, self.extras(&key.trust)?)?;
        let plan = Arc::new(key.plan.clone());
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .user_agent(concat!("ai-proxy/", env!("CARGO_PKG_VERSION")))
            // See `redirect`: what the gateway sends goes to the configured address only.
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls::client_config(verifier)?)
            // The whole connect phase: TCP, the proxy's CONNECT or SOCKS handshake, TLS.
            .connect_timeout(CONNECT_TIMEOUT);
        if plan.https.is_some() || plan.http.is_some() {
            let p = plan.clone();
            b = b.proxy(reqwest::Proxy::custom(move |url| {
                p.decide(url).proxy().map(|c| c.url.expose().clone())
            }));
        }
        let http = b.build().map_err(|e| EgressError::Build(e.to_string()))?;
        Ok(Client { http, plan })
    }
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
    use crate::config::{self, Source};

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("http://bob:hunter2@proxy:8080"), "http://bob:***@proxy:8080/");
        assert_eq!(redact_url("http://proxy:8080"), "http://proxy:8080/");
        assert!(!redact_url("not a url:pw@host").contains("pw"));
    }

    fn cfg(yaml: &str, env: &Env) -> Config {
        config::load(yaml, Source::Embedded, env.clone()).expect("config")
    }

    #[test]
    fn one_client_per_distinct_plan_and_trust() {
        let env = Env::from_vars([
            ("AZURE_PROXY", "http://127.0.0.1:9"),
            ("QWEN_PROXY", "http://127.0.0.1:10"),
        ]);
        let c = cfg(
            "model_list:
  - {model_name: a, litellm_params: {model: azure/a, api_key: k}}
  - {model_name: b, litellm_params: {model: azure/b, api_key: k}}
  - {model_name: q, litellm_params: {model: dashscope/q, api_key: k}}
  - {model_name: n, litellm_params: {model: azure/n, api_key: k, ssl_verify: false}}
",
            &env,
        );
        let eg = Egress::with_system(&env, None);
        for d in &c.deployments {
            eg.client_for(d).expect("client");
        }
        assert_eq!(eg.lock_clients().len(), 3, "a and b share; q has another proxy; n other trust");
        let warnings = eg.check(&c).expect("check");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("model `n`: ssl_verify is false"), "{warnings:?}");
    }

    /// A proxy that accepts connections and never answers: the connect phase runs out of
    /// time and the message names the proxy. A failure after connecting is not explained.
    #[tokio::test(start_paused = true)]
    async fn a_silent_proxy_is_named_when_the_connect_phase_times_out() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = silent.local_addr().expect("addr").to_string();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = silent.accept().await {
                open.push(conn);
            }
        });
        let env = Env::from_vars([("AZURE_PROXY", format!("http://{addr}"))]);
        let c = cfg(
            "model_list:\n  - {model_name: a, litellm_params: {model: azure/a, api_key: k}}\n",
            &env,
        );
        let client = Egress::with_system(&env, None).client_for(&c.deployments[0]).expect("client");
        let err =
            client.get("https://example.openai.azure.com/").send().await.expect_err("no answer");
        let f = client.explain(&err, "Azure OpenAI").expect("failed while connecting");
        assert_eq!(f.kind, FailureKind::ConnectTimeout);
        assert!(
            f.message.contains(&addr) && f.message.contains("timed out after 15s"),
            "{}",
            f.message
        );
        held.abort();

        // Connected, then the server hung up without an answer: not a connect failure.
        let rude = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", rude.local_addr().expect("addr"));
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = rude.accept().await {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await;
            }
        });
        let env = Env::from_vars([("HOME", "/h")]);
        let c = cfg(
            "model_list:\n  - {model_name: a, litellm_params: {model: azure/a, api_key: k}}\n",
            &env,
        );
        let client = Egress::with_system(&env, None).client_for(&c.deployments[0]).expect("client");
        let err = client.get(&url).send().await.expect_err("hung up");
        assert!(!err.is_connect(), "{err:?}");
        assert!(client.explain(&err, "Azure OpenAI").is_none());
    }

    #[test]
    fn a_pac_file_is_reported_with_the_variables_to_set() {
        let yaml = "model_list:
  - {model_name: a, litellm_params: {model: azure/a, api_key: k}}
  - {model_name: b, litellm_params: {model: azure/b, api_key: k}}
  - {model_name: q, litellm_params: {model: dashscope/q, api_key: k}}
";
        let pac = SystemProxy {
            pac_url: Some("http://wpad.corp.example/proxy.pac".into()),
            ..SystemProxy::default()
        };
        let env = Env::from_vars([("HOME", "/h")]);
        let w = Egress::with_system(&env, Some(pac.clone())).check(&cfg(yaml, &env)).expect("ok");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("(http://wpad.corp.example/proxy.pac)"), "{w:?}");
        assert!(
            w[0].contains("(AZURE_PROXY=http://host:port, QWEN_PROXY=http://host:port)"),
            "{w:?}"
        );
        // Every model already has a proxy: nothing to say.
        let env = Env::from_vars([("HTTPS_PROXY", "http://127.0.0.1:9")]);
        let w = Egress::with_system(&env, Some(pac)).check(&cfg(yaml, &env)).expect("ok");
        assert!(w.is_empty(), "{w:?}");
    }

    /// `SSL_CERT_DIR=/etc/ssl/certs` (with `SSL_CERT_FILE` the bundle in it, as on many
    /// corporate machines): nothing is read for the check, and the directory is handed to the
    /// verifier to read at its first use.
    #[cfg(not(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "windows",
        target_os = "android"
    )))]
    #[test]
    fn the_system_ca_directory_is_left_to_the_verifier() {
        let (bundle, _) =
            tls::system_roots().expect("this machine has a CA bundle (Debian: ca-certificates)");
        let dir = bundle.parent().expect("dir").display().to_string();
        let env = Env::from_vars([
            ("SSL_CERT_FILE", bundle.display().to_string()),
            ("SSL_CERT_DIR", dir.clone()),
        ]);
        let c = cfg(
            "model_list:\n  - {model_name: a, litellm_params: {model: azure/a, api_key: k}}\n",
            &env,
        );
        let eg = Egress::with_system(&env, None);
        assert!(eg.check(&c).expect("check").is_empty());
        let extras = eg.extras(&eg.trust_for(&c.deployments[0])).expect("extras");
        assert!(extras.certs.is_empty(), "{} certificates read", extras.certs.len());
        assert_eq!(extras.system_dirs, vec![PathBuf::from(dir)]);
        eg.client_for(&c.deployments[0]).expect("client");
    }

    #[test]
    fn a_bad_ca_file_fails_the_check() {
        let env = Env::from_vars([("SSL_CERT_FILE", "/nonexistent/corp-ca.pem")]);
        let c = cfg("model_list: []", &env);
        let e = Egress::with_system(&env, None).check(&c).expect_err("fatal").to_string();
        assert!(e.contains("/nonexistent/corp-ca.pem") && e.contains("file not found"), "{e}");
    }
}

//! The network checks behind `ai-proxy doctor`, one step at a time, for one target URL of a
//! deployment: which proxy and why, DNS, TCP (through the proxy: an HTTP CONNECT or SOCKS5
//! handshake), and the TLS handshake with the issuer of the presented chain. Each step says
//! what it saw and, when it failed, what to do. Uses the same plan and trust as the clients.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use super::proxy::{Chosen, Decision, ProxyPlan};
use super::tls::{self, Trust, UntrustedCertificate};
use super::{CONNECT_TIMEOUT, Egress};
use crate::config::Deployment;

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One checked step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `proxy`, `dns`, `tcp`, `tls`, `credentials`, `request`.
    pub name: &'static str,
    pub outcome: Outcome,
    /// What was seen.
    pub detail: String,
    /// What to do, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Step {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Step {
        Step { name, outcome: Outcome::Pass, detail: detail.into(), fix: None }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Step {
        Step { name, outcome: Outcome::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }

    pub fn skip(name: &'static str, detail: impl Into<String>) -> Step {
        Step { name, outcome: Outcome::Skip, detail: detail.into(), fix: None }
    }
}

/// Check the route to `url` step by step; `progress` is called as each step finishes.
/// Stops at the first failed step (later steps are skipped with the reason).
pub async fn check_target(
    egress: &Egress,
    dep: &Deployment,
    url: &Url,
    progress: &mut dyn FnMut(&Step),
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut push = |s: Step, steps: &mut Vec<Step>| {
        progress(&s);
        let failed = s.outcome == Outcome::Fail;
        steps.push(s);
        failed
    };
    let plan = match egress.plan_for(dep) {
        Ok(p) => p,
        Err(e) => {
            push(
                Step::fail(
                    "proxy",
                    e.to_string(),
                    "fix the proxy URL: http://host:port, https://host:port or socks5://host:port",
                ),
                &mut steps,
            );
            return steps;
        }
    };
    let decision = plan.decide(url);
    if push(Step::pass("proxy", proxy_detail(&plan, &decision)), &mut steps) {
        return steps;
    }
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let proxy = decision.proxy().cloned();

    // DNS: the first hop (the proxy, or the host when direct).
    let (hop_host, hop_port) = match &proxy {
        Some(c) => (c.url.host().trim_matches(['[', ']']).to_owned(), c.url.port()),
        None => (host.clone(), port),
    };
    let addrs = match resolve(&hop_host, hop_port).await {
        Ok(a) => a,
        Err(e) => {
            let (detail, fix) = match &proxy {
                Some(c) => (
                    format!("cannot resolve the proxy host {hop_host}: {e}"),
                    format!("check the proxy host in {} ({})", c.rule, c.url),
                ),
                None => (
                    format!("cannot resolve {hop_host}: {e}"),
                    "check the host in api_base; if this network resolves outside names only through a proxy, set the provider's proxy variable (AZURE_PROXY, GEMINI_PROXY, QWEN_PROXY) or HTTPS_PROXY".to_owned(),
                ),
            };
            push(Step::fail("dns", detail, fix), &mut steps);
            return steps;
        }
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    let dns_detail = match &proxy {
        Some(_) => format!("proxy host {hop_host} is {}", shown.join(", ")),
        None => format!("{hop_host} is {}", shown.join(", ")),
    };
    push(Step::pass("dns", dns_detail), &mut steps);

    // TCP, then through the proxy to the target.
    let stream = match connect(&addrs).await {
        Ok(s) => s,
        Err(e) => {
            let (detail, fix) = match &proxy {
                Some(c) => (
                    format!("cannot connect to the proxy {}: {e}", c.url),
                    format!("check that the proxy is running and reachable, or change {}", c.rule),
                ),
                None => (
                    format!("cannot connect to {host}:{port}: {e}"),
                    "check the host and port in api_base; if this network only allows outbound traffic through a proxy, set the provider's proxy variable or HTTPS_PROXY".to_owned(),
                ),
            };
            push(Step::fail("tcp", detail, fix), &mut steps);
            return steps;
        }
    };
    let tls_wanted = url.scheme() == "https";
    let stream = match &proxy {
        None => {
            push(Step::pass("tcp", format!("connected to {host}:{port}")), &mut steps);
            stream
        }
        Some(c) if c.url.scheme().starts_with("socks") => {
            match socks5(stream, c, &host, port).await {
                Ok(s) => {
                    push(
                        Step::pass(
                            "tcp",
                            format!("SOCKS5 proxy {} connected to {host}:{port}", c.url),
                        ),
                        &mut steps,
                    );
                    s
                }
                Err(e) => {
                    push(
                        Step::fail("tcp", format!("SOCKS5 proxy {}: {e}", c.url), proxy_fix(c, &e)),
                        &mut steps,
                    );
                    return steps;
                }
            }
        }
        Some(c) if c.url.scheme() == "http" && tls_wanted => {
            match http_connect(stream, c, &host, port).await {
                Ok(s) => {
                    push(
                        Step::pass(
                            "tcp",
                            format!(
                                "proxy {} opened a tunnel to {host}:{port} (CONNECT: 200)",
                                c.url
                            ),
                        ),
                        &mut steps,
                    );
                    s
                }
                Err(e) => {
                    push(
                        Step::fail("tcp", format!("proxy {}: {e}", c.url), proxy_fix(c, &e)),
                        &mut steps,
                    );
                    return steps;
                }
            }
        }
        Some(c) => {
            push(
                Step::pass(
                    "tcp",
                    format!(
                        "connected to the proxy {} (it forwards http:// requests itself)",
                        c.url
                    ),
                ),
                &mut steps,
            );
            if !tls_wanted {
                push(
                    Step::skip(
                        "tls",
                        format!("{} is plain http://", url.origin().ascii_serialization()),
                    ),
                    &mut steps,
                );
            } else {
                push(
                    Step::skip("tls", "not checked through an https:// proxy; use --live"),
                    &mut steps,
                );
            }
            return steps;
        }
    };
    if !tls_wanted {
        push(
            Step::skip("tls", format!("{} is plain http://", url.origin().ascii_serialization())),
            &mut steps,
        );
        return steps;
    }
    let trust = egress.trust_for(dep);
    push(tls_step(egress, &trust, &host, stream).await, &mut steps);
    steps
}

fn proxy_detail(plan: &ProxyPlan, decision: &Decision<'_>) -> String {
    let mut d = decision.describe();
    if !plan.no_proxy.is_empty() && decision.proxy().is_some() {
        d.push_str(&format!("; NO_PROXY ({}) does not match", plan.no_proxy_sources.join(" + ")));
    }
    d
}

fn proxy_fix(c: &Chosen, err: &str) -> String {
    if err.contains("407") || err.contains("authentication") {
        format!(
            "the proxy wants a user and password: set {} to http://user:<password>@host:port (or only the user, with the password in {}_PASSWORD / PROXY_PASSWORD, e.g. in the secret store)",
            c.rule,
            match &c.rule {
                super::proxy::Rule::ProviderVar(v) | super::proxy::Rule::StandardVar(v) =>
                    v.as_str(),
                _ => "<VARIABLE>",
            }
        )
    } else {
        format!(
            "the proxy could not reach the host: check that {} is the right proxy for this provider and that it allows this host",
            c.rule
        )
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let v: Vec<SocketAddr> = addrs.collect();
            if v.is_empty() { Err("no addresses".into()) } else { Ok(v) }
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
    }
}

async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = format!("{a}: {e}"),
            Err(_) => last = format!("{a}: no answer within {}s", CONNECT_TIMEOUT.as_secs()),
        }
    }
    Err(last)
}

/// `CONNECT host:port` through an HTTP proxy; Ok when it answers 200.
async fn http_connect(
    mut s: TcpStream,
    c: &Chosen,
    host: &str,
    port: u16,
) -> Result<TcpStream, String> {
    let authority =
        if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    let u = c.url.expose();
    if !u.username().is_empty() {
        use base64::Engine;
        let user = percent_decode(u.username());
        let pass = percent_decode(u.password().unwrap_or_default());
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    let io = async {
        s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 || buf.len() > 16 * 1024 {
                return Err(
                    "the proxy closed the connection without answering the CONNECT".to_owned()
                );
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(String::from_utf8_lossy(&buf).lines().next().unwrap_or_default().to_owned())
    };
    let status_line = tokio::time::timeout(CONNECT_TIMEOUT, io)
        .await
        .map_err(|_| format!("no answer to CONNECT within {}s", CONNECT_TIMEOUT.as_secs()))??;
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    match code {
        "200" => Ok(s),
        "407" | "401" if code == "407" || c.url.has_credentials() => Err(format!(
            "proxy authentication required ({}): {status_line}",
            if c.url.has_credentials() {
                "the user and password were rejected"
            } else {
                "no credentials given"
            }
        )),
        _ => Err(format!("CONNECT {authority} refused: {status_line}")),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A SOCKS5 handshake (no auth or user/password), then CONNECT to the target. `socks5h`
/// sends the name; `socks5` resolves it here, as the HTTP client does.
async fn socks5(mut s: TcpStream, c: &Chosen, host: &str, port: u16) -> Result<TcpStream, String> {
    let u = c.url.expose().clone();
    let user = percent_decode(u.username());
    let pass = percent_decode(u.password().unwrap_or_default());
    let remote_dns = c.url.scheme() == "socks5h";
    let target_ip = if remote_dns {
        host.parse::<std::net::IpAddr>().ok()
    } else {
        match host.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => Some(
                resolve(host, port).await.map_err(|e| format!("cannot resolve {host}: {e}"))?[0]
                    .ip(),
            ),
        }
    };
    let io = async {
        let methods: &[u8] = if user.is_empty() { &[0] } else { &[0, 2] };
        let mut hello = vec![5u8, methods.len() as u8];
        hello.extend_from_slice(methods);
        s.write_all(&hello).await.map_err(|e| e.to_string())?;
        let mut reply = [0u8; 2];
        s.read_exact(&mut reply).await.map_err(|e| e.to_string())?;
        match reply[1] {
            0 => {}
            2 => {
                let mut auth = vec![1u8, user.len() as u8];
                auth.extend_from_slice(user.as_bytes());
                auth.push(pass.len() as u8);
                auth.extend_from_slice(pass.as_bytes());
                s.write_all(&auth).await.map_err(|e| e.to_string())?;
                s.read_exact(&mut reply).await.map_err(|e| e.to_string())?;
                if reply[1] != 0 {
                    return Err("proxy authentication required: the user and password were rejected".to_owned());
                }
            }
            _ => return Err("proxy authentication required: the proxy accepts none of the offered methods (give user:password in the URL)".to_owned()),
        }
        let mut req = vec![5u8, 1, 0];
        match target_ip {
            Some(std::net::IpAddr::V4(ip)) => {
                req.push(1);
                req.extend_from_slice(&ip.octets());
            }
            Some(std::net::IpAddr::V6(ip)) => {
                req.push(4);
                req.extend_from_slice(&ip.octets());
            }
            None => {
                req.push(3);
                req.push(host.len() as u8);
                req.extend_from_slice(host.as_bytes());
            }
        }
        req.extend_from_slice(&port.to_be_bytes());
        s.write_all(&req).await.map_err(|e| e.to_string())?;
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await.map_err(|e| e.to_string())?;
        if head[1] != 0 {
            return Err(format!(
                "the proxy could not connect to {host}:{port} (SOCKS5 reply {})",
                head[1]
            ));
        }
        let rest = match head[3] {
            1 => 4 + 2,
            4 => 16 + 2,
            3 => {
                let mut len = [0u8; 1];
                s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
                usize::from(len[0]) + 2
            }
            _ => return Err("malformed SOCKS5 reply".to_owned()),
        };
        let mut skip = vec![0u8; rest];
        s.read_exact(&mut skip).await.map_err(|e| e.to_string())?;
        Ok(())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, io)
        .await
        .map_err(|_| format!("no SOCKS5 answer within {}s", CONNECT_TIMEOUT.as_secs()))??;
    Ok(s)
}

/// The TLS handshake with the deployment's trust; reports the presented chain's issuer.
async fn tls_step<S: AsyncRead + AsyncWrite + Unpin>(
    egress: &Egress,
    trust: &Trust,
    host: &str,
    stream: S,
) -> Step {
    let extras = match egress.extras(trust) {
        Ok(extras) => extras,
        Err(e) => return Step::fail("tls", e.to_string(), "fix or remove that CA file"),
    };
    let inner = match tls::verifier(trust, extras) {
        Ok(v) => v,
        Err(e) => {
            return Step::fail(
                "tls",
                e.to_string(),
                tls::missing_roots_advice(crate::paths::Os::current()),
            );
        }
    };
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let verifier = Arc::new(Recording { inner, issuer: seen.clone() });
    let config = match tls::client_config(verifier) {
        Ok(c) => c,
        Err(e) => return Step::fail("tls", e.to_string(), "report this as a bug"),
    };
    let Ok(name) = ServerName::try_from(host.to_owned()) else {
        return Step::fail(
            "tls",
            format!("`{host}` is not a valid TLS server name"),
            "check the host in api_base",
        );
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let result = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream)).await;
    let issuer = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| "an unknown issuer".into());
    match result {
        Ok(Ok(conn)) => {
            let version = conn
                .get_ref()
                .1
                .protocol_version()
                .map(|v| format!("{v:?}").replace("TLSv1_", "TLS 1."))
                .unwrap_or_default();
            let note = if trust.verify { "" } else { " (NOT verified: ssl_verify is false)" };
            Step::pass(
                "tls",
                format!("{version} with {host}, certificate issued by {issuer}{note}"),
            )
        }
        Ok(Err(e)) => {
            let detail = match find_untrusted(&e) {
                Some(u) => format!(
                    "certificate of {} not trusted ({}); presented chain issued by {issuer}",
                    u.host, u.reason
                ),
                None => format!("TLS handshake with {host} failed: {e}"),
            };
            Step::fail(
                "tls",
                detail,
                format!(
                    "if your company inspects TLS, add its root CA: SSL_CERT_FILE=/path/to/corporate-ca.pem (PEM, added on top of the system roots) or `ssl_verify: /path/to/ca.pem`, {}",
                    tls::trust_store_advice(crate::paths::Os::current())
                ),
            )
        }
        Err(_) => Step::fail(
            "tls",
            format!("no TLS answer from {host} within {}s", CONNECT_TIMEOUT.as_secs()),
            "the proxy or host accepts TCP but does not speak TLS on this port: check the URL scheme and port",
        ),
    }
}

fn find_untrusted(e: &std::io::Error) -> Option<&UntrustedCertificate> {
    let inner = e.get_ref()?;
    if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o))) =
        inner.downcast_ref::<rustls::Error>()
    {
        return o.0.downcast_ref::<UntrustedCertificate>();
    }
    inner.downcast_ref::<std::io::Error>().and_then(find_untrusted)
}

/// Records the issuer of the presented chain, then lets the real verifier decide.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ServerCertVerifier>,
    issuer: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let issuer = intermediates
            .last()
            .and_then(|c| tls::issuer_of(c))
            .or_else(|| tls::issuer_of(end_entity));
        *self.issuer.lock().unwrap_or_else(|p| p.into_inner()) = issuer;
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Bound for the whole check of one target (all steps).
pub const TARGET_BUDGET: Duration = Duration::from_secs(60);

//! Connection failures a person can act on. Every egress client's connector is wrapped in
//! [`AnnotateLayer`], which bounds the connect phase (TCP, proxy handshake, TLS) and attaches
//! the deployment's [`ProxyPlan`] to any failure; [`explain`] then turns a `reqwest::Error`
//! into a message that names the proxy (not the model host) when the proxy is the problem,
//! the issuer of an untrusted certificate, a DNS failure, or which phase timed out.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use url::Url;

use super::proxy::{Decision, ProxyPlan, Rule};
use super::tls::UntrustedCertificate;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connect-phase failure of an egress client, carrying the route it was on.
#[derive(Debug)]
pub struct ConnectFailure {
    pub plan: Arc<ProxyPlan>,
    /// `Some(limit)` when the connect phase ran out of time.
    pub timed_out: Option<Duration>,
    source: Option<BoxError>,
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.timed_out {
            Some(d) => write!(f, "connect timed out after {}s", d.as_secs()),
            None => f.write_str("connect failed"),
        }
    }
}

impl std::error::Error for ConnectFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Tower layer for `reqwest::ClientBuilder::connector_layer`.
#[derive(Clone)]
pub struct AnnotateLayer {
    plan: Arc<ProxyPlan>,
    timeout: Duration,
}

impl AnnotateLayer {
    pub fn new(plan: Arc<ProxyPlan>, timeout: Duration) -> Self {
        AnnotateLayer { plan, timeout }
    }
}

impl<S> tower_layer::Layer<S> for AnnotateLayer {
    type Service = Annotate<S>;
    fn layer(&self, inner: S) -> Annotate<S> {
        Annotate { inner, plan: self.plan.clone(), timeout: self.timeout }
    }
}

#[derive(Clone)]
pub struct Annotate<S> {
    inner: S,
    plan: Arc<ProxyPlan>,
    timeout: Duration,
}

impl<S, R> tower_service::Service<R> for Annotate<S>
where
    S: tower_service::Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let fut = self.inner.call(req);
        let plan = self.plan.clone();
        let limit = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, fut).await {
                Ok(Ok(conn)) => Ok(conn),
                Ok(Err(e)) => {
                    Err(Box::new(ConnectFailure { plan, timed_out: None, source: Some(e) })
                        as BoxError)
                }
                Err(_) => Err(Box::new(ConnectFailure {
                    plan,
                    timed_out: Some(limit),
                    source: Some(Box::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connect timed out",
                    ))),
                }) as BoxError),
            }
        })
    }
}

/// What went wrong, by who can fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The proxy itself cannot be reached (refused, DNS, unreachable).
    ProxyUnreachable,
    /// The proxy wants credentials (HTTP 407) or refused the ones given.
    ProxyAuth,
    /// The proxy is up but would not open a tunnel to the target.
    ProxyRefused,
    /// The target's certificate is not trusted.
    Tls,
    /// The target host name does not resolve.
    Dns,
    /// The target refused or dropped the connection.
    Unreachable,
    /// The connect phase (TCP + proxy + TLS) ran out of time.
    ConnectTimeout,
}

/// An explained failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

/// Explain a failed request of an egress client, if it failed while connecting.
/// `what` names the upstream ("Azure OpenAI at https://...").
pub fn explain(err: &reqwest::Error, what: &str) -> Option<Failure> {
    let failure = find::<ConnectFailure>(err)?;
    let url = err.url().cloned();
    let target = url.as_ref().map(target_of).unwrap_or_else(|| what.to_owned());
    let decision = url.as_ref().map(|u| failure.plan.decide(u)).unwrap_or(Decision::Direct);
    let texts = chain_texts(err);
    let has = |needle: &str| texts.iter().any(|t| t.contains(needle));
    let proxy = decision.proxy();

    if let Some(limit) = failure.timed_out {
        let message = match proxy {
            Some(c) => format!(
                "connecting to {target} through the proxy {} (from {}) timed out after {}s: the proxy did not answer or could not reach the host; check the proxy address and that it allows this host",
                c.url,
                c.rule,
                limit.as_secs()
            ),
            None => format!(
                "connecting to {target} timed out after {}s ({}): if this network only allows outbound traffic through a proxy, set {}",
                limit.as_secs(),
                decision.describe(),
                proxy_hint(&failure.plan)
            ),
        };
        return Some(Failure { kind: FailureKind::ConnectTimeout, message });
    }

    if let Some(cert) = find_untrusted(err) {
        let issuer = cert.issuer.clone().unwrap_or_else(|| "an unknown issuer".into());
        let via = match proxy {
            Some(c) => {
                format!(" The connection went through the proxy {} (from {}).", c.url, c.rule)
            }
            None => String::new(),
        };
        return Some(Failure {
            kind: FailureKind::Tls,
            message: format!(
                "TLS certificate of {} is not trusted: {}; the certificate presented was issued by \"{issuer}\".{via} \
                 If your company inspects TLS traffic, its CA is probably missing: add it with SSL_CERT_FILE=/path/to/corporate-ca.pem \
                 (PEM; added on top of the system roots) or `ssl_verify: /path/to/ca.pem`, {}",
                cert.host,
                cert.reason,
                super::tls::trust_store_advice(crate::paths::Os::current())
            ),
        });
    }

    if let Some(c) = proxy {
        let socks = c.url.scheme().starts_with("socks");
        let example = if socks {
            "socks5://user:<password>@host:port"
        } else {
            "http://user:<password>@host:port"
        };
        let password_var = match &c.rule {
            Rule::ProviderVar(v) | Rule::StandardVar(v) => {
                format!(", or only the user there and the password in {v}_PASSWORD")
            }
            _ => ", or only the user there and the password in PROXY_PASSWORD".to_owned(),
        };
        if has("proxy authorization required")
            || has("credentials not accepted")
            || has("user/pass authentication")
        {
            let what_happened = if c.url.has_credentials() {
                "rejected the user and password in its URL"
            } else {
                "requires authentication and none was given"
            };
            let status = if socks {
                "SOCKS5 user/password authentication"
            } else {
                "HTTP 407 Proxy Authentication Required"
            };
            return Some(Failure {
                kind: FailureKind::ProxyAuth,
                message: format!(
                    "proxy authentication required: the proxy {} (from {}) {what_happened} ({status}) while connecting to {target}. \
                     Put the credentials in the proxy URL ({example}) in {}{password_var}; the password may live in the secret store",
                    c.url, c.rule, c.rule
                ),
            });
        }
        if has("tunnel error: unsuccessful") || has("tunnel error: unexpected end of file") {
            return Some(Failure {
                kind: FailureKind::ProxyRefused,
                message: format!(
                    "the proxy {} (from {}) refused to open a tunnel to {target} (it answered CONNECT with a status other than 200 or 407): \
                     the proxy may block this host or port or be unable to reach it, or (some proxies answer 401) the user and password are wrong. \
                     `ai-proxy doctor` shows the proxy's answer",
                    c.url, c.rule
                ),
            });
        }
        if let Some(reply) = texts.iter().find(|t| is_socks_reply(t)) {
            return Some(Failure {
                kind: FailureKind::ProxyRefused,
                message: format!(
                    "the SOCKS proxy {} (from {}) could not connect to {target}: {reply}. The proxy may block this host or be unable to reach it",
                    c.url, c.rule
                ),
            });
        }
        let cause = if err.is_dns() || has("error resolving") || has("failed to lookup") {
            "its host name does not resolve".to_owned()
        } else {
            root_cause(&texts)
        };
        return Some(Failure {
            kind: FailureKind::ProxyUnreachable,
            message: format!(
                "cannot reach the proxy {} (from {}) to connect to {target}: {cause}. Check that the proxy is running and the address is right, or change {}",
                c.url, c.rule, c.rule
            ),
        });
    }

    if err.is_dns() || has("failed to lookup") || has("dns error") {
        return Some(Failure {
            kind: FailureKind::Dns,
            message: format!(
                "cannot resolve the host of {target} (DNS): {}. Check the host in api_base; if this network resolves outside names only through a proxy, set {}",
                root_cause(&texts),
                proxy_hint(&failure.plan)
            ),
        });
    }
    Some(Failure {
        kind: FailureKind::Unreachable,
        message: format!(
            "cannot connect to {target} ({}): {}",
            decision.describe(),
            root_cause(&texts)
        ),
    })
}

fn proxy_hint(plan: &ProxyPlan) -> &'static str {
    if plan.https.is_none() && plan.http.is_none() {
        "the provider's proxy variable (AZURE_PROXY, GEMINI_PROXY, QWEN_PROXY) or HTTPS_PROXY"
    } else {
        "NO_PROXY correctly (it sends this host direct)"
    }
}

/// A SOCKS5 reply status: the proxy was reached but could not connect to the target.
fn is_socks_reply(text: &str) -> bool {
    [
        "connection refused",
        "host unreachable",
        "network unreachable",
        "connection not allowed",
        "general server failure",
        "ttl expired",
    ]
    .iter()
    .any(|s| text == format!("SOCKS error: {s}"))
}

fn target_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// The most specific cause, for the end of a message.
fn root_cause(texts: &[String]) -> String {
    texts
        .iter()
        .rev()
        .find(|t| {
            !t.is_empty() && !t.starts_with("connect failed") && !t.starts_with("client error")
        })
        .cloned()
        .unwrap_or_else(|| "connection failed".into())
}

/// Each error's text in the chain, with io::Error wrappers looked into.
fn chain_texts(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = Vec::new();
    visit(err, &mut |e| {
        let s = e.to_string();
        if !out.iter().any(|o: &String| o == &s) {
            out.push(s);
        }
        false
    });
    out
}

fn find<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// The verifier's report, inside io::Error(io::Error(rustls::Error::InvalidCertificate(Other(..)))).
fn find_untrusted<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a UntrustedCertificate> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
            e.downcast_ref::<rustls::Error>()
            && let Some(u) = other.0.downcast_ref::<UntrustedCertificate>()
        {
            return Some(u);
        }
        // io::Error's `source` skips the error it wraps: look inside (they nest).
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && let Some(u) = find_untrusted(inner)
        {
            return Some(u);
        }
        cur = e.source();
    }
    None
}

/// Call `f` on each error of the chain, looking inside io::Error wrappers (whose `source`
/// skips the wrapped error, and which nest).
fn visit(
    err: &(dyn std::error::Error + 'static),
    f: &mut dyn FnMut(&(dyn std::error::Error + 'static)) -> bool,
) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if f(e) {
            return true;
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && visit(inner, f)
        {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use tower_layer::Layer;
    use tower_service::Service;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_connect_phase_is_bounded_and_carries_the_plan() {
        let layer = AnnotateLayer::new(Arc::new(ProxyPlan::direct()), Duration::from_secs(15));
        let mut hung =
            layer.layer(tower::service_fn(|_: ()| std::future::pending::<Result<(), BoxError>>()));
        let err = hung.call(()).await.expect_err("timed out");
        let failure = err.downcast_ref::<ConnectFailure>().expect("annotated");
        assert_eq!(failure.timed_out, Some(Duration::from_secs(15)));
        assert_eq!(*failure.plan, ProxyPlan::direct());
        assert_eq!(err.to_string(), "connect timed out after 15s");

        let mut refused = layer.layer(tower::service_fn(|_: ()| async {
            Err::<(), BoxError>(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )))
        }));
        let err = refused.call(()).await.expect_err("refused");
        let failure = err.downcast_ref::<ConnectFailure>().expect("annotated");
        assert_eq!(failure.timed_out, None);
        assert!(
            chain_texts(err.as_ref()).iter().any(|t| t.contains("refused")),
            "{:?}",
            chain_texts(err.as_ref())
        );
    }

    #[test]
    fn socks_replies_are_told_apart_from_an_unreachable_proxy() {
        assert!(is_socks_reply("SOCKS error: connection refused"));
        assert!(is_socks_reply("SOCKS error: host unreachable"));
        assert!(!is_socks_reply("SOCKS error: failed to create underlying connection"));
        assert!(!is_socks_reply("connection refused"));
    }
}

//! Connection failures a person can act on: [`explain`] turns a `reqwest::Error` of an
//! egress client that failed while connecting (TCP, proxy handshake, TLS; reqwest's
//! `is_connect`) into a message that names the proxy (not the model host) when the proxy is
//! the problem, the issuer of an untrusted certificate, a DNS failure, or that the connect
//! phase timed out. The client's [`ProxyPlan`] comes from `egress::Client`, which kept it.

use std::time::Duration;

use url::Url;

use super::proxy::{Decision, ProxyPlan, Rule};
use super::tls::UntrustedCertificate;

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

/// Explain a failed request of a client following `plan`, if it failed while connecting;
/// `limit` is the client's connect timeout. `what` names the upstream ("Azure OpenAI at
/// https://...").
pub fn explain(
    err: &reqwest::Error,
    plan: &ProxyPlan,
    limit: Duration,
    what: &str,
) -> Option<Failure> {
    if !err.is_connect() {
        return None;
    }
    let url = err.url().cloned();
    let target = url.as_ref().map(target_of).unwrap_or_else(|| what.to_owned());
    let decision = url.as_ref().map(|u| plan.decide(u)).unwrap_or(Decision::Direct);
    let texts = chain_texts(err);
    let has = |needle: &str| texts.iter().any(|t| t.contains(needle));
    let proxy = decision.proxy();

    if err.is_timeout() {
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
                proxy_hint(plan)
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
                proxy_hint(plan)
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
    use super::*;

    #[test]
    fn socks_replies_are_told_apart_from_an_unreachable_proxy() {
        assert!(is_socks_reply("SOCKS error: connection refused"));
        assert!(is_socks_reply("SOCKS error: host unreachable"));
        assert!(!is_socks_reply("SOCKS error: failed to create underlying connection"));
        assert!(!is_socks_reply("connection refused"));
    }
}

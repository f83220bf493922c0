//! Who may call the gateway at all, before the master key is looked at: the Host allow-list
//! (a DNS-rebound web page addresses us by its own name) and the Origin policy (a web page
//! on another site calls us from the user's browser). Both answer 403 in the caller's
//! dialect, with no CORS headers. Allowed browser origins get CORS answers that name them,
//! never `*`.
//!
//! The decisions ([`AccessPolicy::check_host`], [`AccessPolicy::check_origin`]) are pure; the
//! middleware only reads headers and renders.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::{self, Either};

use super::AppState;
use super::auth::dialect_of;
use super::error::ApiError;
use super::log::LogNote;

/// The configured part of the policy (`general_settings.allowed_hosts` / `allowed_origins`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Extra host names: `name`, `*.suffix`, or `*` (any host: the rebinding check off).
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins, as `scheme://host[:port]`.
    pub allowed_origins: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No Host header and no `:authority`, or one with an empty host.
    NoHost,
    /// A Host that is not this machine.
    Host(String),
    /// A browser origin that is not allowed.
    Origin(String),
}

impl Refusal {
    /// The message the client sees.
    pub fn message(&self) -> String {
        match self {
            Refusal::NoHost => "Request refused: it names no host (empty or missing Host header). \
                 ai-proxy answers only requests addressed to this machine, such as \
                 http://127.0.0.1:<port> or http://localhost:<port>."
                .to_owned(),
            Refusal::Host(host) => format!(
                "Request refused: Host `{host}` is not this machine. ai-proxy answers only requests \
                 addressed to localhost, 127.0.0.1 or [::1] (this stops DNS-rebinding web pages). \
                 To reach it through another name (a tunnel, a reverse proxy), add the name to \
                 general_settings.allowed_hosts."
            ),
            Refusal::Origin(origin) => format!(
                "Request refused: web pages from origin `{origin}` may not call ai-proxy. Browser \
                 apps on this machine (http://localhost:<port>) are allowed; to allow another \
                 one on purpose, add its origin to general_settings.allowed_origins."
            ),
        }
    }

    fn log_note(&self) -> String {
        match self {
            Refusal::NoHost => "refused: no Host".to_owned(),
            Refusal::Host(h) => format!("refused: Host {h:?} not allowed"),
            Refusal::Origin(o) => format!("refused: Origin {o:?} not allowed"),
        }
    }
}

impl AccessPolicy {
    /// Check the host a request is addressed to (`authority` is a Host header value or an
    /// HTTP/2 `:authority`), for a listener bound to `bound`.
    pub fn check_host(&self, authority: &str, bound: IpAddr) -> Result<(), Refusal> {
        let Some(host) = host_part(authority) else {
            let a = authority.trim();
            let port_only =
                a.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
            return Err(if a.is_empty() || port_only {
                Refusal::NoHost
            } else {
                Refusal::Host(authority.to_owned())
            });
        };
        if host.is_empty() {
            return Err(Refusal::NoHost);
        }
        if is_loopback_name(&host) || self.matches_allowed_host(&host) {
            return Ok(());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if is_loopback_ip(ip) || ip == bound {
                return Ok(());
            }
            // Bound to a network address on purpose (with a real key): any address literal is
            // fine (a rebinding page always uses a name), and so are this machine's names.
            if !is_loopback_ip(bound) {
                return Ok(());
            }
        } else if !is_loopback_ip(bound) && machine_names().iter().any(|n| *n == host) {
            return Ok(());
        }
        Err(Refusal::Host(authority.to_owned()))
    }

    /// Check a request's `Origin` header (absent for SDKs, CLIs and curl).
    pub fn check_origin(&self, origin: &str) -> Result<(), Refusal> {
        let normalized = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(&normalized))
        {
            return Ok(());
        }
        let local = normalized
            .strip_prefix("http://")
            .or_else(|| normalized.strip_prefix("https://"))
            .and_then(host_part)
            .is_some_and(|h| is_loopback_name(&h) || h.parse::<IpAddr>().is_ok_and(is_loopback_ip));
        if local { Ok(()) } else { Err(Refusal::Origin(origin.to_owned())) }
    }

    fn matches_allowed_host(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|pattern| {
            let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                _ if pattern == "*" => true,
                Some(suffix) => {
                    host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}"))
                }
                None => host == pattern,
            }
        })
    }
}

/// The host of a `host[:port]` authority, lowercased, without a trailing dot; IPv6 literals
/// without brackets. `None` when the text is not an authority (a bad port, stray brackets,
/// userinfo).
pub fn host_part(authority: &str) -> Option<Cow<'_, str>> {
    let a = authority.trim();
    if a.bytes().any(|b| matches!(b, b'@' | b'/' | b' ' | b'\\')) {
        return None;
    }
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return None;
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (inside, port)
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => {
                if h.contains(':') {
                    return None; // an IPv6 literal needs brackets
                }
                (h, Some(p))
            }
            None => (a, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let host = host.trim_end_matches('.');
    // Copied only to lower its case (a client writes `localhost`, an address, or a name as
    // configured, almost always lower-case already).
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// This machine's host names (as `gethostname` gives it, its first label, and the `.local`
/// name macOS announces), lowercased. Read once.
fn machine_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names = Vec::new();
        if let Some(name) = hostname() {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some((first, _)) = name.split_once('.') {
                names.push(format!("{first}.local"));
                names.push(first.to_owned());
            } else {
                names.push(format!("{name}.local"));
            }
            names.push(name);
        }
        names
    })
}

#[cfg(unix)]
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    std::str::from_utf8(&buf[..end]).ok().filter(|s| !s.is_empty()).map(str::to_owned)
}

#[cfg(not(unix))]
fn hostname() -> Option<String> {
    None
}

/// Middleware on every route: refuse requests addressed to another host or sent by a web
/// page from a foreign origin; answer CORS preflights from allowed origins; name allowed
/// origins in `Access-Control-Allow-Origin`.
///
/// `bound` is the IP address the listener is bound to (loopback unless `--host` says
/// otherwise). A plain `fn` deciding at once: its future is `inner`'s (with the origin to
/// name beside it) or the ready answer. `state` is only read here, so the future does not
/// borrow it.
pub fn guard<F, I>(
    state: &AppState,
    bound: IpAddr,
    req: Request,
    inner: I,
) -> impl Future<Output = Response> + use<F, I>
where
    F: Future<Output = Response>,
    I: FnOnce(Request) -> F,
{
    let policy = state.access();
    let dialect = dialect_of(req.uri().path());
    let checked = authorities(&req).try_for_each(|a| policy.check_host(a, bound)).and_then(|()| {
        match origin_of(req.headers()) {
            Some(origin) => policy.check_origin(origin).map(|()| Some(origin.to_owned())),
            None => Ok(None),
        }
    });
    let origin = match checked {
        Ok(origin) => origin,
        Err(refusal) => {
            let mut resp =
                ApiError::new(StatusCode::FORBIDDEN, "permission_error", refusal.message())
                    .in_dialect(dialect)
                    .into_response();
            resp.extensions_mut().insert(LogNote(refusal.log_note()));
            return Either::Left(future::ready(resp));
        }
    };
    let Some(origin) = origin else {
        return Either::Right(Either::Left(inner(req)));
    };
    if req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return Either::Left(future::ready(preflight(&origin, req.headers())));
    }
    Either::Right(Either::Right(inner(req).map(move |mut resp| {
        allow_origin(resp.headers_mut(), &origin);
        resp
    })))
}

/// Every authority the request names: its Host header(s) and, over HTTP/2 or with an
/// absolute URI, the URI's authority. None at all yields one empty authority (refused).
fn authorities(req: &Request) -> impl Iterator<Item = &str> {
    let hosts = req.headers().get_all(header::HOST);
    let uri = req.uri().authority().map(|a| a.as_str());
    let none = (hosts.iter().next().is_none() && uri.is_none()).then_some("");
    hosts.into_iter().map(|v| v.to_str().unwrap_or("(not ASCII)")).chain(uri).chain(none)
}

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("(not ASCII)"))
}

/// Headers a browser app may send (the SDKs' own and their `x-stainless-*` telemetry).
const ALLOWED_REQUEST_HEADERS: &str = "authorization, content-type, x-api-key, api-key, \
     anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access, \
     openai-organization, openai-project, openai-beta, x-stainless-arch, x-stainless-lang, \
     x-stainless-os, x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime, \
     x-stainless-runtime-version, x-stainless-timeout, x-request-id";

fn preflight(origin: &str, request: &HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    allow_origin(h, origin);
    // Chrome's Private Network Access: an allowed page on another address asks first.
    if request.contains_key("access-control-request-private-network") {
        h.insert("access-control-allow-private-network", HeaderValue::from_static("true"));
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_REQUEST_HEADERS),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    resp
}

fn allow_origin(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("request-id, x-request-id, retry-after, x-should-retry"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests;

//! Redirects are never followed. Every egress client is built with redirects off, and an
//! answer that redirects is an error saying where it pointed and what to configure instead.
//!
//! Following one would send what the gateway adds to wherever the upstream (or anything on
//! the path that can answer for it) points: a 307 or 308 re-sends the body, which for a token
//! request holds the Azure client secret or a Google refresh token, and the credential
//! headers other than `Authorization` (Azure's `api-key`, Anthropic's `x-api-key`) survive a
//! hop to another host. The hop could also leave the proxy plan chosen for the configured
//! host. An LLM API or token endpoint does not redirect a working request, so a redirect
//! means the configured address is not the one to use.

use reqwest::Response;
use url::Url;

/// The message for a redirect answer, or `None` when `resp` is not one. `what` names the
/// upstream, `setting` the configuration that holds its address.
pub fn refusal(resp: &Response, what: &str, setting: &str) -> Option<String> {
    let status = resp.status();
    if !status.is_redirection() {
        return None;
    }
    let location = resp.headers().get(http::header::LOCATION).map(|v| v.as_bytes());
    Some(describe(status, location, resp.url(), what, setting))
}

fn describe(
    status: http::StatusCode,
    location: Option<&[u8]>,
    from: &Url,
    what: &str,
    setting: &str,
) -> String {
    let reason = status.canonical_reason().map(|r| format!(" {r}")).unwrap_or_default();
    let target = match location {
        None => "without saying where (no Location header)".to_owned(),
        Some(raw) => match std::str::from_utf8(raw).ok().and_then(|l| from.join(l).ok()) {
            Some(url) => format!("to {}", shown(&url)),
            None => "to an address that is not a URL".to_owned(),
        },
    };
    format!(
        "{what} answered HTTP {}{reason}, a redirect {target}. ai-proxy does not follow \
         redirects, so that the credentials it sends reach only the configured address: if \
         that target is the right one, put it in {setting}",
        status.as_u16()
    )
}

/// A redirect target as it may be shown: scheme, host, port and path; any user name,
/// password, query (signed URLs carry tokens there) or fragment is left out.
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    fn from() -> Url {
        Url::parse(
            "https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=1",
        )
        .expect("url")
    }

    #[test]
    fn the_target_is_resolved_and_stripped_of_credentials_and_query() {
        let m = describe(
            StatusCode::TEMPORARY_REDIRECT,
            Some(b"https://bob:pw@elsewhere.example:8443/v1/chat?sig=tok3n#frag"),
            &from(),
            "Azure OpenAI",
            "api_base",
        );
        assert_eq!(
            m,
            "Azure OpenAI answered HTTP 307 Temporary Redirect, a redirect to \
             https://elsewhere.example:8443/v1/chat. ai-proxy does not follow redirects, so that \
             the credentials it sends reach only the configured address: if that target is the \
             right one, put it in api_base"
        );
        for secret in ["bob", "pw", "tok3n", "frag"] {
            assert!(!m.contains(secret), "{secret} in {m}");
        }
    }

    #[test]
    fn a_relative_location_is_read_against_the_request_url() {
        let m = describe(StatusCode::FOUND, Some(b"/login"), &from(), "x", "s");
        assert!(
            m.contains("HTTP 302 Found, a redirect to https://res.openai.azure.com/login."),
            "{m}"
        );
    }

    #[test]
    fn a_missing_or_unreadable_location_is_said_so() {
        let none = describe(StatusCode::MOVED_PERMANENTLY, None, &from(), "x", "s");
        assert!(
            none.contains("HTTP 301 Moved Permanently, a redirect without saying where"),
            "{none}"
        );
        let bad = describe(StatusCode::SEE_OTHER, Some(b"http://[::1"), &from(), "x", "s");
        assert!(bad.contains("a redirect to an address that is not a URL"), "{bad}");
        let odd = describe(StatusCode::from_u16(399).expect("status"), None, &from(), "x", "s");
        assert!(odd.starts_with("x answered HTTP 399, a redirect"), "{odd}");
    }
}

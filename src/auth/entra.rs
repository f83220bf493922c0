//! Entra ID (Azure AD) client-credentials flow for a service principal: one form-encoded POST
//! to `{authority}/{tenant}/oauth2/v2.0/token`, over the deployment's egress client.
//!
//! Written on reqwest instead of the `azure_identity` crate because that crate refuses a
//! non-https authority host (so it cannot be tested against a loopback mock) and would add
//! about 31 crates for what is one request; see ARCHITECTURE.md.

use std::time::Duration;

use crate::egress::Client;
use serde::Deserialize;
use serde_json::Value;

use super::{AccessToken, AuthError};
use crate::providers::body::{MAX_ERROR_BODY, read_prefix};
use crate::providers::http::{chain, truncate};
use crate::secrets::Secret;

/// Entra ID's public-cloud authority, as the Azure SDKs default to.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The scope of Azure OpenAI / Cognitive Services data-plane calls.
pub const DEFAULT_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// Upper bound for one token request.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A service principal with a client secret.
#[derive(Debug, Clone)]
pub struct EntraCredential {
    /// `https://login.microsoftonline.com` (no trailing slash).
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: Secret<String>,
    pub scope: String,
}

/// Check and normalise an authority host: https, or plain http only for a loopback host
/// (a local mock); no trailing slash.
pub fn parse_authority(value: &str) -> Result<String, String> {
    let trimmed = value.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed)
        .map_err(|e| format!("authority host `{trimmed}` is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(trimmed.to_owned()),
        "http" if loopback => Ok(trimmed.to_owned()),
        "http" => Err(format!(
            "authority host `{trimmed}` must use https (plain http is accepted only for 127.0.0.1 / localhost)"
        )),
        other => Err(format!("authority host `{trimmed}` has scheme `{other}`; expected https")),
    }
}

impl EntraCredential {
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant)
    }

    /// Identity of this credential's token: (authority, tenant, client, scope).
    pub fn cache_key(&self) -> String {
        format!("entra|{}|{}|{}|{}", self.authority, self.tenant, self.client_id, self.scope)
    }

    /// Ask Entra ID for a token. Failures carry the AADSTS code and description.
    pub async fn fetch(&self, client: &Client) -> Result<AccessToken, AuthError> {
        let url = self.token_url();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose().as_str()),
            ("scope", self.scope.as_str()),
        ];
        let send = client.post(&url).form(&form).send();
        let mut resp = match tokio::time::timeout(TOKEN_TIMEOUT, send).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                // Connect failures name the proxy, the untrusted issuer, DNS... (egress).
                let message = match client.explain(&e, "Entra ID") {
                    Some(f) => format!("Entra ID at {url}: {}", f.message),
                    None => format!("cannot reach Entra ID at {url}: {}", chain(&e)),
                };
                return Err(AuthError::Unreachable(message));
            }
            Err(_) => {
                return Err(AuthError::Unreachable(format!(
                    "Entra ID at {url} did not answer within {}s",
                    TOKEN_TIMEOUT.as_secs()
                )));
            }
        };
        let what = format!("Entra ID at {url}");
        if let Some(m) = crate::egress::redirect::refusal(&resp, &what, "AZURE_AUTHORITY_HOST") {
            return Err(AuthError::Refused(m));
        }
        let status = resp.status();
        // Bounded like every upstream body: a token answer is a few KiB.
        let read = read_prefix(&mut resp, MAX_ERROR_BODY);
        let body = match tokio::time::timeout(TOKEN_TIMEOUT, read).await {
            Ok(Ok((b, _))) => b,
            Ok(Err(e)) => {
                return Err(AuthError::Unreachable(format!(
                    "Entra ID at {url} broke off: {}",
                    chain(&e)
                )));
            }
            Err(_) => {
                return Err(AuthError::Unreachable(format!(
                    "Entra ID at {url} did not finish its answer"
                )));
            }
        };
        if status.is_success() {
            let (token, lifetime) = parse_token(&body).map_err(|e| {
                AuthError::Invalid(format!(
                    "Entra ID at {url} answered with an unreadable token: {e}"
                ))
            })?;
            return Ok(AccessToken::expiring_in(token, lifetime));
        }
        Err(AuthError::Refused(describe_error(status.as_u16(), &body, self)))
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    /// Seconds; v2.0 sends a number, older endpoints a string.
    expires_in: Option<Value>,
}

/// The token and its lifetime from a successful answer.
fn parse_token(body: &[u8]) -> Result<(Secret<String>, Duration), String> {
    let parsed: TokenResponse = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "no access_token".to_owned())?;
    let secs = match parsed.expires_in {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    // Without a lifetime the token is used once and fetched again next time.
    Ok((Secret::new(token), Duration::from_secs(secs.unwrap_or(0))))
}

#[derive(Deserialize, Default)]
struct ErrorResponse {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// A user-facing message for an Entra error answer: the AADSTS code and the first line of
/// its description (the rest is trace ids), the OAuth error, and what to check.
pub fn describe_error(status: u16, body: &[u8], cred: &EntraCredential) -> String {
    let parsed: ErrorResponse = serde_json::from_slice(body).unwrap_or_default();
    let who = format!("client `{}` in tenant `{}`", cred.client_id, cred.tenant);
    let Some(description) = parsed.error_description.as_deref() else {
        let text = String::from_utf8_lossy(body);
        return format!(
            "Entra ID refused a token for {who} (HTTP {status}): {}",
            truncate(text.trim(), 500)
        );
    };
    let first_line = description.lines().next().unwrap_or_default().trim();
    let code = parsed.error_codes.first().copied().or_else(|| aadsts_code(first_line));
    let mut msg = format!("Entra ID refused a token for {who}: {first_line}");
    if let Some(kind) = parsed.error.as_deref() {
        msg.push_str(&format!(" ({kind})"));
    }
    if let Some(hint) = code.and_then(hint_for) {
        msg.push_str(". ");
        msg.push_str(hint);
    }
    msg
}

/// `AADSTS7000215: ...` -> 7000215.
fn aadsts_code(text: &str) -> Option<u64> {
    let rest = text.split("AADSTS").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// What to do about the AADSTS codes users actually meet.
fn hint_for(code: u64) -> Option<&'static str> {
    Some(match code {
        7000215 => {
            "Check AZURE_CLIENT_SECRET (or client_secret): it must be the secret's Value, not its Secret ID"
        }
        7000222 => {
            "The client secret has expired: create a new one under the app registration's Certificates & secrets"
        }
        90002 | 900023 => {
            "The tenant was not found: check AZURE_TENANT_ID (or tenant_id), the Directory (tenant) ID"
        }
        700016 => {
            "The application was not found in that tenant: check AZURE_CLIENT_ID (or client_id) and AZURE_TENANT_ID"
        }
        700024 | 7000112 => {
            "The application is disabled or its token is not valid yet: check the app registration"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred() -> EntraCredential {
        EntraCredential {
            authority: DEFAULT_AUTHORITY.into(),
            tenant: "contoso-tenant".into(),
            client_id: "app-123".into(),
            client_secret: Secret::from("s3cret"),
            scope: DEFAULT_SCOPE.into(),
        }
    }

    #[test]
    fn authorities_must_be_https_unless_loopback() {
        assert_eq!(
            parse_authority("https://login.microsoftonline.com/").as_deref(),
            Ok(DEFAULT_AUTHORITY)
        );
        assert_eq!(
            parse_authority("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        assert!(parse_authority("http://localhost:9").is_ok());
        assert!(parse_authority("http://[::1]:9").is_ok());
        let err = parse_authority("http://login.example.com").expect_err("http refused");
        assert!(err.contains("must use https"), "{err}");
        assert!(parse_authority("not a url").is_err());
    }

    #[test]
    fn token_url_and_cache_key() {
        let c = cred();
        assert_eq!(
            c.token_url(),
            "https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/token"
        );
        assert_eq!(
            c.cache_key(),
            "entra|https://login.microsoftonline.com|contoso-tenant|app-123|https://cognitiveservices.azure.com/.default"
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn token_answers_with_number_or_string_lifetimes() {
        let (t, d) = parse_token(br#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0"}"#)
            .expect("token");
        assert_eq!((t.expose().as_str(), d), ("eyJ0", Duration::from_secs(3599)));
        let (_, d) =
            parse_token(br#"{"token_type":"Bearer","expires_in":"3600","access_token":"x"}"#)
                .expect("token");
        assert_eq!(d, Duration::from_secs(3600));
        assert!(parse_token(br#"{"token_type":"Bearer","expires_in":3600}"#).is_err());
    }

    #[test]
    fn aadsts_errors_keep_code_description_and_hint() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 'app-123'.\r\nTrace ID: 0f0e\r\nCorrelation ID: 1a1b\r\nTimestamp: 2025-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2025-01-01 00:00:00Z","trace_id":"0f0e","correlation_id":"1a1b","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;
        let msg = describe_error(401, body, &cred());
        assert!(msg.starts_with("Entra ID refused a token for client `app-123` in tenant `contoso-tenant`: AADSTS7000215: Invalid client secret provided."), "{msg}");
        assert!(msg.contains("(invalid_client)"), "{msg}");
        assert!(msg.contains("not its Secret ID"), "{msg}");
        assert!(!msg.contains("Trace ID"), "{msg}");

        let body = br#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'nope' not found.","error_codes":[90002]}"#;
        assert!(describe_error(400, body, &cred()).contains("check AZURE_TENANT_ID"));
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app 'x' are expired."}"#;
        assert!(
            describe_error(401, body, &cred()).contains("has expired"),
            "code read from the text"
        );
        assert!(describe_error(502, b"<html>bad gateway</html>", &cred()).contains("HTTP 502"));
    }
}

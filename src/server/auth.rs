//! Client authentication with the master key: `Authorization: Bearer`, `x-api-key` or
//! `api-key`, compared in constant time.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::{ApiError, Dialect};

/// The key a client presented, from the first header that carries one.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let key = match v.split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if v.eq_ignore_ascii_case("bearer") => "",
            _ => v,
        };
        if !key.is_empty() {
            return Some(key);
        }
    }
    ["x-api-key", "api-key"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Constant-time equality (length is not secret).
pub fn key_matches(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The dialect of a path, for error rendering before a handler runs.
pub fn dialect_of(path: &str) -> Dialect {
    if path.starts_with("/v1/messages") || path.starts_with("/messages") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    }
}

/// Middleware for every route except the unauthenticated health probes: the master key,
/// then [`super::log::with_caller`] (one layer for both: each route layer is cloned per
/// request).
pub async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(refused) = refusal(&state, &req) {
        return refused;
    }
    super::log::with_caller(&state, req, next).await
}

/// The 401 for a request without the master key, if one is configured.
fn refusal(state: &AppState, req: &Request) -> Option<Response> {
    let expected = state.master_key()?;
    let dialect = dialect_of(req.uri().path());
    match presented_key(req.headers()) {
        None => Some(
            ApiError::unauthorized(
                "Authentication Error, no API key passed in. Send the gateway's master key as `Authorization: Bearer <key>` (or `x-api-key`).",
            )
            .in_dialect(dialect)
            .into_response(),
        ),
        Some(k) if !key_matches(k, expected.expose()) => Some(
            ApiError::unauthorized(
                "Authentication Error, invalid API key. Use the gateway's master key (LITELLM_MASTER_KEY or general_settings.master_key).",
            )
            .in_dialect(dialect)
            .into_response(),
        ),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn keys_come_from_any_supported_header() {
        assert_eq!(presented_key(&headers(&[("authorization", "Bearer sk-a")])), Some("sk-a"));
        assert_eq!(presented_key(&headers(&[("authorization", "sk-raw")])), Some("sk-raw"));
        assert_eq!(presented_key(&headers(&[("x-api-key", "sk-b")])), Some("sk-b"));
        assert_eq!(presented_key(&headers(&[("api-key", "sk-c")])), Some("sk-c"));
        assert_eq!(presented_key(&headers(&[("authorization", "Bearer ")])), None);
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn comparison() {
        assert!(key_matches("sk-1", "sk-1"));
        assert!(!key_matches("sk-1", "sk-2"));
        assert!(!key_matches("sk-1", "sk-10"));
    }
}

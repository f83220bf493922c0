//! Client authentication with the master key: `Authorization: Bearer`, `x-api-key` or
//! `api-key`, compared in constant time.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::future::{self, Either, Ready};
use subtle::ConstantTimeEq;
use tokio::task::futures::TaskLocalFuture;
use tower_layer::Layer;
use tower_service::Service;

use super::AppState;
use super::error::{ApiError, Dialect};
use crate::usage::{self, Caller};

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

/// The route layer of every route except the unauthenticated health probes and the
/// dashboard's assets: [`RequireKey`] around each.
#[derive(Clone)]
pub struct RequireKeyLayer(pub AppState);

impl<S> Layer<S> for RequireKeyLayer {
    type Service = RequireKey<S>;

    fn layer(&self, inner: S) -> RequireKey<S> {
        RequireKey { inner, state: self.0.clone() }
    }
}

/// A route behind the master key: a request without it gets the 401 at once; one with it
/// runs with its caller ([`super::log::caller_of`]) visible to its `CallLog`. A service of its
/// own rather than `middleware::from_fn`, which boxes its future and a clone of the route
/// behind it for every request; this one's future is the route's, in the caller's scope.
#[derive(Clone)]
pub struct RequireKey<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for RequireKey<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, TaskLocalFuture<Caller, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if let Some(refused) = refusal(&self.state, &req) {
            return Either::Left(future::ready(Ok(refused)));
        }
        let caller = super::log::caller_of(&self.state, &req);
        Either::Right(usage::with_caller(caller, self.inner.call(req)))
    }
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

//! Headers every answer carries, whatever produced it: a request id (`request-id`, as
//! Anthropic sends it, and `x-request-id`, as OpenAI does; also in the request's log line)
//! and `x-should-retry`, which tells SDKs and Claude Code whether retrying can help (without
//! it they retry a wrong key for minutes). Model answers also say who answered
//! ([`ServedHeaders`]).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::{FutureExt, future};

use crate::router::Served;

// Header names built once: a `&str` name is parsed again on every insert.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");
const X_LITELLM_MODEL_GROUP: HeaderName = HeaderName::from_static("x-litellm-model-group");
const X_AI_PROXY_MODEL: HeaderName = HeaderName::from_static("x-ai-proxy-model");
const X_AI_PROXY_DEPLOYMENT: HeaderName = HeaderName::from_static("x-ai-proxy-deployment");
const X_LITELLM_ATTEMPTED_FALLBACKS: HeaderName =
    HeaderName::from_static("x-litellm-attempted-fallbacks");
const X_LITELLM_ATTEMPTED_RETRIES: HeaderName =
    HeaderName::from_static("x-litellm-attempted-retries");

/// A request's id: `req_` and 24 base-62 characters, the first 8 the time in milliseconds
/// (so ids sort by time, as Anthropic's do) and 16 random. The request log indexes this
/// column: ids that arrive in order are added at the index's end, where random ones rewrote
/// pages all over it at every batch (a WAL page write per request, checkpoints and their
/// fsyncs several times a second under load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn generate() -> RequestId {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        RequestId::at(ms)
    }

    /// The id of a request made at `ms` (Unix milliseconds); 8 digits hold about 6,900 years.
    fn at(ms: u64) -> RequestId {
        // In ASCII order, so that the text sorts as the number does.
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut id = [0u8; 28];
        id[..4].copy_from_slice(b"req_");
        let mut t = ms;
        for c in id[4..12].iter_mut().rev() {
            *c = ALPHABET[(t % 62) as usize];
            t /= 62;
        }
        for c in &mut id[12..] {
            *c = ALPHABET[fastrand::usize(..ALPHABET.len())];
        }
        RequestId(id.iter().map(|&b| char::from(b)).collect())
    }
}

/// Whether a client should retry after this status: rate limits, timeouts, conflicts and
/// server-side failures may pass; other client errors will fail the same way again.
pub fn should_retry(status: StatusCode) -> Option<bool> {
    match status.as_u16() {
        408 | 409 | 429 => Some(true),
        s if s >= 500 => Some(true),
        s if s >= 400 => Some(false),
        _ => None,
    }
}

/// Outermost middleware: give the request an id (named by every log line written while it is
/// handled, through `telemetry::request_id`) and put the id and `x-should-retry` on the
/// response. `inner` is called at the first poll, inside the id's scope, so what it does
/// before its own first `.await` can name the id as well.
pub fn stamp<F: Future<Output = Response>>(
    req: Request,
    inner: impl FnOnce(Request) -> F,
) -> impl Future<Output = Response> {
    let id = RequestId::generate();
    let handled = future::lazy(move |_| inner(req)).flatten();
    crate::telemetry::with_request_id(id.0.clone(), handled).map(move |resp| stamped(resp, &id))
}

fn stamped(mut resp: Response, id: &RequestId) -> Response {
    // A handler that knows better (a spent budget: a 429 not worth retrying soon) set it.
    let retry = if resp.headers().contains_key(X_SHOULD_RETRY) {
        None
    } else {
        should_retry(resp.status())
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        h.insert(REQUEST_ID, v.clone());
        h.insert(X_REQUEST_ID, v);
    }
    if let Some(retry) = retry {
        h.insert(X_SHOULD_RETRY, HeaderValue::from_static(if retry { "true" } else { "false" }));
    }
    resp
}

/// The headers naming who answered a model call: `x-ai-proxy-model` (the alias that
/// answered: the requested one, or the fallback), `x-ai-proxy-deployment` (`index:provider/
/// model` of the deployment), and LiteLLM's `x-litellm-model-group`,
/// `x-litellm-attempted-fallbacks` and `x-litellm-attempted-retries`. Built before the
/// answer takes the [`Served`] (a stream keeps it until it ends).
pub struct ServedHeaders {
    model: Option<HeaderValue>,
    deployment: Option<HeaderValue>,
    fallbacks: HeaderValue,
    retries: HeaderValue,
}

/// A count as a header value; the usual small ones without an allocation.
fn count(n: u32) -> HeaderValue {
    const SMALL: [&str; 4] = ["0", "1", "2", "3"];
    match SMALL.get(n as usize) {
        Some(s) => HeaderValue::from_static(s),
        None => HeaderValue::from(n),
    }
}

impl ServedHeaders {
    pub fn of(served: &Served, requested: &str) -> ServedHeaders {
        let model = served.fallback_alias.as_deref().unwrap_or(requested);
        ServedHeaders {
            // The deployment's own copy when the client named its alias exactly (not through
            // a wildcard).
            model: match served.routed().alias_header(model) {
                Some(v) => Some(v.clone()),
                None => HeaderValue::from_str(model).ok(),
            },
            // Shared with the deployment, not copied.
            deployment: HeaderValue::from_maybe_shared(served.routed().served_as().clone()).ok(),
            fallbacks: count(served.fallbacks),
            retries: count(served.retries),
        }
    }

    pub fn apply(self, resp: &mut Response) {
        let h = resp.headers_mut();
        if let Some(m) = self.model {
            h.insert(X_LITELLM_MODEL_GROUP, m.clone());
            h.insert(X_AI_PROXY_MODEL, m);
        }
        if let Some(d) = self.deployment {
            h.insert(X_AI_PROXY_DEPLOYMENT, d);
        }
        h.insert(X_LITELLM_ATTEMPTED_FALLBACKS, self.fallbacks);
        h.insert(X_LITELLM_ATTEMPTED_RETRIES, self.retries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_as_numbers() {
        for n in [0, 1, 2, 3, 4, 10, 12345] {
            assert_eq!(count(n).to_str().expect("ascii"), n.to_string());
        }
    }

    #[test]
    fn retry_advice_by_status() {
        for s in [400, 401, 403, 404, 405, 413, 422] {
            assert_eq!(should_retry(StatusCode::from_u16(s).expect("status")), Some(false), "{s}");
        }
        for s in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert_eq!(should_retry(StatusCode::from_u16(s).expect("status")), Some(true), "{s}");
        }
        assert_eq!(should_retry(StatusCode::OK), None);
    }

    #[test]
    fn ids_look_like_request_ids_and_differ() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 28);
        assert!(a.0.starts_with("req_"));
        assert!(a.0[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    /// Ids sort by the time they were made (the request log's index relies on it), whatever
    /// their random part.
    #[test]
    fn ids_sort_by_time() {
        assert_eq!(&RequestId::at(0).0[..12], "req_00000000");
        assert_eq!(&RequestId::at(61).0[..12], "req_0000000z");
        assert_eq!(&RequestId::at(62).0[..12], "req_00000010");
        let times = [0, 1, 61, 62, 3_843, 1_765_000_000_000, 1_765_000_000_001, 62u64.pow(8) - 1];
        for pair in times.windows(2) {
            for _ in 0..20 {
                let (a, b) = (RequestId::at(pair[0]), RequestId::at(pair[1]));
                assert!(a.0 < b.0, "{a:?} made before {b:?}");
            }
        }
        let now = RequestId::generate();
        assert!(
            RequestId::at(1_765_000_000_000).0 < now.0 && now.0 < RequestId::at(62u64.pow(8) - 1).0
        );
    }
}

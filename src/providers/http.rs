//! HTTP plumbing shared by the providers: send with timeouts, classify transport failures,
//! read upstream error bodies, and turn a streaming body into SSE events.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::Either;
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::body::{MAX_ERROR_BODY, human_bytes, not_event_stream, read_prefix, unexpected_body};
use super::sse::{SseDecoder, SseEvent};
use super::{ChatOutput, ChunkStream, ProviderError, TimeoutPhase, Timeouts};
use crate::egress::{Client, FailureKind};
use crate::silence::Silence;
use crate::translate::verbatim::Verbatim;
use crate::wire::openai::ChatChunk;

/// Longest upstream error text we pass on verbatim.
const MAX_ERROR_TEXT: usize = 2000;

/// Send a request and wait for the response head. Non-2xx answers become
/// [`ProviderError::Upstream`] with the upstream's message.
pub async fn send(
    client: &Client,
    rb: RequestBuilder,
    timeouts: Timeouts,
    what: &str,
) -> Result<Response, ProviderError> {
    let mut resp = match tokio::time::timeout(timeouts.total, rb.send()).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(err)) => return Err(transport_error(&err, Some(client), what)),
        Err(_) => {
            return Err(ProviderError::Timeout {
                phase: TimeoutPhase::Response,
                message: format!("{what} did not answer within {}", human(timeouts.total)),
            });
        }
    };
    if resp.status().is_success() {
        return Ok(resp);
    }
    if let Some(message) =
        crate::egress::redirect::refusal(&resp, what, "the deployment's api_base")
    {
        return Err(ProviderError::Protocol { message });
    }
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Bounded: an error body is summarised, so its first KiBs are all we need.
    let body =
        match tokio::time::timeout(timeouts.total, read_prefix(&mut resp, MAX_ERROR_BODY)).await {
            Ok(Ok((b, _))) => b,
            _ => Vec::new(),
        };
    if status == 407 {
        return Err(ProviderError::Connect {
            message: format!(
                "{what}: proxy authentication required: the proxy answered HTTP 407 Proxy Authentication Required. \
                 Put the credentials in the proxy URL as http://user:<password>@host:port (the password may come from the secret store)"
            ),
        });
    }
    let mut err = error_from_body(status, &body, what);
    if let ProviderError::Upstream { retry_after: r, .. } = &mut err {
        *r = retry_after;
    }
    Err(err)
}

/// Read a whole JSON body within the call's time budget and `max_bytes`
/// (`general_settings.max_response_size_mb`): a body declared or found larger is refused
/// with a 502 naming the setting, without reading the rest.
pub async fn read_json<T: DeserializeOwned>(
    resp: Response,
    timeouts: Timeouts,
    max_bytes: usize,
    what: &str,
) -> Result<T, ProviderError> {
    let body = read_body(resp, timeouts, max_bytes, what).await?;
    decode_json(&body, what)
}

/// A whole OpenAI chat completion read like [`read_json`]: passed on as the upstream wrote
/// it when `verbatim` and `translate::verbatim` takes it, typed otherwise (OpenAI-compatible
/// servers and Azure).
pub async fn read_completion(
    resp: Response,
    timeouts: Timeouts,
    max_bytes: usize,
    what: &str,
    verbatim: bool,
) -> Result<ChatOutput, ProviderError> {
    let body = Bytes::from(read_body(resp, timeouts, max_bytes, what).await?);
    if verbatim && let Some(answer) = Verbatim::check(body.clone()) {
        return Ok(ChatOutput::Verbatim(answer));
    }
    decode_json(&body, what).map(ChatOutput::Complete)
}

/// [`read_json`]'s reading: the whole body, within the same limits.
async fn read_body(
    mut resp: Response,
    timeouts: Timeouts,
    max_bytes: usize,
    what: &str,
) -> Result<Vec<u8>, ProviderError> {
    let too_large = || {
        ProviderError::protocol(format!(
            "{what} answered with more than {} (general_settings.max_response_size_mb); raise \
             that setting if answers this large are expected",
            human_bytes(max_bytes)
        ))
    };
    if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(too_large());
    }
    let body = match tokio::time::timeout(timeouts.total, read_prefix(&mut resp, max_bytes)).await {
        Ok(Ok((_, true))) => return Err(too_large()),
        Ok(Ok((b, false))) => b,
        Ok(Err(err)) => return Err(transport_error(&err, None, what)),
        Err(_) => {
            return Err(ProviderError::Timeout {
                phase: TimeoutPhase::Response,
                message: format!(
                    "{what} did not finish its response within {}",
                    human(timeouts.total)
                ),
            });
        }
    };
    Ok(body)
}

/// [`read_json`]'s decoding, with the same error.
/// A request body as JSON (`wire::encode`); a value that cannot be written is a protocol error.
pub fn encode_json<T: ?Sized + serde::Serialize>(value: &T) -> Result<Vec<u8>, ProviderError> {
    encode_json_sized(value, 0)
}

/// [`encode_json`] into a buffer made for about `expected` bytes (a request's
/// `size_hint`).
pub fn encode_json_sized<T: ?Sized + serde::Serialize>(
    value: &T,
    expected: usize,
) -> Result<Vec<u8>, ProviderError> {
    crate::wire::encode::to_vec_sized(value, expected)
        .map_err(|e| ProviderError::protocol(e.to_string()))
}

fn decode_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ProviderError> {
    crate::wire::from_json(body).map_err(|e| {
        ProviderError::protocol(format!(
            "{what} returned a response that could not be read ({e}): {}",
            truncate(&String::from_utf8_lossy(&body[..body.len().min(1024)]), 300)
        ))
    })
}

/// Decode a streaming body as SSE. Each wait for the next bytes is bounded by `idle`, each
/// event by `max_event_bytes` (`general_settings.max_stream_event_size_mb`). A body that is
/// not an event stream (a proxy's HTML page, a JSON answer, a compressed body) ends it at
/// once with an error saying what came back instead.
pub fn sse_events(
    resp: Response,
    idle: Duration,
    max_event_bytes: usize,
    what: String,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Send {
    if let Some(kind) = not_event_stream(resp.headers()) {
        let failure = not_a_stream(resp, kind, idle, what);
        return Either::Left(futures_util::stream::once(async move { Err(failure.await) }));
    }
    Either::Right(SseEvents {
        body: Box::pin(resp.bytes_stream()),
        decoder: SseDecoder::new(max_event_bytes),
        pending: VecDeque::new(),
        done: false,
        what,
        quiet: Silence::new(idle),
        failure: None,
    })
}

/// [`sse_events`]' stream over an event-stream body, polled in place: no per-read future or
/// timer (the idle limit is one [`Silence`]).
struct SseEvents {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    decoder: SseDecoder,
    pending: VecDeque<SseEvent>,
    done: bool,
    what: String,
    /// The wait for the next bytes (`idle` at most).
    quiet: Silence,
    /// Returned once the events decoded before it are out.
    failure: Option<ProviderError>,
}

impl Stream for SseEvents {
    type Item = Result<SseEvent, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let st = self.get_mut();
        loop {
            if let Some(ev) = st.pending.pop_front() {
                return Poll::Ready(Some(Ok(ev)));
            }
            if st.done {
                return Poll::Ready(st.failure.take().map(Err));
            }
            match st.body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    st.quiet.heard();
                    if let Err(too_large) = st.decoder.push(&bytes, &mut st.pending) {
                        st.done = true;
                        let e = ProviderError::protocol(format!(
                            "{} sent a stream event larger than {} \
                             (general_settings.max_stream_event_size_mb); the stream was stopped",
                            st.what,
                            human_bytes(too_large.limit)
                        ));
                        // Events completed before the oversized one still go first.
                        st.failure = Some(e);
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    st.done = true;
                    return Poll::Ready(Some(Err(stream_broken(&st.what, &err))));
                }
                Poll::Ready(None) => {
                    st.done = true;
                    st.pending.extend(st.decoder.finish());
                }
                Poll::Pending => {
                    if st.quiet.poll_elapsed(cx).is_pending() {
                        return Poll::Pending;
                    }
                    st.done = true;
                    return Poll::Ready(Some(Err(stream_silent(&st.what, st.quiet.period()))));
                }
            }
        }
    }
}

/// A streaming body that failed after its head (the connection dropped, a read failed).
pub fn stream_broken(what: &str, err: &reqwest::Error) -> ProviderError {
    ProviderError::Connect { message: format!("{what} broke off the stream: {}", chain(err)) }
}

/// A streaming body that sent nothing for `idle` (the deployment's stream timeout).
pub fn stream_silent(what: &str, idle: Duration) -> ProviderError {
    ProviderError::Timeout {
        phase: TimeoutPhase::StreamIdle,
        message: format!("{what} sent nothing for {} in the middle of a stream", human(idle)),
    }
}

/// How one upstream's SSE events become hub chunks: its pure stream state machine and the
/// wording of its errors (Vertex AI's Gemini stream, Claude's Messages stream).
pub trait ChunkFold: Send + Unpin + 'static {
    /// The chunks one event makes, appended to `out` (none for an event without output). An
    /// `Err` ends the stream.
    fn on_event(
        &mut self,
        ev: SseEvent,
        out: &mut VecDeque<ChatChunk>,
    ) -> Result<(), ProviderError>;
    /// The body ended: the last chunks, or the error of a stream cut short.
    fn on_end(&mut self, out: &mut VecDeque<ChatChunk>) -> Result<(), ProviderError>;
}

/// The hub chunks of `events` folded by `fold`, polled in place: each chunk an event makes in
/// order, an error as the last item.
pub fn folded_chunks<E, F>(events: E, fold: F) -> ChunkStream
where
    E: Stream<Item = Result<SseEvent, ProviderError>> + Send + 'static,
    F: ChunkFold,
{
    Box::pin(Folded { events: Box::pin(events), fold, pending: VecDeque::new(), done: false })
}

struct Folded<E, F> {
    events: Pin<Box<E>>,
    fold: F,
    /// Chunks made but not yet handed out (an event can make several).
    pending: VecDeque<ChatChunk>,
    done: bool,
}

impl<E, F> Stream for Folded<E, F>
where
    E: Stream<Item = Result<SseEvent, ProviderError>>,
    F: ChunkFold,
{
    type Item = Result<ChatChunk, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let st = self.get_mut();
        loop {
            if let Some(chunk) = st.pending.pop_front() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            if st.done {
                return Poll::Ready(None);
            }
            let folded = match std::task::ready!(st.events.as_mut().poll_next(cx)) {
                Some(Ok(ev)) => st.fold.on_event(ev, &mut st.pending),
                Some(Err(e)) => Err(e),
                None => {
                    st.done = true;
                    st.fold.on_end(&mut st.pending)
                }
            };
            if let Err(e) = folded {
                st.done = true;
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

/// The error for a stream request answered with something else (`kind`: its content type),
/// quoting the first bytes of the body (read within `idle`, at most [`MAX_ERROR_BODY`]).
async fn not_a_stream(
    mut resp: Response,
    kind: String,
    idle: Duration,
    what: String,
) -> ProviderError {
    let status = resp.status().as_u16();
    let declared = resp.content_length();
    let (prefix, more) =
        match tokio::time::timeout(idle, read_prefix(&mut resp, MAX_ERROR_BODY)).await {
            Ok(Ok(read)) => read,
            _ => (Vec::new(), true),
        };
    ProviderError::protocol(format!(
        "{what} answered the stream request with {}",
        unexpected_body(status, &kind, "an event stream", &prefix, more, declared)
    ))
}

/// Classify a reqwest failure into connect / timeout / protocol. Failures while connecting
/// get, from the `client` that sent the request (its proxy plan), a message a person can act
/// on: the proxy named when it is the problem, proxy authentication (407), an untrusted
/// certificate with its issuer, DNS, and connect timeouts apart from read timeouts.
pub fn transport_error(err: &reqwest::Error, client: Option<&Client>, what: &str) -> ProviderError {
    if let Some(f) = client.and_then(|c| c.explain(err, what)) {
        return match f.kind {
            FailureKind::ConnectTimeout => ProviderError::Timeout {
                phase: TimeoutPhase::Connect,
                message: format!("{what}: {}", f.message),
            },
            _ => ProviderError::Connect { message: format!("{what}: {}", f.message) },
        };
    }
    let detail = chain(err);
    if err.is_timeout() {
        let phase = if err.is_connect() { TimeoutPhase::Connect } else { TimeoutPhase::Response };
        let label = if phase == TimeoutPhase::Connect {
            "connecting timed out"
        } else {
            "timed out while reading the response"
        };
        return ProviderError::Timeout { phase, message: format!("{what} {label}: {detail}") };
    }
    if err.is_connect() || err.is_request() {
        return ProviderError::Connect { message: format!("cannot reach {what}: {detail}") };
    }
    ProviderError::Connect { message: format!("{what} failed: {detail}") }
}

/// `err: cause: cause` with duplicates removed (hyper repeats messages down the chain).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut src = err.source();
    while let Some(e) = src {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        src = e.source();
    }
    parts.join(": ")
}

/// Turn an upstream error body into a [`ProviderError::Upstream`]. Understands OpenAI's
/// `{"error": {"message", "type", "code", "param"}}` (Azure, DashScope, vLLM), Google's
/// `{"error": {"code", "message", "status"}}` and falls back to the body text.
pub fn error_from_body(status: u16, body: &[u8], what: &str) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err_obj = parsed.as_ref().and_then(|v| {
        let e = v.get("error")?;
        // Some servers send {"error": "text"}.
        Some(e.clone())
    });
    let text_of = |v: Option<&Value>| -> Option<String> {
        v.and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let (message, kind, code, param, details) = match &err_obj {
        Some(Value::Object(o)) => (
            text_of(o.get("message")),
            text_of(o.get("type")).or_else(|| text_of(o.get("status"))),
            text_of(o.get("code")),
            text_of(o.get("param")),
            o.get("innererror").or_else(|| o.get("details")).cloned(),
        ),
        Some(Value::String(s)) => (Some(s.clone()), None, None, None, None),
        _ => (
            parsed.as_ref().and_then(|v| text_of(v.get("message"))),
            None,
            parsed.as_ref().and_then(|v| text_of(v.get("code"))),
            None,
            None,
        ),
    };
    let message = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("{what} answered HTTP {status} with an empty body")
        } else {
            format!("{what} answered HTTP {status}: {}", truncate(text, MAX_ERROR_TEXT))
        }
    });
    ProviderError::Upstream { status, message, kind, code, param, retry_after: None, details }
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// "30s", "1.5s", "250ms".
pub fn human(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// Each event `n` makes `n` chunks (ids `data-1` …); event `bad` is an error; the end is
    /// an error unless an event `end` came, and then makes one last chunk.
    struct Counting {
        ended: bool,
    }

    fn chunk(id: String) -> ChatChunk {
        ChatChunk { id, ..Default::default() }
    }

    impl ChunkFold for Counting {
        fn on_event(
            &mut self,
            ev: SseEvent,
            out: &mut VecDeque<ChatChunk>,
        ) -> Result<(), ProviderError> {
            match ev.data.as_str() {
                "bad" => Err(ProviderError::protocol("bad event")),
                "end" => {
                    self.ended = true;
                    Ok(())
                }
                n => {
                    let n: usize = n.parse().expect("count");
                    out.extend((1..=n).map(|i| chunk(format!("{n}-{i}"))));
                    Ok(())
                }
            }
        }

        fn on_end(&mut self, out: &mut VecDeque<ChatChunk>) -> Result<(), ProviderError> {
            if !self.ended {
                return Err(ProviderError::protocol("cut short"));
            }
            out.push_back(chunk("last".into()));
            Ok(())
        }
    }

    async fn fold(events: &[&str]) -> Vec<String> {
        let events: Vec<_> =
            events.iter().map(|d| Ok(SseEvent { event: None, data: (*d).to_owned() })).collect();
        let mut chunks =
            folded_chunks(futures_util::stream::iter(events), Counting { ended: false });
        let mut seen = Vec::new();
        while let Some(item) = chunks.next().await {
            seen.push(match item {
                Ok(c) => c.id,
                Err(e) => format!("error: {e}"),
            });
        }
        // Nothing after the end.
        assert!(chunks.next().await.is_none());
        seen
    }

    #[tokio::test]
    async fn folded_chunks_come_in_order_and_an_error_is_the_last_item() {
        assert_eq!(fold(&["2", "0", "1", "end"]).await, ["2-1", "2-2", "1-1", "last"]);
        assert_eq!(fold(&["1", "bad", "3", "end"]).await, ["1-1", "error: bad event"]);
        assert_eq!(fold(&["2"]).await, ["2-1", "2-2", "error: cut short"]);
        assert_eq!(fold(&[]).await, ["error: cut short"]);
    }

    #[test]
    fn openai_error_bodies_keep_their_fields() {
        let body = br#"{"error":{"message":"Invalid key","type":"invalid_request_error","code":"invalid_api_key","param":null}}"#;
        match error_from_body(401, body, "DashScope") {
            ProviderError::Upstream { status, message, kind, code, .. } => {
                assert_eq!(status, 401);
                assert_eq!(message, "Invalid key");
                assert_eq!(kind.as_deref(), Some("invalid_request_error"));
                assert_eq!(code.as_deref(), Some("invalid_api_key"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn google_error_bodies_use_status_as_kind() {
        let body =
            br#"{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}"#;
        match error_from_body(403, body, "Vertex AI") {
            ProviderError::Upstream { message, kind, code, .. } => {
                assert_eq!(message, "Permission denied");
                assert_eq!(kind.as_deref(), Some("PERMISSION_DENIED"));
                assert_eq!(code.as_deref(), Some("403"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_json_bodies_are_quoted_and_truncated() {
        let body = "x".repeat(5000);
        match error_from_body(502, body.as_bytes(), "upstream at http://h") {
            ProviderError::Upstream { message, .. } => {
                assert!(
                    message.starts_with("upstream at http://h answered HTTP 502: xxx"),
                    "{message}"
                );
                assert!(message.len() < 2100);
            }
            other => panic!("{other:?}"),
        }
        match error_from_body(500, b"", "u") {
            ProviderError::Upstream { message, .. } => {
                assert_eq!(message, "u answered HTTP 500 with an empty body")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
    }
}

//! Relaying hub chunks to a client as SSE, chunk by chunk as they arrive: as OpenAI chunks,
//! or translated to named events (Anthropic Messages by `translate::anthropic::StreamState`,
//! OpenAI Responses by `translate::responses::StreamState`) through [`event_stream`].
//!
//! A stream is committed to (200 and headers) when its first chunk arrives (the router
//! peeks at it: `router::peek`), so an upstream that fails at once keeps its status (or is
//! retried, or falls back); a call that is still not in after the keep-alive interval (a
//! reasoning model thinking, or retries and fallbacks still running) gets its stream started
//! anyway ([`deferred_stream`]), with keep-alives until it is in. Whenever
//! the upstream is silent for that long, the client gets a keep-alive: an SSE comment
//! (`: keep-alive`) for OpenAI chat and Responses, Anthropic's `ping` event for Messages, so
//! client watchdogs and proxies do not cut a stream that is only slow.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::cutoff::Cutoff;
use super::error::ApiError;
use super::log::{CallLog, LoggedByCall};
use crate::providers::{ChunkStream, ProviderError};
use crate::router::{Reply, Served};
use crate::silence::Silence;
use crate::translate::anthropic::StreamState;
use crate::translate::{responses, verbatim};
use crate::wire::anthropic::Event;
use crate::wire::openai::ChatChunk;

/// SSE response headers common to both dialects.
pub fn sse_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp.extensions_mut().insert(LoggedByCall);
    resp
}

/// `data: {json}\n\n` with the value serialized straight into the frame (one buffer).
pub fn json_frame<T: serde::Serialize>(value: &T) -> Result<Bytes, serde_json::Error> {
    let mut v = Vec::with_capacity(320);
    v.extend_from_slice(b"data: ");
    crate::wire::encode::write(&mut v, value)?;
    v.extend_from_slice(b"\n\n");
    Ok(Bytes::from(v))
}

/// `data: {json}\n\n`
pub fn data_frame(json: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(json.len() + 8);
    v.extend_from_slice(b"data: ");
    v.extend_from_slice(json);
    v.extend_from_slice(b"\n\n");
    Bytes::from(v)
}

/// The keep-alive of the OpenAI chat and Responses streams: an SSE comment, which clients'
/// event parsers skip.
const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";

/// OpenAI chat chunks, relayed as they are (`data: {chunk}`) with the alias as `model`; the
/// usage chunk is dropped unless the client asked for it (it is still logged and counted
/// against `tpm` by the relay); `data: [DONE]` at the end, an error frame on a failure.
pub struct ChatDialect {
    alias: String,
    /// The alias as a JSON string, for chunks passed on as written.
    alias_json: String,
    include_usage: bool,
    ended: bool,
}

impl ChatDialect {
    pub fn new(alias: String, include_usage: bool) -> Self {
        let alias_json = serde_json::Value::from(alias.as_str()).to_string();
        ChatDialect { alias, alias_json, include_usage, ended: false }
    }
}

impl EventDialect for ChatDialect {
    fn on_chunk(&mut self, mut chunk: ChatChunk, buf: &mut Vec<u8>) {
        // Never a usage chunk (those are decoded typed): at most a `"usage": null` to drop.
        if let Some(raw) = &chunk.verbatim {
            verbatim::write_chunk_frame(raw, &self.alias_json, self.include_usage, buf);
            return;
        }
        chunk.model.clone_from(&self.alias);
        if !self.include_usage {
            if chunk.choices.is_empty() && chunk.usage.is_some() {
                return;
            }
            chunk.usage = None;
        }
        match json_frame(&chunk) {
            Ok(frame) => buf.extend_from_slice(&frame),
            Err(e) => {
                let err = ApiError::internal(format!("cannot encode chunk: {e}"));
                buf.extend_from_slice(&openai_error_frame(&err));
                self.ended = true;
            }
        }
    }
    fn on_error(&mut self, err: &ApiError, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&openai_error_frame(err));
        self.ended = true;
    }
    fn finish(&mut self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(b"data: [DONE]\n\n");
        self.ended = true;
    }
    fn keep_alive(&mut self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(KEEP_ALIVE_COMMENT);
    }
    fn is_ended(&self) -> bool {
        self.ended
    }
}

/// The response with the [`Cutoff`] its relay watches, for the connection serving it.
fn cut_by(mut resp: Response, cutoff: Cutoff) -> Response {
    resp.extensions_mut().insert(cutoff);
    resp
}

/// An error event in the middle of an OpenAI stream (the OpenAI SDK raises on it).
pub fn openai_error_frame(err: &ApiError) -> Bytes {
    data_frame(&serde_json::to_vec(&err.openai_body()).unwrap_or_default())
}

/// How hub chunks are written for one client dialect (OpenAI chat, Anthropic Messages,
/// OpenAI Responses): each call appends whole SSE frames.
pub trait EventDialect: Send + Unpin + 'static {
    fn on_chunk(&mut self, chunk: ChatChunk, buf: &mut Vec<u8>);
    /// The upstream failed mid-stream.
    fn on_error(&mut self, err: &ApiError, buf: &mut Vec<u8>);
    /// The upstream ended.
    fn finish(&mut self, buf: &mut Vec<u8>);
    /// The upstream is silent: something the client's parser accepts and ignores.
    fn keep_alive(&mut self, buf: &mut Vec<u8>);
    fn is_ended(&self) -> bool;
}

/// A chunk kept as the upstream wrote it reached a dialect that translates: a bug (only the
/// chat route asks for them, `RequestOptions::verbatim`), answered as an error event rather
/// than translated from its empty typed fields.
fn unasked_verbatim<D: EventDialect + ?Sized>(dialect: &mut D, buf: &mut Vec<u8>) {
    let err =
        ApiError::internal("the router passed on a stream verbatim to a route that translates it");
    dialect.on_error(&err, buf);
}

impl EventDialect for StreamState {
    fn on_chunk(&mut self, chunk: ChatChunk, buf: &mut Vec<u8>) {
        if chunk.verbatim.is_some() {
            return unasked_verbatim(self, buf);
        }
        write_events(buf, &StreamState::on_chunk(self, chunk));
    }
    fn on_error(&mut self, err: &ApiError, buf: &mut Vec<u8>) {
        write_events(
            buf,
            &StreamState::on_error(
                self,
                super::error::anthropic_type(err.status),
                &err.public_message(),
            ),
        );
    }
    fn finish(&mut self, buf: &mut Vec<u8>) {
        write_events(buf, &StreamState::finish(self));
    }
    /// `ping`, after `message_start` (sent first if the stream has not started: clients
    /// expect it before any other event).
    fn keep_alive(&mut self, buf: &mut Vec<u8>) {
        write_events(buf, &StreamState::begin(self));
        write_events(buf, &[Event::Ping]);
    }
    fn is_ended(&self) -> bool {
        StreamState::is_ended(self)
    }
}

impl EventDialect for responses::StreamState {
    fn on_chunk(&mut self, chunk: ChatChunk, buf: &mut Vec<u8>) {
        if chunk.verbatim.is_some() {
            return unasked_verbatim(self, buf);
        }
        write_response_events(buf, &responses::StreamState::on_chunk(self, chunk));
    }
    fn on_error(&mut self, err: &ApiError, buf: &mut Vec<u8>) {
        let code = if err.status.is_server_error() { "server_error" } else { err.kind.as_str() };
        write_response_events(
            buf,
            &responses::StreamState::on_error(self, code, &err.public_message()),
        );
    }
    fn finish(&mut self, buf: &mut Vec<u8>) {
        write_response_events(buf, &responses::StreamState::finish(self));
    }
    fn keep_alive(&mut self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(KEEP_ALIVE_COMMENT);
    }
    fn is_ended(&self) -> bool {
        responses::StreamState::is_ended(self)
    }
}

fn write_events(buf: &mut Vec<u8>, events: &[Event]) {
    for ev in events {
        event_frame(buf, ev);
    }
}

fn write_response_events(buf: &mut Vec<u8>, events: &[responses::Event]) {
    for ev in events {
        // A `Value` always serializes.
        named_frame(buf, ev.name(), &crate::wire::encode::to_vec(&ev.0).unwrap_or_default());
    }
}

/// A routed call still in progress: the deployment being chosen, or its response head not
/// in yet; its error is already in the caller's dialect.
pub type PendingCall = Pin<Box<dyn Future<Output = Result<(Served, Reply), ApiError>> + Send>>;

/// Wait at most `keep_alive` for a routed call: its outcome, or the call itself when it is
/// still pending (then answer with [`deferred_stream`], keep-alives while it runs).
pub async fn route_within(
    mut call: PendingCall,
    keep_alive: Duration,
) -> Result<Result<(Served, Reply), ApiError>, PendingCall> {
    match tokio::time::timeout(keep_alive, &mut call).await {
        Ok(outcome) => Ok(outcome),
        Err(_) => Err(call),
    }
}

/// Render a stream in a client dialect: each hub chunk goes through the dialect and its
/// frames are written as they come. `first` was already taken off `rest` (`router::peek`; `None`
/// when the upstream was slow to start). An upstream failure becomes the dialect's error
/// event; the end of the upstream its closing events.
pub fn event_stream<D: EventDialect>(
    first: Option<ChatChunk>,
    rest: ChunkStream,
    dialect: D,
    served: Served,
    log: CallLog,
    keep_alive: Duration,
) -> Response {
    let greet = first.is_none();
    let relay = Relay::new(Source::Chunks(rest), first, dialect, Some(served), log, keep_alive);
    relay.respond(greet)
}

/// A stream committed to while its call is still pending after a keep-alive interval (the
/// upstream has not even answered with a response head, as a model that thinks before
/// answering can do, or the router is still retrying or falling back): keep-alives until the
/// call is in, then the stream; a failure of the call is the dialect's error event. Nothing
/// but keep-alives has reached the client while the call runs, so its retries and fallbacks
/// still happen; the response headers were sent already and cannot say who answered (the
/// log line does).
pub fn deferred_stream<D: EventDialect>(
    call: PendingCall,
    dialect: D,
    log: CallLog,
    keep_alive: Duration,
) -> Response {
    Relay::new(Source::Pending(call), None, dialect, None, log, keep_alive).respond(true)
}

/// Where a relay takes its next item from.
enum Source {
    Pending(PendingCall),
    Chunks(ChunkStream),
}

/// The response body of a relayed stream: a `Stream` of SSE frames polled in place (no
/// per-chunk future or timer; its state is never moved), each poll taking the call's outcome
/// or one upstream item, sending a keep-alive after a silence, or ending. Bounded by the
/// upstream.
struct Relay<D> {
    source: Source,
    /// The chunk the router peeked at, sent before anything of `source`. Boxed, as is the
    /// call log's usage, so that the relay moved into the response body is half as large.
    first: Option<Box<ChatChunk>>,
    translator: D,
    /// Who answered; holds the deployment's in-flight slot until the stream ends.
    served: Option<Served>,
    log: CallLog,
    cutoff: Cutoff,
    /// The wait for the upstream's next item, for the keep-alive.
    quiet: Silence,
    /// A keep-alive is owed before anything else (the upstream was slow to start).
    greet: bool,
}

impl<D: EventDialect> Relay<D> {
    fn new(
        source: Source,
        first: Option<ChatChunk>,
        translator: D,
        served: Option<Served>,
        log: CallLog,
        keep_alive: Duration,
    ) -> Self {
        Relay {
            source,
            first: first.map(Box::new),
            translator,
            served,
            log,
            cutoff: Cutoff::default(),
            quiet: Silence::new(keep_alive),
            greet: false,
        }
    }

    fn respond(mut self, greet: bool) -> Response {
        self.greet = greet;
        let cutoff = self.cutoff.clone();
        cut_by(sse_response(Body::from_stream(self)), cutoff)
    }

    /// One step: the cutoff's error once it fired, the call's outcome or an upstream item,
    /// or a keep-alive when the upstream was silent for the interval, written to `buf` (which
    /// a step may leave empty: a usage chunk the client did not ask for).
    fn poll_step(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<()> {
        loop {
            if let Poll::Ready(shutdown) = self.cutoff.poll_fired(cx) {
                self.write(Some(Err(ApiError::from(shutdown))), buf);
                return Poll::Ready(());
            }
            if let Some(first) = self.first.take() {
                self.write(Some(Ok(*first)), buf);
                return Poll::Ready(());
            }
            let item = match &mut self.source {
                Source::Pending(call) => match call.as_mut().poll(cx) {
                    Poll::Pending => None,
                    Poll::Ready(Ok((served, Reply::Stream { first, rest }))) => {
                        self.log.served(&served);
                        self.served = Some(served);
                        self.source = Source::Chunks(rest);
                        self.first = first.map(Box::new);
                        self.quiet.heard();
                        continue;
                    }
                    Poll::Ready(Ok((served, Reply::Complete(_) | Reply::Verbatim(_)))) => {
                        self.log.served(&served);
                        Some(Some(Err(ApiError::from(ProviderError::protocol(
                            "the upstream answered a stream request with a whole response",
                        )))))
                    }
                    Poll::Ready(Err(api)) => Some(Some(Err(api))),
                },
                Source::Chunks(chunks) => match chunks.as_mut().poll_next(cx) {
                    Poll::Pending => None,
                    Poll::Ready(item) => Some(item.map(|r| r.map_err(ApiError::from))),
                },
            };
            if let Some(item) = item {
                self.quiet.heard();
                self.write(item, buf);
                return Poll::Ready(());
            }
            std::task::ready!(self.quiet.poll_elapsed(cx));
            self.translator.keep_alive(buf);
            return Poll::Ready(());
        }
    }

    /// An upstream item (`None`: the end) through the dialect.
    fn write(&mut self, item: Option<Result<ChatChunk, ApiError>>, buf: &mut Vec<u8>) {
        match item {
            Some(Ok(chunk)) => {
                self.log.first_chunk();
                if let Some(served) = &self.served {
                    self.log.count(served.routed(), chunk.usage.as_deref());
                }
                self.translator.on_chunk(chunk, buf);
            }
            Some(Err(api)) => {
                self.log.stream_error = Some(api.public_message());
                self.translator.on_error(&api, buf);
            }
            None => self.translator.finish(buf),
        }
    }
}

impl<D: EventDialect> futures_util::Stream for Relay<D> {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.translator.is_ended() {
                return Poll::Ready(None);
            }
            let mut buf = Vec::new();
            if std::mem::take(&mut this.greet) {
                this.translator.keep_alive(&mut buf);
            } else {
                std::task::ready!(this.poll_step(cx, &mut buf));
            }
            if !buf.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(buf))));
            }
        }
    }
}

/// `event: NAME\ndata: {json}\n\n`
pub fn event_frame(buf: &mut Vec<u8>, ev: &Event) {
    let json = crate::wire::encode::to_vec(ev).unwrap_or_else(|_| {
        br#"{"type":"error","error":{"type":"api_error","message":"cannot encode event"}}"#.to_vec()
    });
    named_frame(buf, ev.name(), &json);
}

/// `event: NAME\ndata: {json}\n\n`, for every named-event dialect.
fn named_frame(buf: &mut Vec<u8>, name: &str, json: &[u8]) {
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    buf.extend_from_slice(json);
    buf.extend_from_slice(b"\n\n");
}

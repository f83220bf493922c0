//! Relaying hub chunks to a client as SSE, chunk by chunk as they arrive: as OpenAI chunks,
//! or translated to named events (Anthropic Messages by `translate::anthropic::StreamState`,
//! OpenAI Responses by `translate::responses::StreamState`) through [`event_stream`].
//!
//! A stream is committed to (200 and headers) when its first chunk arrives (the router
//! peeks at it: `router::peek`), so an upstream that fails at once keeps its status (or is
//! retried, or falls back); an upstream that stays silent longer than the keep-alive interval
//! (a reasoning model thinking) gets its stream started anyway. Whenever
//! the upstream is silent for that long, the client gets a keep-alive: an SSE comment
//! (`: keep-alive`) for OpenAI chat and Responses, Anthropic's `ping` event for Messages, so
//! client watchdogs and proxies do not cut a stream that is only slow.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::StreamExt;

use super::cutoff::Cutoff;
use super::error::ApiError;
use super::log::{CallLog, LoggedByCall};
use crate::providers::{ChunkStream, ProviderError};
use crate::router::Served;
use crate::translate::anthropic::StreamState;
use crate::translate::responses;
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
    serde_json::to_writer(&mut v, value)?;
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

/// The next upstream item through the cutoff, or `None` when `keep_alive` passed first
/// (the caller then sends a keep-alive; no item is lost: `next` is cancel-safe).
async fn next_or_keep_alive(
    cutoff: &Cutoff,
    chunks: &mut ChunkStream,
    keep_alive: Duration,
) -> Option<Option<Result<ChatChunk, ProviderError>>> {
    tokio::time::timeout(keep_alive, cutoff.next(chunks)).await.ok()
}

/// Render an OpenAI stream. `first` was already taken off `rest` (to answer early errors
/// with a proper status; `None` when the upstream was slow to start). The `model` field is
/// the alias; the usage chunk is dropped unless the client asked for it (it is still logged
/// and counted against `tpm`).
#[allow(clippy::too_many_arguments)]
pub fn openai_stream(
    first: Option<ChatChunk>,
    rest: ChunkStream,
    alias: String,
    include_usage: bool,
    served: Served,
    log: CallLog,
    keep_alive: Duration,
) -> Response {
    struct State {
        chunks: ChunkStream,
        alias: String,
        include_usage: bool,
        /// Holds the deployment's in-flight slot until the stream ends.
        served: Served,
        log: CallLog,
        finished: bool,
        cutoff: Cutoff,
        keep_alive: Duration,
        /// A keep-alive is owed before anything else (the upstream was slow to start).
        greet: bool,
    }
    let greet = first.is_none();
    let head = futures_util::stream::iter(first.map(Ok));
    let cutoff = Cutoff::default();
    let state = State {
        chunks: Box::pin(head.chain(rest)),
        alias,
        include_usage,
        served,
        log,
        finished: false,
        cutoff: cutoff.clone(),
        keep_alive,
        greet,
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if st.finished {
                return None;
            }
            if std::mem::take(&mut st.greet) {
                return Some((Ok(Bytes::from_static(KEEP_ALIVE_COMMENT)), st));
            }
            let Some(item) = next_or_keep_alive(&st.cutoff, &mut st.chunks, st.keep_alive).await
            else {
                return Some((Ok(Bytes::from_static(KEEP_ALIVE_COMMENT)), st));
            };
            match item {
                Some(Ok(mut chunk)) => {
                    chunk.model.clone_from(&st.alias);
                    st.log.count(st.served.routed(), chunk.usage.as_ref());
                    if !st.include_usage {
                        if chunk.choices.is_empty() && chunk.usage.is_some() {
                            continue;
                        }
                        chunk.usage = None;
                    }
                    let frame = match json_frame(&chunk) {
                        Ok(frame) => frame,
                        Err(e) => {
                            st.finished = true;
                            openai_error_frame(&ApiError::internal(format!(
                                "cannot encode chunk: {e}"
                            )))
                        }
                    };
                    return Some((Ok::<Bytes, std::convert::Infallible>(frame), st));
                }
                Some(Err(err)) => {
                    let api: ApiError = err.into();
                    st.log.stream_error = Some(api.public_message());
                    st.finished = true;
                    return Some((Ok(openai_error_frame(&api)), st));
                }
                None => {
                    st.finished = true;
                    return Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), st));
                }
            }
        }
    });
    cut_by(sse_response(Body::from_stream(body)), cutoff)
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

/// A translation from hub chunks to one dialect's named SSE events (Anthropic Messages,
/// OpenAI Responses): each call appends whole `event: NAME\ndata: {json}\n\n` frames.
pub trait EventDialect: Send + 'static {
    fn on_chunk(&mut self, chunk: ChatChunk, buf: &mut Vec<u8>);
    /// The upstream failed mid-stream.
    fn on_error(&mut self, err: &ApiError, buf: &mut Vec<u8>);
    /// The upstream ended.
    fn finish(&mut self, buf: &mut Vec<u8>);
    /// The upstream is silent: something the client's parser accepts and ignores.
    fn keep_alive(&mut self, buf: &mut Vec<u8>);
    fn is_ended(&self) -> bool;
}

impl EventDialect for StreamState {
    fn on_chunk(&mut self, chunk: ChatChunk, buf: &mut Vec<u8>) {
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
        named_frame(buf, ev.name(), &serde_json::to_vec(&ev.0).unwrap_or_default());
    }
}

/// Render a named-event stream (Anthropic, Responses): each hub chunk goes through the
/// dialect's state machine and its events are written as they come. An upstream failure
/// becomes the dialect's error event; the end of the upstream its closing events.
pub fn event_stream<D: EventDialect>(
    first: Option<ChatChunk>,
    rest: ChunkStream,
    dialect: D,
    served: Served,
    log: CallLog,
    keep_alive: Duration,
) -> Response {
    struct State<D> {
        chunks: ChunkStream,
        translator: D,
        /// Holds the deployment's in-flight slot until the stream ends.
        served: Served,
        log: CallLog,
        cutoff: Cutoff,
        keep_alive: Duration,
        greet: bool,
    }
    let greet = first.is_none();
    let head = futures_util::stream::iter(first.map(Ok));
    let cutoff = Cutoff::default();
    let state = State {
        chunks: Box::pin(head.chain(rest)),
        translator: dialect,
        served,
        log,
        cutoff: cutoff.clone(),
        keep_alive,
        greet,
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        // Bounded by the upstream: each turn consumes one upstream item, sends a keep-alive
        // after a silence, or ends.
        loop {
            if st.translator.is_ended() {
                return None;
            }
            let mut buf = Vec::new();
            if std::mem::take(&mut st.greet) {
                st.translator.keep_alive(&mut buf);
                return Some((Ok(Bytes::from(buf)), st));
            }
            let Some(item) = next_or_keep_alive(&st.cutoff, &mut st.chunks, st.keep_alive).await
            else {
                st.translator.keep_alive(&mut buf);
                return Some((Ok(Bytes::from(buf)), st));
            };
            match item {
                Some(Ok(chunk)) => {
                    st.log.count(st.served.routed(), chunk.usage.as_ref());
                    st.translator.on_chunk(chunk, &mut buf);
                }
                Some(Err(err)) => {
                    let api: ApiError = err.into();
                    st.log.stream_error = Some(api.public_message());
                    st.translator.on_error(&api, &mut buf);
                }
                None => st.translator.finish(&mut buf),
            }
            if buf.is_empty() {
                continue;
            }
            return Some((Ok::<Bytes, std::convert::Infallible>(Bytes::from(buf)), st));
        }
    });
    cut_by(sse_response(Body::from_stream(body)), cutoff)
}

/// `event: NAME\ndata: {json}\n\n`
pub fn event_frame(buf: &mut Vec<u8>, ev: &Event) {
    let json = serde_json::to_vec(ev).unwrap_or_else(|_| {
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

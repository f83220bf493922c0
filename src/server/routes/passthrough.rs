//! `/v1/messages` to a Claude model (every deployment of the alias is `anthropic/`,
//! `vertex_ai/claude-*` or `azure_ai/claude-*`): the body goes to the upstream as the client
//! wrote it (`providers::claude` replaces only `model`; LiteLLM's router fields such as
//! `fallbacks` are taken out first) and the answer comes back byte for byte, JSON or event
//! stream, so `cache_control`, thinking signatures, citations, server tools and beta
//! features work as with Anthropic. The relay only reads along: usage for the log line, the
//! request log and `tpm`, and whether the stream reached `message_stop`.
//!
//! Not applied on this path: `litellm_params` request defaults and parameter dropping (the
//! body is not decoded into the hub format).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::chat::logged_error;
use super::json_bytes;
use crate::providers::body::read_prefix;
use crate::providers::sse::{SseDecoder, SseEvent};
use crate::providers::{ProviderError, http};
use crate::router::Served;
use crate::server::AppState;
use crate::server::body::{ROUTE_OPTION_KEYS, route_options};
use crate::server::cutoff::Cutoff;
use crate::server::error::{ApiError, Dialect, route_error};
use crate::server::headers::ServedHeaders;
use crate::server::log::{CallLog, LoggedByCall};
use crate::server::stream::sse_response;
use crate::silence::Silence;
use crate::translate::claude::{self, StreamState, raw};
use crate::wire::anthropic::UpstreamMessage;

const ENDPOINT: &str = "/v1/messages";

/// Upstream response headers passed on to the client: the rate-limit state. (`request-id`
/// is the gateway's own, as on every answer.)
fn forwarded_header(name: &str) -> bool {
    name.starts_with("anthropic-ratelimit-")
}

/// The client's `anthropic-beta` values, every header joined.
pub fn client_betas(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> =
        headers.get_all("anthropic-beta").iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The model a body names, when `/v1/messages` to it is a pass-through; `None` otherwise
/// (or when the body is not a JSON object: the translated path answers with the error).
///
/// Only `model` is read here ([`named_model`]). Every `/v1/messages` request asks, and most
/// are not for a pass-through model: decoding the whole body into a map to answer cost a
/// Claude Code turn ~1.4 M instructions, a third of the request, before the translated path
/// decoded it again (BENCHMARKS.md, issue #20). The caller reads the body ([`Head`]) when the
/// answer is yes, and a body that does not decode still gets `None` there, as before.
fn passthrough_model(state: &AppState, bytes: &Bytes) -> Option<String> {
    // No alias is Claude only: no body is passed through, so none is scanned for its model.
    if !state.router().any_passthrough() {
        return None;
    }
    let model = named_model(bytes)?;
    state.router().is_passthrough(&model).then_some(model)
}

/// The string the body's `model` member holds (the last one, as a map keeps it); `None` when
/// there is none, it is not a string, or the body is not an object.
///
/// A scan, not a parse: strings are skipped a run at a time (`memchr` to the next quote or
/// backslash) and only the brackets between them are counted; serde_json's `IgnoredAny`
/// spent ~6.7 instructions a byte on a Claude Code turn (0.5 M of it). Exact for any JSON
/// text (property test against serde_json); what it answers for a body that is not JSON does
/// not matter: the pass-through decodes the body ([`Head`]) before using the answer, and every
/// other path parses it.
fn named_model(bytes: &[u8]) -> Option<String> {
    let mut s = Scan { b: bytes, i: 0 };
    s.skip_ws();
    s.eat(b'{')?;
    s.skip_ws();
    let mut model = None;
    if s.eat(b'}').is_none() {
        loop {
            let key = s.string()?;
            s.skip_ws();
            s.eat(b':')?;
            s.skip_ws();
            if s.is_model_key(key)? {
                model = match s.b.get(s.i) {
                    Some(b'"') => {
                        let value = s.string()?;
                        Some(s.decode(value)?)
                    }
                    _ => {
                        s.skip_value()?;
                        None
                    }
                };
            } else {
                s.skip_value()?;
            }
            s.skip_ws();
            match s.b.get(s.i)? {
                b',' => {
                    s.i += 1;
                    s.skip_ws();
                }
                b'}' => {
                    s.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    s.skip_ws();
    (s.i == bytes.len()).then_some(model)?
}

/// [`named_model`]'s cursor over the body.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

/// A string's span in the body: its quotes included, and whether it holds an escape.
type Span = (std::ops::Range<usize>, bool);

impl Scan<'_> {
    fn skip_ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&byte)).then(|| self.i += 1)
    }

    /// The string starting at the cursor, which is left after its closing quote.
    fn string(&mut self) -> Option<Span> {
        let start = self.i;
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            let at = self.i + memchr::memchr2(b'"', b'\\', self.b.get(self.i..)?)?;
            if self.b[at] == b'"' {
                self.i = at + 1;
                return Some((start..self.i, escaped));
            }
            // A backslash and the byte it escapes (`\uXXXX`'s digits need no care).
            escaped = true;
            self.i = at + 2;
        }
    }

    /// The value at the cursor, skipped: a string, or up to the bracket that closes a
    /// container, or a number or literal up to the next `,` `}` `]` or whitespace.
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.i += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.i += 1;
                }
                b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t' if depth == 0 => return Some(()),
                _ => self.i += 1,
            }
            if depth == 0 && matches!(self.b.get(self.i - 1), Some(b'"' | b'}' | b']')) {
                return Some(());
            }
        }
    }

    fn is_model_key(&self, (span, escaped): Span) -> Option<bool> {
        if !escaped {
            return Some(&self.b[span] == b"\"model\"");
        }
        Some(self.decode((span, escaped))? == "model")
    }

    /// A string's text, escapes decoded (by serde_json: the rare case).
    fn decode(&self, (span, escaped): Span) -> Option<String> {
        let quoted = &self.b[span];
        if escaped {
            serde_json::from_slice(quoted).ok()
        } else {
            String::from_utf8(quoted[1..quoted.len() - 1].to_vec()).ok()
        }
    }
}

/// What the pass-through reads of a body besides its model, in one pass: the last `stream`
/// (when a boolean) and LiteLLM's router fields ([`ROUTE_OPTION_KEYS`], last value of each).
/// Every other value is checked as a `Value` would be and dropped unbuilt: the body was
/// decoded whole into a `Map` for these few fields, 1.4 M instructions of a Claude Code turn.
/// `None` exactly when that `Map` could not be decoded (test
/// `tests::the_head_is_read_as_the_whole_map_reads_it`).
struct Head {
    stream: Option<bool>,
    options: Map<String, Value>,
}

impl Head {
    fn read(bytes: &[u8]) -> Option<Head> {
        crate::wire::from_json::<Head>(bytes).ok()
    }
}

impl<'de> serde::Deserialize<'de> for Head {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;

        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Head;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
                let mut head = Head { stream: None, options: Map::new() };
                while let Some(key) = map.next_key::<HeadKey>()? {
                    match key {
                        HeadKey::Stream => head.stream = map.next_value::<Value>()?.as_bool(),
                        HeadKey::Option(name) => {
                            head.options.insert(name.to_owned(), map.next_value()?);
                        }
                        HeadKey::Other => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(head)
            }
        }

        d.deserialize_map(Fields)
    }
}

/// A body key as [`Head`] sorts it (escapes decoded, as a map's key is; not copied).
enum HeadKey {
    Stream,
    Option(&'static str),
    Other,
}

impl<'de> serde::Deserialize<'de> for HeadKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Sort;

        impl serde::de::Visitor<'_> for Sort {
            type Value = HeadKey;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }

            fn visit_str<E>(self, key: &str) -> Result<HeadKey, E> {
                if key == "stream" {
                    return Ok(HeadKey::Stream);
                }
                let option = ROUTE_OPTION_KEYS.iter().find(|k| **k == key);
                Ok(option.map_or(HeadKey::Other, |name| HeadKey::Option(name)))
            }
        }

        d.deserialize_str(Sort)
    }
}

/// A JSON value read and checked as a `Value` is (escapes, surrogate pairs, number range,
/// nesting depth), then dropped: nothing is built for it, and a string without escapes is not
/// even copied. `IgnoredAny` checks less (it takes a lone surrogate or `1e400`), so a body
/// the map refused would have passed.
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> serde::de::Visitor<'de> for Checked {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

/// Serve a `/v1/messages` request by pass-through, or `None` when the model is not Claude.
pub async fn messages(state: &AppState, headers: &HeaderMap, bytes: &Bytes) -> Option<Response> {
    let model = passthrough_model(state, bytes)?;
    let Head { stream, options: mut fields } = Head::read(bytes)?;
    let stream = stream.unwrap_or(false);
    // `fields` holds only router fields, each of which `route_options` takes: all are cut.
    let taken: Vec<String> = fields.keys().cloned().collect();
    let opts = match route_options(&mut fields) {
        Ok(o) => o,
        Err(e) => return Some(e.in_dialect(Dialect::Anthropic).into_response()),
    };
    let mut body = bytes.to_vec();
    for key in &taken {
        // The body parsed as an object above, so the splicer reads it too.
        body = raw::remove(&body, key).unwrap_or(body);
    }
    let log = CallLog::new("messages", &model, stream);
    let outcome = state
        .router()
        .passthrough(&model, Bytes::from(body), stream, client_betas(headers), &opts)
        .await;
    let (served, upstream) = match outcome {
        Ok(ok) => ok,
        Err(err) => {
            let api = route_error(err, ENDPOINT).in_dialect(Dialect::Anthropic);
            return Some(logged_error(api, log));
        }
    };
    let served_headers = ServedHeaders::of(&served, &model);
    let mut resp = if stream {
        relay_stream(upstream, served, log, &model)
    } else {
        relay_json(upstream, served, log).await
    };
    served_headers.apply(&mut resp);
    Some(resp)
}

/// `/v1/messages/count_tokens` for a Claude model: Anthropic's own count where the alias is
/// on Anthropic's API; `None` for the local estimate.
pub async fn count_tokens(
    state: &AppState,
    headers: &HeaderMap,
    bytes: &Bytes,
) -> Option<Result<u64, ApiError>> {
    let model = passthrough_model(state, bytes)?;
    // Not read, but a body that is no JSON object goes the local way, as before.
    Head::read(bytes)?;
    let betas = client_betas(headers);
    match state.router().count_tokens_raw(&model, bytes, betas.as_deref()).await {
        Ok(Some(n)) => Some(Ok(n)),
        Ok(None) => None,
        Err(err) => {
            Some(Err(route_error(err, "/v1/messages/count_tokens").in_dialect(Dialect::Anthropic)))
        }
    }
}

fn copy_headers(from: &reqwest::Response, to: &mut Response) {
    for (name, value) in from.headers() {
        if forwarded_header(name.as_str()) {
            to.headers_mut().append(name.clone(), value.clone());
        }
    }
}

/// A whole answer: read within the deployment's limits, relayed as it came.
async fn relay_json(mut upstream: reqwest::Response, served: Served, mut log: CallLog) -> Response {
    log.served(&served);
    let routed = served.routed().clone();
    let limit = routed.dep.body_limits.response_bytes;
    let total = routed.dep.timeout;
    let read = tokio::time::timeout(total, read_prefix(&mut upstream, limit)).await;
    let bytes = match read {
        Ok(Ok((bytes, false))) => bytes,
        Ok(Ok((_, true))) => {
            let err = ProviderError::protocol(format!(
                "{} answered with more than the gateway's limit (general_settings.max_response_size_mb)",
                routed.label()
            ));
            return logged_error(ApiError::from(err).in_dialect(Dialect::Anthropic), log);
        }
        Ok(Err(e)) => {
            let err = ProviderError::Connect {
                message: format!(
                    "{} broke off the answer: {}",
                    routed.label(),
                    crate::providers::http::chain(&e)
                ),
            };
            return logged_error(ApiError::from(err).in_dialect(Dialect::Anthropic), log);
        }
        Err(_) => {
            let err = ProviderError::Timeout {
                phase: crate::providers::TimeoutPhase::Response,
                message: format!("{} did not finish its answer in time", routed.label()),
            };
            return logged_error(ApiError::from(err).in_dialect(Dialect::Anthropic), log);
        }
    };
    if let Ok(m) = serde_json::from_slice::<UpstreamMessage>(&bytes) {
        log.count(&routed, Some(&claude::response::usage(&m.usage)));
    }
    let mut resp = json_bytes(bytes);
    copy_headers(&upstream, &mut resp);
    resp.extensions_mut().insert(LoggedByCall);
    drop(served);
    resp
}

/// An event stream, relayed chunk by chunk as it arrives. Each wait for upstream bytes is
/// bounded by the deployment's stream timeout; a failure, or the gateway's shutdown cutoff,
/// ends the stream with an Anthropic `error` event.
fn relay_stream(
    upstream: reqwest::Response,
    served: Served,
    mut log: CallLog,
    model: &str,
) -> Response {
    log.served(&served);
    let dep = &served.routed().dep;
    let idle = dep.stream_timeout.unwrap_or(dep.timeout);
    let label = served.routed().label().to_owned();
    let decoder = SseDecoder::new(dep.body_limits.stream_event_bytes);
    let mut headers_from = Response::new(Body::empty());
    copy_headers(&upstream, &mut headers_from);
    let cutoff = Cutoff::default();
    let relay = Relay {
        body: Box::pin(upstream.bytes_stream()),
        decoder: Some(decoder),
        fold: StreamState::new(model.to_owned(), 0),
        events: Vec::new(),
        served: Some(served),
        log,
        cutoff: cutoff.clone(),
        quiet: Silence::new(idle),
        label,
        done: false,
    };
    let mut resp = sse_response(Body::from_stream(relay));
    for (name, value) in headers_from.headers() {
        resp.headers_mut().append(name.clone(), value.clone());
    }
    resp.extensions_mut().insert(cutoff);
    resp
}

/// [`relay_stream`]'s body: the upstream's bytes as they come, polled in place.
struct Relay {
    body: Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    decoder: Option<SseDecoder>,
    fold: StreamState,
    events: Vec<SseEvent>,
    served: Option<Served>,
    log: CallLog,
    cutoff: Cutoff,
    /// The wait for the upstream's next bytes (the stream timeout at most).
    quiet: Silence,
    label: String,
    done: bool,
}

impl futures_util::Stream for Relay {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let st = self.get_mut();
        if st.done {
            return Poll::Ready(None);
        }
        let next = if let Poll::Ready(shutdown) = st.cutoff.poll_fired(cx) {
            Err(shutdown)
        } else {
            match st.body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => Ok(Some(bytes)),
                Poll::Ready(Some(Err(e))) => Err(http::stream_broken(&st.label, &e)),
                Poll::Ready(None) => Ok(None),
                Poll::Pending => {
                    std::task::ready!(st.quiet.poll_elapsed(cx));
                    Err(http::stream_silent(&st.label, st.quiet.period()))
                }
            }
        };
        st.quiet.heard();
        Poll::Ready(match next {
            Ok(Some(bytes)) => {
                st.log.first_chunk();
                st.tap(&bytes);
                Some(Ok(bytes))
            }
            Ok(None) => {
                st.finish(None);
                None
            }
            Err(err) => {
                let api = ApiError::from(err).in_dialect(Dialect::Anthropic);
                let frame = error_frame(&api);
                st.finish(Some(api.public_message()));
                Some(Ok(frame))
            }
        })
    }
}

impl Relay {
    /// Read the events along (usage, `message_stop`, `error`); an event too large to
    /// read is relayed all the same, only no longer read.
    fn tap(&mut self, bytes: &[u8]) {
        let Some(decoder) = &mut self.decoder else { return };
        if decoder.push(bytes, &mut self.events).is_err() {
            self.decoder = None;
        }
        for ev in self.events.drain(..) {
            let name = ev.event.as_deref().unwrap_or("");
            if let Err(e) = self.fold.on_event(name, &ev.data) {
                self.log.stream_error = Some(format!("{}: {}", e.kind, e.message));
            }
        }
    }

    /// The end: usage counted once, and why the stream is incomplete if it is.
    fn finish(&mut self, error: Option<String>) {
        self.done = true;
        if let Some(served) = self.served.take() {
            self.log.count(served.routed(), Some(&self.fold.usage()));
        }
        if let Some(e) = error {
            self.log.stream_error = Some(e);
        } else if !self.fold.is_complete() && self.log.stream_error.is_none() {
            self.log.stream_error =
                Some(format!("{} ended the stream before message_stop", self.label));
        }
    }
}

/// Anthropic's `error` event for a failure in the middle of a relayed stream.
fn error_frame(api: &ApiError) -> Bytes {
    let data = serde_json::to_vec(&api.anthropic_body()).unwrap_or_else(|_| {
        br#"{"type":"error","error":{"type":"api_error","message":"stream failed"}}"#.to_vec()
    });
    let mut v = Vec::with_capacity(data.len() + 24);
    v.extend_from_slice(b"event: error\ndata: ");
    v.extend_from_slice(&data);
    v.extend_from_slice(b"\n\n");
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What `named_model` was, by serde_json (a map's view, every other value skipped): the
    /// oracle its scan is held to.
    fn named_model_by_serde(bytes: &[u8]) -> Option<String> {
        struct LastModel;

        impl<'de> serde::de::Visitor<'de> for LastModel {
            type Value = Option<String>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Option<String>, A::Error> {
                let mut model = None;
                while let Some(is_model) = map.next_key::<IsModel>()? {
                    if is_model.0 {
                        model = match map.next_value::<Value>()? {
                            Value::String(name) => Some(name),
                            _ => None,
                        };
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(model)
            }
        }

        /// Whether a key is `model` (escapes decoded, as a map's key is).
        struct IsModel(bool);

        impl<'de> serde::Deserialize<'de> for IsModel {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Key;
                impl serde::de::Visitor<'_> for Key {
                    type Value = IsModel;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a key")
                    }
                    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<IsModel, E> {
                        Ok(IsModel(key == "model"))
                    }
                }
                d.deserialize_str(Key)
            }
        }

        struct Model(Option<String>);

        impl<'de> serde::Deserialize<'de> for Model {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(LastModel).map(Model)
            }
        }

        crate::wire::from_json::<Model>(bytes).ok()?.0
    }

    /// What the whole map gave: the string `model` of a body that decodes as an object.
    fn from_map(body: &[u8]) -> Option<String> {
        let map: Map<String, Value> = serde_json::from_slice(body).ok()?;
        map.get("model")?.as_str().map(str::to_owned)
    }

    #[test]
    fn the_model_is_read_as_the_whole_map_reads_it() {
        let big = format!(
            r#"{{"tools":[{{"name":"t","input_schema":{{"a":[1,2,{{"b":"x\ny"}}]}}}}],"system":"{}","model":"claude-x"}}"#,
            "s".repeat(5000)
        );
        for (body, model) in [
            (r#"{"model":"claude-x","max_tokens":1}"#, Some("claude-x")),
            (big.as_str(), Some("claude-x")),
            (r#"{"mod\u0065l":"escaped-key"}"#, Some("escaped-key")),
            (r#"{"model":"first","model":"last"}"#, Some("last")),
            (r#"{"model":"a","model":7}"#, None),
            (r#"{"model":"caf\u00e9 \"q\""}"#, Some("café \"q\"")),
            (r#"{"model":null}"#, None),
            (r#"{"max_tokens":1}"#, None),
            (r#"{}"#, None),
            (r#"["model","x"]"#, None),
            (r#""model""#, None),
            (r#"{"model":"x""#, None),
            (r#"{"model":"x"} trailing"#, None),
            ("", None),
        ] {
            assert_eq!(named_model(body.as_bytes()).as_deref(), model, "{body}");
            assert_eq!(from_map(body.as_bytes()).as_deref(), model, "{body}");
        }
        // Values are skipped, not decoded: a body the map cannot decode (a lone surrogate)
        // may still name its model here; the caller's map decode then says no, as before.
        let lone = br#"{"model":"claude-x","system":"\ud800"}"#;
        assert_eq!(from_map(lone), None);
        assert_eq!(named_model(lone).as_deref(), Some("claude-x"));
        assert_eq!(Head::read(lone).map(|h| h.stream), None);
    }

    /// A top-level object as a client might write it: members in any order, `model` among
    /// them (several times, spelled with escapes, not a string), values of every shape,
    /// compact or spaced out.
    fn any_body() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just(r#""model""#.to_owned()),
            Just(r#""mod\u0065l""#.to_owned()),
            Just(r#""\u006dodel""#.to_owned()),
            Just(r#""models""#.to_owned()),
            Just(r#""mode""#.to_owned()),
            "\\PC{0,8}".prop_map(|k| serde_json::to_string(&k).expect("json")),
        ];
        let value = prop_oneof![
            "\\PC{0,12}".prop_map(Value::String),
            "[ -~\\n\"\\\\]{0,20}".prop_map(Value::String),
            crate::wire::encode::tests::any_value(),
        ];
        let member = (key, value, any::<bool>()).prop_map(|(k, v, pretty)| {
            let v =
                if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) };
            format!("{k}:{}", v.expect("json"))
        });
        (proptest::collection::vec(member, 0..8), 0usize..4).prop_map(|(members, ws)| {
            let sep = [",", " , ", ",\n  ", "\t,"][ws];
            let lead = ["", " ", "\n", "\t"][ws];
            format!("{lead}{{{}}}{}", members.join(sep), " ".repeat(ws))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// On JSON text the scan answers what serde_json's reading of the body answered.
        #[test]
        fn the_scan_names_the_model_serde_json_reads(body in any_body()) {
            prop_assert_eq!(named_model(body.as_bytes()), named_model_by_serde(body.as_bytes()), "{}", body);
        }
    }

    /// What the whole map gave: `stream` as a boolean and the router fields, or nothing for a
    /// body the map could not decode.
    #[allow(clippy::type_complexity)]
    fn head_from_map(body: &[u8]) -> Option<(Option<bool>, Vec<(String, Value)>)> {
        let map: Map<String, Value> = serde_json::from_slice(body).ok()?;
        let stream = map.get("stream").and_then(Value::as_bool);
        let mut options: Vec<(String, Value)> =
            map.into_iter().filter(|(k, _)| ROUTE_OPTION_KEYS.contains(&k.as_str())).collect();
        options.sort_by(|a, b| a.0.cmp(&b.0));
        Some((stream, options))
    }

    #[test]
    fn the_head_is_read_as_the_whole_map_reads_it() {
        let deep = |n: usize| format!(r#"{{"model":"m","x":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        let bodies = [
            r#"{"model":"m","stream":true,"max_tokens":1}"#.to_owned(),
            r#"{"stream":true,"stream":false}"#.to_owned(),
            r#"{"stream":"yes"}"#.to_owned(),
            r#"{"str\u0065am":true,"time\u006fut":5}"#.to_owned(),
            r#"{"timeout":1,"timeout":2,"fallbacks":["a",{"b":[1]}],"disable_fallbacks":null}"#.to_owned(),
            r#"{"mock_testing_fallbacks":true,"mock_testing_context_fallbacks":"x","mock_testing_content_policy_fallbacks":1,"stream_timeout":"9"}"#.to_owned(),
            r#"{"messages":[{"role":"user","content":"caf\u00e9 \"q\"\n"}],"n":-1.5e3,"b":[true,null,{}]}"#.to_owned(),
            // What a map refuses and `IgnoredAny` would take: a lone surrogate, a number
            // out of range, nesting past serde_json's limit.
            r#"{"system":"\ud800"}"#.to_owned(),
            r#"{"system":"\ud83d\ude00"}"#.to_owned(),
            r#"{"k":{"\udc00":1}}"#.to_owned(),
            r#"{"temperature":1e400}"#.to_owned(),
            r#"{"n":18446744073709551616}"#.to_owned(),
            deep(100),
            deep(200),
            // Not an object, not JSON, not all of it.
            r#"["stream",true]"#.to_owned(),
            r#"{"stream":tru}"#.to_owned(),
            r#"{"a":"\x"}"#.to_owned(),
            "{\"a\":\"\u{1}\"}".to_owned(),
            r#"{"a":1} trailing"#.to_owned(),
            r#"{"a":1,}"#.to_owned(),
            String::new(),
        ];
        for body in &bodies {
            let want = head_from_map(body.as_bytes());
            let got = Head::read(body.as_bytes()).map(|h| {
                let mut options: Vec<(String, Value)> = h.options.into_iter().collect();
                options.sort_by(|a, b| a.0.cmp(&b.0));
                (h.stream, options)
            });
            assert_eq!(got, want, "{body}");
        }
        let invalid_utf8 = b"{\"a\":\"\xff\"}";
        assert!(head_from_map(invalid_utf8).is_none() && Head::read(invalid_utf8).is_none());
    }
}

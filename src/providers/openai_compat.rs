//! OpenAI-compatible upstreams: OpenAI itself, DashScope (Qwen) compatible mode, and the
//! rest of the family LiteLLM names (`config::COMPAT`: DeepSeek, Groq, OpenRouter, Mistral,
//! xAI, Together, Fireworks, Perplexity, Moonshot, Z.AI, Volcengine, Ollama, LM Studio,
//! vLLM, a LiteLLM proxy).
//!
//! The hub format is their native format, so requests go out as they came in (model
//! replaced, extras such as Qwen's `enable_thinking` untouched; each server's parameter quirks
//! are in `translate::compat`) and chunks come back typed (`reasoning` read as
//! `reasoning_content`). DashScope thinks only on streams: a non-streaming request that thinks
//! is streamed upstream and folded back into one completion.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;

use super::http::{read_completion, read_json, send, sse_events};
use super::sse::SseEvent;
use super::{ChatOutput, ProviderError, Timeouts};
use crate::config::{BodyLimits, Compat, Deployment, Env, ProviderKind};
use crate::egress::Egress;
use crate::secrets::Secret;
use crate::translate::collect::Collector;
use crate::translate::compat::{normalize_chunk, normalize_completion};
use crate::translate::verbatim;
use crate::wire::openai::{
    ChatChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse, StreamOptions,
};

pub const DASHSCOPE_DEFAULT_BASE: &str = "https://dashscope.aliyuncs.com/compatible-mode/v1";
pub const OPENAI_DEFAULT_BASE: &str = "https://api.openai.com/v1";

/// Parameters DashScope's compatible mode rejects or ignores.
const DASHSCOPE_UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "store",
    "metadata",
    "service_tier",
    "prediction",
    "audio",
    "modalities",
    "reasoning_effort",
    "web_search_options",
];

/// Parameters Mistral's API refuses (it rejects unknown fields with a 422).
const MISTRAL_UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "store",
    "metadata",
    "service_tier",
    "prediction",
    "audio",
    "modalities",
    "reasoning_effort",
    "web_search_options",
    "logprobs",
    "top_logprobs",
    "user",
];

/// Where a deployment's server is and how to authenticate: `api_base` / `api_key`, else the
/// provider's variables, else its default.
#[derive(Debug)]
pub struct Endpoint {
    pub base: String,
    pub api_key: Option<Secret<String>>,
    /// "DeepSeek" for messages.
    pub name: &'static str,
}

/// Resolve the endpoint of an OpenAI-compatible deployment, or why it cannot be served.
pub fn endpoint_of(dep: &Deployment, env: &Env) -> Result<Endpoint, String> {
    let alias = &dep.alias;
    let (name, default_base, base_vars, key_vars, key_required): (
        &'static str,
        Option<&'static str>,
        &[&str],
        &[&str],
        bool,
    ) = match dep.provider {
        ProviderKind::DashScope => {
            ("DashScope", Some(DASHSCOPE_DEFAULT_BASE), &[], &["DASHSCOPE_API_KEY"], true)
        }
        ProviderKind::Compat(c) => {
            let s = c.spec();
            (s.label, s.default_base, s.base_vars, s.key_vars, s.key_required)
        }
        _ => (
            "OpenAI-compatible upstream",
            Some(OPENAI_DEFAULT_BASE),
            &[],
            &["OPENAI_API_KEY"],
            false,
        ),
    };
    let base = dep
        .api_base
        .clone()
        .or_else(|| env.first_of(base_vars).map(|(_, v)| v))
        .or_else(|| default_base.map(str::to_owned))
        .ok_or_else(|| {
            format!(
                "model `{alias}`: no address for the {name} server: set litellm_params.api_base (or {}), e.g. http://127.0.0.1:8000/v1",
                base_vars.join(" / ")
            )
        })?;
    let mut base = base.trim().trim_end_matches('/').to_owned();
    if let ProviderKind::Compat(c) = dep.provider
        && c.is_ollama()
        && !base.ends_with("/v1")
    {
        // LiteLLM's OLLAMA_API_BASE is the server (`http://localhost:11434`); its
        // OpenAI-compatible API is under /v1.
        base.push_str("/v1");
    }
    url::Url::parse(&base)
        .map_err(|e| format!("model `{alias}`: api_base `{base}` is not a URL: {e}"))?;
    let api_key =
        dep.api_key.clone().or_else(|| env.first_of(key_vars).map(|(_, v)| Secret::new(v)));
    if api_key.is_none() && key_required {
        let vars = match key_vars {
            [one] => (*one).to_owned(),
            [first, rest @ ..] => format!("{first} (or {})", rest.join(", ")),
            [] => "an API key".to_owned(),
        };
        return Err(format!(
            "model `{alias}`: no {name} API key: set {vars} or litellm_params.api_key"
        ));
    }
    Ok(Endpoint { base, api_key, name })
}

/// The `Authorization` value for `key`, made once per deployment instead of per call. A key
/// an HTTP header cannot carry ([`super::unsendable`]) makes the model unavailable with that
/// reason at start-up; sent as it was, every call failed as an unreachable upstream ("builder
/// error"). Other providers' fixed keys are checked by `Provider::build`.
fn bearer(key: &Secret<String>, alias: &str) -> Result<http::HeaderValue, String> {
    let mut value =
        http::HeaderValue::try_from(format!("Bearer {}", key.expose())).map_err(|_| {
            let why = super::unsendable(key.expose()).unwrap_or("a control character");
            super::unsendable_credential(alias, why)
        })?;
    value.set_sensitive(true);
    Ok(value)
}

pub struct OpenAiCompat {
    kind: ProviderKind,
    client: crate::egress::Client,
    /// Parsed once here: parsing a URL per request showed up in the profile (scripts/bench --callgrind).
    chat_url: url::Url,
    embeddings_url: url::Url,
    /// `Bearer <key>`, made once (marked sensitive): see [`bearer`].
    authorization: Option<http::HeaderValue>,
    model: String,
    extra_headers: Vec<(String, String)>,
    timeouts: Timeouts,
    limits: BodyLimits,
    /// "DashScope at https://..." for messages.
    label: String,
}

impl OpenAiCompat {
    pub fn new(dep: &Deployment, egress: &Egress, env: &Env) -> Result<Self, String> {
        let Endpoint { base, api_key, name } = endpoint_of(dep, env)?;
        let authorization = api_key.as_ref().map(|key| bearer(key, &dep.alias)).transpose()?;
        let client = egress.client_for(dep).map_err(|e| format!("model `{}`: {e}", dep.alias))?;
        let mut extra_headers = dep.extra_headers.clone();
        let mut model = dep.model.clone();
        match dep.provider {
            ProviderKind::Compat(Compat::OpenRouter) => {
                // OpenRouter's app attribution headers (LiteLLM sends the same two).
                let has = |h: &str, list: &[(String, String)]| {
                    list.iter().any(|(k, _)| k.eq_ignore_ascii_case(h))
                };
                if let Some(site) = env.get("OR_SITE_URL")
                    && !has("HTTP-Referer", &extra_headers)
                {
                    extra_headers.push(("HTTP-Referer".into(), site));
                }
                if !has("X-Title", &extra_headers) {
                    let app = env.get("OR_APP_NAME").unwrap_or_else(|| "ai-proxy".into());
                    extra_headers.push(("X-Title".into(), app));
                }
            }
            ProviderKind::Compat(Compat::FireworksAi) if !model.contains('/') => {
                // Fireworks names models by path; a bare slug is its public catalogue's.
                model = format!("accounts/fireworks/models/{model}");
            }
            _ => {}
        }
        Ok(OpenAiCompat {
            kind: dep.provider,
            client,
            chat_url: endpoint(&base, "chat/completions", &dep.alias)?,
            embeddings_url: endpoint(&base, "embeddings", &dep.alias)?,
            authorization,
            model,
            extra_headers,
            timeouts: Timeouts::for_deployment(dep),
            limits: dep.body_limits,
            label: format!("{name} at {base}"),
        })
    }

    pub fn has_api_key(&self) -> bool {
        self.authorization.is_some()
    }

    pub fn unsupported_params(&self) -> &'static [&'static str] {
        match self.kind {
            ProviderKind::DashScope => DASHSCOPE_UNSUPPORTED,
            ProviderKind::Compat(Compat::Mistral) => MISTRAL_UNSUPPORTED,
            _ => &[],
        }
    }

    /// Whether to ask for the usage chunk with `stream_options` (Mistral refuses the field
    /// and sends usage in its last chunk on its own).
    fn asks_stream_usage(&self) -> bool {
        self.kind != ProviderKind::Compat(Compat::Mistral)
    }

    /// Whether answers need `translate::compat`'s normalization.
    fn normalizes(&self) -> bool {
        matches!(self.kind, ProviderKind::Compat(_))
    }

    fn post(&self, url: &url::Url) -> reqwest::RequestBuilder {
        let mut rb = self.client.post(url.clone());
        if let Some(value) = &self.authorization {
            rb = rb.header(http::header::AUTHORIZATION, value.clone());
        }
        for (k, v) in &self.extra_headers {
            rb = rb.header(k, v);
        }
        rb
    }

    /// Encoded before the future starts, which keeps only the body: see
    /// [`super::Provider::chat`].
    pub fn chat(
        &self,
        mut req: ChatRequest,
    ) -> impl Future<Output = Result<ChatOutput, ProviderError>> + '_ {
        req.model = self.model.clone();
        let call = if req.is_stream() || self.kind != ProviderKind::DashScope {
            Ok(self.encode_chat(&mut req))
        } else {
            // Boxed, as it keeps the request across its calls.
            Err(Box::pin(self.dashscope_chat(req)))
        };
        async move {
            match call {
                Ok(call) => self.send_chat(call?).await,
                Err(dashscope) => dashscope.await,
            }
        }
    }

    /// DashScope thinks only on streams. Asked to think (or a model that thinks by default
    /// refusing a plain call), stream upstream and fold the chunks into one completion.
    async fn dashscope_chat(&self, mut req: ChatRequest) -> Result<ChatOutput, ProviderError> {
        if thinking_on(&req) {
            return self.collected(req).await;
        }
        let call = self.encode_chat(&mut req)?;
        match self.send_chat(call).await {
            Err(e) if is_stream_only_thinking(&e) => self.collected(req).await,
            other => other,
        }
    }

    /// The body of a chat request and how to read its answer.
    fn encode_chat(&self, req: &mut ChatRequest) -> Result<ChatCall, ProviderError> {
        let stream = req.is_stream();
        let usage_requested = stream && self.asks_stream_usage();
        if usage_requested {
            // Always ask for usage so the request log and tpm see it; `server` strips the
            // usage chunk again when the client did not ask for it.
            let opts = req.stream_options.get_or_insert_with(StreamOptions::default);
            opts.include_usage = Some(true);
        } else {
            req.stream_options = None;
        }
        Ok(ChatCall {
            body: super::http::encode_json_sized(&req, req.size_hint)?,
            timeouts: self.timeouts.with(req.call_timeouts),
            stream,
            usage_requested,
            verbatim: req.verbatim && !self.normalizes(),
        })
    }

    async fn send_chat(&self, call: ChatCall) -> Result<ChatOutput, ProviderError> {
        let ChatCall { body, timeouts, stream, usage_requested, verbatim } = call;
        let rb = self
            .post(&self.chat_url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        let resp = send(&self.client, rb, timeouts, &self.label).await?;
        if !stream {
            let limit = self.limits.response_bytes;
            let mut out = read_completion(resp, timeouts, limit, &self.label, verbatim).await?;
            if let ChatOutput::Complete(completion) = &mut out
                && self.normalizes()
            {
                normalize_completion(completion);
            }
            return Ok(out);
        }
        let read = StreamRead {
            idle: timeouts.stream_idle,
            max_event_bytes: self.limits.stream_event_bytes,
            usage_requested,
            verbatim,
        };
        let chunks = chunk_stream(resp, read, self.label.clone());
        if self.normalizes() {
            let chunks = chunks.map(|item| {
                item.map(|mut c| {
                    normalize_chunk(&mut c);
                    c
                })
            });
            return Ok(ChatOutput::Stream(Box::pin(chunks)));
        }
        Ok(ChatOutput::Stream(Box::pin(chunks)))
    }

    /// A non-streaming answer made from a streamed one (see `translate::collect`).
    async fn collected(&self, mut req: ChatRequest) -> Result<ChatOutput, ProviderError> {
        req.stream = Some(true);
        // The collector reads every chunk typed.
        req.verbatim = false;
        let call = self.encode_chat(&mut req)?;
        let ChatOutput::Stream(mut chunks) = self.send_chat(call).await? else {
            return Err(ProviderError::protocol(format!(
                "{} answered a stream request without a stream",
                self.label
            )));
        };
        let mut collector = Collector::default();
        while let Some(chunk) = chunks.next().await {
            collector.push(chunk?);
        }
        let completion = collector.finish();
        if completion.choices.is_empty() {
            return Err(ProviderError::protocol(format!(
                "{} ended the stream without an answer",
                self.label
            )));
        }
        Ok(ChatOutput::Complete(completion))
    }

    pub async fn embeddings(
        &self,
        mut req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        req.model = self.model.clone();
        let body = super::http::encode_json(&req)?;
        let rb = self
            .post(&self.embeddings_url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        let timeouts = self.timeouts.with(req.call_timeouts);
        let resp = send(&self.client, rb, timeouts, &self.label).await?;
        read_json(resp, timeouts, self.limits.response_bytes, &self.label).await
    }
}

/// How to read an OpenAI-style stream (shared with the Azure provider).
#[derive(Debug, Clone, Copy)]
pub(super) struct StreamRead {
    /// The longest wait for the next bytes (`stream_timeout`).
    pub idle: Duration,
    /// `general_settings.max_stream_event_size_mb`.
    pub max_event_bytes: usize,
    /// Whether the request asked for the usage chunk (`stream_options.include_usage`).
    pub usage_requested: bool,
    /// Pass regular chunks on as written (`translate::verbatim::chunk`).
    pub verbatim: bool,
}

/// How long the body may take to end after `data: [DONE]` before we stop reading it (the
/// answer is complete; waiting only lets the connection go back to the pool).
const AFTER_DONE: Duration = Duration::from_secs(1);
/// Events drained after `data: [DONE]` per poll, at most.
const DRAIN_PER_TURN: usize = 64;

/// The chunks of an OpenAI-style SSE body (empty events skipped). An error payload or a
/// transport failure ends it with an `Err`, and so does a body that ends before the stream
/// was complete (see [`Ending`]): a cut answer is never passed on as a finished one.
pub(super) fn chunk_stream(
    resp: reqwest::Response,
    read: StreamRead,
    label: String,
) -> impl futures_util::Stream<Item = Result<ChatChunk, ProviderError>> + Send {
    let events = Box::pin(sse_events(resp, read.idle, read.max_event_bytes, label.clone()));
    Chunks { events, ending: Ending::default(), read, label, phase: Phase::Reading }
}

/// [`chunk_stream`]'s stream, polled in place (no future made per chunk).
struct Chunks<E> {
    events: Pin<Box<E>>,
    ending: Ending,
    read: StreamRead,
    label: String,
    phase: Phase,
}

enum Phase {
    Reading,
    /// `data: [DONE]` came: the rest of the body is read (and ignored) until it ends or the
    /// timer goes off, so that the connection can be reused.
    Draining(Pin<Box<tokio::time::Sleep>>),
    Over,
}

impl<E> futures_util::Stream for Chunks<E>
where
    E: futures_util::Stream<Item = Result<SseEvent, ProviderError>>,
{
    type Item = Result<ChatChunk, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `E` sits behind a `Box`, so `Chunks` is `Unpin` whatever `E` is.
        let st = self.get_mut();
        loop {
            match &mut st.phase {
                Phase::Over => return Poll::Ready(None),
                Phase::Draining(timer) => {
                    // Anything after the marker (even a failure) changes nothing. A few events
                    // per turn, so that a body that never pauses cannot hold the thread.
                    if timer.as_mut().poll(cx).is_ready() {
                        st.phase = Phase::Over;
                        return Poll::Ready(None);
                    }
                    for _ in 0..DRAIN_PER_TURN {
                        match st.events.as_mut().poll_next(cx) {
                            Poll::Ready(Some(_)) => {}
                            Poll::Ready(None) => {
                                st.phase = Phase::Over;
                                return Poll::Ready(None);
                            }
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Phase::Reading => {}
            }
            let out = match std::task::ready!(st.events.as_mut().poll_next(cx)) {
                Some(Ok(ev)) => {
                    let data = ev.data.trim();
                    if data.is_empty() {
                        continue;
                    }
                    if data == "[DONE]" {
                        let timer = Box::pin(tokio::time::sleep(AFTER_DONE));
                        st.phase = Phase::Draining(timer);
                        continue;
                    }
                    let parsed = if st.read.verbatim {
                        verbatim::chunk(ev.data).or_else(|data| parse_chunk(data.trim(), &st.label))
                    } else {
                        parse_chunk(data, &st.label)
                    };
                    match parsed {
                        Ok(chunk) => {
                            st.ending.see(&chunk);
                            return Poll::Ready(Some(Ok(chunk)));
                        }
                        Err(e) => Err(e),
                    }
                }
                Some(Err(e)) => Err(e),
                None => match st.ending.missing(st.read.usage_requested) {
                    None => {
                        st.phase = Phase::Over;
                        return Poll::Ready(None);
                    }
                    Some(missing) => Err(ProviderError::protocol(format!(
                        "{} ended the stream without `data: [DONE]` and {missing}: the answer \
                         was cut off",
                        st.label
                    ))),
                },
            };
            st.phase = Phase::Over;
            return Poll::Ready(Some(out));
        }
    }
}

/// What an OpenAI-style stream has shown of its end, for a body that ends without
/// `data: [DONE]` (which alone makes a stream complete). Such a stream still counts as
/// complete when every choice that appeared has its `finish_reason` and, when usage was
/// requested, the usage chunk (sent after the finish reasons) arrived: some servers close
/// the body without the marker. Anything less is a cut answer.
#[derive(Debug, Default)]
struct Ending {
    /// (choice index, whether it has finished), in order of appearance.
    choices: Vec<(u32, bool)>,
    usage: bool,
}

impl Ending {
    fn see(&mut self, chunk: &ChatChunk) {
        self.usage |= chunk.usage.is_some();
        for c in &chunk.choices {
            let finished = c.finish_reason.as_deref().is_some_and(|r| !r.is_empty());
            match self.choices.iter_mut().find(|(i, _)| *i == c.index) {
                Some((_, done)) => *done |= finished,
                None => self.choices.push((c.index, finished)),
            }
        }
    }

    /// What is missing for a complete stream, if anything.
    fn missing(&self, usage_requested: bool) -> Option<&'static str> {
        if self.choices.is_empty() || self.choices.iter().any(|(_, done)| !done) {
            Some("before its finish_reason")
        } else if usage_requested && !self.usage {
            Some("before its usage chunk")
        } else {
            None
        }
    }
}

/// Whether a request turns DashScope thinking on (`enable_thinking: true`, set by the client
/// or mapped from `reasoning_effort` by `translate::adapt`).
fn thinking_on(req: &ChatRequest) -> bool {
    req.extra.get("enable_thinking") == Some(&serde_json::Value::Bool(true))
}

/// DashScope's refusal of a plain call to a model that thinks by default (open-source Qwen3):
/// 400 "parameter.enable_thinking must be set to false for non-streaming calls".
fn is_stream_only_thinking(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Upstream { status: 400, message, .. }
        if message.contains("enable_thinking must be set to false for non-streaming"))
}

/// `{base}/{path}` as a parsed URL.
fn endpoint(base: &str, path: &str, alias: &str) -> Result<url::Url, String> {
    url::Url::parse(&format!("{base}/{path}"))
        .map_err(|e| format!("model `{alias}`: api_base `{base}` is not a URL: {e}"))
}

/// One `data:` payload of an OpenAI-style stream. An `{"error": ...}` payload mid-stream
/// (vLLM, DashScope) becomes an error that ends the stream.
fn parse_chunk(data: &str, label: &str) -> Result<ChatChunk, ProviderError> {
    if data.contains("\"error\"")
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(data)
        && v.get("error").is_some()
        && v.get("choices").is_none()
    {
        let status = v
            .pointer("/error/code")
            .and_then(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok()))
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .unwrap_or(502);
        return Err(super::http::error_from_body(status, data.as_bytes(), label));
    }
    serde_json::from_str(data).map_err(|e| {
        ProviderError::protocol(format!(
            "{label} sent a stream chunk that could not be read ({e}): {}",
            super::http::truncate(data, 300)
        ))
    })
}

/// An encoded chat request and what reading its answer needs (here and for Azure OpenAI).
pub(super) struct ChatCall {
    pub(super) body: Vec<u8>,
    pub(super) timeouts: Timeouts,
    pub(super) stream: bool,
    /// The body asks for usage on the stream.
    pub(super) usage_requested: bool,
    /// Pass the answer on as the upstream wrote it (the client asked, and nothing is
    /// normalized).
    pub(super) verbatim: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen_reasoning_deltas_are_kept() {
        let c = parse_chunk(
            r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"qwen-plus","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"think"},"finish_reason":null}]}"#,
            "DashScope",
        )
        .expect("chunk");
        assert_eq!(c.choices[0].delta.reasoning_content.as_deref(), Some("think"));
    }

    #[test]
    fn error_payload_mid_stream_is_an_error() {
        let e = parse_chunk(r#"{"error":{"message":"quota exceeded","code":429}}"#, "DashScope")
            .expect_err("error");
        match e {
            ProviderError::Upstream { status, message, .. } => {
                assert_eq!(status, 429);
                assert_eq!(message, "quota exceeded");
            }
            other => panic!("{other:?}"),
        }
    }

    fn chunk(choices: serde_json::Value, usage: bool) -> ChatChunk {
        let mut v = serde_json::json!({"id": "x", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": choices});
        if usage {
            v["usage"] =
                serde_json::json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3});
        }
        serde_json::from_value(v).expect("chunk")
    }

    #[test]
    fn without_done_a_stream_needs_every_finish_reason_and_the_usage_it_asked_for() {
        let text = |i: u32| serde_json::json!([{"index": i, "delta": {"content": "a"}, "finish_reason": null}]);
        let stop = |i: u32| serde_json::json!([{"index": i, "delta": {}, "finish_reason": "stop"}]);
        let mut e = Ending::default();
        assert_eq!(e.missing(false), Some("before its finish_reason"), "nothing came");
        e.see(&chunk(text(0), false));
        e.see(&chunk(text(1), false));
        assert_eq!(e.missing(false), Some("before its finish_reason"));
        e.see(&chunk(stop(0), false));
        assert_eq!(e.missing(false), Some("before its finish_reason"), "choice 1 is open");
        e.see(&chunk(stop(1), false));
        assert_eq!(e.missing(false), None);
        assert_eq!(e.missing(true), Some("before its usage chunk"));
        e.see(&chunk(serde_json::json!([]), true));
        assert_eq!(e.missing(true), None);
        // A later chunk without a finish reason does not reopen a choice.
        e.see(&chunk(text(0), false));
        assert_eq!(e.missing(true), None);
    }

    /// An event-stream response whose body is `parts`, then (when `then_hang`) never ends.
    fn sse_response(parts: &[&'static str], then_hang: bool) -> reqwest::Response {
        let items =
            parts.iter().map(|p| Ok::<_, std::io::Error>(bytes::Bytes::from_static(p.as_bytes())));
        let body = futures_util::stream::iter(items.collect::<Vec<_>>());
        let body = if then_hang {
            reqwest::Body::wrap_stream(body.chain(futures_util::stream::pending()))
        } else {
            reqwest::Body::wrap_stream(body)
        };
        let resp = http::Response::builder()
            .header("content-type", "text/event-stream")
            .body(body)
            .expect("response");
        reqwest::Response::from(resp)
    }

    fn read(idle: Duration) -> StreamRead {
        StreamRead { idle, max_event_bytes: 1 << 20, usage_requested: false, verbatim: true }
    }

    const CHUNK: &str = "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n";

    #[tokio::test(start_paused = true)]
    async fn a_body_left_open_after_done_ends_the_stream_a_second_later() {
        let resp = sse_response(&[CHUNK, "data: [DONE]\n\n", "data: ignored\n\n"], true);
        let mut chunks = Box::pin(chunk_stream(resp, read(Duration::from_secs(60)), "T".into()));
        let start = tokio::time::Instant::now();
        assert!(chunks.next().await.expect("chunk").is_ok());
        assert!(chunks.next().await.is_none(), "ended, not an error");
        assert_eq!(start.elapsed(), AFTER_DONE);
        assert!(chunks.next().await.is_none(), "and stays ended");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_after_done_ends_the_stream_at_once() {
        let resp = sse_response(&[CHUNK, "data: [DONE]\n\n", ": trailing\n\n"], false);
        let mut chunks = Box::pin(chunk_stream(resp, read(Duration::from_secs(60)), "T".into()));
        let start = tokio::time::Instant::now();
        assert!(chunks.next().await.expect("chunk").is_ok());
        assert!(chunks.next().await.is_none());
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_silent_for_the_idle_limit_is_an_error_but_a_slow_reader_is_not() {
        let resp = sse_response(&[CHUNK], true);
        let mut chunks = Box::pin(chunk_stream(resp, read(Duration::from_secs(5)), "T".into()));
        assert!(chunks.next().await.expect("chunk").is_ok());
        // The reader takes its time before asking again: not counted as the upstream's silence.
        tokio::time::advance(Duration::from_secs(30)).await;
        let start = tokio::time::Instant::now();
        match chunks.next().await {
            Some(Err(ProviderError::Timeout { message, .. })) => {
                assert!(message.contains("T sent nothing for 5s"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert!(chunks.next().await.is_none());
    }
}

//! OpenAI chat completions and stream chunks passed on as the upstream wrote them.
//!
//! When the upstream speaks the client's dialect, decoding its answer into a
//! [`ChatCompletion`](crate::wire::openai::ChatCompletion) only to encode it again was the largest single cost of a call
//! (BENCHMARKS.md, issue #20). [`Verbatim::check`] reads the body once without building it,
//! confirms that it has every field the typed round trip would have filled in, and notes
//! where `model` is and what `usage` says. The client then gets the upstream's bytes with
//! only `model` replaced: the same answer as the typed path, up to key order, string escapes
//! and `null` fields the typed form leaves out (`"content": null` beside tool calls stays,
//! as OpenAI and LiteLLM send it).
//!
//! Anything less regular (a missing `object`, content as parts, malformed JSON) is not
//! verbatim: the caller decodes it typed, which fills the defaults or names the error
//! exactly as before.
//!
//! Stream chunks the same way ([`chunk`], [`write_chunk_frame`]): each `data:` payload is
//! checked in one borrowed pass and written back with only `model` replaced (and its
//! `"usage": null` left out for a client that did not ask for usage); the usage chunk itself
//! and anything irregular go typed.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::wire::openai::{
    ChatChunk, ChunkChoice, CompletionTokensDetails, PromptTokensDetails, RawChunk, Usage,
};

/// A chat completion kept as the upstream's JSON.
pub struct Verbatim {
    body: Bytes,
    /// Where the `model` string is in `body`, quotes included.
    model: Range<usize>,
    usage: Option<Usage>,
}

impl fmt::Debug for Verbatim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verbatim").field("bytes", &self.body.len()).finish_non_exhaustive()
    }
}

impl Verbatim {
    /// The body as a verbatim completion, or `None` when it must go through the typed decode.
    pub fn check(body: Bytes) -> Option<Verbatim> {
        let (model, usage) = {
            let shape: Shape<'_> = crate::wire::from_json(&body).ok()?;
            if !shape.is_regular() {
                return None;
            }
            let text = shape.model.get();
            if !text.starts_with('"') {
                return None;
            }
            let start = (text.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
            let usage = match shape.usage {
                Some(counts) => Some(counts.into_usage()?),
                None => None,
            };
            let span = start..start + text.len();
            // The span is where serde_json borrowed `model` from: check it, cheaply, anyway.
            if body.get(span.clone()) != Some(text.as_bytes()) {
                return None;
            }
            (span, usage)
        };
        Some(Verbatim { body, model, usage })
    }

    /// The token counts the upstream reported: what the request log and the price need
    /// (the answer's own `usage` reaches the client whole).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The completion's JSON with `model` set to `model` (the alias the client asked for).
    pub fn with_model(&self, model: &str) -> Vec<u8> {
        // Room for the name quoted; escapes, if any, grow it.
        let mut out = Vec::with_capacity(self.body.len() + model.len() + 2);
        out.extend_from_slice(&self.body[..self.model.start]);
        crate::wire::encode::write_str(&mut out, model);
        out.extend_from_slice(&self.body[self.model.end..]);
        out
    }
}

/// One `data:` payload of an OpenAI chat stream as a chunk passed on as written, or the
/// payload back when it must be decoded typed. Taken only when it has every field the typed
/// [`ChatChunk`] would write (`id`, `object`, `created`, a string `model`, `choices` with
/// `index`, `delta` and `finish_reason`), each of a type the typed decode accepts, and no
/// `usage` (the usage chunk goes typed: the relay counts it and drops it for a client that
/// did not ask). The returned chunk's typed fields hold the choices' `index` and
/// `finish_reason` only: what the stream's end check reads.
pub fn chunk(data: String) -> Result<ChatChunk, String> {
    let Some((spans, finishes)) = chunk_shape(&data) else { return Err(data) };
    let choices = finishes
        .into_iter()
        .map(|(index, finish_reason)| ChunkChoice {
            index,
            finish_reason,
            ..ChunkChoice::default()
        })
        .collect();
    let (model, usage_null) = spans;
    let raw = RawChunk { json: data, model, usage_null };
    Ok(ChatChunk { choices, verbatim: Some(raw), ..ChatChunk::default() })
}

/// Where `model` and a `"usage": null` member are, and each choice's (index,
/// finish_reason), when `data` is a regular chunk.
#[allow(clippy::type_complexity)]
fn chunk_shape(
    data: &str,
) -> Option<((Range<usize>, Option<Range<usize>>), Vec<(u32, Option<String>)>)> {
    // Written back on one `data:` line: a payload that came on several (JSON with line
    // breaks between its tokens) is re-encoded instead.
    if data.trim_ascii().len() != data.len()
        || memchr::memchr2(b'\n', b'\r', data.as_bytes()).is_some()
    {
        return None;
    }
    let shape: ChunkShape<'_> = serde_json::from_str(data).ok()?;
    let model = span_in(data, shape.model)?;
    if !shape.model.get().starts_with('"') {
        return None;
    }
    let usage_null = match shape.usage {
        None => None,
        Some(usage) if usage.get() == "null" => Some(member(data, span_in(data, usage)?, "usage")?),
        Some(_) => return None,
    };
    Some((
        (model, usage_null),
        shape.choices.into_iter().map(|c| (c.index, c.finish_reason)).collect(),
    ))
}

/// Where `value` (borrowed from `data` by serde_json) lies in `data`.
fn span_in(data: &str, value: &RawValue) -> Option<Range<usize>> {
    let text = value.get();
    let start = (text.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    let span = start..start + text.len();
    // Where serde_json borrowed it from: checked, cheaply, anyway.
    (data.get(span.clone()) == Some(text)).then_some(span)
}

/// The object member `"key": <value at value>` with the comma before it (or, for a first
/// member, the one after it): what to cut to leave the member out. `None` when the key is
/// not written plainly (escapes), so the caller goes typed.
fn member(data: &str, value: Range<usize>, key: &str) -> Option<Range<usize>> {
    let bytes = data.as_bytes();
    let skip_back = |mut i: usize| {
        while i > 0 && bytes[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        i
    };
    let skip_forward = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let colon = skip_back(value.start).checked_sub(1)?;
    if bytes[colon] != b':' {
        return None;
    }
    let key_end = skip_back(colon);
    let quoted_len = key.len() + 2;
    let key_start = key_end.checked_sub(quoted_len)?;
    let quoted = &bytes[key_start..key_end];
    if quoted.first() != Some(&b'"')
        || quoted.last() != Some(&b'"')
        || &quoted[1..quoted.len() - 1] != key.as_bytes()
    {
        return None;
    }
    let before = skip_back(key_start).checked_sub(1)?;
    match bytes[before] {
        b',' => Some(before..value.end),
        b'{' => {
            let after = skip_forward(value.end);
            match bytes.get(after) {
                Some(b',') => Some(key_start..after + 1),
                Some(b'}') => Some(key_start..value.end),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Write `raw` as one SSE frame with `model_json` (a JSON string) as its `model`, and without
/// its `"usage": null` member unless `keep_usage`.
pub fn write_chunk_frame(raw: &RawChunk, model_json: &str, keep_usage: bool, buf: &mut Vec<u8>) {
    let json = raw.json.as_bytes();
    buf.reserve(json.len() + model_json.len() + 8);
    buf.extend_from_slice(b"data: ");
    let cut = raw.usage_null.clone().filter(|_| !keep_usage);
    let mut at = 0;
    let mut edits = [(raw.model.clone(), model_json.as_bytes()), (cut.unwrap_or(0..0), &b""[..])];
    edits.sort_by_key(|(span, _)| span.start);
    for (span, with) in edits {
        if span.is_empty() {
            continue;
        }
        buf.extend_from_slice(&json[at..span.start]);
        buf.extend_from_slice(with);
        at = span.end;
    }
    buf.extend_from_slice(&json[at..]);
    buf.extend_from_slice(b"\n\n");
}

/// The fields of a chunk the typed decode requires or the typed encode writes; the rest is
/// skipped unread. A required field here is one [`ChatChunk`] would fill in when missing.
#[derive(Deserialize)]
struct ChunkShape<'a> {
    #[serde(rename = "id")]
    _id: Str,
    #[serde(rename = "object")]
    _object: Str,
    #[serde(rename = "created")]
    _created: i64,
    #[serde(borrow)]
    model: &'a RawValue,
    choices: Vec<ChunkChoiceShape>,
    /// Present as written, `null` included (a plain `Option` would read `null` as absent).
    #[serde(default, borrow, deserialize_with = "raw")]
    usage: Option<&'a RawValue>,
    #[serde(rename = "system_fingerprint")]
    _system_fingerprint: Option<Str>,
}

#[derive(Deserialize)]
struct ChunkChoiceShape {
    index: u32,
    #[serde(rename = "delta")]
    _delta: DeltaShape,
    /// Required: the typed encode writes `null` when it is missing.
    #[serde(deserialize_with = "present")]
    finish_reason: Option<String>,
    #[serde(rename = "logprobs")]
    _logprobs: Option<IgnoredAny>,
}

fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A field that must be there, as a string or `null` (a plain `Option` field of a derived
/// type may be missing).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

#[derive(Deserialize)]
struct DeltaShape {
    #[serde(rename = "role")]
    _role: Option<Str>,
    #[serde(rename = "content")]
    _content: Option<Str>,
    #[serde(rename = "reasoning_content")]
    _reasoning_content: Option<Str>,
    #[serde(rename = "tool_calls")]
    _tool_calls: Option<Vec<ToolCallDeltaShape>>,
}

#[derive(Deserialize)]
struct ToolCallDeltaShape {
    #[serde(rename = "index")]
    _index: u32,
    #[serde(rename = "id")]
    _id: Option<Str>,
    #[serde(rename = "type")]
    _kind: Option<Str>,
    #[serde(rename = "function")]
    _function: Option<FunctionDeltaShape>,
}

/// The typed delta keeps nothing else of a function (no catch-all map): a chunk with more
/// goes typed, so that verbatim and typed chunks read the same.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionDeltaShape {
    #[serde(rename = "name")]
    _name: Option<Str>,
    #[serde(rename = "arguments")]
    _arguments: Option<Str>,
}

/// The fields of a completion the typed decode requires or fills in; everything else is
/// skipped unread. Each check mirrors a field of [`ChatCompletion`](crate::wire::openai::ChatCompletion): a value the typed decode
/// would refuse fails here too, and a field it would default must be present.
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(rename = "id")]
    _id: Str,
    object: Option<Str>,
    created: Option<i64>,
    #[serde(borrow)]
    model: &'a RawValue,
    choices: Option<Vec<ChoiceShape>>,
    usage: Option<UsageShape>,
    #[serde(rename = "system_fingerprint")]
    _system_fingerprint: Option<Str>,
}

impl Shape<'_> {
    fn is_regular(&self) -> bool {
        self.object.is_some()
            && self.created.is_some()
            && self.choices.as_ref().is_some_and(|c| c.iter().all(ChoiceShape::is_regular))
    }
}

#[derive(Deserialize)]
struct ChoiceShape {
    index: Option<u32>,
    message: MessageShape,
    #[serde(default)]
    finish_reason: Seen,
    #[serde(rename = "logprobs")]
    _logprobs: Option<IgnoredAny>,
}

impl ChoiceShape {
    fn is_regular(&self) -> bool {
        self.index.is_some() && self.finish_reason.0 && self.message.is_regular()
    }
}

/// A message whose content is text (or absent): content parts go the typed way.
#[derive(Deserialize)]
struct MessageShape {
    #[serde(rename = "role")]
    _role: Str,
    #[serde(rename = "content")]
    _content: Option<Str>,
    #[serde(rename = "name")]
    _name: Option<Str>,
    tool_calls: Option<Vec<ToolCallShape>>,
    #[serde(rename = "tool_call_id")]
    _tool_call_id: Option<Str>,
    #[serde(rename = "reasoning_content")]
    _reasoning_content: Option<Str>,
}

impl MessageShape {
    fn is_regular(&self) -> bool {
        self.tool_calls.as_ref().is_none_or(|calls| {
            calls.iter().all(|c| c.kind.is_some() && c.function.arguments.is_some())
        })
    }
}

#[derive(Deserialize)]
struct ToolCallShape {
    #[serde(rename = "id")]
    _id: Str,
    #[serde(rename = "type")]
    kind: Option<Str>,
    function: FunctionShape,
}

#[derive(Deserialize)]
struct FunctionShape {
    #[serde(rename = "name")]
    _name: Str,
    arguments: Option<Str>,
}

/// The fields of [`Usage`] that are typed (the counts, which it would set to 0 when missing,
/// and the two details), and the one of its extras the price reads. Read in the same pass as
/// the rest: the typed `Usage`, with its catch-all map, cost a third of the whole check.
#[derive(Deserialize)]
struct UsageShape {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetailsShape>,
    completion_tokens_details: Option<CompletionDetailsShape>,
    cache_creation_input_tokens: Option<Value>,
}

#[derive(Deserialize)]
struct PromptDetailsShape {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetailsShape {
    reasoning_tokens: Option<u64>,
}

impl UsageShape {
    /// The counts as a [`Usage`], or `None` when one is missing.
    fn into_usage(self) -> Option<Usage> {
        let mut extra = serde_json::Map::new();
        if let Some(v) = self.cache_creation_input_tokens {
            extra.insert("cache_creation_input_tokens".to_owned(), v);
        }
        Some(Usage {
            prompt_tokens: self.prompt_tokens?,
            completion_tokens: self.completion_tokens?,
            total_tokens: self.total_tokens?,
            prompt_tokens_details: self.prompt_tokens_details.map(|d| PromptTokensDetails {
                cached_tokens: d.cached_tokens,
                ..PromptTokensDetails::default()
            }),
            completion_tokens_details: self.completion_tokens_details.map(|d| {
                CompletionTokensDetails {
                    reasoning_tokens: d.reasoning_tokens,
                    ..CompletionTokensDetails::default()
                }
            }),
            extra,
        })
    }
}

/// A JSON string, checked and not kept.
struct Str;

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrOrNull { null: false }).map(|_| Str)
    }
}

/// Whether a field was present, as a string or `null` (for the typed `Option<String>` that
/// is written as `null` when missing).
#[derive(Default)]
struct Seen(bool);

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(StrOrNull { null: true }).map(|_| Seen(true))
    }
}

struct StrOrNull {
    null: bool,
}

impl<'de> Visitor<'de> for StrOrNull {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.null { "a string or null" } else { "a string" })
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        if self.null { Ok(()) } else { Err(E::invalid_type(de::Unexpected::Option, &self)) }
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(StrOrNull { null: false })
    }
}

#[cfg(test)]
mod tests;

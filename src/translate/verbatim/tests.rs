//! `Verbatim::check` against hand-written answers and a proptest against the typed round trip.

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::Verbatim;
use crate::usage::price;
use crate::wire::openai::{ChatChunk, ChatCompletion, Usage};

/// What the request log and the price read of a usage.
fn counts(u: &Usage) -> [u64; 6] {
    [
        u.prompt_tokens,
        u.completion_tokens,
        u.total_tokens,
        price::cached_tokens(u),
        price::reasoning_tokens(u),
        price::cache_write_tokens(u),
    ]
}

/// An answer as OpenAI writes one for a tool call: nulls, details, fields we do not model.
const TOOL_CALL: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1732800000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}],"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"service_tier":"default","system_fingerprint":"fp_1"}"#;

fn check(body: &str) -> Option<Verbatim> {
    Verbatim::check(Bytes::copy_from_slice(body.as_bytes()))
}

#[test]
fn a_regular_answer_is_kept_byte_for_byte_but_its_model() {
    let v = check(TOOL_CALL).expect("verbatim");
    let out = String::from_utf8(v.with_model("my-gpt")).expect("utf-8");
    assert_eq!(out, TOOL_CALL.replace(r#""model":"gpt-4o-2024-08-06""#, r#""model":"my-gpt""#));
    let usage = v.usage().expect("usage");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (82, 17, 99));
    assert_eq!(usage.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens), Some(0));
}

#[test]
fn the_alias_is_written_as_a_json_string() {
    let v = check(TOOL_CALL).expect("verbatim");
    let out: Value = serde_json::from_slice(&v.with_model("a\"b\\c\nd")).expect("json");
    assert_eq!(out["model"], "a\"b\\c\nd");
    // An escaped model name upstream is replaced whole.
    let escaped = TOOL_CALL.replace("gpt-4o-2024-08-06", r#"gpt\u002d4o \"x\""#);
    let v = check(&escaped).expect("verbatim");
    let out: Value = serde_json::from_slice(&v.with_model("m")).expect("json");
    assert_eq!(out["model"], "m");
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn text_beyond_ascii_is_kept_and_a_body_that_is_not_utf8_goes_typed() {
    let body = TOOL_CALL.replace("Paris", "Zürich 北京 🚆");
    let v = check(&body).expect("verbatim");
    let out = String::from_utf8(v.with_model("my-gpt")).expect("utf-8");
    assert_eq!(out, body.replace(r#""model":"gpt-4o-2024-08-06""#, r#""model":"my-gpt""#));
    // A byte that is not UTF-8 inside a string: not verbatim, and the typed decode refuses it
    // too (the caller then names the answer as unreadable).
    let mut bytes = TOOL_CALL.as_bytes().to_vec();
    let at = TOOL_CALL.find("Paris").expect("city");
    bytes[at] = 0xff;
    assert!(Verbatim::check(Bytes::from(bytes.clone())).is_none());
    assert!(serde_json::from_slice::<ChatCompletion>(&bytes).is_err());
}

#[test]
fn only_the_top_level_model_is_replaced() {
    let body = TOOL_CALL.replace(r#""service_tier":"default""#, r#""meta":{"model":"inner"}"#);
    let v = check(&body).expect("verbatim");
    let out: Value = serde_json::from_slice(&v.with_model("alias")).expect("json");
    assert_eq!(out["model"], "alias");
    assert_eq!(out["meta"]["model"], "inner");
}

/// `base` with the field at `parent`/`key` set to `value`, or removed when `value` is `None`.
fn changed(base: &Value, parent: &str, key: &str, value: Option<Value>) -> Value {
    let mut v = base.clone();
    let obj = v.pointer_mut(parent).and_then(Value::as_object_mut).expect("parent object");
    match value {
        Some(x) => drop(obj.insert(key.to_owned(), x)),
        None => drop(obj.remove(key)),
    }
    v
}

#[test]
fn anything_the_typed_decode_would_fill_in_or_refuse_is_not_verbatim() {
    let base: Value = serde_json::from_str(TOOL_CALL).expect("json");
    let call = "/choices/0/message/tool_calls/0";
    let cases = [
        ("", "object", None),
        ("", "created", None),
        ("", "choices", None),
        ("", "id", None),
        ("", "created", Some(json!("1"))),
        ("", "model", Some(Value::Null)),
        ("", "model", Some(json!(4))),
        ("/choices/0", "index", None),
        ("/choices/0", "finish_reason", None),
        ("/choices/0", "finish_reason", Some(json!(1))),
        ("/choices/0/message", "role", None),
        ("/choices/0/message", "content", Some(json!([{"type": "text", "text": "hi"}]))),
        (call, "type", None),
        (&format!("{call}/function"), "arguments", None),
        ("/usage", "total_tokens", None),
        ("/usage", "prompt_tokens", Some(json!("82"))),
    ];
    for (parent, key, value) in cases {
        let what = format!("{parent}/{key} = {value:?}");
        assert!(check(&changed(&base, parent, key, value).to_string()).is_none(), "{what}");
    }
    for bad in ["", "{", "[]", "null", r#"{"id":"x"} trailing"#, "\u{feff}{}"] {
        assert!(check(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn plain_text_answers_and_empty_usage_are_verbatim() {
    let text = r#"{"id":"x","object":"chat.completion","created":1,"model":"qwen-plus","choices":[{"index":0,"message":{"role":"assistant","content":"hi","reasoning_content":"hm"},"finish_reason":null}]}"#;
    let v = check(text).expect("verbatim");
    assert!(v.usage().is_none());
    let v = check(&text.replace("}]}", r#"}],"usage":null}"#)).expect("verbatim with null usage");
    assert!(v.usage().is_none());
}

/// A JSON object with every key the strip keeps; `null`s dropped at every depth (the typed
/// encode leaves most `None`s out, the upstream may write them).
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// A field that is absent, `null`, good or of a wrong type.
fn field(good: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    let bad = prop_oneof![
        Just(json!(7)),
        Just(json!(-1.5)),
        Just(json!([])),
        Just(json!({"k": 1})),
        Just(json!(true)),
        Just(json!("s"))
    ];
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        12 => good.prop_map(Some),
        1 => bad.prop_map(Some),
    ]
    .boxed()
}

fn text() -> BoxedStrategy<Value> {
    "[a-z\"\\\\é\n ]{0,8}".prop_map(Value::from).boxed()
}

fn count() -> BoxedStrategy<Value> {
    (0u64..100_000).prop_map(Value::from).boxed()
}

fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(fields.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect())
}

fn tool_call() -> BoxedStrategy<Value> {
    (field(text()), field(Just(json!("function")).boxed()), field(text()), field(text()))
        .prop_map(|(id, kind, name, arguments)| {
            let function = object(vec![("name", name), ("arguments", arguments)]);
            object(vec![("id", id), ("type", kind), ("function", Some(function))])
        })
        .boxed()
}

fn message() -> BoxedStrategy<Value> {
    let content =
        prop_oneof![4 => text(), 1 => Just(json!([{"type": "text", "text": "part"}]))].boxed();
    (
        field(Just(json!("assistant")).boxed()),
        field(content),
        field(prop::collection::vec(tool_call(), 0..3).prop_map(Value::from).boxed()),
        field(text()),
        field(text()),
    )
        .prop_map(|(role, content, tool_calls, reasoning, refusal)| {
            object(vec![
                ("role", role),
                ("content", content),
                ("tool_calls", tool_calls),
                ("reasoning_content", reasoning),
                ("refusal", refusal),
            ])
        })
        .boxed()
}

fn choice() -> BoxedStrategy<Value> {
    let reason =
        prop_oneof![Just(json!("stop")), Just(json!("tool_calls")), Just(json!("length"))].boxed();
    (
        field((0u32..4).prop_map(Value::from).boxed()),
        field(message()),
        field(reason),
        field(Just(json!({"content": []})).boxed()),
    )
        .prop_map(|(index, message, finish_reason, logprobs)| {
            object(vec![
                ("index", index),
                ("message", message),
                ("finish_reason", finish_reason),
                ("logprobs", logprobs),
            ])
        })
        .boxed()
}

fn completion() -> BoxedStrategy<Value> {
    let details = prop_oneof![
        Just(json!({"cached_tokens": 3, "audio_tokens": 0})),
        Just(json!({"cached_tokens": null})),
        Just(json!({"cached_tokens": "3"})),
        Just(json!({})),
    ]
    .boxed();
    let reasoning = prop_oneof![
        Just(json!({"reasoning_tokens": 9, "audio_tokens": 1})),
        Just(json!({"reasoning_tokens": -1})),
    ]
    .boxed();
    let usage = (
        field(count()),
        field(count()),
        field(count()),
        field(details),
        field(reasoning),
        field(count()),
    )
        .prop_map(|(p, c, t, d, r, w)| {
            object(vec![
                ("prompt_tokens", p),
                ("completion_tokens", c),
                ("total_tokens", t),
                ("prompt_tokens_details", d),
                ("completion_tokens_details", r),
                ("cache_creation_input_tokens", w),
            ])
        })
        .boxed();
    (
        field(text()),
        field(Just(json!("chat.completion")).boxed()),
        field((0i64..2_000_000_000).prop_map(Value::from).boxed()),
        field(text()),
        field(prop::collection::vec(choice(), 0..3).prop_map(Value::from).boxed()),
        field(usage),
        field(text()),
        field(Just(json!({"nested": [1, null, "x"]})).boxed()),
    )
        .prop_map(|(id, object_, created, model, choices, usage, fingerprint, extra)| {
            object(vec![
                ("id", id),
                ("object", object_),
                ("created", created),
                ("model", model),
                ("choices", choices),
                ("usage", usage),
                ("system_fingerprint", fingerprint),
                ("prompt_filter_results", extra),
            ])
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the upstream writes, a body taken verbatim reads as the same answer as its
    /// typed round trip (with the alias as model, nulls aside), and its usage is the typed one.
    #[test]
    fn verbatim_is_the_typed_answer(body in completion()) {
        let bytes = serde_json::to_vec(&body).expect("encode");
        let Some(v) = Verbatim::check(Bytes::from(bytes.clone())) else { return Ok(()) };
        let mut typed: ChatCompletion = serde_json::from_slice(&bytes).expect("a verbatim body decodes typed");
        prop_assert_eq!(v.usage().map(counts), typed.usage.as_ref().map(counts));
        typed.model = "alias \"x\"".to_owned();
        let via_types = strip_nulls(serde_json::to_value(&typed).expect("encode"));
        let verbatim: Value = serde_json::from_slice(&v.with_model("alias \"x\"")).expect("verbatim is JSON");
        prop_assert_eq!(strip_nulls(verbatim), via_types);
    }
}

// Stream chunks (`chunk`, `write_chunk_frame`).

/// A content chunk as OpenAI writes one once usage is requested.
const CHUNK: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1732800000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}"#;

/// The frame `write_chunk_frame` writes for `data`, as text.
fn frame(data: &str, keep_usage: bool) -> Option<String> {
    let c = super::chunk(data.to_owned()).ok()?;
    let mut buf = Vec::new();
    super::write_chunk_frame(c.verbatim.as_ref()?, "\"alias\"", keep_usage, &mut buf);
    Some(String::from_utf8(buf).expect("utf-8"))
}

#[test]
fn a_regular_chunk_is_kept_byte_for_byte_but_its_model_and_null_usage() {
    let kept = CHUNK.replace("\"gpt-4o-2024-08-06\"", "\"alias\"");
    assert_eq!(frame(CHUNK, true).as_deref(), Some(format!("data: {kept}\n\n").as_str()));
    let without = kept.replace(",\"usage\":null", "");
    assert_eq!(frame(CHUNK, false).as_deref(), Some(format!("data: {without}\n\n").as_str()));
    let c = super::chunk(CHUNK.replace("null}],", "\"stop\"}],")).expect("verbatim");
    assert_eq!((c.choices[0].index, c.choices[0].finish_reason.as_deref()), (0, Some("stop")));
    assert!(c.usage.is_none() && c.id.is_empty(), "the typed fields hold the choices only");
}

#[test]
fn a_null_usage_is_cut_with_one_comma_wherever_it_stands() {
    let rest = r#""id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]"#;
    for (data, want) in [
        (format!(r#"{{"usage":null,{rest}}}"#), format!("{{{rest}}}")),
        (format!(r#"{{ "usage" : null , {rest}}}"#), format!("{{  {rest}}}")),
        (format!(r#"{{{rest}, "usage" :null}}"#), format!("{{{rest}}}")),
        (
            r#"{"id":"c","usage":null,"object":"chat.completion.chunk","created":1,"model":"m","choices":[]}"#.to_owned(),
            format!("{{{rest}}}"),
        ),
    ] {
        let want = want.replace("\"m\"", "\"alias\"");
        assert_eq!(frame(&data, false), Some(format!("data: {want}\n\n")), "{data}");
        let kept: Value =
            serde_json::from_str(&frame(&data, true).expect("kept")[6..]).expect("json");
        assert_eq!(kept["usage"], Value::Null);
        assert!(kept.as_object().expect("object").contains_key("usage"), "{data}");
    }
    // A key written with an escape cannot be cut safely: the chunk goes typed.
    assert!(super::chunk(format!(r#"{{{rest},"us\u0061ge":null}}"#)).is_err());
}

#[test]
fn anything_the_typed_chunk_would_fill_in_or_refuse_is_not_verbatim() {
    let base: Value = serde_json::from_str(CHUNK).expect("json");
    let cases = [
        ("", "id", None),
        ("", "object", None),
        ("", "created", None),
        ("", "model", None),
        ("", "choices", None),
        ("", "model", Some(json!(4))),
        ("", "created", Some(json!("1"))),
        ("", "usage", Some(json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}))),
        ("", "system_fingerprint", Some(json!(1))),
        ("/choices/0", "index", None),
        ("/choices/0", "delta", None),
        ("/choices/0", "finish_reason", None),
        ("/choices/0", "finish_reason", Some(json!(1))),
        ("/choices/0/delta", "content", Some(json!([{"type": "text", "text": "x"}]))),
        ("/choices/0/delta", "tool_calls", Some(json!([{"id": "call_1"}]))),
        (
            "/choices/0/delta",
            "tool_calls",
            Some(json!([{"index": 0, "function": {"arguments": 1}}])),
        ),
    ];
    for (parent, key, value) in cases {
        let what = format!("{parent}/{key} = {value:?}");
        assert!(super::chunk(changed(&base, parent, key, value).to_string()).is_err(), "{what}");
    }
    let pretty = serde_json::to_string_pretty(&base).expect("json");
    assert!(super::chunk(pretty).is_err(), "line breaks would break the frame");
    for bad in ["", " {}", "{", "[]", "null", "[DONE]", r#"{"error":{"message":"x"}}"#] {
        assert!(super::chunk(bad.to_owned()).is_err(), "{bad:?}");
    }
}

fn tool_call_delta() -> BoxedStrategy<Value> {
    let function = (field(text()), field(text()))
        .prop_map(|(name, arguments)| object(vec![("name", name), ("arguments", arguments)]));
    (
        field((0u32..3).prop_map(Value::from).boxed()),
        field(text()),
        field(Just(json!("function")).boxed()),
        field(function.boxed()),
    )
        .prop_map(|(index, id, kind, function)| {
            object(vec![("index", index), ("id", id), ("type", kind), ("function", function)])
        })
        .boxed()
}

fn delta() -> BoxedStrategy<Value> {
    let content =
        prop_oneof![4 => text(), 1 => Just(json!([{"type": "text", "text": "part"}]))].boxed();
    (
        field(Just(json!("assistant")).boxed()),
        field(content),
        field(text()),
        field(prop::collection::vec(tool_call_delta(), 0..3).prop_map(Value::from).boxed()),
        field(text()),
    )
        .prop_map(|(role, content, reasoning, tool_calls, refusal)| {
            object(vec![
                ("role", role),
                ("content", content),
                ("reasoning_content", reasoning),
                ("tool_calls", tool_calls),
                ("refusal", refusal),
            ])
        })
        .boxed()
}

fn chunk_choice() -> BoxedStrategy<Value> {
    let reason = prop_oneof![Just(json!("stop")), Just(json!("tool_calls"))].boxed();
    (
        field((0u32..4).prop_map(Value::from).boxed()),
        field(delta()),
        field(reason),
        field(Just(json!({"content": []})).boxed()),
    )
        .prop_map(|(index, delta, finish_reason, logprobs)| {
            object(vec![
                ("index", index),
                ("delta", delta),
                ("finish_reason", finish_reason),
                ("logprobs", logprobs),
            ])
        })
        .boxed()
}

/// A chunk's members in any order, written with or without blanks around `:` and `,`.
fn chunk_text() -> BoxedStrategy<String> {
    let usage = prop_oneof![
        3 => Just(None),
        6 => Just(Some(Value::Null)),
        1 => Just(Some(json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}))),
    ];
    (
        field(text()),
        field(Just(json!("chat.completion.chunk")).boxed()),
        field((0i64..2_000_000_000).prop_map(Value::from).boxed()),
        field(text()),
        field(prop::collection::vec(chunk_choice(), 0..3).prop_map(Value::from).boxed()),
        usage,
        field(text()),
        field(Just(json!({"nested": [1, null, "x"]})).boxed()),
    )
        .prop_flat_map(|(id, object_, created, model, choices, usage, fingerprint, extra)| {
            let members: Vec<(&str, Value)> = [
                ("id", id),
                ("object", object_),
                ("created", created),
                ("model", model),
                ("choices", choices),
                ("usage", usage),
                ("system_fingerprint", fingerprint),
                ("prompt_filter_results", extra),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
            (Just(members).prop_shuffle(), any::<bool>())
        })
        .prop_map(|(members, blanks)| {
            let (colon, comma) = if blanks { (" : ", " , ") } else { (":", ",") };
            let inner: Vec<String> =
                members.iter().map(|(k, v)| format!("\"{k}\"{colon}{v}")).collect();
            format!("{{{}}}", inner.join(comma))
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the upstream writes, a chunk taken verbatim is written as one frame that
    /// reads as its typed round trip (alias as model, nulls aside), without `usage` when the
    /// client did not ask; and its choices' index and finish_reason are the typed ones.
    #[test]
    fn a_verbatim_chunk_is_the_typed_chunk(data in chunk_text()) {
        let Ok(c) = super::chunk(data.clone()) else { return Ok(()) };
        let mut typed: ChatChunk = serde_json::from_str(&data).expect("a verbatim chunk decodes typed");
        prop_assert!(typed.usage.is_none());
        let ends: Vec<_> = typed.choices.iter().map(|c| (c.index, c.finish_reason.clone())).collect();
        prop_assert_eq!(c.choices.iter().map(|c| (c.index, c.finish_reason.clone())).collect::<Vec<_>>(), ends);
        typed.model = "alias \"x\"".to_owned();
        let via_types = strip_nulls(serde_json::to_value(&typed).expect("encode"));
        let raw = c.verbatim.as_ref().expect("raw");
        for keep_usage in [false, true] {
            let mut buf = Vec::new();
            super::write_chunk_frame(raw, r#""alias \"x\"""#, keep_usage, &mut buf);
            let text = String::from_utf8(buf).expect("utf-8");
            let json = text.strip_prefix("data: ").and_then(|t| t.strip_suffix("\n\n")).expect("one frame");
            prop_assert!(!json.contains('\n'));
            let v: Value = serde_json::from_str(json).expect("the frame is JSON");
            prop_assert_eq!(v.get("usage").is_some(), keep_usage && data.contains("\"usage\""));
            prop_assert_eq!(strip_nulls(v), via_types.clone());
        }
    }
}

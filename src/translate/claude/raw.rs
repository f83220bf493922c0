//! The only edits a `/v1/messages` pass-through makes to a body: a top-level field's value
//! replaced, removed or added, by splicing bytes. Every other byte (cache_control, thinking
//! signatures, citations, server tools, fields added to the API later, whitespace, key
//! order) stays as the client or upstream wrote it; nothing is decoded and re-encoded.
//!
//! The scanner reads only the structure of the outer object (keys, where each value starts
//! and ends; strings with their escapes, nested brackets). It never panics: anything that is
//! not a JSON object is an [`Err`] (a property test checks arbitrary objects).

use std::ops::Range;

/// The body is not a JSON object the splicer can edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request body is not a JSON object")]
pub struct NotAnObject;

/// The `anthropic_version` Vertex AI requires in the body of Claude requests.
pub const VERTEX_VERSION: &str = "vertex-2023-10-16";

/// One `"key": value` of the outer object: where the key's quote starts and the value's
/// bytes.
#[derive(Debug, Clone)]
struct Member {
    key: String,
    start: usize,
    value: Range<usize>,
}

/// The body for Anthropic's API or Azure AI Foundry: `model` set to the upstream's id.
pub fn with_model(body: &[u8], model: &str) -> Result<Vec<u8>, NotAnObject> {
    set_string(body, "model", model)
}

/// The body for Vertex AI's `rawPredict`: no `model` (it is in the URL) and
/// `anthropic_version` set (added first when the client did not send one).
pub fn for_vertex(body: &[u8], version: &str) -> Result<Vec<u8>, NotAnObject> {
    let without = remove(body, "model")?;
    set_string(&without, "anthropic_version", version)
}

/// A top-level string field's value replaced by `value`, or added as the first member.
pub fn set_string(body: &[u8], key: &str, value: &str) -> Result<Vec<u8>, NotAnObject> {
    let (open, members) = scan(body)?;
    let encoded = json_string(value);
    if let Some(m) = members.iter().find(|m| m.key == key) {
        let mut out = Vec::with_capacity(body.len() + encoded.len());
        out.extend_from_slice(&body[..m.value.start]);
        out.extend_from_slice(encoded.as_bytes());
        out.extend_from_slice(&body[m.value.end..]);
        return Ok(out);
    }
    let mut out = Vec::with_capacity(body.len() + key.len() + encoded.len() + 4);
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(json_string(key).as_bytes());
    out.push(b':');
    out.extend_from_slice(encoded.as_bytes());
    if !members.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(&body[open + 1..]);
    Ok(out)
}

/// A top-level field removed (with the comma that separated it); the body unchanged when it
/// has no such field.
pub fn remove(body: &[u8], key: &str) -> Result<Vec<u8>, NotAnObject> {
    let (_, members) = scan(body)?;
    let Some(i) = members.iter().position(|m| m.key == key) else { return Ok(body.to_vec()) };
    let cut = match (members.get(i + 1), i.checked_sub(1).and_then(|p| members.get(p))) {
        // Up to the next member's key: the value and the comma after it go.
        (Some(next), _) => members[i].start..next.start,
        // The last member: from the end of the previous value (the comma before it goes).
        (None, Some(prev)) => prev.value.end..members[i].value.end,
        // The only member.
        (None, None) => members[i].start..members[i].value.end,
    };
    let mut out = body.to_vec();
    out.drain(cut);
    Ok(out)
}

/// The string at `path` (keys of nested objects) replaced by `value`; `None` when the path
/// does not lead to a string (the caller keeps the original bytes).
pub fn replace_nested_string(body: &[u8], path: &[&str], value: &str) -> Option<Vec<u8>> {
    let (first, rest) = path.split_first()?;
    let (_, members) = scan(body).ok()?;
    let m = members.iter().find(|m| m.key == *first)?;
    let inner = &body[m.value.clone()];
    let replaced = if rest.is_empty() {
        if inner.first() != Some(&b'"') {
            return None;
        }
        json_string(value).into_bytes()
    } else {
        replace_nested_string(inner, rest, value)?
    };
    let mut out = Vec::with_capacity(body.len() + replaced.len());
    out.extend_from_slice(&body[..m.value.start]);
    out.extend_from_slice(&replaced);
    out.extend_from_slice(&body[m.value.end..]);
    Some(out)
}

fn json_string(s: &str) -> String {
    // A `&str` always serializes.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The position of the outer `{` and the members of the outer object.
fn scan(b: &[u8]) -> Result<(usize, Vec<Member>), NotAnObject> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(NotAnObject);
    }
    let open = i;
    i += 1;
    let mut members = Vec::new();
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b'}') if members.is_empty() => break,
            Some(b'"') => {}
            _ => return Err(NotAnObject),
        }
        let start = i;
        let key_end = string_end(b, i).ok_or(NotAnObject)?;
        let raw_key = &b[i..key_end];
        let key = if raw_key.contains(&b'\\') {
            serde_json::from_slice::<String>(raw_key).map_err(|_| NotAnObject)?
        } else {
            String::from_utf8_lossy(&raw_key[1..raw_key.len() - 1]).into_owned()
        };
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(NotAnObject);
        }
        i = skip_ws(b, i + 1);
        let value_end = value_end(b, i).ok_or(NotAnObject)?;
        members.push(Member { key, start, value: i..value_end });
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => break,
            _ => return Err(NotAnObject),
        }
    }
    Ok((open, members))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `b[i]` is a `"`: the position after the closing quote.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The position after the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(c) = b.get(j) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).expect("valid JSON")
    }

    #[test]
    fn the_model_is_replaced_and_every_other_byte_kept() {
        let body = br#"{ "model" : "claude-x",  "messages":[{"role":"user","content":[{"type":"text","text":"a \"model\": b","cache_control":{"type":"ephemeral"}}]}],"max_tokens":5 }"#;
        let out = with_model(body, "claude-sonnet-4-5@2025").expect("spliced");
        let expected = br#"{ "model" : "claude-sonnet-4-5@2025",  "messages":[{"role":"user","content":[{"type":"text","text":"a \"model\": b","cache_control":{"type":"ephemeral"}}]}],"max_tokens":5 }"#;
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(expected));
    }

    #[test]
    fn vertex_bodies_lose_the_model_and_gain_the_version() {
        let cases: [(&[u8], Value); 4] = [
            (
                br#"{"model":"m","max_tokens":1}"#,
                json!({"anthropic_version": VERTEX_VERSION, "max_tokens": 1}),
            ),
            (
                br#"{"max_tokens":1, "model":"m"}"#,
                json!({"anthropic_version": VERTEX_VERSION, "max_tokens": 1}),
            ),
            (br#"{"model":"m"}"#, json!({"anthropic_version": VERTEX_VERSION})),
            (
                br#"{"anthropic_version":"old","model":"m","stream":true}"#,
                json!({"anthropic_version": VERTEX_VERSION, "stream": true}),
            ),
        ];
        for (body, want) in cases {
            let out = for_vertex(body, VERTEX_VERSION).expect("spliced");
            assert_eq!(parse(&out), want, "{}", String::from_utf8_lossy(&out));
        }
        let out = for_vertex(br#"{"max_tokens":1,"model":"m"}"#, VERTEX_VERSION).expect("ok");
        assert_eq!(out, br#"{"anthropic_version":"vertex-2023-10-16","max_tokens":1}"#.to_vec());
    }

    #[test]
    fn escaped_keys_are_found_and_nested_models_are_left_alone() {
        let out =
            with_model(br#"{"mod\u0065l":"a","metadata":{"model":"keep"}}"#, "b").expect("ok");
        assert_eq!(parse(&out), json!({"model": "b", "metadata": {"model": "keep"}}));
        let ev = br#"{"type":"message_start","message":{"id":"msg_1","model":"claude-up","content":[]}}"#;
        let out = replace_nested_string(ev, &["message", "model"], "alias").expect("found");
        assert_eq!(parse(&out)["message"]["model"], "alias");
        assert!(
            replace_nested_string(br#"{"message":{"model":3}}"#, &["message", "model"], "a")
                .is_none()
        );
    }

    #[test]
    fn what_is_not_an_object_is_refused() {
        for bad in
            [&b""[..], b"[]", b"\"x\"", b"{", b"{\"a\"}", b"{\"a\":}", b"{\"a\":1,}", b"{\"a\":[1}"]
        {
            assert!(with_model(bad, "m").is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn splicing_any_object_gives_the_object_with_that_one_change(
            members in prop::collection::btree_map("[a-z_]{1,8}|model", arb_json(), 0..6),
            pretty in any::<bool>(),
            model in ".*",
        ) {
            let obj: serde_json::Map<String, Value> = members.into_iter().collect();
            let body = if pretty {
                serde_json::to_vec_pretty(&Value::Object(obj.clone()))
            } else {
                serde_json::to_vec(&Value::Object(obj.clone()))
            }.expect("json");
            // The expected object goes through the same encode and parse, so a float that
            // serde_json does not read back bit for bit compares equal on both sides.
            let norm = |v: serde_json::Map<String, Value>| {
                parse(&serde_json::to_vec(&Value::Object(v)).expect("json"))
            };
            let mut want = obj.clone();
            want.insert("model".into(), Value::String(model.clone()));
            prop_assert_eq!(parse(&with_model(&body, &model).expect("object")), norm(want));
            let mut want = obj.clone();
            want.remove("model");
            want.insert("anthropic_version".into(), json!(VERTEX_VERSION));
            prop_assert_eq!(parse(&for_vertex(&body, VERTEX_VERSION).expect("object")), norm(want));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = with_model(&bytes, "m");
            let _ = for_vertex(&bytes, VERTEX_VERSION);
            let _ = replace_nested_string(&bytes, &["message", "model"], "m");
        }
    }
}

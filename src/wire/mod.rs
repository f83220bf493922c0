//! Serde types for each wire dialect the gateway speaks, and the one way their JSON is read.
//!
//! OpenAI chat completions is the hub format: every provider takes an [`openai::ChatRequest`]
//! and produces [`openai::ChatCompletion`] / [`openai::ChatChunk`]; the Anthropic and the
//! Responses endpoints are translated to and from it. Unknown fields are kept in `extra` maps so that provider
//! specifics (Qwen's `enable_thinking`, Azure's filter results) pass through untouched.
//!
//! No IO. [`from_json`] is how the request path decodes a JSON body, and [`encode`] how it
//! writes one.

pub mod anthropic;
pub mod encode;
pub mod gemini;
pub mod openai;
pub mod responses;

/// Decode a JSON body. Valid UTF-8 (every JSON body a client or upstream should send) is
/// checked once, whole, and read with serde_json's `&str` reader; its byte reader would check
/// each string and key on its own, about 125 instructions apiece. Anything else goes through
/// the byte reader, so its error is the one serde_json gives for it.
pub fn from_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

/// A JSON value carried as its text: read (and checked) once, written back byte for byte,
/// never made into a `Value` tree unless a translation needs to look inside. Tool schemas
/// are these: Claude Code sends ~70 KB of them with every turn, which as `Value` trees were
/// decoded, cloned for each attempt, encoded again and dropped (an allocation and a map insert
/// per key and string), and which no path but Gemini's reads.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<serde_json::value::RawValue>);

impl RawJson {
    /// The value's JSON text, as the client wrote it (no whitespace around it).
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value as a tree, for a translation that rewrites it. The text was checked as JSON
    /// when it was read; the one thing serde_json checks only when it builds a tree is a
    /// number's range, so a schema holding `1e400` (no client sends one) is `null` here.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.get()).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the value is a JSON object.
    pub fn is_object(&self) -> bool {
        self.get().starts_with('{')
    }
}

impl From<serde_json::Value> for RawJson {
    /// The compact text `Value::to_string` writes.
    fn from(value: serde_json::Value) -> Self {
        RawJson(serde_json::value::to_raw_value(&value).expect("a Value always encodes"))
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

/// A field that is a string or a list (message content in each dialect), read as serde's
/// derived untagged enum read it, without its detour: that buffered the whole value before
/// trying each variant (and copied text with escapes twice). A string is text, a list is read
/// element by element; anything else is read to its end, so that a syntax error in it is still
/// reported as one, then refused with the derived enum's message. The element type must take
/// any JSON value (an `Other(Value)` variant, as every content part and block here has): a
/// refused element would otherwise be reported as itself, not as the enum's refusal.
pub(crate) struct TextOrList<T, V> {
    /// The enum's, for the refusal.
    name: &'static str,
    text: fn(String) -> V,
    list: fn(Vec<T>) -> V,
}

impl<'de, T: serde::Deserialize<'de>, V> TextOrList<T, V> {
    /// The enum `name` from `d`: `text` makes its string variant, `list` its list variant.
    pub(crate) fn read<D: serde::Deserializer<'de>>(
        d: D,
        name: &'static str,
        text: fn(String) -> V,
        list: fn(Vec<T>) -> V,
    ) -> Result<V, D::Error> {
        d.deserialize_any(TextOrList { name, text, list })
    }

    fn refuse<E: serde::de::Error>(&self) -> E {
        E::custom(format_args!("data did not match any variant of untagged enum {}", self.name))
    }
}

impl<'de, T: serde::Deserialize<'de>, V> serde::de::Visitor<'de> for TextOrList<T, V> {
    type Value = V;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or a list")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((self.text)(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok((self.text)(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok((self.list)(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::IgnoredAny;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Err(self.refuse())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.refuse())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(self.refuse())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(self.refuse())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.refuse())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Err(self.refuse())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Err(self.refuse())
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, _: D) -> Result<Self::Value, D::Error> {
        Err(self.refuse())
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::anthropic::{MessageContent, System, ToolResultContent};
    use super::openai::Content;

    /// Each "a string or a list" field of the wire types, read as the derived untagged enums
    /// read it: the same values accepted, the same refusals word for word, from text and from
    /// a `Value`, and a syntax error inside a refused value still a syntax error.
    fn reads_like_the_untagged_enum<T: DeserializeOwned + std::fmt::Debug>(name: &str) {
        let refused = format!("data did not match any variant of untagged enum {name}");
        for ok in [r#""a\nb""#, "[]", r#"[1,"x",{"type":"text","text":"t"},{"type":"zzz"}]"#] {
            let from_text = super::from_json::<T>(ok.as_bytes());
            assert!(from_text.is_ok(), "{name} {ok}: {from_text:?}");
            let value: serde_json::Value = serde_json::from_str(ok).expect("json");
            assert!(serde_json::from_value::<T>(value).is_ok(), "{name} {ok} from a Value");
        }
        for bad in ["5", "-1.5", "true", "null", "{}", r#"{"type":"text","text":"t"}"#] {
            let e = super::from_json::<T>(bad.as_bytes()).expect_err(bad);
            assert!(e.is_data(), "{name} {bad}: {e}");
            assert!(e.to_string().starts_with(&refused), "{name} {bad}: {e}");
            let value: serde_json::Value = serde_json::from_str(bad).expect("json");
            let e = serde_json::from_value::<T>(value).expect_err(bad);
            assert_eq!(e.to_string(), refused, "{name} {bad} from a Value");
        }
        for broken in [r#"{"a":tru}"#, r#"[1,{"a":[]}"#, r#""abc"#] {
            let e = super::from_json::<T>(broken.as_bytes()).expect_err(broken);
            assert!(e.is_syntax() || e.is_eof(), "{name} {broken}: {e}");
        }
        let e = serde_json::from_value::<T>(json!({"nested": [1, 2]})).expect_err("object");
        assert_eq!(e.to_string(), refused);
    }

    #[test]
    fn text_or_list_fields_read_like_the_untagged_enums() {
        reads_like_the_untagged_enum::<Content>("Content");
        reads_like_the_untagged_enum::<System>("System");
        reads_like_the_untagged_enum::<MessageContent>("MessageContent");
        reads_like_the_untagged_enum::<ToolResultContent>("ToolResultContent");
    }

    /// A tool schema goes upstream as the client wrote it (number spellings, escapes, key
    /// order, duplicate keys), whichever dialect it came in; `null` is no schema, as before.
    #[test]
    fn tool_schemas_are_carried_as_written() {
        let schema = r#"{"type":"object","properties":{"\u00e9":{"type":"number","maximum":1.50,"minimum":-0e0}},"a":1,"a":2}"#;
        let openai = format!(
            r#"{{"model":"m","messages":[],"tools":[{{"type":"function","function":{{"name":"f","parameters":{schema}}}}}]}}"#
        );
        let req: super::openai::ChatRequest = super::from_json(openai.as_bytes()).expect("request");
        let params = req.tools.as_ref().expect("tools")[0].function.parameters.as_ref();
        assert_eq!(params.map(super::RawJson::get), Some(schema));
        let sent = super::encode::to_string(&req).expect("encode");
        assert!(sent.contains(&format!(r#""parameters":{schema}"#)), "{sent}");
        assert_eq!(req.clone(), req);

        let anthropic = format!(
            r#"{{"model":"m","max_tokens":1,"messages":[],"tools":[{{"name":"f","input_schema":{schema}}}]}}"#
        );
        let req: super::anthropic::MessagesRequest =
            super::from_json(anthropic.as_bytes()).expect("request");
        let hub = crate::translate::anthropic::to_hub(req).expect("hub");
        let params = hub.tools.as_ref().expect("tools")[0].function.parameters.as_ref();
        assert_eq!(params.map(super::RawJson::get), Some(schema));

        // Pretty-printed: the value's own text, no whitespace around it.
        let spaced = r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":  { "type" : "object" }  }}]}"#;
        let req: super::openai::ChatRequest = super::from_json(spaced.as_bytes()).expect("request");
        let params = &req.tools.as_ref().expect("tools")[0].function.parameters;
        assert_eq!(params.as_ref().map(super::RawJson::get), Some(r#"{ "type" : "object" }"#));
        assert!(params.as_ref().is_some_and(super::RawJson::is_object));
        assert_eq!(params.as_ref().map(super::RawJson::to_value), Some(json!({"type": "object"})));

        let none = r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":null}}]}"#;
        let req: super::openai::ChatRequest = super::from_json(none.as_bytes()).expect("request");
        assert_eq!(req.tools.expect("tools")[0].function.parameters, None);
    }

    /// Read from a `Value` (as tests and the Responses translation build requests) or made
    /// from one, a schema is that value's compact text.
    #[test]
    fn a_schema_from_a_value_is_its_compact_text() {
        let value =
            json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]});
        let made = super::RawJson::from(value.clone());
        assert_eq!(made.get(), value.to_string());
        let read: super::RawJson = serde_json::from_value(value.clone()).expect("from a Value");
        assert_eq!(read, made);
        assert_eq!(read.to_value(), value);
        let refused = json!("x");
        assert!(!super::RawJson::from(refused).is_object());
    }
}

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

/// A JSON string carried as its text, quotes and escapes included: read (and checked) once,
/// written back byte for byte, decoded only where its words are needed (a token estimate).
/// Tool descriptions are these: every translation passes them on unchanged, and they are more
/// than half of a Claude Code turn (41 KB of its 75), which was unescaped into a `String` and
/// escaped again for the upstream.
#[derive(Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct RawString(RawJson);

impl RawString {
    /// The string's JSON text, quotes included.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The JSON text between the quotes, escapes as written.
    fn between_quotes(&self) -> &str {
        let json = self.json();
        &json[1..json.len() - 1]
    }

    /// The string itself: its text between the quotes when it has no escapes.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        let inner = self.between_quotes();
        if inner.contains('\\') {
            // Checked as a JSON string when it was read (or written by serde_json).
            std::borrow::Cow::Owned(serde_json::from_str(self.json()).unwrap_or_default())
        } else {
            std::borrow::Cow::Borrowed(inner)
        }
    }

    /// The length in bytes of [`text`](Self::text), read off the JSON text: an escape is one
    /// character, `\uXXXX` that character's UTF-8 length, a surrogate pair four bytes (a lone
    /// surrogate, which `text` cannot decode, three).
    pub fn text_len(&self) -> usize {
        let inner = self.between_quotes().as_bytes();
        let hex = |at: usize| {
            inner
                .get(at..at + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
        };
        let mut len = inner.len();
        let mut i = 0;
        while let Some(k) = inner.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
            let at = i + k;
            if inner.get(at + 1) != Some(&b'u') {
                // `\n`, `\"`, `\\`, ...: two bytes for one.
                len = len.saturating_sub(1);
                i = at + 2;
                continue;
            }
            let unit = hex(at + 2).unwrap_or(0);
            let low = (inner.get(at + 6..at + 8) == Some(b"\\u")).then(|| hex(at + 8)).flatten();
            if (0xD800..0xDC00).contains(&unit)
                && low.is_some_and(|l| (0xDC00..0xE000).contains(&l))
            {
                len = len.saturating_sub(12 - 4);
                i = at + 12;
            } else {
                let bytes = match unit {
                    0..0x80 => 1,
                    0x80..0x800 => 2,
                    _ => 3,
                };
                len = len.saturating_sub(6 - bytes);
                i = at + 6;
            }
        }
        len
    }
}

impl From<&str> for RawString {
    fn from(text: &str) -> Self {
        let raw = serde_json::value::to_raw_value(text).expect("a string always encodes");
        RawString(RawJson(raw))
    }
}

impl<'de> serde::Deserialize<'de> for RawString {
    /// Any JSON string; anything else is refused in the words serde's `String` uses.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected};
        use serde_json::Value;
        let raw = RawJson::deserialize(d)?;
        if raw.get().starts_with('"') {
            return Ok(RawString(raw));
        }
        let value = raw.to_value();
        let unexpected = match &value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Unexpected::Unsigned(u),
                (None, Some(i)) => Unexpected::Signed(i),
                (None, None) => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Unexpected::Str(s),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        };
        Err(D::Error::invalid_type(unexpected, &"a string"))
    }
}

impl std::fmt::Debug for RawString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.json())
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

    /// A tool description goes upstream as the client wrote it (its escapes, `\/`, `\u00e9`),
    /// from either dialect; its words are the decoded string.
    #[test]
    fn tool_descriptions_are_carried_as_written() {
        let written = r#""Edit a file.\nUse \"old\" \/ \"new\"; caf\u00e9 \ud83d\ude00""#;
        let openai = format!(
            r#"{{"model":"m","messages":[],"tools":[{{"type":"function","function":{{"name":"f","description":{written}}}}}]}}"#
        );
        let req: super::openai::ChatRequest = super::from_json(openai.as_bytes()).expect("request");
        let description = req.tools.as_ref().expect("tools")[0].function.description.clone();
        let description = description.expect("a description");
        assert_eq!(description.json(), written);
        assert_eq!(description.text(), "Edit a file.\nUse \"old\" / \"new\"; café 😀");
        let sent = super::encode::to_string(&req).expect("encode");
        assert!(sent.contains(&format!(r#""description":{written}"#)), "{sent}");

        let anthropic = format!(
            r#"{{"model":"m","max_tokens":1,"messages":[],"tools":[{{"name":"f","description":{written},"input_schema":{{"type":"object"}}}}]}}"#
        );
        let req: super::anthropic::MessagesRequest =
            super::from_json(anthropic.as_bytes()).expect("request");
        let hub = crate::translate::anthropic::to_hub(req).expect("hub");
        let carried = hub.tools.as_ref().expect("tools")[0].function.description.as_ref();
        assert_eq!(carried.map(super::RawString::json), Some(written));

        // Without escapes the words are the text between the quotes; made from words, the
        // JSON is serde_json's.
        let plain = super::RawString::from("Read a file");
        assert_eq!(plain.json(), r#""Read a file""#);
        assert!(matches!(plain.text(), std::borrow::Cow::Borrowed("Read a file")));
        assert_eq!(super::RawString::from("a\"b\n").json(), r#""a\"b\n""#);
        assert_eq!(format!("{plain:?}"), r#""Read a file""#);
    }

    /// The decoded length, worked out from the JSON text, is the length of the decoded text,
    /// for any string serde_json writes or a client could send (escaped or not).
    #[test]
    fn a_descriptions_length_is_its_texts() {
        let samples = [
            "",
            "plain",
            "line\nbreak\ttab \"quoted\" back\\slash /",
            "café, 日本語, emoji 😀🎉, \u{1} \u{1f} \u{7f}",
        ];
        for text in samples {
            assert_eq!(super::RawString::from(text).text_len(), text.len(), "{text:?}");
        }
        // Escaped as a client may write it: every character as `\uXXXX`, pairs for emoji.
        for text in samples {
            let mut json = String::from("\"");
            for unit in text.encode_utf16() {
                json.push_str(&format!("\\u{unit:04x}"));
            }
            json.push('"');
            let raw: super::RawString = serde_json::from_str(&json).expect("a string");
            assert_eq!(raw.text(), text);
            assert_eq!(raw.text_len(), text.len(), "{json}");
        }
        let solidus: super::RawString = serde_json::from_str(r#""a\/b""#).expect("a string");
        assert_eq!(solidus.text_len(), 3);
    }

    proptest::proptest! {
        /// Any string, as serde_json writes it and with every UTF-16 unit escaped.
        #[test]
        fn any_descriptions_length_is_its_texts(text in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(super::RawString::from(text.as_str()).text_len(), text.len());
            let escaped: String = text.encode_utf16().map(|u| format!("\\u{u:04X}")).collect();
            let raw: super::RawString =
                serde_json::from_str(&format!("\"{escaped}\"")).expect("a string");
            proptest::prop_assert_eq!(raw.text_len(), text.len());
        }
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

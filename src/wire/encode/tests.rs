//! `encode` against serde_json: the same bytes for every string, every value, every wire type.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{to_vec, write_str};
use crate::wire::anthropic::MessagesRequest;
use crate::wire::openai::{ChatChunk, ChatCompletion, ChatRequest};

fn same<T: ?Sized + Serialize + std::fmt::Debug>(value: &T) {
    let ours = to_vec(value).expect("encode");
    let theirs = serde_json::to_vec(value).expect("serde_json");
    assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{value:?}");
}

#[test]
fn every_ascii_byte_at_every_place_in_a_word() {
    for b in 0u8..0x80 {
        for before in 0..17 {
            let text: String = std::iter::repeat_n('a', before)
                .chain([char::from(b)])
                .chain("tail".chars())
                .collect();
            same(text.as_str());
        }
    }
    same("");
    // Bytes just above a hit, where the word test may report false positives: only the
    // first hit of a word is trusted.
    for text in [
        "a\u{1f} b",
        "\u{0}!\u{1}\"",
        "\u{1f}\u{20}\u{21}\u{5c}\u{5d}\u{22}\u{23}x",
        "\u{0}\u{80}é \\",
    ] {
        for before in 0..9 {
            same(format!("{}{text}{}", "x".repeat(before), "y".repeat(before)).as_str());
        }
    }
    same("é\u{7f}\u{80}\u{2028}😀\"\\/\u{1f}\u{0}");
}

#[test]
fn every_shape_serde_knows() {
    #[derive(Serialize, Debug)]
    struct Unit;
    #[derive(Serialize, Debug)]
    struct Newtype(u8);
    #[derive(Serialize, Debug)]
    struct Pair(i8, &'static str);
    #[derive(Serialize, Debug)]
    enum E {
        A,
        B(i32),
        C(u8, u8),
        D { x: f32, y: Option<char> },
        Empty {},
        NoTuple(),
    }
    #[derive(Serialize, Debug)]
    struct All {
        unit: (),
        unit_struct: Unit,
        newtype: Newtype,
        pair: Pair,
        variants: Vec<E>,
        bytes: &'static [u8],
        #[serde(with = "serde_bytes_like")]
        raw_bytes: Vec<u8>,
        floats: (f32, f64, f64, f64, f64),
        wide: (i128, u128, i64, u64),
        none: Option<u8>,
        int_keys: BTreeMap<i32, bool>,
        bool_keys: BTreeMap<bool, ()>,
        char_keys: BTreeMap<char, u8>,
        empty_map: BTreeMap<String, u8>,
        empty_seq: Vec<u8>,
        raw: Box<RawValue>,
        nested_raw: Vec<Box<RawValue>>,
    }
    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }
    same(&All {
        unit: (),
        unit_struct: Unit,
        newtype: Newtype(7),
        pair: Pair(-3, "p\"q"),
        variants: vec![
            E::A,
            E::B(-1),
            E::C(1, 2),
            E::D { x: 1.5, y: Some('\n') },
            E::D { x: f32::NAN, y: None },
            E::Empty {},
            E::NoTuple(),
        ],
        bytes: b"ab",
        raw_bytes: vec![0, 255],
        floats: (0.1, 1e300, f64::INFINITY, -0.0, 12345678.9),
        wide: (i128::MIN, u128::MAX, i64::MIN, u64::MAX),
        none: None,
        int_keys: BTreeMap::from([(-1, true), (2, false)]),
        bool_keys: BTreeMap::from([(true, ())]),
        char_keys: BTreeMap::from([('"', 1)]),
        empty_map: BTreeMap::new(),
        empty_seq: vec![],
        raw: RawValue::from_string(r#"{ "kept" : [1, 2] }"#.to_owned()).expect("raw"),
        nested_raw: vec![RawValue::from_string("\"x\\u0041\"".to_owned()).expect("raw")],
    });
    // A key serde_json refuses is refused here too.
    let bad = BTreeMap::from([(vec![1u8], 1)]);
    assert!(to_vec(&bad).is_err() && serde_json::to_vec(&bad).is_err());
    let float_keys: serde_json::Map<String, Value> = serde_json::Map::new();
    same(&float_keys);
    #[derive(Serialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Key(u8);
    same(&BTreeMap::from([(Key(1), 1), (Key(20), 2)]));
}

/// Every JSON file the tests keep (requests, answers, tool lists of the real clients), as a
/// `Value` and, where it is one, as the wire type the gateway encodes.
#[test]
fn the_wire_types_of_every_fixture() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut stack = vec![root];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
            same(&value);
            seen += 1;
            if let Ok(req) = serde_json::from_value::<MessagesRequest>(value.clone()) {
                same(&req);
                if let Ok(hub) = crate::translate::anthropic::to_hub(req) {
                    same(&hub);
                }
            }
            if let Ok(req) = serde_json::from_value::<ChatRequest>(value.clone()) {
                same(&req);
            }
            if let Ok(c) = serde_json::from_value::<ChatCompletion>(value.clone()) {
                same(&c);
            }
            if let Ok(c) = serde_json::from_value::<ChatChunk>(value) {
                same(&c);
            }
        }
    }
    assert!(seen > 50, "only {seen} fixtures read");
}

/// Any string, weighted to JSON's special bytes (quotes, backslashes, control characters).
pub(crate) fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[ -~\\n\\t\\r\"\\\\\\x00-\\x1f]{0,70}",
        proptest::collection::vec(any::<char>(), 0..30).prop_map(|c| c.into_iter().collect()),
    ]
}

/// Any JSON value, nested up to four levels, its strings and keys from [`any_text`].
pub(crate) fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((any_text(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_string_is_escaped_as_serde_json_escapes_it(text in any_text()) {
        let mut ours = Vec::new();
        write_str(&mut ours, &text);
        prop_assert_eq!(ours, serde_json::to_vec(&text).expect("json"));
    }

    #[test]
    fn any_value_is_written_as_serde_json_writes_it(value in any_value()) {
        prop_assert_eq!(to_vec(&value).expect("encode"), serde_json::to_vec(&value).expect("json"));
        prop_assert_eq!(super::to_string(&value).expect("encode"), value.to_string());
    }

    /// The size hint sizes the buffer and changes nothing written, right or wrong.
    #[test]
    fn a_size_hint_changes_only_the_buffer(value in any_value(), guess in 0usize..4096) {
        let plain = to_vec(&value).expect("encode");
        for expected in [guess, plain.len(), plain.len() * 3] {
            let sized = super::to_vec_sized(&value, expected).expect("encode");
            prop_assert_eq!(&sized, &plain);
            prop_assert!(sized.capacity() >= expected.max(sized.len()));
        }
    }
}

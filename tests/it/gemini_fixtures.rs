//! OpenAI ⇄ Gemini translation over the fixtures in `tests/fixtures/gemini/`, snapshotted
//! with insta: `requests/*.json` (OpenAI request → Gemini request, which must also pass the
//! strict mock's schema), `responses/*.json` (Gemini response → completion) and
//! `streams/*.sse` (a Gemini SSE transcript → chunks). Claude Code's real tool list
//! (`tests/fixtures/claude_code_tools.json`) must reach Gemini as a request it accepts.

use std::path::{Path, PathBuf};

use ai_proxy::providers::sse::SseDecoder;
use ai_proxy::translate::gemini::{self, RequestOptions, ResponseMeta, StreamState};
use ai_proxy::wire::gemini::GenerateContentResponse;
use ai_proxy::wire::openai::ChatRequest;
use serde_json::{Value, json};

use crate::support::google::strict;

fn fixtures(kind: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemini").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn stem(p: &Path) -> String {
    p.file_stem().expect("stem").to_string_lossy().into_owned()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read fixture"))
        .expect("fixture is JSON")
}

#[test]
fn requests() {
    for path in fixtures("requests", "json") {
        let name = stem(&path);
        let fixture = read_json(&path);
        let model = fixture["model"].as_str().expect("fixture.model");
        let req: ChatRequest =
            serde_json::from_value(fixture["request"].clone()).expect("fixture.request");
        let opts = RequestOptions { model, safety_settings: fixture.get("safety_settings") };
        let out = match gemini::request(&req, &opts) {
            Ok(g) => {
                let v = serde_json::to_value(&g).expect("json");
                // What we send must be something Gemini accepts.
                let parsed: strict::GenerateContentRequest = serde_json::from_value(v.clone())
                    .unwrap_or_else(|e| {
                        panic!("{name}: Gemini would reject this request: {e}\n{v:#}")
                    });
                if let Err(e) = parsed.validate(model.starts_with("gemini-3")) {
                    panic!("{name}: Gemini would reject this request: {e}");
                }
                v
            }
            Err(e) => json!({"error": e.message, "param": e.param}),
        };
        insta::assert_json_snapshot!(format!("request__{name}"), out);
    }
}

const META: ResponseMeta<'static> =
    ResponseMeta { id_seed: "seed01", created: 1763632800, model: "gemini-2.5-flash" };

#[test]
fn responses() {
    for path in fixtures("responses", "json") {
        let name = stem(&path);
        let resp: GenerateContentResponse =
            serde_json::from_value(read_json(&path)).expect("response fixture");
        let out = match gemini::response(resp, &META) {
            Ok(c) => serde_json::to_value(&c).expect("json"),
            Err(b) => json!({"blocked": b.reason, "message": b.message, "feedback": b.feedback}),
        };
        insta::assert_json_snapshot!(format!("response__{name}"), out);
    }
}

#[test]
fn streams() {
    for path in fixtures("streams", "sse") {
        let name = stem(&path);
        let bytes = std::fs::read(&path).expect("read transcript");
        let mut decoder = SseDecoder::new(1 << 20);
        let mut events = Vec::new();
        decoder.push(&bytes, &mut events).expect("decodes");
        events.extend(decoder.finish());
        let mut state = StreamState::new("seed01", 1763632800, "gemini-2.5-flash");
        let mut out = Vec::new();
        for ev in events {
            let resp: GenerateContentResponse =
                serde_json::from_str(&ev.data).expect("event is a response");
            match state.on_event(resp) {
                Ok(chunks) => {
                    out.extend(chunks.iter().map(|c| serde_json::to_value(c).expect("json")))
                }
                Err(b) => {
                    out.push(json!({"blocked": b.reason, "message": b.message}));
                    break;
                }
            }
        }
        out.extend(state.on_end().iter().map(|c| serde_json::to_value(c).expect("json")));
        insta::assert_json_snapshot!(format!("stream__{name}"), out);
    }
}

/// Every tool-call argument Gemini streamed arrives whole, with stable ids.
#[test]
fn streamed_tool_arguments_survive_and_ids_are_stable() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gemini/streams/parallel_calls_with_signature.sse");
    let bytes = std::fs::read(&path).expect("read");
    let mut d = SseDecoder::new(1 << 20);
    let mut state = StreamState::new("s", 0, "gemini-3-pro-preview");
    let mut calls: Vec<(u32, String, String, String)> = Vec::new();
    let mut events = Vec::new();
    d.push(&bytes, &mut events).expect("decodes");
    for ev in events.into_iter().chain(d.finish()) {
        for c in state.on_event(serde_json::from_str(&ev.data).expect("json")).expect("ok") {
            for tc in c.choices.iter().flat_map(|ch| ch.delta.tool_calls.iter().flatten()) {
                let f = tc.function.clone().expect("function");
                calls.push((
                    tc.index,
                    tc.id.clone().expect("id"),
                    f.name.expect("name"),
                    f.arguments.expect("args"),
                ));
            }
        }
    }
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0, 0);
    assert_eq!(calls[1].0, 1);
    assert_ne!(calls[0].1, calls[1].1);
    let args: Value = serde_json::from_str(&calls[1].3).expect("args JSON");
    assert_eq!(args, json!({"city": "Paris", "unit": "celsius"}));
    assert!(gemini::signature_from_id(&calls[0].1).is_some(), "first call carries the signature");
    assert!(gemini::signature_from_id(&calls[1].1).is_none());
}

/// Claude Code's tools as it sends them (`tests/fixtures/claude_code_tools.json`, captured
/// from a real `claude -p` run): name and `input_schema` of each.
fn claude_code_tools() -> Vec<(String, Value)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude_code_tools.json");
    let fixture = read_json(&path);
    let tools = fixture["tools"].as_array().expect("fixture.tools");
    assert!(tools.len() >= 20, "the whole tool list, deferred tools included");
    tools
        .iter()
        .map(|t| {
            let name = t["name"].as_str().expect("tool name").to_owned();
            (name, t["input_schema"].clone())
        })
        .collect()
}

/// Every Claude Code tool schema converts to one the strict Vertex mock accepts, and a request
/// offering them all (as Claude Code does through `/v1/messages`) passes Vertex's rules. The
/// converted schemas are snapshotted, so a change in what Gemini gets is reviewed.
#[test]
fn claude_code_tools_reach_gemini_as_schemas_it_accepts() {
    let tools = claude_code_tools();
    let mut converted = serde_json::Map::new();
    for (name, schema) in &tools {
        let out = ai_proxy::translate::gemini::schema::to_gemini(schema);
        if let Err(e) = serde_json::from_value::<strict::Schema>(out.clone()) {
            panic!("{name}: Gemini would reject the converted schema: {e}\n{out:#}");
        }
        converted.insert(name.clone(), out);
    }
    let req: ChatRequest = serde_json::from_value(json!({
        "model": "gemini-3-pro",
        "messages": [{"role": "user", "content": "hello"}],
        "tools": tools.iter().map(|(name, schema)| json!({
            "type": "function",
            "function": {"name": name, "description": "a Claude Code tool", "parameters": schema}
        })).collect::<Vec<_>>(),
    }))
    .expect("request");
    for model in ["gemini-3-pro-preview", "gemini-2.5-flash"] {
        let opts = RequestOptions { model, safety_settings: None };
        let g = gemini::request(&req, &opts).expect("translates");
        let v = serde_json::to_value(&g).expect("json");
        let parsed: strict::GenerateContentRequest = serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("{model}: Gemini would reject this request: {e}"));
        if let Err(e) = parsed.validate(model.starts_with("gemini-3")) {
            panic!("{model}: Gemini would reject this request: {e}");
        }
        let declared = v["tools"][0]["functionDeclarations"].as_array().expect("declarations");
        assert_eq!(declared.len(), tools.len(), "{model}: every tool is declared");
    }
    insta::assert_json_snapshot!("claude_code_tool_schemas", Value::Object(converted));
}

mod schema_property {
    use ai_proxy::translate::gemini::schema::to_gemini;
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use crate::support::google::strict;

    const KEYS: &[&str] = &[
        "type",
        "properties",
        "items",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "additionalProperties",
        "enum",
        "const",
        "format",
        "required",
        "nullable",
        "description",
        "minimum",
        "maxLength",
        "minItems",
        "$schema",
        "default",
        "pattern",
        "title",
        "examples",
        "prefixItems",
        "patternProperties",
        "not",
        "if",
        "then",
        // What Claude Code's tool schemas use besides the above.
        "exclusiveMinimum",
        "exclusiveMaximum",
        "maximum",
        "minLength",
        "maxItems",
        "propertyNames",
        "uniqueItems",
    ];
    const TYPES: &[&str] =
        &["string", "number", "integer", "boolean", "array", "object", "null", "uuid"];

    /// Every property schema of Claude Code's real tools (and the tools' own schemas), so
    /// random schemas are built from what Claude Code sends too.
    fn claude_code_schemas() -> Vec<Value> {
        fn walk(s: &Value, out: &mut Vec<Value>) {
            out.push(s.clone());
            for p in s.get("properties").and_then(Value::as_object).into_iter().flatten() {
                walk(p.1, out);
            }
            if let Some(items) = s.get("items") {
                walk(items, out);
            }
        }
        let mut out = Vec::new();
        for (_, schema) in super::claude_code_tools() {
            walk(&schema, &mut out);
        }
        out
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(Value::from),
            Just(json!(1.5)),
            Just(json!([1, "a", null])),
            prop::sample::select(claude_code_schemas()),
            prop::sample::select(TYPES).prop_map(|t| json!(t)),
            Just(json!(["string", "null"])),
            Just(json!("#/$defs/A")),
            Just(json!("#/definitions/Missing")),
            Just(json!("uri")),
        ]
    }

    fn schema() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                    let mut m = Map::new();
                    for (k, v) in kv {
                        m.insert(k.to_owned(), v);
                    }
                    Value::Object(m)
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Whatever JSON Schema a client sends, the converted schema is one Gemini accepts.
        #[test]
        fn any_schema_converts_to_one_gemini_accepts(s in schema()) {
            let out = to_gemini(&s);
            let parsed: Result<strict::Schema, _> = serde_json::from_value(out.clone());
            prop_assert!(parsed.is_ok(), "{s} → {out}: {:?}", parsed.err());
        }
    }
}

//! Unit tests of the OpenAI <-> Gemini translation helpers (request, response, stream, schema).

use serde_json::json;

use super::*;

#[test]
fn signatures_round_trip_through_tool_call_ids() {
    for sig in ["CiQB0e2Kb+/yVxZ3k0Q=", "abc", "ab+/", "a/b+c=="] {
        let id = tool_call_id("x1_0", Some(sig));
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{id}");
        let back = signature_from_id(&id).expect("signature");
        let norm = |s: &str| s.trim_end_matches('=').to_owned();
        assert_eq!(norm(&back), norm(sig), "{id}");
    }
    assert_eq!(tool_call_id("x1_0", None), "call_x1_0");
    assert_eq!(signature_from_id("call_x1_0"), None);
    assert_eq!(signature_from_id("toolu_01A09q90qw90lq917835lq9"), None);
}

#[test]
fn generations_are_read_from_model_ids() {
    assert_eq!(generation("gemini-2.5-pro"), Some(2));
    assert_eq!(generation("gemini-3-pro-preview"), Some(3));
    assert_eq!(generation("publishers/google/models/gemini-3-flash-preview"), Some(3));
    assert_eq!(generation("text-embedding-005"), None);
}

#[test]
fn finish_reasons_map_to_openai() {
    assert_eq!(finish_reason("STOP", false), "stop");
    assert_eq!(finish_reason("STOP", true), "tool_calls");
    assert_eq!(finish_reason("MAX_TOKENS", true), "length");
    for r in ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"] {
        assert_eq!(finish_reason(r, false), "content_filter", "{r}");
    }
    assert_eq!(finish_reason("MALFORMED_FUNCTION_CALL", false), "stop");
}

#[test]
fn schema_keeps_nullable_and_cuts_cycles_early() {
    let s = schema::to_gemini(&json!({
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        "type": "object",
        "properties": {"n": {"$ref": "#/$defs/N"}, "x": {"type": ["integer", "null"]}}
    }));
    assert_eq!(s["properties"]["x"], json!({"type": "INTEGER", "nullable": true}));
    let cut = &s["properties"]["n"]["properties"]["next"]["properties"]["next"];
    assert_eq!(cut["description"], "(recursive reference to N)");
}

#[test]
fn a_stream_is_complete_once_every_candidate_has_its_finish_reason() {
    let ev = |v: serde_json::Value| -> crate::wire::gemini::GenerateContentResponse {
        serde_json::from_value(v).expect("event")
    };
    let mut st = StreamState::new("s", 0, "gemini-2.5-flash");
    assert!(!st.is_complete(), "nothing yet");
    st.on_event(ev(
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}),
    ))
    .expect("ok");
    assert!(!st.is_complete(), "text without a finish reason is a cut answer");
    st.on_event(ev(json!({"candidates": [
        {"index": 0, "content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP"},
        {"index": 1, "content": {"role": "model", "parts": [{"text": "Hi"}]}}
    ]})))
    .expect("ok");
    assert!(!st.is_complete(), "candidate 1 has not finished");
    st.on_event(ev(json!({"candidates": [{"index": 1, "finishReason": "MAX_TOKENS"}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3}})))
    .expect("ok");
    assert!(st.is_complete());
}

#[test]
fn schema_exclusive_bounds_become_inclusive_or_a_note() {
    let s = schema::to_gemini(&json!({
        "type": "object",
        "properties": {
            "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 10},
            "old": {"type": "integer", "minimum": 0, "exclusiveMinimum": true, "maximum": 5, "exclusiveMaximum": true},
            "both": {"type": "integer", "minimum": 3, "exclusiveMinimum": 0},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1.5, "description": "a ratio"},
            "tight": {"type": "number", "minimum": 2, "exclusiveMinimum": 1}
        }
    }));
    let p = &s["properties"];
    assert_eq!(p["limit"], json!({"type": "INTEGER", "minimum": 1, "maximum": 10}));
    assert_eq!(p["old"], json!({"type": "INTEGER", "minimum": 1, "maximum": 4}));
    assert_eq!(p["both"], json!({"type": "INTEGER", "minimum": 3}));
    assert_eq!(
        p["ratio"],
        json!({"type": "NUMBER", "minimum": 0, "maximum": 1.5,
               "description": "a ratio (greater than 0) (less than 1.5)"})
    );
    assert_eq!(p["tight"], json!({"type": "NUMBER", "minimum": 2}));
}

#[test]
fn schema_all_of_keeps_the_tighter_bound_and_notes_a_second_pattern() {
    let s = schema::to_gemini(&json!({
        "type": "string",
        "description": "Recipient",
        "allOf": [
            {"pattern": "^[^\\n\\r]*$", "maxLength": 300},
            {"pattern": "^[\\s\\S]{0,300}$", "maxLength": 100, "minLength": 1}
        ]
    }));
    assert_eq!(
        s,
        json!({
            "type": "STRING",
            "minLength": "1",
            "maxLength": "100",
            "pattern": "^[^\\n\\r]*$",
            "description": "Recipient (must also match the pattern ^[\\s\\S]{0,300}$)"
        })
    );
}

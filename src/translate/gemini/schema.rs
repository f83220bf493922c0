//! JSON Schema (as OpenAI tools and `response_format` carry it) → Gemini's `Schema`, the
//! OpenAPI 3.0 subset `functionDeclarations[].parameters` and `responseSchema` accept.
//!
//! Gemini rejects keywords it does not know, so this keeps only what it understands and
//! rewrites the rest: `$ref` is inlined from `$defs` / `definitions` (bounded depth, cycles
//! cut), `["string", "null"]` and `anyOf: [.., {"type": "null"}]` become `nullable`, `oneOf`
//! becomes `anyOf`, `allOf` is merged, `const` becomes a one-value `enum`, non-string enums
//! and unsupported formats move into the description, exclusive bounds become inclusive ones
//! (integers) or a note (numbers). `$schema`, `additionalProperties`, `propertyNames` and
//! other validation-only keywords are dropped. No input makes this fail. Claude Code's own
//! tool list (`tests/fixtures/claude_code_tools.json`) is tested against the strict Vertex mock.

use serde_json::{Map, Value, json};

/// How often one `$ref` may repeat on a path before it is cut (recursive schemas are
/// unrolled this far), and how many `$ref`s any path may follow in all.
const MAX_SAME_REF: usize = 2;
const MAX_REF_DEPTH: usize = 16;
/// Nesting beyond this is cut (keeps pathological inputs bounded).
const MAX_DEPTH: usize = 32;

/// Convert a JSON Schema to Gemini's schema subset.
pub fn to_gemini(schema: &Value) -> Value {
    let defs = collect_defs(schema);
    convert(schema, &defs, &[], 0)
}

fn collect_defs(schema: &Value) -> Map<String, Value> {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = schema.get(key) {
            for (k, v) in d {
                defs.insert(format!("#/{key}/{k}"), v.clone());
            }
        }
    }
    defs
}

fn convert(schema: &Value, defs: &Map<String, Value>, refs: &[&str], depth: usize) -> Value {
    let Value::Object(obj) = schema else {
        // `true` / `{}`: anything. Gemini needs a type; a string is the loosest safe choice.
        return json!({"type": "STRING"});
    };
    if depth > MAX_DEPTH {
        return json!({"type": "OBJECT", "description": "(nested schema omitted)"});
    }
    if let Some(Value::String(r)) = obj.get("$ref") {
        let target = defs.get(r.as_str()).cloned();
        let repeats = refs.iter().filter(|x| **x == r.as_str()).count();
        let mut merged = match target {
            Some(Value::Object(t)) if repeats < MAX_SAME_REF && refs.len() < MAX_REF_DEPTH => t,
            _ => {
                let name = r.rsplit('/').next().unwrap_or(r);
                return json!({"type": "OBJECT", "description": format!("(recursive reference to {name})")});
            }
        };
        // Siblings of $ref (description, …) win over the referenced schema's.
        for (k, v) in obj {
            if k != "$ref" {
                merged.insert(k.clone(), v.clone());
            }
        }
        let mut path = refs.to_vec();
        path.push(r.as_str());
        return convert(&Value::Object(merged), defs, &path, depth + 1);
    }
    if let Some(Value::Array(all)) = obj.get("allOf") {
        let mut merged = obj.clone();
        merged.remove("allOf");
        for sub in all {
            let sub = resolve_ref(sub, defs);
            if let Value::Object(s) = sub {
                merge_into(&mut merged, &s);
            }
        }
        return convert(&Value::Object(merged), defs, refs, depth + 1);
    }

    let mut out = Map::new();
    let mut description = obj.get("description").and_then(Value::as_str).map(str::to_owned);
    let mut nullable = obj.get("nullable").and_then(Value::as_bool).unwrap_or(false);

    // type: "string" | ["string", "null"]
    let mut ty: Option<String> = match obj.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            if names.contains(&"null") {
                nullable = true;
            }
            let rest: Vec<&str> = names.into_iter().filter(|t| *t != "null").collect();
            if rest.len() > 1 {
                // Several types: anyOf of each.
                let variants: Vec<Value> = rest
                    .iter()
                    .map(|t| {
                        let mut v = obj.clone();
                        v.insert("type".into(), Value::String((*t).to_owned()));
                        convert(&Value::Object(v), defs, refs, depth + 1)
                    })
                    .collect();
                out.insert("anyOf".into(), Value::Array(variants));
                None
            } else {
                rest.first().map(|t| (*t).to_owned())
            }
        }
        _ => None,
    };

    // anyOf / oneOf, with a null member turned into `nullable`.
    let any = obj.get("anyOf").or_else(|| obj.get("oneOf"));
    if let Some(Value::Array(variants)) = any {
        let mut kept = Vec::new();
        for v in variants {
            let v = resolve_ref(v, defs);
            if v.get("type").and_then(Value::as_str) == Some("null") {
                nullable = true;
            } else {
                kept.push(v);
            }
        }
        if kept.len() == 1 && ty.is_none() {
            // `anyOf: [X, null]` is just a nullable X.
            let mut inner = convert(&kept[0], defs, refs, depth + 1);
            if let Value::Object(i) = &mut inner {
                if nullable {
                    i.insert("nullable".into(), Value::Bool(true));
                }
                if let Some(d) = &description {
                    i.insert("description".into(), Value::String(d.clone()));
                }
            }
            return inner;
        }
        if !kept.is_empty() {
            let converted: Vec<Value> =
                kept.iter().map(|v| convert(v, defs, refs, depth + 1)).collect();
            out.insert("anyOf".into(), Value::Array(converted));
        }
    }

    if ty.is_none() && !out.contains_key("anyOf") {
        // Infer from the keywords present; a shapeless value (`{}`) is sent as a string.
        ty = Some(
            if obj.contains_key("properties") {
                "object"
            } else if obj.contains_key("items") {
                "array"
            } else {
                "string"
            }
            .to_owned(),
        );
    }
    let ty = ty.map(|t| t.to_ascii_lowercase());

    if let Some(t) = &ty {
        let upper = match t.as_str() {
            "string" | "number" | "integer" | "boolean" | "array" | "object" => {
                t.to_ascii_uppercase()
            }
            _ => "STRING".to_owned(),
        };
        out.insert("type".into(), Value::String(upper));
    }
    if let Some(Value::String(f)) = obj.get("format") {
        let ok = match ty.as_deref() {
            Some("string") => matches!(f.as_str(), "date-time" | "enum"),
            Some("number") => matches!(f.as_str(), "float" | "double"),
            Some("integer") => matches!(f.as_str(), "int32" | "int64"),
            _ => false,
        };
        if ok {
            out.insert("format".into(), Value::String(f.clone()));
        } else {
            append(&mut description, &format!("format: {f}"));
        }
    }
    if let Some(title) = obj.get("title").and_then(Value::as_str) {
        out.insert("title".into(), Value::String(title.to_owned()));
    }

    // enum / const
    let enum_values: Option<Vec<Value>> = match (obj.get("enum"), obj.get("const")) {
        (Some(Value::Array(e)), _) => Some(e.clone()),
        (_, Some(c)) => Some(vec![c.clone()]),
        _ => None,
    };
    if let Some(values) = enum_values {
        let strings: Vec<String> =
            values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        if ty.as_deref() == Some("string") && strings.len() == values.len() && !strings.is_empty() {
            out.insert("enum".into(), json!(strings));
        } else {
            let shown: Vec<String> = values.iter().map(Value::to_string).collect();
            append(&mut description, &format!("one of: {}", shown.join(", ")));
        }
    }

    match ty.as_deref() {
        Some("object") => {
            let mut names = Vec::new();
            if let Some(Value::Object(props)) = obj.get("properties") {
                let mut converted = Map::new();
                for (name, p) in props {
                    converted.insert(name.clone(), convert(p, defs, refs, depth + 1));
                    names.push(name.clone());
                }
                if !converted.is_empty() {
                    out.insert("properties".into(), Value::Object(converted));
                }
            }
            if let Some(Value::Array(req)) = obj.get("required") {
                // Gemini rejects required names that are not properties.
                let req: Vec<Value> = req
                    .iter()
                    .filter(|r| r.as_str().is_some_and(|r| names.iter().any(|n| n == r)))
                    .cloned()
                    .collect();
                if !req.is_empty() {
                    out.insert("required".into(), Value::Array(req));
                }
            }
            if names.is_empty() {
                append(&mut description, "a JSON object");
            }
            for k in ["minProperties", "maxProperties"] {
                copy_int(obj, &mut out, k);
            }
        }
        Some("array") => {
            let items = match obj.get("items") {
                Some(Value::Array(tuple)) => tuple.first().cloned().unwrap_or(Value::Bool(true)),
                Some(i) => i.clone(),
                None => obj
                    .get("prefixItems")
                    .and_then(|p| p.as_array()?.first().cloned())
                    .unwrap_or(Value::Bool(true)),
            };
            out.insert("items".into(), convert(&items, defs, refs, depth + 1));
            for k in ["minItems", "maxItems"] {
                copy_int(obj, &mut out, k);
            }
        }
        Some("string") => {
            for k in ["minLength", "maxLength"] {
                copy_int(obj, &mut out, k);
            }
            if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
                out.insert("pattern".into(), Value::String(p.to_owned()));
            }
        }
        Some(t @ ("number" | "integer")) => {
            for (k, exclusive, sign) in
                [("minimum", "exclusiveMinimum", 1.0), ("maximum", "exclusiveMaximum", -1.0)]
            {
                let (bound, note) = numeric_bound(obj, k, exclusive, sign, t == "integer");
                if let Some(n) = bound {
                    out.insert(k.into(), n);
                }
                if let Some(note) = note {
                    append(&mut description, &note);
                }
            }
        }
        _ => {}
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    if let Some(d) = description {
        out.insert("description".into(), Value::String(d));
    }
    Value::Object(out)
}

fn resolve_ref(v: &Value, defs: &Map<String, Value>) -> Value {
    match v.get("$ref").and_then(Value::as_str).and_then(|r| defs.get(r)) {
        Some(t) => t.clone(),
        None => v.clone(),
    }
}

/// An inclusive `minimum` / `maximum` (Gemini has no exclusive bounds) and a note for the
/// description when the bound cannot be said exactly. `sign` is +1 for a lower bound, -1
/// for an upper one. Integers turn an exclusive bound into the next inclusive one (`limit >
/// 0` is `minimum: 1`); numbers keep it as a note. Both the draft 6+ form
/// (`exclusiveMinimum: 0`) and the draft 4 form (`minimum: 0, exclusiveMinimum: true`) are
/// read; of two bounds, the tighter wins.
fn numeric_bound(
    obj: &Map<String, Value>,
    key: &str,
    exclusive_key: &str,
    sign: f64,
    integer: bool,
) -> (Option<Value>, Option<String>) {
    let inclusive = obj.get(key).and_then(Value::as_f64).filter(|n| n.is_finite());
    let (exclusive, draft4) = match obj.get(exclusive_key) {
        Some(Value::Bool(true)) => (inclusive, true),
        Some(v) => (v.as_f64().filter(|n| n.is_finite()), false),
        None => (None, false),
    };
    let inclusive = if draft4 { None } else { inclusive };
    let Some(ex) = exclusive else {
        return (inclusive.and_then(number), None);
    };
    let tighter = |a: f64, b: f64| if (a - b) * sign >= 0.0 { a } else { b };
    if integer {
        // The next integer past the exclusive bound, inward.
        let next = if sign > 0.0 { ex.floor() + 1.0 } else { ex.ceil() - 1.0 };
        let bound = inclusive.map_or(next, |i| tighter(i, next));
        return (number(bound), None);
    }
    let word = if sign > 0.0 { "greater than" } else { "less than" };
    match inclusive {
        // An inclusive bound at least as tight says it all (`minimum: 1, exclusiveMinimum: 0`).
        Some(i) if (i - ex) * sign > 0.0 => (number(i), None),
        _ => (number(ex), Some(format!("{word} {}", number(ex).unwrap_or(Value::Null)))),
    }
}

/// A JSON number, as an integer when it is one.
fn number(n: f64) -> Option<Value> {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        Some(Value::from(n as i64))
    } else {
        serde_json::Number::from_f64(n).map(Value::Number)
    }
}

/// `allOf`: the members' keywords merged into one schema. Properties and `required` are
/// joined; of two bounds the tighter wins; a second `pattern` (Gemini takes one) is kept in
/// the description; otherwise the first value stays.
fn merge_into(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (k.as_str(), into.get_mut(k), v) {
            ("properties", Some(Value::Object(a)), Value::Object(b)) => {
                for (pk, pv) in b {
                    a.insert(pk.clone(), pv.clone());
                }
            }
            ("required", Some(Value::Array(a)), Value::Array(b)) => {
                for r in b {
                    if !a.contains(r) {
                        a.push(r.clone());
                    }
                }
            }
            (
                "minimum" | "minLength" | "minItems" | "minProperties",
                Some(a @ Value::Number(_)),
                Value::Number(b),
            ) => {
                if b.as_f64() > a.as_f64() {
                    *a = v.clone();
                }
            }
            (
                "maximum" | "maxLength" | "maxItems" | "maxProperties",
                Some(a @ Value::Number(_)),
                Value::Number(b),
            ) => {
                if b.as_f64() < a.as_f64() {
                    *a = v.clone();
                }
            }
            ("pattern", Some(a), Value::String(b)) if a.as_str() != Some(b) => {
                let mut description =
                    into.get("description").and_then(Value::as_str).map(str::to_owned);
                append(&mut description, &format!("must also match the pattern {b}"));
                into.insert("description".into(), Value::String(description.unwrap_or_default()));
            }
            (_, Some(_), _) => {}
            (_, None, _) => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn copy_int(from: &Map<String, Value>, to: &mut Map<String, Value>, key: &str) {
    if let Some(n) = from.get(key).and_then(Value::as_u64) {
        // int64 fields are strings in protobuf JSON; Google accepts both.
        to.insert(key.into(), Value::String(n.to_string()));
    }
}

fn append(description: &mut Option<String>, note: &str) {
    *description = Some(match description.take() {
        Some(d) if !d.is_empty() => format!("{d} ({note})"),
        _ => format!("({note})"),
    });
}

//! Reading JSON request bodies into wire types, with errors that name the field.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::future::{self, Either, Ready};
use serde::de::DeserializeOwned;

use super::auth::dialect_of;
use super::conn::body_read_timeout;
use super::error::ApiError;
use crate::config::{NumberRange, SECONDS};
use crate::router::RequestOptions;
use crate::router::fallback::Trigger;
use crate::wire::openai::{ChatRequest, EmbeddingsRequest};

/// Turn a body-buffering failure (over the size limit, a stalled body, broken connection)
/// into our error.
pub fn read_rejection(rej: BytesRejection, limit: usize) -> ApiError {
    if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else if let Some(timeout) = body_read_timeout(&rej) {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", timeout.to_string())
            .with_param("request_body")
    } else {
        ApiError::bad_request(format!("Could not read the request body: {}", rej.body_text()))
            .with_param("request_body")
    }
}

/// The 413 for a body over `limit` bytes.
fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        format!(
            "Request body is larger than the gateway's limit of {} MiB (litellm_settings.max_request_size_mb).",
            limit / (1024 * 1024)
        ),
    )
    .with_param("request_body")
}

/// After the 413 for a declared-oversize body, up to this much of the body is read and
/// thrown away ...
const DRAIN_MAX: u64 = 64 * 1024 * 1024;
/// ... for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Middleware: a request whose `Content-Length` is over the limit gets its 413 (in the
/// caller's dialect) at once, without its body being parsed; a client that waits for
/// `100 Continue` never sends it. A client that is already sending (most SDKs do not wait)
/// would get a broken pipe or a reset instead of the answer if the connection closed under
/// it, so the rest of its body is read and discarded behind the answer (nginx's lingering
/// close), bounded by `DRAIN_MAX` bytes and `DRAIN_TIME`. A body read to its end leaves
/// the connection open for the next request; otherwise hyper closes it.
///
/// A plain `fn` deciding at once: its future is `inner`'s or the ready answer.
pub fn reject_declared_oversize<F: Future<Output = Response>>(
    max_body: usize,
    req: Request,
    inner: impl FnOnce(Request) -> F,
) -> Either<Ready<Response>, F> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > max_body as u64 => {
            let answer = too_large(max_body).in_dialect(dialect_of(req.uri().path()));
            let waits_for_continue = req
                .headers()
                .get(header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            if !waits_for_continue && n <= DRAIN_MAX {
                let mut body = req.into_body().into_data_stream();
                tokio::spawn(async move {
                    let drain = async { while let Some(Ok(_)) = body.next().await {} };
                    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
                });
            }
            Either::Left(future::ready(answer.into_response()))
        }
        _ => Either::Right(inner(req)),
    }
}

/// Parse a JSON body. `endpoint` prefixes messages as LiteLLM does (`/chat/completions`).
///
/// Valid bodies take serde_json's plain path; only a failed parse is repeated with field-path
/// tracking (`serde_path_to_error`), which costs on every field, to name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &Bytes, endpoint: &str) -> Result<T, ApiError> {
    if let Ok(value) = crate::wire::from_json(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = match result {
        Ok(v) => v,
        Err(err) => return Err(describe(err, endpoint)),
    };
    if let Err(e) = de.end() {
        return Err(
            ApiError::bad_request(format!("Invalid JSON payload: {e}")).with_param("request_body")
        );
    }
    Ok(value)
}

/// A request whose `model` may also come from the URL (Azure-style deployment paths).
pub trait ModelRequest: DeserializeOwned {
    fn model_mut(&mut self) -> &mut String;
}

impl ModelRequest for ChatRequest {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
}

impl ModelRequest for EmbeddingsRequest {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
}

/// Buffer, parse, apply the URL's model and require one: the common start of model calls.
pub fn parse_model_request<T: ModelRequest>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
    endpoint: &str,
    path_model: Option<String>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rej| read_rejection(rej, limit))?;
    let mut req: T = parse_json(&bytes, endpoint)?;
    if let Some(m) = path_model {
        *req.model_mut() = m;
    }
    if req.model_mut().trim().is_empty() {
        return Err(ApiError::bad_request(format!(
            "{endpoint}: Missing required parameter: 'model'."
        ))
        .with_param("model"));
    }
    Ok(req)
}

/// The body fields [`route_options`] takes out: LiteLLM's router fields, for the gateway and
/// never for an upstream.
pub const ROUTE_OPTION_KEYS: [&str; 7] = [
    "timeout",
    "stream_timeout",
    "fallbacks",
    "disable_fallbacks",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
];

/// Body fields that steer the router rather than the model (LiteLLM's per-call router
/// parameters), taken out of `extra` so they never reach an upstream: `timeout`,
/// `stream_timeout` (seconds), `fallbacks` (model names, or `{"model": name}` objects),
/// `disable_fallbacks`, and `mock_testing_fallbacks` / `mock_testing_context_fallbacks` /
/// `mock_testing_content_policy_fallbacks` (the requested model fails without a call).
pub fn route_options(
    extra: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<RequestOptions, ApiError> {
    use serde_json::Value;
    let mut opts = RequestOptions::default();
    if extra.is_empty() {
        return Ok(opts);
    }
    let seconds = |key: &str, v: Value| -> Result<Option<std::time::Duration>, ApiError> {
        let n = match &v {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if in_range(n, &SECONDS) => Ok(Some(std::time::Duration::from_secs_f64(n))),
            _ => Err(ApiError::bad_request(format!(
                "{key}: expected {} from {} to {}, got {v}",
                SECONDS.what, SECONDS.min, SECONDS.max
            ))
            .with_param(key)),
        }
    };
    let flag = |key: &str, v: Value| -> Result<bool, ApiError> {
        match v {
            Value::Bool(b) => Ok(b),
            Value::Null => Ok(false),
            other => {
                Err(ApiError::bad_request(format!("{key}: expected true or false, got {other}"))
                    .with_param(key))
            }
        }
    };
    if let Some(v) = extra.shift_remove("timeout") {
        opts.timeouts.timeout = seconds("timeout", v)?;
    }
    if let Some(v) = extra.shift_remove("stream_timeout") {
        opts.timeouts.stream_timeout = seconds("stream_timeout", v)?;
    }
    if let Some(v) = extra.shift_remove("fallbacks") {
        opts.fallbacks = fallback_names(v)?;
    }
    if let Some(v) = extra.shift_remove("disable_fallbacks") {
        opts.disable_fallbacks = flag("disable_fallbacks", v)?;
    }
    for (key, trigger) in [
        ("mock_testing_fallbacks", Trigger::Failure),
        ("mock_testing_context_fallbacks", Trigger::ContextWindow),
        ("mock_testing_content_policy_fallbacks", Trigger::ContentPolicy),
    ] {
        if let Some(v) = extra.shift_remove(key)
            && flag(key, v)?
        {
            opts.mock_failure = Some(trigger);
        }
    }
    Ok(opts)
}

fn in_range(n: f64, range: &NumberRange) -> bool {
    n.is_finite() && n >= range.min && n <= range.max
}

/// The body's `fallbacks`: `["a", "b"]`, or LiteLLM's `[{"model": "a", ...}]` (only the
/// model is used).
fn fallback_names(v: serde_json::Value) -> Result<Option<Vec<String>>, ApiError> {
    use serde_json::Value;
    let bad = || {
        ApiError::bad_request(
            "fallbacks: expected a list of model names, e.g. [\"gpt-4o-mini\"]".to_owned(),
        )
        .with_param("fallbacks")
    };
    let items = match v {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        _ => return Err(bad()),
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Value::Object(o) => match o.get("model") {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn describe(err: serde_path_to_error::Error<serde_json::Error>, endpoint: &str) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if !matches!(inner.classify(), serde_json::error::Category::Data) {
        return ApiError::bad_request(format!("Invalid JSON payload: {inner}"))
            .with_param("request_body");
    }
    let msg = strip_position(&inner.to_string());
    if let Some(field) = msg.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
        let full = if path == "." { field.to_owned() } else { format!("{path}.{field}") };
        return ApiError::bad_request(format!("{endpoint}: Missing required parameter: '{full}'."))
            .with_param(full);
    }
    let param = if path == "." { "request_body".to_owned() } else { path };
    ApiError::bad_request(format!("{endpoint}: Invalid value for '{param}': {msg}."))
        .with_param(param)
}

/// serde_json appends " at line L column C"; for data errors that position is noise.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::openai::{Content, ContentPart};

    fn err(body: &str) -> ApiError {
        parse_json::<ChatRequest>(&Bytes::from(body.to_owned()), "/chat/completions")
            .expect_err("error")
    }

    #[test]
    fn missing_messages_matches_litellm() {
        let e = err(r#"{"model":"gpt-4"}"#);
        assert_eq!(e.message, "/chat/completions: Missing required parameter: 'messages'.");
        assert_eq!(e.param.as_deref(), Some("messages"));
    }

    #[test]
    fn text_beyond_ascii_parses_and_a_body_that_is_not_utf8_is_named() {
        let body = r#"{"model":"gpt-4","messages":[{"role":"user","content":"Grüße, 你好 👋"}]}"#;
        let req: ChatRequest =
            parse_json(&Bytes::from(body.to_owned()), "/chat/completions").expect("parses");
        assert_eq!(
            req.messages[0].content.as_ref().map(|c| c.text()).as_deref(),
            Some("Grüße, 你好 👋")
        );
        // Not UTF-8 inside a string: the byte reader's error, as before the text fast path.
        let mut bytes = body.as_bytes().to_vec();
        let at = body.find("Gr").expect("text");
        bytes[at] = 0xff;
        let e = parse_json::<ChatRequest>(&Bytes::from(bytes), "/chat/completions")
            .expect_err("not UTF-8");
        assert!(
            e.message.starts_with("Invalid JSON payload: invalid unicode code point"),
            "{}",
            e.message
        );
        assert_eq!(e.param.as_deref(), Some("request_body"));
    }

    #[test]
    fn malformed_json_says_so() {
        let e = err(r#"{"model":"gpt-4","messages":[{"role":"user","content":"hi"}"#);
        assert!(e.message.starts_with("Invalid JSON payload: EOF while parsing"), "{}", e.message);
        assert_eq!(e.param.as_deref(), Some("request_body"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = err(
            r#"{"model":"gpt-4","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#,
        );
        assert_eq!(e.param.as_deref(), Some("temperature"));
        assert!(e.message.contains("invalid type: string \"hot\", expected f64"), "{}", e.message);
        let e = err(r#"{"model":"gpt-4","messages":[{"content":"hi"}]}"#);
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
        let e = err(r#"{"model":"gpt-4","messages":"hi"}"#);
        assert_eq!(e.param.as_deref(), Some("messages"));
    }

    /// A tool schema is raw JSON text (`wire::RawJson`): the path-tracking parse that names a
    /// wrong field reads it too, and a broken schema is named as what it is.
    #[test]
    fn errors_after_or_inside_a_tool_schema_are_named() {
        let tools = r#""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}]"#;
        let e = err(&format!(
            r#"{{"model":"gpt-4",{tools},"messages":[{{"role":"user","content":"hi"}}],"temperature":"hot"}}"#
        ));
        assert_eq!(e.param.as_deref(), Some("temperature"), "{}", e.message);
        assert!(e.message.contains("expected f64"), "{}", e.message);
        let e = err(&format!(r#"{{"model":"gpt-4",{tools},"messages":[{{"content":"hi"}}]}}"#));
        assert_eq!(e.param.as_deref(), Some("messages[0].role"), "{}", e.message);
        let broken = r#"{"model":"gpt-4","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":}}}]}"#;
        let e = err(broken);
        assert!(e.message.starts_with("Invalid JSON payload: expected value"), "{}", e.message);
    }

    /// A tool's description is kept as its JSON text (`wire::RawString`); a value that is not
    /// a string is refused with the words serde's `String` used, at the field's path, and
    /// `null` is no description.
    #[test]
    fn a_tool_description_that_is_not_a_string_is_named() {
        let cases = [
            ("5", "integer `5`"),
            ("-2", "integer `-2`"),
            ("1.5", "floating point `1.5`"),
            ("true", "boolean `true`"),
            ("[\"a\"]", "sequence"),
            ("{\"a\":1}", "map"),
        ];
        for (value, named) in cases {
            let e = err(&format!(
                r#"{{"model":"m","messages":[],"tools":[{{"type":"function","function":{{"name":"f","description":{value}}}}}]}}"#
            ));
            assert_eq!(
                e.message,
                format!(
                    "/chat/completions: Invalid value for 'tools[0].function.description': invalid type: {named}, expected a string."
                ),
            );
            let anthropic = format!(
                r#"{{"model":"m","max_tokens":1,"messages":[],"tools":[{{"name":"f","description":{value}}}]}}"#
            );
            let e = parse_json::<crate::wire::anthropic::MessagesRequest>(
                &Bytes::from(anthropic),
                "/v1/messages",
            )
            .expect_err("error");
            assert_eq!(
                e.message,
                format!(
                    "/v1/messages: Invalid value for 'tools[0].description': invalid type: {named}, expected a string."
                ),
            );
        }
        let none = r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","description":null}}]}"#;
        let req = parse_json::<ChatRequest>(&Bytes::from(none), "/chat/completions").expect("null");
        assert_eq!(req.tools.expect("tools")[0].function.description, None);
    }

    /// Message content is a string or a list of parts; anything else gets the one message
    /// serde's untagged enum gave, at the content's path, and a syntax error inside a
    /// refused value is still reported as the syntax error it is.
    #[test]
    fn content_that_is_neither_text_nor_parts_is_named() {
        let refused = "data did not match any variant of untagged enum Content";
        for content in ["5", "-1.5", "true", r#"{"type":"text","text":"hi"}"#, "{}"] {
            let e = err(&format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":{content}}}]}}"#
            ));
            assert_eq!(e.param.as_deref(), Some("messages[0].content"), "{content}");
            assert_eq!(
                e.message,
                format!("/chat/completions: Invalid value for 'messages[0].content': {refused}."),
                "{content}"
            );
        }
        let e = err(r#"{"model":"m","messages":[{"role":"user","content":{"a":tru}}]}"#);
        assert!(e.message.starts_with("Invalid JSON payload: expected ident"), "{}", e.message);
        let e = err(r#"{"model":"m","messages":[{"role":"user","content":[1,"x",{"a":[]}}]}"#);
        assert!(e.message.starts_with("Invalid JSON payload:"), "{}", e.message);
        // Any list is parts (unknown ones kept whole); null is no content.
        let req: ChatRequest = parse_json(
            &Bytes::from_static(
                br#"{"model":"m","messages":[{"role":"user","content":[1,{"type":"text","text":"a\nb"}]},{"role":"assistant","content":null},{"role":"user","content":"x\"y"}]}"#,
            ),
            "/chat/completions",
        )
        .expect("parses");
        assert_eq!(
            req.messages[0].content,
            Some(Content::Parts(vec![
                ContentPart::Other(serde_json::json!(1)),
                ContentPart::Text { text: "a\nb".into() },
            ]))
        );
        assert_eq!(req.messages[1].content, None);
        assert_eq!(req.messages[2].content, Some(Content::Text("x\"y".into())));
        // From a `Value` too (translations build requests that way).
        let v = serde_json::json!({"role": "user", "content": "hi"});
        let m: crate::wire::openai::Message = serde_json::from_value(v).expect("from value");
        assert_eq!(m.content, Some(Content::Text("hi".into())));
        let v = serde_json::json!({"role": "user", "content": 3});
        let e = serde_json::from_value::<crate::wire::openai::Message>(v).expect_err("number");
        assert_eq!(e.to_string(), refused);
    }

    #[test]
    fn router_options_are_taken_out_of_the_body() {
        let mut req: ChatRequest = serde_json::from_str(
            r#"{"model":"m","messages":[],"timeout":2.5,"stream_timeout":"3","fallbacks":["a",{"model":"b","messages":[]}],"mock_testing_fallbacks":true,"logprobs":true}"#,
        )
        .expect("parse");
        let opts = route_options(&mut req.extra).expect("valid");
        assert_eq!(opts.timeouts.timeout, Some(std::time::Duration::from_millis(2500)));
        assert_eq!(opts.timeouts.stream_timeout, Some(std::time::Duration::from_secs(3)));
        assert_eq!(opts.fallbacks, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(opts.mock_failure, Some(Trigger::Failure));
        assert!(!opts.disable_fallbacks);
        assert_eq!(req.extra.keys().collect::<Vec<_>>(), ["logprobs"], "never sent upstream");
    }

    #[test]
    fn bad_router_options_are_400s_naming_the_field() {
        for (body, param, text) in [
            (
                r#"{"timeout":-1}"#,
                "timeout",
                "timeout: expected a number of seconds from 0.001 to 604800, got -1",
            ),
            (r#"{"stream_timeout":"soon"}"#, "stream_timeout", "got \"soon\""),
            (r#"{"timeout":1e9}"#, "timeout", "from 0.001 to 604800"),
            (r#"{"fallbacks":"b"}"#, "fallbacks", "expected a list of model names"),
            (r#"{"fallbacks":[1]}"#, "fallbacks", "expected a list of model names"),
            (r#"{"disable_fallbacks":"yes"}"#, "disable_fallbacks", "expected true or false"),
        ] {
            let mut extra: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(body).expect("json");
            let e = route_options(&mut extra).expect_err(body);
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert_eq!(e.param.as_deref(), Some(param));
            assert!(e.message.contains(text), "{body}: {}", e.message);
        }
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let e = err(r#"{"model":"m","messages":[]} x"#);
        assert!(e.message.starts_with("Invalid JSON payload"), "{}", e.message);
    }

    /// `ROUTE_OPTION_KEYS` is what `route_options` takes out (the pass-through reads only
    /// these, so a key missing from the list would reach the upstream).
    #[test]
    fn route_option_keys_are_the_fields_route_options_takes() {
        let valid = serde_json::json!({
            "timeout": 5, "stream_timeout": 5, "fallbacks": ["b"], "disable_fallbacks": false,
            "mock_testing_fallbacks": false, "mock_testing_context_fallbacks": false,
            "mock_testing_content_policy_fallbacks": false, "other": 1, "metadata": {},
        });
        let serde_json::Value::Object(mut all) = valid else { panic!("an object") };
        let keys: Vec<String> = all.keys().cloned().collect();
        route_options(&mut all).expect("valid");
        let taken: Vec<&str> =
            keys.iter().map(String::as_str).filter(|k| !all.contains_key(*k)).collect();
        assert_eq!(taken, ROUTE_OPTION_KEYS);
    }
}

//! Redaction of what leaves the process: URL passwords, Bearer/Basic and key-named values,
//! the config's resolved secrets.

use super::*;

fn r(text: &str) -> String {
    redact_with(text, &[]).into_owned()
}

#[test]
fn url_userinfo_loses_its_password() {
    assert_eq!(
        r("cannot reach DashScope at https://ann:hunter2@proxy.corp:8080/v1: refused"),
        "cannot reach DashScope at https://ann:***@proxy.corp:8080/v1: refused"
    );
    assert_eq!(r("http://tok3n@github.example/x"), "http://***@github.example/x");
    assert_eq!(r("\"http://u:p@h\""), "\"http://u:***@h\"");
    // Two URLs, one with userinfo.
    assert_eq!(
        r("a http://h/x@y b socks5://u:s3@p:1080"),
        "a http://h/x@y b socks5://u:***@p:1080"
    );
    // Already masked stays as it is.
    assert_eq!(r("http://u:***@h"), "http://u:***@h");
    assert_eq!(redact_with("no url here", &[]), Cow::Borrowed("no url here"));
}

#[test]
fn bearer_and_basic_credentials_are_masked() {
    assert_eq!(
        r(r#"{"error":{"message":"bad header Authorization: Bearer sk-abc123XYZ"}}"#),
        r#"{"error":{"message":"bad header Authorization: Bearer ***"}}"#
    );
    assert_eq!(r("authorization: bearer eyJhbGciOi.x.y, next"), "authorization: bearer ***, next");
    assert_eq!(r("Proxy-Authorization: Basic dXNlcjpwYXNz"), "Proxy-Authorization: Basic ***");
    // JSON-escaped quotes end the value.
    assert_eq!(r(r#"{\"h\":\"Bearer sk-12345678\"}"#), r#"{\"h\":\"Bearer ***\"}"#);
    // Prose keeps its words; our own hint keeps its placeholder.
    assert_eq!(r("the bearer token has expired"), "the bearer token has expired");
    assert_eq!(r("send `Authorization: Bearer <key>`"), "send `Authorization: Bearer <key>`");
    assert_eq!(r("a basic question"), "a basic question");
}

#[test]
fn credential_named_values_are_masked() {
    assert_eq!(r(r#"{"api-key": "0123456789abcdef"}"#), r#"{"api-key": "***"}"#);
    assert_eq!(r("x-api-key: sk-ant-xyz"), "x-api-key: ***");
    assert_eq!(r(r#"{\"x-api-key\":\"sk-ant-xyz\"}"#), r#"{\"x-api-key\":\"***\"}"#);
    assert_eq!(r("api_key=abc&model=m"), "api_key=***&model=m");
    assert_eq!(r("azure_api_key: 'abcdef'"), "azure_api_key: '***'");
    assert_eq!(r("client_secret=s3cr3t-value"), "client_secret=***");
    assert_eq!(r(r#""refresh_token": "1//0abc""#), r#""refresh_token": "***""#);
    assert_eq!(r("Authorization: sk-bare-token"), "Authorization: ***");
    assert_eq!(
        r("GET https://generativelanguage.googleapis.com/v1/models?key=AIzaSyA&alt=sse"),
        "GET https://generativelanguage.googleapis.com/v1/models?key=***&alt=sse"
    );
    // Names in prose, or other fields that only contain a credential word, are left alone.
    assert_eq!(r("invalid api-key provided"), "invalid api-key provided");
    assert_eq!(r(r#"{"key": "service", "monkey=1"}"#), r#"{"key": "service", "monkey=1"}"#);
    assert_eq!(r("max_tokens: 100, password_hint: x"), "max_tokens: 100, password_hint: x");
}

#[test]
fn names_and_schemes_match_without_case_and_a_clean_line_is_not_copied() {
    assert_eq!(r("X-API-KEY: sk-ant-xyz"), "X-API-KEY: ***");
    assert_eq!(r("Client_Secret=s3cr3t-value"), "Client_Secret=***");
    assert_eq!(r("AZURE_API-KEY=abcdef"), "AZURE_API-KEY=***");
    assert_eq!(r("GET /v1?KEY=AIzaSyA&alt=sse"), "GET /v1?KEY=***&alt=sse");
    assert_eq!(r("AUTHORIZATION: BEARER eyJhbGciOi.x.y"), "AUTHORIZATION: BEARER ***");
    assert_eq!(r("Authorization: BASIC dXNlcjpwYXNz"), "Authorization: BASIC ***");
    assert!(is_credential_name("Ocp_Apim_Subscription_Key"));
    assert!(!is_credential_name("api-keys"));
    // The request line every call writes: nothing to mask, nothing allocated.
    let line = "2026-12-06T17:32:21.445978Z  INFO chat model=bench provider=openai status=200 \
                json 0.4ms tokens=25+28 deployment=0:openai/bench request_id=req_7f3a";
    assert!(matches!(redact_with(line, &[]), Cow::Borrowed(_)));
}

#[test]
fn known_secrets_are_masked_anywhere_longest_first() {
    let known = [Known::new("sk-live-abcdef-long"), Known::new("sk-live-abcdef")];
    assert_eq!(
        redact_with("echo: sk-live-abcdef-long and sk-live-abcdef.", &known),
        "echo: *** and ***."
    );
}

#[test]
fn remembered_secrets_are_masked_process_wide() {
    remember("zz-remembered-secret-value");
    remember("short");
    assert_eq!(redact("got zz-remembered-secret-value!"), "got ***!");
    assert_eq!(redact("short stays"), "short stays");
}

#[test]
fn json_values_are_redacted_and_credential_fields_masked_whole() {
    let mut v = serde_json::json!({
        "message": "proxy http://u:pw@p:1 said no",
        "headers": {"Authorization": "Bearer sk-123456789", "x-api-key": "k", "accept": "*/*"},
        "list": ["Bearer sk-abcdefgh1"],
        "n": 1
    });
    redact_json(&mut v);
    assert_eq!(
        v,
        serde_json::json!({
            "message": "proxy http://u:***@p:1 said no",
            "headers": {"Authorization": "***", "x-api-key": "***", "accept": "*/*"},
            "list": ["Bearer ***"],
            "n": 1
        })
    );
}

#[test]
fn redaction_is_idempotent_and_never_panics() {
    let samples = [
        "Bearer",
        "bearer ",
        "api-key:",
        "api-key: ",
        "://@",
        "x://:@",
        "é://ü:ö@ß Bearer ümlaut-1234 api_key=ñ",
        "?key=",
        "\\\"api-key\\\":\\\"",
    ];
    for s in samples {
        let once = r(s);
        assert_eq!(r(&once), once, "{s:?}");
    }
}

/// The masking of named values as first written: every word of the text checked, whatever
/// follows it. `mask_named_values` looks only at the names before a `:` or `=` and must mask
/// exactly the same.
fn named_values_word_by_word(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut changed = false;
    let mut pos = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if !(c.is_ascii_alphabetic()) || (i > 0 && is_name_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        // Name bytes are ASCII, so `name` is a whole `str` slice; compared without case.
        let name_len = bytes[i..].iter().take_while(|&&b| is_name_byte(b)).count();
        let name = &text[i..i + name_len];
        let in_query = i > 0 && matches!(bytes[i - 1], b'?' | b'&');
        let credential = is_credential_name(name)
            || (in_query && CREDENTIAL_QUERY_NAMES.iter().any(|q| q.eq_ignore_ascii_case(name)))
            || ends_with_name(name, "-api-key");
        let end = i + name_len;
        i = end.max(i + 1);
        if !credential {
            continue;
        }
        let Some(value_start) = value_after_separator(text, end, in_query) else { continue };
        let value_len = text[value_start..].find(ends_value).unwrap_or(text.len() - value_start);
        let value = &text[value_start..value_start + value_len];
        if value.is_empty() || value == MASK || value.starts_with(MASK) {
            continue;
        }
        // `Authorization: Bearer …`: the scheme ends the value here; the credential after it
        // is `mask_auth_schemes`'s. A bare token (`Authorization: sk-…`) is masked here.
        if ends_with_name(name, "authorization")
            && AUTH_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(value))
        {
            continue;
        }
        if !changed {
            out.reserve(text.len() + MASK.len());
        }
        out.push_str(&text[pos..value_start]);
        out.push_str(MASK);
        pos = value_start + value_len;
        i = pos;
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[pos..]);
    Some(out)
}

/// Pieces that make named values, separators, quotes and their look-alikes.
const PIECES: &[&str] = &[
    "api-key",
    "API_KEY",
    "x-api-key",
    "my-api-key",
    "ApiKey",
    "key",
    "Key",
    "sig",
    "token",
    "access_token",
    "authorization",
    "Proxy-Authorization",
    "password",
    "passwords",
    "model",
    "9key",
    "a",
    "_key",
    "=",
    ":",
    " ",
    "\t",
    "\"",
    "'",
    "\\\"",
    "\\",
    "?",
    "&",
    ",",
    "}",
    "Bearer",
    "basic",
    "sk-1234",
    "***",
    "***x",
    "é",
    "ü",
    "\n",
    "-",
    "_",
    "/",
];

#[test]
fn a_masked_value_is_not_read_again_as_a_name() {
    // The second `=` follows `api-key"`, the end of the first value: no name of its own.
    let text = "api-key=api-key\"=secret1 key=x";
    assert_eq!(mask_named_values(text).as_deref(), Some("api-key=***\"=secret1 key=x"));
    assert_eq!(mask_named_values(text), named_values_word_by_word(text));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
    #[test]
    fn named_values_are_masked_as_when_every_word_is_checked(
        picks in proptest::collection::vec(0..PIECES.len(), 0..24)
    ) {
        let text: String = picks.iter().map(|&i| PIECES[i]).collect();
        proptest::prop_assert_eq!(mask_named_values(&text), named_values_word_by_word(&text), "{:?}", text);
    }
}

proptest::proptest! {
    #[test]
    fn any_text_redacts_without_panic_and_idempotently(s in "\\PC{0,80}") {
        let once = r(&s);
        proptest::prop_assert_eq!(r(&once), once);
    }

    #[test]
    fn an_embedded_bearer_token_never_survives(prefix in "[ -~]{0,20}", token in "[A-Za-z0-9._-]{12,40}", suffix in "[ ,\"}]{0,3}[ -~]{0,10}") {
        let text = format!("{prefix} Authorization: Bearer {token}{suffix}");
        let out = r(&text);
        proptest::prop_assert!(!out.contains(&format!("Bearer {token}")), "{}", out);
    }
}

#[test]
fn line_writer_redacts_lines_written_in_pieces() {
    use std::io::Write;
    let mut out = Vec::new();
    {
        let mut w = RedactLines::new(&mut out);
        write!(w, "  ✗ proxy  http://ann:").expect("write");
        write!(w, "pw@proxy:8080 refused\nnext ").expect("write");
        write!(w, "line api_key=abcdef").expect("write");
    }
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "  ✗ proxy  http://ann:***@proxy:8080 refused\nnext line api_key=***"
    );
}

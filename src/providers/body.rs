//! Bounded reads of upstream bodies, and short printable summaries of what an upstream sent.
//!
//! Every upstream body the gateway buffers goes through [`read_prefix`]: at most a given
//! number of bytes is read, into one buffer sized from `Content-Length` when the upstream
//! sent one, and the rest is never read. [`summary`] and [`unexpected_body`] turn the first
//! bytes of an answer into one line a person can read (whitespace collapsed, control and
//! non-UTF-8 bytes escaped), for error messages.

use reqwest::Response;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap};

/// Longest upstream error body read: enough for every error object seen (Azure's
/// content-filter details, Google's `details` lists are a few KiB); the message passed on is
/// cut shorter still. Also the bound for token endpoint answers.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// Characters of an unexpected body quoted in a message.
const SUMMARY_CHARS: usize = 200;

/// Up to `limit` bytes of a body, and whether there was more (the rest is left unread).
pub async fn read_prefix(
    resp: &mut Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let declared = resp.content_length().and_then(|n| usize::try_from(n).ok());
    // One allocation of the right size when the length is known: no growth copies.
    let mut buf = Vec::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - buf.len();
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            return Ok((buf, true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, false))
}

/// Whether the response is an event stream we can read: `Content-Type: text/event-stream`
/// (parameters such as `charset` allowed) with no content coding. Otherwise, what it is
/// instead (`text/html`, `application/json, gzip-encoded`, `no Content-Type`).
pub fn not_event_stream(headers: &HeaderMap) -> Option<String> {
    let ctype = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::trim);
    let essence =
        ctype.map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let coding = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
    if essence.as_deref() == Some("text/event-stream") && coding.is_none() {
        return None;
    }
    let mut what = match ctype {
        Some(c) if !c.is_empty() => summary(c.as_bytes(), 80),
        _ => "no Content-Type".to_owned(),
    };
    if let Some(coding) = coding {
        what.push_str(&format!(", {}-encoded", summary(coding.as_bytes(), 40)));
    }
    Some(what)
}

/// "HTTP 200 text/html (1234 bytes) instead of an event stream: <title>Sign in</title> …":
/// what came back instead of what was `expected`, from the first bytes of the body.
/// `more` says the body went on past `prefix` (with no prefix: it could not be read);
/// `declared` is its `Content-Length`, if sent.
pub fn unexpected_body(
    status: u16,
    what: &str,
    expected: &str,
    prefix: &[u8],
    more: bool,
    declared: Option<u64>,
) -> String {
    if prefix.is_empty() {
        let body = if more { "body not readable" } else { "empty body" };
        return format!("HTTP {status} {what} ({body}) instead of {expected}");
    }
    let size = match (more, declared) {
        (false, _) => format!("{} bytes", prefix.len()),
        (true, Some(n)) => format!("{n} bytes"),
        (true, None) => format!("over {} bytes", prefix.len()),
    };
    let quoted = match html_title(prefix) {
        Some(title) => format!("<title>{}</title> {}", summary(title, 120), summary(prefix, 120)),
        None => summary(prefix, SUMMARY_CHARS),
    };
    format!("HTTP {status} {what} ({size}) instead of {expected}: {quoted}")
}

/// The first `max` characters of `bytes` on one line: whitespace runs become one space,
/// control characters and bytes that are not UTF-8 are escaped (`\u{1b}`, `\x8b`), and a cut
/// is marked with `…`.
pub fn summary(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut space = false;
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid().chars().map(Ok);
        let invalid = chunk.invalid().iter().map(|b| Err(*b));
        for piece in valid.chain(invalid) {
            if matches!(piece, Ok(c) if c.is_whitespace()) {
                space = !out.is_empty();
                continue;
            }
            for text in [space.then(|| " ".to_owned()), Some(escaped(piece))].into_iter().flatten()
            {
                if count >= max {
                    out.push('…');
                    return out;
                }
                out.push_str(&text);
                count += 1;
            }
            space = false;
        }
    }
    out
}

/// A character as itself, a control character as `\u{..}`, a stray byte as `\xNN`.
fn escaped(piece: Result<char, u8>) -> String {
    match piece {
        Ok(c) if c.is_control() => c.escape_unicode().to_string(),
        Ok(c) => c.to_string(),
        Err(b) => format!("\\x{b:02x}"),
    }
}

/// The text of an HTML page's `<title>`, if the bytes hold one.
fn html_title(bytes: &[u8]) -> Option<&[u8]> {
    let lower = bytes.to_ascii_lowercase();
    let open = find(&lower, b"<title")?;
    let start = open + find(&lower[open..], b">")? + 1;
    let end = start + find(&lower[start..], b"</title")?;
    Some(&bytes[start..end]).filter(|t| !t.trim_ascii().is_empty())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// "16 MiB", "1.5 MiB", "512 KiB", "100 bytes".
pub fn human_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if n >= MIB {
        if n.is_multiple_of(MIB) {
            format!("{} MiB", n / MIB)
        } else {
            format!("{:.1} MiB", n as f64 / MIB as f64)
        }
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(ctype: Option<&str>, coding: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(c) = ctype {
            h.insert(CONTENT_TYPE, HeaderValue::from_str(c).expect("header"));
        }
        if let Some(c) = coding {
            h.insert(CONTENT_ENCODING, HeaderValue::from_str(c).expect("header"));
        }
        h
    }

    #[test]
    fn event_streams_are_recognised_with_parameters_and_any_case() {
        for ok in [
            "text/event-stream",
            "text/event-stream; charset=utf-8",
            "Text/Event-Stream;charset=UTF-8",
        ] {
            assert_eq!(not_event_stream(&headers(Some(ok), None)), None, "{ok}");
        }
        assert_eq!(not_event_stream(&headers(Some("text/event-stream"), Some("identity"))), None);
        assert_eq!(
            not_event_stream(&headers(Some("text/html; charset=utf-8"), None)).as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            not_event_stream(&headers(Some("text/event-stream"), Some("gzip"))).as_deref(),
            Some("text/event-stream, gzip-encoded")
        );
        assert_eq!(not_event_stream(&headers(None, None)).as_deref(), Some("no Content-Type"));
    }

    #[test]
    fn summaries_are_one_escaped_line() {
        assert_eq!(summary(b"  a\n\n  b\tc  ", 100), "a b c");
        assert_eq!(summary(b"\x1f\x8b\x08\x00", 100), "\\u{1f}\\x8b\\u{8}\\u{0}");
        assert_eq!(summary("héllo wörld".as_bytes(), 5), "héllo…");
        assert_eq!(summary(b"", 10), "");
    }

    #[test]
    fn html_pages_are_named_by_their_title() {
        let page = b"<!DOCTYPE html>\n<html><head><meta charset=utf-8><TITLE>Sign in</TITLE></head><body>Use your corporate account</body></html>";
        let text = unexpected_body(200, "text/html", "an event stream", page, false, None);
        let head = format!(
            "HTTP 200 text/html ({} bytes) instead of an event stream: <title>Sign in</title> <!DOCTYPE html>",
            page.len()
        );
        assert!(text.starts_with(&head), "{text}");
        assert_eq!(
            unexpected_body(200, "application/json", "X", b"{\"a\":1}", true, Some(99_000)),
            "HTTP 200 application/json (99000 bytes) instead of X: {\"a\":1}"
        );
        assert_eq!(
            unexpected_body(200, "x", "X", b"abc", true, None),
            "HTTP 200 x (over 3 bytes) instead of X: abc"
        );
        assert_eq!(
            unexpected_body(200, "text/plain", "X", b"", false, Some(0)),
            "HTTP 200 text/plain (empty body) instead of X"
        );
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(16 << 20), "16 MiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(human_bytes(64 * 1024), "64 KiB");
        assert_eq!(human_bytes(100), "100 bytes");
    }
}

//! Redaction: the one step every byte that leaves the process as text goes through (client
//! error bodies, log lines, `/model/info`, `doctor` output).
//!
//! Two kinds of things are masked with `***`:
//! - shapes that carry credentials whatever their value: the password in a URL's userinfo
//!   (`http://user:***@proxy`), `Bearer …` / `Basic …` credentials, and the values of
//!   credential-named fields and query parameters (`api-key`, `x-api-key`, `client_secret`,
//!   `access_token`, `?key=` …);
//! - every secret value the gateway has read ([`remember`]: variables with secret-sounding
//!   names or from the secret store, `api_key` and the master key from the config), wherever
//!   it appears.
//!
//! The functions are pure over the text and a list of known values; the process-wide list is
//! the only state.

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

/// What a masked value is replaced with.
pub const MASK: &str = "***";

/// Shorter values are not remembered: masking them would blank out ordinary words.
pub const MIN_KNOWN_LEN: usize = 6;

/// The process-wide list is bounded; secrets come from the config, so it never gets near.
const MAX_KNOWN: usize = 4096;

/// Secret values seen so far, longest first (so a secret containing another is masked whole).
static KNOWN: RwLock<Vec<Known>> = RwLock::new(Vec::new());

/// A secret value to mask, with its substring searcher built once: every log line is searched
/// for every known secret, and building a searcher per search cost more than the search.
pub struct Known {
    text: Box<str>,
    finder: memchr::memmem::Finder<'static>,
}

impl Known {
    pub fn new(text: &str) -> Known {
        Known { text: text.into(), finder: memchr::memmem::Finder::new(text).into_owned() }
    }

    fn is_in(&self, haystack: &str) -> bool {
        self.finder.find(haystack.as_bytes()).is_some()
    }
}

/// Remember a secret value so it is masked wherever it appears from now on.
pub fn remember(value: &str) {
    let value = value.trim();
    if value.len() < MIN_KNOWN_LEN || value == MASK {
        return;
    }
    if known_contains(value) {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(PoisonError::into_inner);
    if known.len() >= MAX_KNOWN || known.iter().any(|k| &*k.text == value) {
        return;
    }
    let at = known.partition_point(|k| k.text.len() >= value.len());
    known.insert(at, Known::new(value));
}

fn known_contains(value: &str) -> bool {
    KNOWN.read().unwrap_or_else(PoisonError::into_inner).iter().any(|k| &*k.text == value)
}

/// `text` with every credential shape and every remembered secret masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(PoisonError::into_inner);
    match redact_with(text, &known) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// [`redact`] into an owned string.
pub fn redact_owned(text: String) -> String {
    match redact(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => s,
    }
}

/// Redact every string inside a JSON value (keys stay as they are; values of
/// credential-named keys are masked whole).
pub fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(r) = redact(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_credential_name(k) && !v.is_null() {
                    *v = Value::String(MASK.to_owned());
                } else {
                    redact_json(v);
                }
            }
        }
        _ => {}
    }
}

/// Pure redaction against an explicit list of known secrets (longest first).
pub fn redact_with<'a>(text: &'a str, known: &[Known]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in known {
        if secret.is_in(&out) {
            out = Cow::Owned(out.replace(&*secret.text, MASK));
        }
    }
    let out = apply(out, mask_url_userinfo);
    let out = apply(out, mask_auth_schemes);
    apply(out, mask_named_values)
}

fn apply<'a>(text: Cow<'a, str>, f: fn(&str) -> Option<String>) -> Cow<'a, str> {
    match f(&text) {
        Some(s) => Cow::Owned(s),
        None => text,
    }
}

/// Field, header and query-parameter names whose values are credentials (compared without
/// case; `-` and `_` are the same).
const CREDENTIAL_NAMES: &[&str] = &[
    "api-key",
    "apikey",
    "x-api-key",
    "x-goog-api-key",
    "ocp-apim-subscription-key",
    "client-secret",
    "access-token",
    "refresh-token",
    "id-token",
    "private-key",
    "password",
    "proxy-authorization",
    "authorization",
];

/// Authorization schemes (the word before the credential).
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "digest", "negotiate", "token"];

/// Query parameters that carry a credential in URLs (Gemini API `?key=`, SAS `sig=`).
const CREDENTIAL_QUERY_NAMES: &[&str] = &["key", "sig", "token"];

/// Names that end in this (`x-my-api-key`) carry a credential too.
const CREDENTIAL_NAME_SUFFIX: &str = "-api-key";

/// The bytes a credential name can end with, in either case (`y` of `api-key`, `t` of
/// `client-secret` …), made from the lists above: a name ending in any other byte is none of
/// them, which rules out most names in a log line with one look.
const NAME_LAST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let lists: [&[&str]; 3] = [CREDENTIAL_NAMES, CREDENTIAL_QUERY_NAMES, &[CREDENTIAL_NAME_SUFFIX]];
    let mut l = 0;
    while l < lists.len() {
        let mut i = 0;
        while i < lists[l].len() {
            let name = lists[l][i].as_bytes();
            let last = name[name.len() - 1];
            table[last.to_ascii_lowercase() as usize] = true;
            table[last.to_ascii_uppercase() as usize] = true;
            i += 1;
        }
        l += 1;
    }
    table
};

/// Whether a field or header name carries a credential.
pub fn is_credential_name(name: &str) -> bool {
    CREDENTIAL_NAMES.iter().any(|c| same_name(name.as_bytes(), c.as_bytes()))
}

/// `name` equals `known` (lower case, `-`-separated) ignoring case, with `_` read as `-`.
/// Allocation-free: every word of every log line is compared.
fn same_name(name: &[u8], known: &[u8]) -> bool {
    name.len() == known.len()
        && name.iter().zip(known).all(|(&a, &b)| {
            let a = if a == b'_' { b'-' } else { a.to_ascii_lowercase() };
            a == b
        })
}

/// `name` ends with `suffix` (lower case, `-`-separated), as [`same_name`] compares.
fn ends_with_name(name: &str, suffix: &str) -> bool {
    name.len() >= suffix.len()
        && same_name(&name.as_bytes()[name.len() - suffix.len()..], suffix.as_bytes())
}

/// Characters that end a credential value in free text.
fn ends_value(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '"' | '\'' | ',' | ';' | '&' | '}' | ']' | ')' | '\\' | '<' | '>' | '`')
}

/// `scheme://user:password@host` → `scheme://user:***@host`; `scheme://token@host` →
/// `scheme://***@host`.
fn mask_url_userinfo(text: &str) -> Option<String> {
    let b = text.as_bytes();
    if !memchr::memchr_iter(b':', b).any(|i| b[i + 1..].starts_with(b"//")) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let auth_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || ends_value(c))
            .unwrap_or(tail.len());
        let authority = &tail[..auth_end];
        match authority.rfind('@') {
            Some(at) if at > 0 => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, pass)) if pass != MASK => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                        changed = true;
                    }
                    Some(_) => out.push_str(userinfo),
                    None if userinfo == MASK => out.push_str(userinfo),
                    None => {
                        out.push_str(MASK);
                        changed = true;
                    }
                }
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[auth_end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// `Bearer <token>` / `Basic <credentials>` → `Bearer ***`. A lone alphabetic word after
/// "bearer" ("bearer token") is prose, not a credential, and is kept.
fn mask_auth_schemes(text: &str) -> Option<String> {
    if !mentions_scheme(text) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut pos = 0;
    let mut search = 0;
    while let Some((start, scheme_len)) = next_scheme(&lower, search) {
        let after = start + scheme_len;
        search = after;
        if start > 0 && lower.as_bytes()[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let spaces = text[after..].len() - text[after..].trim_start_matches([' ', '\t']).len();
        if spaces == 0 {
            continue;
        }
        let value_start = after + spaces;
        let value_len = text[value_start..].find(ends_value).unwrap_or(text.len() - value_start);
        let value = &text[value_start..value_start + value_len];
        if value.is_empty() || value == MASK || !looks_like_credential(value) {
            continue;
        }
        out.push_str(&text[pos..value_start]);
        out.push_str(MASK);
        pos = value_start + value_len;
        search = pos;
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[pos..]);
    Some(out)
}

/// Whether "bearer" or "basic" appears in any case: the common answer is no, found with one
/// `memchr2` pass over the text instead of a lower-cased copy.
fn mentions_scheme(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr2_iter(b'b', b'B', b).any(|i| {
        let rest = &b[i..];
        rest.get(..6).is_some_and(|w| w.eq_ignore_ascii_case(b"bearer"))
            || rest.get(..5).is_some_and(|w| w.eq_ignore_ascii_case(b"basic"))
    })
}

fn next_scheme(lower: &str, from: usize) -> Option<(usize, usize)> {
    let b = lower[from..].find("bearer").map(|i| (from + i, 6));
    let c = lower[from..].find("basic").map(|i| (from + i, 5));
    match (b, c) {
        (Some(b), Some(c)) => Some(if b.0 <= c.0 { b } else { c }),
        (b, c) => b.or(c),
    }
}

/// Tokens are long or mixed (`sk-…`, `eyJ…`, base64); words are short and alphabetic.
fn looks_like_credential(value: &str) -> bool {
    value.len() >= 12 || !value.chars().all(|c| c.is_ascii_alphabetic())
}

/// `api-key: v`, `"x-api-key": "v"`, `api_key=v`, `?key=v` and the like → the value masked.
///
/// A credential's value always follows a `:` or `=`, so only the names right before those are
/// looked at (found with one `memchr2` pass), not every word of the text: that word-by-word
/// walk was most of what redacting a log line cost. Same masking as checking every word
/// (`tests::named_values_word_by_word`, compared by a property test).
fn mask_named_values(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut changed = false;
    // Text before `pos` is copied to `out` or inside a masked value.
    let mut pos = 0;
    for sep in memchr::memchr2_iter(b'=', b':', bytes) {
        if sep < pos {
            continue;
        }
        let Some(start) = name_before(bytes, sep) else { continue };
        if start < pos {
            continue;
        }
        let end = start + bytes[start..].iter().take_while(|&&b| is_name_byte(b)).count();
        // Name bytes are ASCII, so `name` is a whole `str` slice; compared without case.
        let name = &text[start..end];
        let in_query = start > 0 && matches!(bytes[start - 1], b'?' | b'&');
        let credential = is_credential_name(name)
            || (in_query && CREDENTIAL_QUERY_NAMES.iter().any(|q| q.eq_ignore_ascii_case(name)))
            || ends_with_name(name, CREDENTIAL_NAME_SUFFIX);
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
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[pos..]);
    Some(out)
}

/// Where the name whose separator is at `sep` starts: before `sep`, optional spaces, an
/// optional closing quote (`"`, `\"` or `'`), then a run of name bytes that begins with a
/// letter (the words `value_after_separator` reads forwards). `None` when there is none, or
/// when its last byte is not one a credential name ends with.
fn name_before(bytes: &[u8], sep: usize) -> Option<usize> {
    let mut end = sep;
    while end > 0 && matches!(bytes[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if end > 0 && matches!(bytes[end - 1], b'"' | b'\'') {
        end -= 1;
        if bytes[end] == b'"' && end > 0 && bytes[end - 1] == b'\\' {
            end -= 1;
        }
    }
    if end == 0 || !NAME_LAST_BYTES[usize::from(bytes[end - 1])] {
        return None;
    }
    let start = end - bytes[..end].iter().rev().take_while(|&&b| is_name_byte(b)).count();
    (start < end && bytes[start].is_ascii_alphabetic()).then_some(start)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Where the value starts after a name: an optional closing quote (`"` or `\"`), then `:` or
/// `=` with optional spaces, then an optional opening quote. `None` when no separator
/// follows (the name is prose, "invalid api-key provided").
fn value_after_separator(text: &str, mut at: usize, in_query: bool) -> Option<usize> {
    let b = text.as_bytes();
    let skip_quote = |mut at: usize| {
        if b.get(at) == Some(&b'\\') && b.get(at + 1) == Some(&b'"') {
            at += 2;
        } else if matches!(b.get(at), Some(b'"') | Some(b'\'')) {
            at += 1;
        }
        at
    };
    at = skip_quote(at);
    while matches!(b.get(at), Some(b' ') | Some(b'\t')) {
        at += 1;
    }
    match b.get(at) {
        Some(b'=') => at += 1,
        Some(b':') if !in_query => at += 1,
        _ => return None,
    }
    while matches!(b.get(at), Some(b' ') | Some(b'\t')) {
        at += 1;
    }
    Some(skip_quote(at))
}

/// A writer that redacts whole lines: text is held until its newline (or a flush), then
/// written redacted. For command output written piece by piece (`doctor`).
pub struct RedactLines<W: std::io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: std::io::Write> RedactLines<W> {
    pub fn new(inner: W) -> Self {
        RedactLines { inner, pending: Vec::new() }
    }

    fn write_pending(&mut self, upto: usize) -> std::io::Result<()> {
        let line: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&line);
        self.inner.write_all(redact(&text).as_bytes())
    }
}

impl<W: std::io::Write> std::io::Write for RedactLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
            self.write_pending(nl + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let n = self.pending.len();
            self.write_pending(n)?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for RedactLines<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

#[cfg(test)]
mod tests;

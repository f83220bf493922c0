//! The YAML as users write it (LiteLLM's `config.yaml`), before any resolution.
//!
//! Every field is optional where LiteLLM's is; unknown keys are collected (never rejected) so
//! `config::load` can warn about each one by name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub model_list: Vec<RawModel>,
    #[serde(default)]
    pub litellm_settings: Option<BTreeMap<String, Yaml>>,
    #[serde(default)]
    pub general_settings: Option<BTreeMap<String, Yaml>>,
    #[serde(default)]
    pub router_settings: Option<BTreeMap<String, Yaml>>,
    #[serde(default)]
    pub environment_variables: Option<BTreeMap<String, Yaml>>,
    /// Top-level keys we do not know (e.g. `guardrails`, `callbacks`).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Yaml>,
}

#[derive(Debug, Deserialize)]
pub struct RawModel {
    pub model_name: String,
    pub litellm_params: RawParams,
    #[serde(default)]
    pub model_info: Option<BTreeMap<String, Yaml>>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Yaml>,
}

/// `litellm_params` of one deployment. Provider-specific keys (`vertex_project`,
/// `tenant_id`, `http_proxy`, ...) land in `extra` and are read by the provider that owns them.
#[derive(Debug, Deserialize)]
pub struct RawParams {
    pub model: String,
    #[serde(default)]
    pub api_base: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub rpm: Option<Yaml>,
    #[serde(default)]
    pub tpm: Option<Yaml>,
    #[serde(default)]
    pub timeout: Option<Yaml>,
    #[serde(default)]
    pub stream_timeout: Option<Yaml>,
    #[serde(default)]
    pub max_retries: Option<Yaml>,
    #[serde(default)]
    pub weight: Option<Yaml>,
    #[serde(default)]
    pub order: Option<Yaml>,
    #[serde(default)]
    pub max_parallel_requests: Option<Yaml>,
    #[serde(default)]
    pub cooldown_time: Option<Yaml>,
    #[serde(default)]
    pub max_budget: Option<Yaml>,
    #[serde(default)]
    pub budget_duration: Option<Yaml>,
    #[serde(default)]
    pub drop_params: Option<bool>,
    #[serde(default)]
    pub additional_drop_params: Option<Vec<String>>,
    #[serde(default)]
    pub ssl_verify: Option<SslVerifyRaw>,
    #[serde(default)]
    pub mock_response: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Yaml>,
}

/// `ssl_verify: false` or `ssl_verify: /path/to/ca.pem`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SslVerifyRaw {
    Flag(bool),
    Path(String),
}

/// Parse YAML text, reporting the key path plus line and column on error.
pub fn parse(text: &str) -> Result<RawConfig, ParseError> {
    if text.trim().is_empty() {
        return Ok(RawConfig::default());
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let location = inner.location().map(|l| (l.line(), l.column()));
        ParseError {
            path: if path == "." { None } else { Some(path) },
            location,
            message: plain_message(&strip_location(&inner.to_string())),
        }
    })
}

/// A YAML syntax or type error, with where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub path: Option<String>,
    pub location: Option<(usize, usize)>,
    pub message: String,
}

/// Where a key path (`model_list[0].litellm_params.timeout`, as errors name it) is written
/// in block-style YAML text: 1-based line and column of the key, or of its nearest written
/// ancestor when the rest is in flow style. `None` when the path is not found.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let segments = path_segments(path)?;
    let lines: Vec<Line<'_>> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let t = l.trim_start_matches(' ');
            (!t.is_empty() && !t.starts_with('#')).then_some(Line {
                no: i + 1,
                indent: l.len() - t.len(),
                text: t,
            })
        })
        .collect();
    find(&lines, &segments).map(|l| (l.no, l.indent + 1))
}

#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
}

#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_segments(path: &str) -> Option<Vec<Segment<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let (n, after) = r.split_once(']')?;
            out.push(Segment::Index(n.parse().ok()?));
            rest = after;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn is_item(line: &Line<'_>) -> bool {
    line.text == "-" || line.text.starts_with("- ")
}

/// Whether a line is `key:` (plain or quoted) for this key.
fn is_key(text: &str, key: &str) -> bool {
    let rest = [("", ""), ("\"", "\""), ("'", "'")]
        .iter()
        .find_map(|(open, close)| text.strip_prefix(open)?.strip_prefix(key)?.strip_prefix(close));
    rest.is_some_and(|r| {
        let r = r.trim_start_matches(' ');
        r == ":" || r.starts_with(": ")
    })
}

/// Find `segments` inside the block `lines` (its first line sets the block's indent).
fn find<'a>(lines: &[Line<'a>], segments: &[Segment<'_>]) -> Option<Line<'a>> {
    let first = *lines.first()?;
    let Some(segment) = segments.first() else { return Some(first) };
    let indent = first.indent;
    match segment {
        Segment::Key(key) => {
            let i = lines.iter().position(|l| l.indent == indent && is_key(l.text, key))?;
            if segments.len() == 1 {
                return Some(lines[i]);
            }
            // The value: deeper lines, and `- ` items at the key's own indent.
            let end = lines[i + 1..]
                .iter()
                .position(|l| l.indent < indent || (l.indent == indent && !is_item(l)))
                .map_or(lines.len(), |p| i + 1 + p);
            find(&lines[i + 1..end], &segments[1..]).or(Some(lines[i]))
        }
        Segment::Index(n) => {
            let starts: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.indent == indent && is_item(l))
                .map(|(i, _)| i)
                .collect();
            let start = *starts.get(*n)?;
            let end = starts.get(n + 1).copied().unwrap_or(lines.len());
            if segments.len() == 1 {
                return Some(lines[start]);
            }
            // The item as a block of its own: its first line without the `- `.
            let mut item: Vec<Line<'a>> = lines[start..end].to_vec();
            let head = item[0];
            let after = head.text[1..].trim_start_matches(' ');
            if after.is_empty() {
                item.remove(0);
            } else {
                item[0] = Line {
                    no: head.no,
                    indent: head.indent + head.text.len() - after.len(),
                    text: after,
                };
            }
            find(&item, &segments[1..]).or(Some(head))
        }
    }
}

/// Integers past 64 bits reach serde as 128-bit ones, which the YAML value type refuses with
/// a message about types; say what is wrong instead.
fn plain_message(message: &str) -> String {
    const TOO_WIDE: &str = "invalid type: integer `";
    match message.find(TOO_WIDE) {
        Some(i) if message.contains("` as u128") || message.contains("` as i128") => {
            let n = message[i + TOO_WIDE.len()..].split('`').next().unwrap_or_default();
            format!("{}the number {n} is too large for any setting", &message[..i])
        }
        _ => message.to_owned(),
    }
}

/// serde_yaml_ng appends " at line L column C" to messages; we print the location ourselves.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

//! Local token estimate for a hub request (`/v1/messages/count_tokens` when the upstream has
//! no counter of its own).
//!
//! Text is counted with OpenAI's `o200k_base` BPE (the GPT-4o/GPT-5 tokenizer, embedded in the
//! binary by `tiktoken-rs`; nothing is downloaded). Other model families tokenize differently,
//! so for Gemini or Qwen the number is an estimate, typically within ±15 % for prose and code.
//! On top of the text: 3 tokens per message and 3 for the reply's priming (OpenAI's chat
//! accounting), tool definitions counted as their JSON, and a flat 1,600 tokens per image or
//! file (Anthropic's figure for a ~1.15 megapixel image; images are not decoded).

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

use crate::wire::RawString;
use crate::wire::openai::{ChatRequest, Content, ContentPart};

/// Tokens counted for one image or file part.
pub const PER_IMAGE: u64 = 1600;
const PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;

fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Tokens in a text (`o200k_base`; a 4-characters-per-token fallback if the embedded table
/// could not be loaded, which does not happen with an intact binary).
pub fn count_text(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match bpe() {
        Some(b) => b.encode_ordinary(text).len() as u64,
        None => (text.chars().count() as u64).div_ceil(4),
    }
}

/// The estimated input tokens of a request.
pub fn estimate(req: &ChatRequest) -> u64 {
    estimate_with(req, count_text, |d| count_text(&d.text()))
}

/// A cheaper estimate (4 bytes a token, no tokenizer) for where a number is only shown while
/// the real one is on its way (`message_start` of a stream): the tokenizer would cost
/// milliseconds on a long prompt before the first byte.
pub fn quick_estimate(req: &ChatRequest) -> u64 {
    let quarter = |len: usize| (len as u64).div_ceil(4);
    estimate_with(req, |t| quarter(t.len()), |d| quarter(d.text_len()))
}

/// `count_description` counts a tool's description, kept as JSON text: the quick estimate
/// needs only its length, which is worked out without decoding it.
fn estimate_with(
    req: &ChatRequest,
    count_text: impl Fn(&str) -> u64 + Copy,
    count_description: impl Fn(&RawString) -> u64,
) -> u64 {
    // JSON counted as its text, written into one buffer for all of it.
    let mut scratch = Vec::new();
    let mut n = REPLY_PRIMING;
    for m in &req.messages {
        n += PER_MESSAGE;
        match &m.content {
            Some(Content::Text(t)) => n += count_text(t),
            Some(Content::Parts(parts)) => {
                for p in parts {
                    n += match p {
                        ContentPart::Text { text } => count_text(text),
                        ContentPart::ImageUrl { .. }
                        | ContentPart::File { .. }
                        | ContentPart::InputAudio { .. } => PER_IMAGE,
                        ContentPart::Other(v) => count_text(json_text(&mut scratch, v)),
                    };
                }
            }
            None => {}
        }
        for call in m.tool_calls.iter().flatten() {
            n += count_text(&call.function.name) + count_text(&call.function.arguments);
        }
    }
    for t in req.tools.iter().flatten() {
        n += count_text(&t.function.name);
        n += t.function.description.as_ref().map(&count_description).unwrap_or(0);
        // The schema's text as the client sent it (Claude Code sends it compact, as the tree's
        // text was).
        n += t.function.parameters.as_ref().map(|p| count_text(p.get())).unwrap_or(0);
    }
    n
}

/// `value` as the compact JSON text `Value::to_string` gives, written into `buf` (cleared)
/// by `wire::encode`, which writes the same bytes without a new string for each value.
fn json_text<'b>(buf: &'b mut Vec<u8>, value: &serde_json::Value) -> &'b str {
    buf.clear();
    // A `Value` always encodes, and into UTF-8.
    let _ = crate::wire::encode::write(buf, value);
    std::str::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_estimate_is_near_the_real_one_for_prose() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(50);
        let req = ChatRequest {
            messages: vec![crate::wire::openai::Message {
                role: "user".into(),
                content: Some(Content::Text(text)),
                ..Default::default()
            }],
            ..ChatRequest::default()
        };
        let (real, quick) = (estimate(&req), quick_estimate(&req));
        assert!(quick > real / 2 && quick < real * 2, "{quick} vs {real}");
    }

    /// Tool schemas and unknown content parts count as the text `Value::to_string` gives.
    #[test]
    fn json_is_counted_as_its_compact_text() {
        use crate::wire::openai::{FunctionDef, Message, Tool};
        let params = serde_json::json!({"type": "object", "properties": {"q": {
            "type": "string", "description": "a \"quoted\"\nline, é, \u{1}"}}});
        let other = serde_json::json!({"type": "zzz", "data": [1, 2.5, null, "\\"]});
        let req = ChatRequest {
            messages: vec![Message {
                role: "user".into(),
                content: Some(Content::Parts(vec![ContentPart::Other(other.clone())])),
                ..Default::default()
            }],
            tools: Some(vec![Tool {
                kind: "function".into(),
                function: FunctionDef {
                    name: "f".into(),
                    description: None,
                    parameters: Some(params.clone().into()),
                    strict: None,
                },
            }]),
            ..ChatRequest::default()
        };
        let (other, params) = (other.to_string(), params.to_string());
        let quarter = |s: &str| (s.len() as u64).div_ceil(4);
        let base = REPLY_PRIMING + PER_MESSAGE;
        assert_eq!(quick_estimate(&req), base + quarter(&other) + quarter("f") + quarter(&params));
        assert_eq!(
            estimate(&req),
            base + count_text(&other) + count_text("f") + count_text(&params)
        );
    }

    #[test]
    fn counts_with_the_real_tokenizer() {
        // Known o200k_base counts.
        assert_eq!(count_text("Hello, world!"), 4);
        assert_eq!(count_text(""), 0);
        assert!(count_text("The quick brown fox jumps over the lazy dog.") == 10);
    }
}

//! Azure OpenAI specifics that are pure data shaping: which API generation an
//! `api_version` / `api_base` selects, whether it accepts `stream_options`, and the stream fold
//! that folds Azure's leading `prompt_filter_results` chunk into the first real chunk.

use serde_json::Value;

use crate::wire::openai::ChatChunk;

/// `api_version` values that select Azure's v1 API (`/openai/v1/...`, deployment in `model`).
pub const V1_VERSIONS: &[&str] = &["v1", "preview", "latest"];

/// Whether the deployment talks to Azure's v1 API: `api_version: v1` / `preview` / `latest`,
/// or an `api_base` that already ends in `/openai/v1`.
pub fn is_v1(api_version: Option<&str>, api_base: &str) -> bool {
    api_version.is_some_and(|v| V1_VERSIONS.contains(&v.trim().to_ascii_lowercase().as_str()))
        || api_base.trim_end_matches('/').to_ascii_lowercase().ends_with("/openai/v1")
}

/// Whether an API version accepts `stream_options` (dated versions from 2024-09-01-preview
/// on, and the v1 API). Older versions answer 400 "Unrecognized request argument".
pub fn accepts_stream_options(api_version: &str) -> bool {
    let v = api_version.trim().to_ascii_lowercase();
    if V1_VERSIONS.contains(&v.as_str()) {
        return true;
    }
    // Dated versions compare as text: "2024-10-21" >= "2024-09-01".
    v.len() >= 10
        && v.as_bytes()[..10].iter().all(|b| b.is_ascii_digit() || *b == b'-')
        && v[..10] >= *"2024-09-01"
}

/// Normalises an Azure stream for clients, one chunk at a time.
///
/// Azure starts a stream with a chunk that has empty `choices`, empty `id` / `model` and only
/// `prompt_filter_results`. Clients that read `choices[0]` of every chunk break on it, and a
/// translator to another dialect would see a message without an id. The fold holds that
/// chunk back and attaches its `prompt_filter_results` to the next chunk that has choices, so
/// the filter details still reach the client. Usage-only chunks (empty `choices` with
/// `usage`) pass through unchanged. `content_filter_results` inside choices are kept as they are.
#[derive(Debug, Default)]
pub struct StreamFold {
    pending_filters: Vec<Value>,
}

impl StreamFold {
    pub fn new() -> Self {
        StreamFold::default()
    }

    /// The chunk to emit for `chunk`, or `None` when it is held back.
    pub fn push(&mut self, mut chunk: ChatChunk) -> Option<ChatChunk> {
        if chunk.choices.is_empty() && chunk.usage.is_none() {
            match chunk.extra.shift_remove("prompt_filter_results") {
                Some(Value::Array(items)) => self.pending_filters.extend(items),
                Some(other) => self.pending_filters.push(other),
                None => {}
            }
            return None;
        }
        if !self.pending_filters.is_empty() && !chunk.choices.is_empty() {
            let filters = std::mem::take(&mut self.pending_filters);
            chunk.extra.insert("prompt_filter_results".into(), Value::Array(filters));
        }
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(json: &str) -> ChatChunk {
        serde_json::from_str(json).expect("chunk")
    }

    #[test]
    fn v1_is_chosen_by_version_or_base() {
        assert!(is_v1(Some("v1"), "https://r.openai.azure.com"));
        assert!(is_v1(Some("preview"), "https://r.openai.azure.com/"));
        assert!(is_v1(None, "https://r.openai.azure.com/openai/v1/"));
        assert!(is_v1(Some("2024-10-21"), "https://r.openai.azure.com/openai/v1"));
        assert!(!is_v1(Some("2025-04-01-preview"), "https://r.openai.azure.com/"));
        assert!(!is_v1(None, "https://r.cognitiveservices.azure.com"));
    }

    #[test]
    fn stream_options_need_a_recent_version() {
        for v in ["2024-10-21", "2024-09-01-preview", "2025-04-01-preview", "v1", "preview"] {
            assert!(accepts_stream_options(v), "{v}");
        }
        for v in ["2024-02-01", "2024-06-01", "2023-05-15", "garbage"] {
            assert!(!accepts_stream_options(v), "{v}");
        }
    }

    #[test]
    fn prompt_filter_chunk_is_folded_into_the_next_chunk() {
        let mut fold = StreamFold::new();
        let first = chunk(
            r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}"#,
        );
        assert_eq!(fold.push(first), None);
        let role = chunk(
            r#"{"choices":[{"content_filter_results":{},"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"created":1,"id":"chatcmpl-1","model":"gpt-4o","object":"chat.completion.chunk"}"#,
        );
        let out = fold.push(role).expect("emitted");
        assert_eq!(out.id, "chatcmpl-1");
        assert_eq!(out.extra["prompt_filter_results"][0]["prompt_index"], 0);
        assert!(out.choices[0].extra.contains_key("content_filter_results"));

        let next = chunk(
            r#"{"choices":[{"delta":{"content":"hi"},"index":0}],"id":"chatcmpl-1","model":"gpt-4o"}"#,
        );
        assert!(
            !fold.push(next).expect("emitted").extra.contains_key("prompt_filter_results"),
            "attached once"
        );

        let usage = chunk(
            r#"{"choices":[],"id":"chatcmpl-1","model":"gpt-4o","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        );
        assert!(fold.push(usage).is_some(), "usage chunks pass");
    }
}

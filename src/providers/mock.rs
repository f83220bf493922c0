//! The built-in `mock/<name>` provider: answers locally, streaming or not, so the gateway
//! does something real with no credentials and clients can be smoke-tested.
//!
//! Text is `mock_response` when configured, otherwise an echo of the last user message.
//! Usage counts are whitespace-separated words, deterministic for tests.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{ChatOutput, ProviderError};
use crate::config::Deployment;
use crate::wire::openai::{
    ChatChunk, ChatCompletion, ChatRequest, Choice, ChunkChoice, Content, Delta, Embedding, EmbeddingsRequest,
    EmbeddingsResponse, Message, Usage,
};

pub struct Mock {
    model: String,
    response: Option<String>,
}

impl Mock {
    pub fn new(dep: &Deployment) -> Self {
        Mock {
            model: dep.model.clone(),
            response: dep.mock_response.clone(),
        }
    }

    fn answer(&self, req: &ChatRequest) -> String {
        if let Some(r) = &self.response {
            return r.clone();
        }
        let last_user = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .and_then(|m| m.content.as_ref())
            .map(Content::text)
            .unwrap_or_default();
        if last_user.trim().is_empty() {
            "Hello from ai-proxy's mock model.".to_owned()
        } else {
            format!("You said: {last_user}")
        }
    }

    fn usage(req: &ChatRequest, text: &str) -> Usage {
        let prompt: u64 = req
            .messages
            .iter()
            .filter_map(|m| m.content.as_ref())
            .map(|c| words(&c.text()))
            .sum();
        let completion = words(text);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Usage::default()
        }
    }

    pub fn chat(&self, req: ChatRequest) -> Result<ChatOutput, ProviderError> {
        let text = self.answer(&req);
        let usage = Self::usage(&req, &text);
        let max = req.max_completion_tokens.or(req.max_tokens).map(u64::from);
        let (text, finish) = match max {
            Some(max) if words(&text) > max => (first_words(&text, max as usize), "length"),
            _ => (text, "stop"),
        };
        let id = format!("chatcmpl-mock{:016x}", fastrand::u64(..));
        let created = now();
        if !req.is_stream() {
            return Ok(ChatOutput::Complete(ChatCompletion {
                id,
                object: "chat.completion".into(),
                created,
                model: self.model.clone(),
                choices: vec![Choice {
                    index: 0,
                    message: Message {
                        role: "assistant".into(),
                        content: Some(Content::Text(text)),
                        ..Message::default()
                    },
                    finish_reason: Some(finish.into()),
                    ..Choice::default()
                }],
                usage: Some(usage),
                ..ChatCompletion::default()
            }));
        }
        let chunk = |delta: Delta, finish: Option<&str>| ChatChunk {
            id: id.clone(),
            object: "chat.completion.chunk".into(),
            created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
                ..ChunkChoice::default()
            }],
            ..ChatChunk::default()
        };
        let mut chunks = vec![chunk(
            Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Delta::default()
            },
            None,
        )];
        for piece in split_keep_spaces(&text) {
            chunks.push(chunk(
                Delta {
                    content: Some(piece),
                    ..Delta::default()
                },
                None,
            ));
        }
        chunks.push(chunk(Delta::default(), Some(finish)));
        let mut last = chunk(Delta::default(), None);
        last.choices.clear();
        last.usage = Some(usage);
        chunks.push(last);
        Ok(ChatOutput::Stream(Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)))))
    }

    pub fn embeddings(&self, req: EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
        let Some(texts) = req.input.texts() else {
            return Err(ProviderError::InvalidRequest {
                message: "the mock model embeds text inputs only, not token arrays".into(),
                param: Some("input".into()),
            });
        };
        let dims = req.dimensions.unwrap_or(8).clamp(1, 4096) as usize;
        let tokens: u64 = texts.iter().map(|t| words(t)).sum();
        let data = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Embedding {
                object: "embedding".into(),
                index: i as u32,
                embedding: Value::from(pseudo_embedding(t, dims)),
            })
            .collect();
        Ok(EmbeddingsResponse {
            object: "list".into(),
            data,
            model: self.model.clone(),
            usage: Some(Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
                ..Usage::default()
            }),
            ..EmbeddingsResponse::default()
        })
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn first_words(s: &str, n: usize) -> String {
    s.split_whitespace().take(n).collect::<Vec<_>>().join(" ")
}

/// "a b  c" → ["a", " b", "  c"]: pieces that concatenate back to the input.
fn split_keep_spaces(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    for ch in s.chars() {
        if ch.is_whitespace() && in_word {
            out.push(std::mem::take(&mut cur));
            in_word = false;
        }
        if !ch.is_whitespace() {
            in_word = true;
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A deterministic unit vector derived from the text (FNV-1a seeded per dimension).
fn pseudo_embedding(text: &str, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dims)
        .map(|d| {
            let mut h: u64 = 0xcbf29ce484222325 ^ (d as u64).wrapping_mul(0x9E3779B97F4A7C15);
            for b in text.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100000001b3);
            }
            ((h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_to_the_text() {
        let s = "Hello  brave\nnew world ";
        assert_eq!(split_keep_spaces(s).concat(), s);
        assert_eq!(split_keep_spaces("a b"), vec!["a", " b"]);
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = pseudo_embedding("hi", 16);
        assert_eq!(a, pseudo_embedding("hi", 16));
        assert_ne!(a, pseudo_embedding("ho", 16));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}

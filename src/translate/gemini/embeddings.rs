//! `/v1/embeddings` ⇄ Vertex `:predict` for text embedding models, and ⇄ the Gemini API's
//! `:batchEmbedContents` (Google AI Studio).

use base64::Engine;
use serde_json::Value;

use crate::wire::gemini::{
    BatchEmbedRequest, BatchEmbedResponse, Content, EmbedContentRequest, EmbedInstance,
    EmbedParameters, Part, PredictRequest, PredictResponse,
};
use crate::wire::openai::{Embedding, EmbeddingsResponse, Usage};

/// The `:predict` body for some texts. `task_type` / `title` come from request extras.
pub fn predict_request(
    texts: &[String],
    dimensions: Option<u32>,
    extra: &serde_json::Map<String, Value>,
) -> PredictRequest {
    let task_type = extra.get("task_type").and_then(Value::as_str).map(str::to_owned);
    let title = extra.get("title").and_then(Value::as_str).map(str::to_owned);
    PredictRequest {
        instances: texts
            .iter()
            .map(|t| EmbedInstance {
                content: t.clone(),
                task_type: task_type.clone(),
                title: title.clone(),
            })
            .collect(),
        parameters: Some(EmbedParameters {
            auto_truncate: None,
            output_dimensionality: dimensions,
        }),
    }
}

/// Predictions → OpenAI embeddings, indexes starting at `first_index`. With `base64`, each
/// vector is little-endian f32 bytes in base64, as OpenAI encodes it.
pub fn embeddings(resp: PredictResponse, first_index: u32, base64: bool) -> (Vec<Embedding>, u64) {
    let mut tokens = 0u64;
    let data = resp
        .predictions
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            if let Some(n) = p.embeddings.statistics.as_ref().and_then(|s| s.token_count) {
                tokens += n.max(0.0) as u64;
            }
            let embedding = encode(p.embeddings.values, base64);
            Embedding { object: "embedding".into(), index: first_index + i as u32, embedding }
        })
        .collect();
    (data, tokens)
}

/// A vector as OpenAI sends it: numbers, or with `base64` little-endian f32 bytes in base64.
fn encode(values: Vec<f64>, base64: bool) -> Value {
    if base64 {
        let bytes: Vec<u8> = values.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
    } else {
        Value::from(values)
    }
}

/// The `:batchEmbedContents` body for some texts (one request per text, each naming
/// `models/{model}`). `task_type` / `title` come from request extras.
pub fn batch_request(
    texts: &[String],
    model: &str,
    dimensions: Option<u32>,
    extra: &serde_json::Map<String, Value>,
) -> BatchEmbedRequest {
    let task_type = extra.get("task_type").and_then(Value::as_str).map(str::to_owned);
    let title = extra.get("title").and_then(Value::as_str).map(str::to_owned);
    BatchEmbedRequest {
        requests: texts
            .iter()
            .map(|t| EmbedContentRequest {
                model: format!("models/{model}"),
                content: Content {
                    role: None,
                    parts: vec![Part { text: Some(t.clone()), ..Part::default() }],
                },
                task_type: task_type.clone(),
                title: title.clone(),
                output_dimensionality: dimensions,
            })
            .collect(),
    }
}

/// `:batchEmbedContents` embeddings → OpenAI embeddings, indexes from `first_index`. (The
/// Gemini API reports no token count.)
pub fn batch_embeddings(
    resp: BatchEmbedResponse,
    first_index: u32,
    base64: bool,
) -> Vec<Embedding> {
    resp.embeddings
        .into_iter()
        .enumerate()
        .map(|(i, e)| Embedding {
            object: "embedding".into(),
            index: first_index + i as u32,
            embedding: encode(e.values, base64),
        })
        .collect()
}

/// Assemble the response.
pub fn response(data: Vec<Embedding>, tokens: u64, model: &str) -> EmbeddingsResponse {
    EmbeddingsResponse {
        object: "list".into(),
        data,
        model: model.to_owned(),
        usage: Some(Usage { prompt_tokens: tokens, total_tokens: tokens, ..Usage::default() }),
        ..EmbeddingsResponse::default()
    }
}

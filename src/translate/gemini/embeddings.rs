//! `/v1/embeddings` ⇄ Vertex `:predict` for text embedding models.

use base64::Engine;
use serde_json::Value;

use crate::wire::gemini::{EmbedInstance, EmbedParameters, PredictRequest, PredictResponse};
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
            let values = p.embeddings.values;
            let embedding = if base64 {
                let bytes: Vec<u8> =
                    values.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::from(values)
            };
            Embedding { object: "embedding".into(), index: first_index + i as u32, embedding }
        })
        .collect();
    (data, tokens)
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

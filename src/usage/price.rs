//! What a call cost: per-token prices from the deployment's `model_info` (LiteLLM's keys),
//! else from a built-in table of the seed's models, applied to the call's usage. A model with
//! no known price has an unknown cost (`None`), never 0.

use serde_json::{Map, Value};

use crate::config::{Deployment, ProviderKind};
use crate::wire::openai::Usage;

/// USD per token. Prices "above 200k" apply to the whole call when its prompt is longer than
/// 200,000 tokens (Gemini's tiers, as LiteLLM applies them).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    /// Cached prompt tokens; the input price when not given.
    pub cache_read: Option<f64>,
    /// Prompt tokens written to the cache (Claude's `cache_creation_input_tokens`); the
    /// input price when not given.
    pub cache_write: Option<f64>,
    pub input_above_200k: Option<f64>,
    pub output_above_200k: Option<f64>,
    pub cache_read_above_200k: Option<f64>,
}

const TIER_TOKENS: u64 = 200_000;

impl Prices {
    /// The cost of one call's usage in USD. Cached prompt tokens are part of `prompt_tokens`
    /// (OpenAI's convention, which every translation here produces); reasoning tokens are
    /// part of `completion_tokens` and billed as output.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = cached_tokens(usage).min(usage.prompt_tokens);
        let written = cache_write_tokens(usage).min(usage.prompt_tokens - cached);
        let fresh = usage.prompt_tokens - cached - written;
        let above = usage.prompt_tokens > TIER_TOKENS;
        let pick = |base: f64, tier: Option<f64>| if above { tier.unwrap_or(base) } else { base };
        let input = pick(self.input, self.input_above_200k);
        let output = pick(self.output, self.output_above_200k);
        let cache = if above {
            self.cache_read_above_200k.or(self.cache_read).unwrap_or(input)
        } else {
            self.cache_read.unwrap_or(input)
        };
        let write = self.cache_write.unwrap_or(input);
        fresh as f64 * input
            + cached as f64 * cache
            + written as f64 * write
            + usage.completion_tokens as f64 * output
    }
}

/// Prompt tokens written to a prompt cache: Claude's `cache_creation_input_tokens`, which
/// the Claude translation keeps in the usage next to OpenAI's fields.
pub fn cache_write_tokens(usage: &Usage) -> u64 {
    usage.extra.get("cache_creation_input_tokens").and_then(Value::as_u64).unwrap_or(0)
}

pub fn cached_tokens(usage: &Usage) -> u64 {
    usage.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0)
}

pub fn reasoning_tokens(usage: &Usage) -> u64 {
    usage.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens).unwrap_or(0)
}

/// Where a deployment's prices came from, for `/model/info`-style explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    ModelInfo,
    BuiltIn,
    Free,
}

/// The prices for a deployment: `model_info`'s `input_cost_per_token` and
/// `output_cost_per_token` (both needed; LiteLLM's cache and 200k-tier keys optional) win;
/// else the built-in table, looked up by `model_info.base_model` (how LiteLLM prices Azure
/// deployments, whose names are the user's own), then by the deployment's model name. The
/// mock provider is free. `None`: unknown.
pub fn for_deployment(dep: &Deployment) -> Option<(Prices, PriceSource)> {
    if let Some(p) = from_model_info(&dep.model_info) {
        return Some((p, PriceSource::ModelInfo));
    }
    if dep.provider == ProviderKind::Mock {
        return Some((Prices::default(), PriceSource::Free));
    }
    let base = dep.model_info.get("base_model").and_then(Value::as_str);
    base.into_iter()
        .chain(std::iter::once(dep.model.as_str()))
        .find_map(built_in)
        .map(|p| (p, PriceSource::BuiltIn))
}

/// LiteLLM's price keys in `model_info`, USD per token.
pub fn from_model_info(info: &Map<String, Value>) -> Option<Prices> {
    let num = |k: &str| info.get(k).and_then(Value::as_f64).filter(|v| v.is_finite() && *v >= 0.0);
    Some(Prices {
        input: num("input_cost_per_token")?,
        output: num("output_cost_per_token")?,
        cache_read: num("cache_read_input_token_cost"),
        cache_write: num("cache_creation_input_token_cost"),
        input_above_200k: num("input_cost_per_token_above_200k_tokens"),
        output_above_200k: num("output_cost_per_token_above_200k_tokens"),
        cache_read_above_200k: num("cache_read_input_token_cost_above_200k_tokens"),
    })
}

/// One row of the built-in table: USD per million tokens (input, cached input, output), and
/// the prices above a 200k-token prompt where the provider has them.
struct Row {
    model: &'static str,
    input: f64,
    cached: Option<f64>,
    output: f64,
    above_200k: Option<(f64, f64, f64)>,
    /// Cache writes (Claude: 1.25 × input for the 5-minute cache).
    cache_write: Option<f64>,
}

const fn row(model: &'static str, input: f64, cached: f64, output: f64) -> Row {
    Row { model, input, cached: Some(cached), output, above_200k: None, cache_write: None }
}

/// A Claude row: cache reads at 0.1 × input, cache writes at 1.25 × input (Anthropic's
/// 5-minute cache; Vertex AI and Azure AI Foundry list the same prices).
const fn claude(model: &'static str, input: f64, output: f64) -> Row {
    Row {
        model,
        input,
        cached: Some(input * 0.1),
        output,
        above_200k: None,
        cache_write: Some(input * 1.25),
    }
}

/// List prices (USD per million tokens, standard tier, pay-as-you-go) of the models the setup
/// guide uses, as the providers published them in 2025-2026. Contracts differ: a price in
/// `model_info` overrides a row.
const TABLE: &[Row] = &[
    // Azure OpenAI / OpenAI
    row("gpt-4.1", 2.0, 0.5, 8.0),
    row("gpt-4.1-mini", 0.4, 0.1, 1.6),
    row("gpt-4.1-nano", 0.1, 0.025, 0.4),
    row("gpt-4o", 2.5, 1.25, 10.0),
    row("gpt-4o-mini", 0.15, 0.075, 0.6),
    row("gpt-5", 1.25, 0.125, 10.0),
    row("gpt-5-mini", 0.25, 0.025, 2.0),
    row("gpt-5-nano", 0.05, 0.005, 0.4),
    row("gpt-5.1", 1.25, 0.125, 10.0),
    row("o3", 2.0, 0.5, 8.0),
    row("o4-mini", 1.1, 0.275, 4.4),
    Row {
        model: "text-embedding-3-small",
        input: 0.02,
        cached: None,
        output: 0.0,
        above_200k: None,
        cache_write: None,
    },
    Row {
        model: "text-embedding-3-large",
        input: 0.13,
        cached: None,
        output: 0.0,
        above_200k: None,
        cache_write: None,
    },
    // Vertex AI Gemini
    Row {
        model: "gemini-2.5-pro",
        input: 1.25,
        cached: Some(0.125),
        output: 10.0,
        above_200k: Some((2.5, 0.25, 15.0)),
        cache_write: None,
    },
    row("gemini-2.5-flash", 0.3, 0.03, 2.5),
    row("gemini-2.5-flash-lite", 0.1, 0.01, 0.4),
    Row {
        model: "gemini-3-pro-preview",
        input: 2.0,
        cached: Some(0.2),
        output: 12.0,
        above_200k: Some((4.0, 0.4, 18.0)),
        cache_write: None,
    },
    row("gemini-3-flash-preview", 0.5, 0.05, 3.0),
    // Anthropic Claude (Anthropic, Vertex AI, Azure AI Foundry)
    claude("claude-opus-4-5", 5.0, 25.0),
    claude("claude-opus-4-1", 15.0, 75.0),
    claude("claude-opus-4", 15.0, 75.0),
    Row { above_200k: Some((6.0, 0.6, 22.5)), ..claude("claude-sonnet-4-5", 3.0, 15.0) },
    Row { above_200k: Some((6.0, 0.6, 22.5)), ..claude("claude-sonnet-4", 3.0, 15.0) },
    claude("claude-3-7-sonnet", 3.0, 15.0),
    claude("claude-haiku-4-5", 1.0, 5.0),
    claude("claude-3-5-haiku", 0.8, 4.0),
    // DashScope Qwen (international)
    Row {
        model: "qwen-max",
        input: 1.6,
        cached: None,
        output: 6.4,
        above_200k: None,
        cache_write: None,
    },
    Row {
        model: "qwen-plus",
        input: 0.4,
        cached: None,
        output: 1.2,
        above_200k: None,
        cache_write: None,
    },
    Row {
        model: "qwen-turbo",
        input: 0.05,
        cached: None,
        output: 0.2,
        above_200k: None,
        cache_write: None,
    },
];

/// The table's prices for a model name: an exact row, else the longest row the name extends
/// with a version or date (`gpt-4.1-2025-04-14` → `gpt-4.1`, `qwen-max-latest` → `qwen-max`;
/// never `gpt-4.1-mini` → `gpt-4.1`, which has its own row). A `publishers/…/models/` or
/// `provider/` prefix is ignored.
pub fn built_in(model: &str) -> Option<Prices> {
    let name = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
    // Vertex AI names Claude snapshots `claude-sonnet-4-5@20250929`.
    let name = name.split('@').next().unwrap_or_default().to_owned();
    let hit = TABLE.iter().find(|r| r.model == name).or_else(|| {
        TABLE
            .iter()
            .filter(|r| {
                name.strip_prefix(r.model)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(is_version_suffix)
            })
            .max_by_key(|r| r.model.len())
    })?;
    let m = 1e-6;
    Some(Prices {
        input: hit.input * m,
        output: hit.output * m,
        cache_read: hit.cached.map(|c| c * m),
        cache_write: hit.cache_write.map(|c| c * m),
        input_above_200k: hit.above_200k.map(|t| t.0 * m),
        cache_read_above_200k: hit.above_200k.map(|t| t.1 * m),
        output_above_200k: hit.above_200k.map(|t| t.2 * m),
    })
}

/// `2025-04-14`, `0806`, `latest`, `001`: what providers append to a model name for a
/// snapshot of the same model.
fn is_version_suffix(rest: &str) -> bool {
    rest == "latest"
        || rest.split('-').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests;

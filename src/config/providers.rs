//! The upstream families, as LiteLLM names them: the `litellm_params.model` prefix, and for
//! the OpenAI-compatible family the default endpoint and the variables each one reads (API
//! key, base URL, proxy), in one table ([`COMPAT`]). Data and parsing only.
//!
//! Defaults and variable names are LiteLLM's (`litellm/llms/<provider>/chat/transformation.py`
//! and `get_llm_provider_logic.py`), so a LiteLLM config and `.env` keep working. The proxy
//! variable is ai-proxy's own rule: `<PREFIX>_PROXY` (upper case), see `egress::proxy`.

/// The upstream family a deployment talks to (the prefix of `litellm_params.model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Mock,
    OpenAi,
    DashScope,
    Azure,
    /// Gemini on Vertex AI (`vertex_ai/`).
    Vertex,
    /// Claude on Anthropic's API (`anthropic/`).
    Anthropic,
    /// Claude on Vertex AI (`vertex_ai/claude-*`): the Messages API through `rawPredict`.
    VertexClaude,
    /// Claude on Azure AI Foundry (`azure_ai/claude-*`): the Messages API.
    AzureAi,
    /// Gemini on the Gemini API of Google AI Studio (`gemini/`), with an API key.
    Gemini,
    /// One of the other OpenAI-compatible servers (`deepseek/`, `groq/`, `ollama/`, ...).
    Compat(Compat),
}

/// Every prefix accepted, for messages.
pub const SUPPORTED_PROVIDERS: &str = "openai, azure, vertex_ai, anthropic, azure_ai (Claude), gemini, dashscope, deepseek, groq, openrouter, mistral, xai, \
     together_ai, fireworks_ai, perplexity, moonshot, zai, volcengine, ollama, ollama_chat, \
     lm_studio, hosted_vllm, litellm_proxy, mock";

impl ProviderKind {
    /// The provider of `litellm_params.model` (`prefix/model`), or why it is not served.
    pub fn parse(prefix: &str, model: &str) -> Result<Self, String> {
        Ok(match prefix {
            // Vertex serves Claude through the Messages API (`rawPredict`), not Gemini's
            // `generateContent`.
            "vertex_ai" if is_claude(model) => ProviderKind::VertexClaude,
            "anthropic" => ProviderKind::Anthropic,
            "azure_ai" if is_claude(model) => ProviderKind::AzureAi,
            "azure_ai" => {
                return Err(format!(
                    "`azure_ai/{model}`: ai-proxy serves Claude models of Azure AI Foundry \
                     (`azure_ai/claude-...`); for other Foundry models use their OpenAI-compatible \
                     endpoint (`azure/<deployment>` or `openai/<model>` with api_base)"
                ));
            }
            "gemini" => ProviderKind::Gemini,
            "mock" => ProviderKind::Mock,
            "openai" => ProviderKind::OpenAi,
            "dashscope" => ProviderKind::DashScope,
            "azure" => ProviderKind::Azure,
            "vertex_ai" => ProviderKind::Vertex,
            other => match Compat::from_prefix(other) {
                Some(c) => ProviderKind::Compat(c),
                None => {
                    return Err(format!(
                        "provider `{other}` is not supported by ai-proxy; supported: {SUPPORTED_PROVIDERS}"
                    ));
                }
            },
        })
    }

    /// The name used in `model:` prefixes, logs and `/model/info`.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Mock => "mock",
            ProviderKind::OpenAi => "openai",
            ProviderKind::DashScope => "dashscope",
            ProviderKind::Azure => "azure",
            ProviderKind::Vertex | ProviderKind::VertexClaude => "vertex_ai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::AzureAi => "azure_ai",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Compat(c) => c.spec().prefix,
        }
    }
}

/// Whether a model id names Claude (`claude-sonnet-4-5@20250929`, `claude-opus-4-1`).
pub fn is_claude(model: &str) -> bool {
    model.trim_start().to_ascii_lowercase().starts_with("claude")
}

impl ProviderKind {
    /// Whether the upstream speaks the Anthropic Messages API (a `/v1/messages` request to it
    /// is relayed as it is).
    pub fn is_claude(self) -> bool {
        matches!(self, ProviderKind::Anthropic | ProviderKind::VertexClaude | ProviderKind::AzureAi)
    }
}

/// The OpenAI-compatible servers beyond OpenAI and DashScope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compat {
    DeepSeek,
    Groq,
    OpenRouter,
    Mistral,
    Xai,
    TogetherAi,
    FireworksAi,
    Perplexity,
    Moonshot,
    Zai,
    Volcengine,
    Ollama,
    OllamaChat,
    LmStudio,
    HostedVllm,
    LitellmProxy,
}

/// One OpenAI-compatible server: where it is and what it reads.
#[derive(Debug)]
pub struct CompatSpec {
    pub kind: Compat,
    /// The `model:` prefix.
    pub prefix: &'static str,
    /// For messages: "DeepSeek".
    pub label: &'static str,
    /// The base URL (`{base}/chat/completions`); `None`: `api_base` (or a base variable) is
    /// required.
    pub default_base: Option<&'static str>,
    /// Variables read for the base URL when `api_base` is not given, in order.
    pub base_vars: &'static [&'static str],
    /// Variables read for the API key when `api_key` is not given, in order.
    pub key_vars: &'static [&'static str],
    /// Whether a model without a key is unavailable (cloud services) or sent without one
    /// (local servers).
    pub key_required: bool,
    /// The proxy variables (`<PREFIX>_PROXY`), in order.
    pub proxy_vars: &'static [&'static str],
}

/// The table. Bases and key variables are LiteLLM's; where LiteLLM has no default base
/// (`lm_studio`) the server's own default is used, and where it needs one (`hosted_vllm`,
/// `litellm_proxy`) none is assumed.
pub const COMPAT: &[CompatSpec] = &[
    CompatSpec {
        kind: Compat::DeepSeek,
        prefix: "deepseek",
        label: "DeepSeek",
        default_base: Some("https://api.deepseek.com/beta"),
        base_vars: &["DEEPSEEK_API_BASE"],
        key_vars: &["DEEPSEEK_API_KEY"],
        key_required: true,
        proxy_vars: &["DEEPSEEK_PROXY"],
    },
    CompatSpec {
        kind: Compat::Groq,
        prefix: "groq",
        label: "Groq",
        default_base: Some("https://api.groq.com/openai/v1"),
        base_vars: &["GROQ_API_BASE"],
        key_vars: &["GROQ_API_KEY"],
        key_required: true,
        proxy_vars: &["GROQ_PROXY"],
    },
    CompatSpec {
        kind: Compat::OpenRouter,
        prefix: "openrouter",
        label: "OpenRouter",
        default_base: Some("https://openrouter.ai/api/v1"),
        base_vars: &["OPENROUTER_API_BASE"],
        key_vars: &["OPENROUTER_API_KEY", "OR_API_KEY"],
        key_required: true,
        proxy_vars: &["OPENROUTER_PROXY"],
    },
    CompatSpec {
        kind: Compat::Mistral,
        prefix: "mistral",
        label: "Mistral",
        default_base: Some("https://api.mistral.ai/v1"),
        base_vars: &["MISTRAL_API_BASE"],
        key_vars: &["MISTRAL_API_KEY"],
        key_required: true,
        proxy_vars: &["MISTRAL_PROXY"],
    },
    CompatSpec {
        kind: Compat::Xai,
        prefix: "xai",
        label: "xAI",
        default_base: Some("https://api.x.ai/v1"),
        base_vars: &["XAI_API_BASE"],
        key_vars: &["XAI_API_KEY"],
        key_required: true,
        proxy_vars: &["XAI_PROXY"],
    },
    CompatSpec {
        kind: Compat::TogetherAi,
        prefix: "together_ai",
        label: "Together AI",
        default_base: Some("https://api.together.xyz/v1"),
        base_vars: &["TOGETHER_AI_API_BASE"],
        key_vars: &[
            "TOGETHER_API_KEY",
            "TOGETHER_AI_API_KEY",
            "TOGETHERAI_API_KEY",
            "TOGETHER_AI_TOKEN",
        ],
        key_required: true,
        proxy_vars: &["TOGETHER_AI_PROXY"],
    },
    CompatSpec {
        kind: Compat::FireworksAi,
        prefix: "fireworks_ai",
        label: "Fireworks AI",
        default_base: Some("https://api.fireworks.ai/inference/v1"),
        base_vars: &["FIREWORKS_API_BASE"],
        key_vars: &[
            "FIREWORKS_API_KEY",
            "FIREWORKS_AI_API_KEY",
            "FIREWORKSAI_API_KEY",
            "FIREWORKS_AI_TOKEN",
        ],
        key_required: true,
        proxy_vars: &["FIREWORKS_AI_PROXY"],
    },
    CompatSpec {
        kind: Compat::Perplexity,
        prefix: "perplexity",
        label: "Perplexity",
        default_base: Some("https://api.perplexity.ai"),
        base_vars: &["PERPLEXITY_API_BASE"],
        key_vars: &["PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"],
        key_required: true,
        proxy_vars: &["PERPLEXITY_PROXY"],
    },
    CompatSpec {
        kind: Compat::Moonshot,
        prefix: "moonshot",
        label: "Moonshot AI",
        default_base: Some("https://api.moonshot.ai/v1"),
        base_vars: &["MOONSHOT_API_BASE"],
        key_vars: &["MOONSHOT_API_KEY"],
        key_required: true,
        proxy_vars: &["MOONSHOT_PROXY"],
    },
    CompatSpec {
        kind: Compat::Zai,
        prefix: "zai",
        label: "Z.AI (Zhipu GLM)",
        default_base: Some("https://api.z.ai/api/paas/v4"),
        base_vars: &["ZAI_API_BASE"],
        key_vars: &["ZAI_API_KEY"],
        key_required: true,
        proxy_vars: &["ZAI_PROXY"],
    },
    CompatSpec {
        kind: Compat::Volcengine,
        prefix: "volcengine",
        label: "Volcengine Ark",
        default_base: Some("https://ark.cn-beijing.volces.com/api/v3"),
        base_vars: &["VOLCENGINE_API_BASE", "ARK_API_BASE"],
        key_vars: &["VOLCENGINE_API_KEY", "ARK_API_KEY"],
        key_required: true,
        proxy_vars: &["VOLCENGINE_PROXY"],
    },
    CompatSpec {
        kind: Compat::Ollama,
        prefix: "ollama",
        label: "Ollama",
        default_base: Some("http://localhost:11434"),
        base_vars: &["OLLAMA_API_BASE"],
        key_vars: &["OLLAMA_API_KEY"],
        key_required: false,
        proxy_vars: &["OLLAMA_PROXY"],
    },
    CompatSpec {
        kind: Compat::OllamaChat,
        prefix: "ollama_chat",
        label: "Ollama",
        default_base: Some("http://localhost:11434"),
        base_vars: &["OLLAMA_API_BASE"],
        key_vars: &["OLLAMA_API_KEY"],
        key_required: false,
        proxy_vars: &["OLLAMA_CHAT_PROXY", "OLLAMA_PROXY"],
    },
    CompatSpec {
        kind: Compat::LmStudio,
        prefix: "lm_studio",
        label: "LM Studio",
        default_base: Some("http://localhost:1234/v1"),
        base_vars: &["LM_STUDIO_API_BASE"],
        key_vars: &["LM_STUDIO_API_KEY"],
        key_required: false,
        proxy_vars: &["LM_STUDIO_PROXY"],
    },
    CompatSpec {
        kind: Compat::HostedVllm,
        prefix: "hosted_vllm",
        label: "vLLM",
        default_base: None,
        base_vars: &["HOSTED_VLLM_API_BASE"],
        key_vars: &["HOSTED_VLLM_API_KEY"],
        key_required: false,
        proxy_vars: &["HOSTED_VLLM_PROXY"],
    },
    CompatSpec {
        kind: Compat::LitellmProxy,
        prefix: "litellm_proxy",
        label: "LiteLLM proxy",
        default_base: None,
        base_vars: &["LITELLM_PROXY_API_BASE"],
        key_vars: &["LITELLM_PROXY_API_KEY"],
        key_required: false,
        proxy_vars: &["LITELLM_PROXY_PROXY"],
    },
];

impl Compat {
    pub fn from_prefix(prefix: &str) -> Option<Compat> {
        COMPAT.iter().find(|s| s.prefix == prefix).map(|s| s.kind)
    }

    pub fn spec(self) -> &'static CompatSpec {
        // Every variant has a row (tested); the first row is never reached otherwise.
        COMPAT.iter().find(|s| s.kind == self).unwrap_or(&COMPAT[0])
    }

    /// Ollama's OpenAI-compatible API lives under `/v1` of the server address LiteLLM's
    /// `OLLAMA_API_BASE` names.
    pub fn is_ollama(self) -> bool {
        matches!(self, Compat::Ollama | Compat::OllamaChat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compat_prefix_has_one_row_and_round_trips() {
        let all = [
            Compat::DeepSeek,
            Compat::Groq,
            Compat::OpenRouter,
            Compat::Mistral,
            Compat::Xai,
            Compat::TogetherAi,
            Compat::FireworksAi,
            Compat::Perplexity,
            Compat::Moonshot,
            Compat::Zai,
            Compat::Volcengine,
            Compat::Ollama,
            Compat::OllamaChat,
            Compat::LmStudio,
            Compat::HostedVllm,
            Compat::LitellmProxy,
        ];
        assert_eq!(all.len(), COMPAT.len());
        for c in all {
            assert_eq!(COMPAT.iter().filter(|s| s.kind == c).count(), 1, "{c:?}");
            let spec = c.spec();
            assert_eq!(spec.kind, c);
            assert_eq!(ProviderKind::parse(spec.prefix, "m"), Ok(ProviderKind::Compat(c)));
            assert_eq!(ProviderKind::Compat(c).name(), spec.prefix);
            assert!(SUPPORTED_PROVIDERS.contains(spec.prefix), "{}", spec.prefix);
            // The proxy variable rule: <PREFIX>_PROXY is always one of them.
            let own = format!("{}_PROXY", spec.prefix.to_ascii_uppercase());
            assert!(spec.proxy_vars.contains(&own.as_str()), "{own}");
            assert!(!spec.key_vars.is_empty() && !spec.base_vars.is_empty());
            assert!(spec.default_base.is_some() || !spec.key_required);
        }
    }

    #[test]
    fn other_prefixes_are_refused_with_the_list() {
        assert_eq!(ProviderKind::parse("vertex_ai", "gemini-2.5-pro"), Ok(ProviderKind::Vertex));
        assert_eq!(
            ProviderKind::parse("vertex_ai", "claude-sonnet-4-5@20250929"),
            Ok(ProviderKind::VertexClaude)
        );
        assert_eq!(
            ProviderKind::parse("anthropic", "claude-opus-4-1"),
            Ok(ProviderKind::Anthropic)
        );
        assert_eq!(ProviderKind::parse("azure_ai", "claude-sonnet-4-5"), Ok(ProviderKind::AzureAi));
        assert_eq!(ProviderKind::parse("gemini", "gemini-2.5-flash"), Ok(ProviderKind::Gemini));
        for k in [ProviderKind::Anthropic, ProviderKind::VertexClaude, ProviderKind::AzureAi] {
            assert!(k.is_claude() && SUPPORTED_PROVIDERS.contains(k.name()), "{k:?}");
        }
        assert!(!ProviderKind::Vertex.is_claude() && !ProviderKind::Gemini.is_claude());
        let why = ProviderKind::parse("azure_ai", "mistral-large").expect_err("refused");
        assert!(why.contains("azure_ai/claude"), "{why}");
        let why = ProviderKind::parse("bedrock", "x").expect_err("refused");
        assert!(why.contains("not supported") && why.contains(SUPPORTED_PROVIDERS), "{why}");
    }
}

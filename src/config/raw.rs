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
    pub rpm: Option<u32>,
    #[serde(default)]
    pub tpm: Option<u64>,
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub stream_timeout: Option<f64>,
    #[serde(default)]
    pub max_retries: Option<u32>,
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
            message: strip_location(&inner.to_string()),
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

/// serde_yaml_ng appends " at line L column C" to messages; we print the location ourselves.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

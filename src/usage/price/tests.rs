//! Price lookup by model name and the cost of a call's usage (cache and reasoning tokens,
//! unknown prices kept unknown).

use serde_json::json;

use super::*;
use crate::wire::openai::{CompletionTokensDetails, PromptTokensDetails};

fn usage(prompt: u64, cached: u64, completion: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: (cached > 0)
            .then(|| PromptTokensDetails { cached_tokens: Some(cached), ..Default::default() }),
        ..Default::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn exact_and_snapshot_names_match_their_row_and_only_it() {
    let gpt41 = built_in("gpt-4.1").expect("row");
    assert!(close(gpt41.input, 2.0e-6));
    assert_eq!(built_in("gpt-4.1-2025-04-14"), Some(gpt41));
    assert!(close(built_in("gpt-4.1-mini").expect("row").input, 0.4e-6));
    assert!(close(built_in("GPT-4.1-MINI-2025-04-14").expect("row").output, 1.6e-6));
    assert!(close(built_in("qwen-max-latest").expect("row").input, 1.6e-6));
    assert!(close(built_in("publishers/google/models/gemini-2.5-pro").expect("row").output, 10e-6));
    assert!(close(built_in("gemini-2.5-flash-001").expect("row").input, 0.3e-6));
    // A different model that merely starts like a known one is unknown, not mispriced.
    assert_eq!(built_in("gpt-4.1-turbo"), None);
    assert_eq!(built_in("gemini-2.5-flash-preview-tts"), None);
    assert_eq!(built_in("my-deployment"), None);
    assert_eq!(built_in(""), None);
}

#[test]
fn cost_bills_cached_tokens_at_the_cache_price_and_reasoning_as_output() {
    let p = built_in("gpt-4.1").expect("row");
    // 1000 prompt tokens, 400 of them cached, 100 completion tokens.
    let c = p.cost(&usage(1000, 400, 100));
    assert!(close(c, 600.0 * 2e-6 + 400.0 * 0.5e-6 + 100.0 * 8e-6), "{c}");

    // Reasoning tokens are already inside completion_tokens: not billed twice.
    let mut u = usage(10, 0, 50);
    u.completion_tokens_details =
        Some(CompletionTokensDetails { reasoning_tokens: Some(40), ..Default::default() });
    assert!(close(p.cost(&u), 10.0 * 2e-6 + 50.0 * 8e-6));

    // No cache price: cached tokens cost what input costs.
    let q = built_in("qwen-plus").expect("row");
    assert!(close(q.cost(&usage(100, 60, 0)), 100.0 * 0.4e-6));

    // More cached than prompt tokens (a confused upstream) never goes negative.
    assert!(p.cost(&usage(10, 50, 0)) >= 0.0);
}

#[test]
fn a_prompt_over_200k_tokens_is_billed_at_the_higher_tier_for_the_whole_call() {
    let p = built_in("gemini-2.5-pro").expect("row");
    let small = p.cost(&usage(200_000, 0, 1000));
    assert!(close(small, 200_000.0 * 1.25e-6 + 1000.0 * 10e-6), "{small}");
    let big = p.cost(&usage(200_001, 1, 1000));
    assert!(close(big, 200_000.0 * 2.5e-6 + 1.0 * 0.25e-6 + 1000.0 * 15e-6), "{big}");
}

#[test]
fn model_info_prices_use_litellms_keys_and_need_both_directions() {
    let info = json!({
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 3e-6,
        "cache_read_input_token_cost": 1e-7,
        "input_cost_per_token_above_200k_tokens": 2e-6
    });
    let p = from_model_info(info.as_object().expect("object")).expect("prices");
    assert_eq!(p.cache_read, Some(1e-7));
    assert_eq!(p.input_above_200k, Some(2e-6));
    assert_eq!(p.output_above_200k, None);

    let only_input = json!({"input_cost_per_token": 1e-6});
    assert_eq!(from_model_info(only_input.as_object().expect("object")), None);
    let negative = json!({"input_cost_per_token": -1.0, "output_cost_per_token": 1.0});
    assert_eq!(from_model_info(negative.as_object().expect("object")), None);
    let text = json!({"input_cost_per_token": "0.1", "output_cost_per_token": 1.0});
    assert_eq!(from_model_info(text.as_object().expect("object")), None);
}

fn deployment(yaml: &str) -> Deployment {
    let cfg = crate::config::load(
        yaml,
        crate::config::Source::File("/c/config.yaml".into()),
        crate::config::Env::default(),
    )
    .expect("config");
    cfg.deployments.into_iter().next().expect("one deployment")
}

#[test]
fn a_deployment_is_priced_by_model_info_then_base_model_then_its_model_name() {
    let azure = deployment(
        "model_list:\n  - model_name: gpt\n    litellm_params:\n      model: azure/team-prod-deployment\n      api_base: https://x.openai.azure.com\n      api_key: k\n    model_info:\n      base_model: azure/gpt-4.1\n",
    );
    let (p, src) = for_deployment(&azure).expect("priced by base_model");
    assert_eq!(src, PriceSource::BuiltIn);
    assert!(close(p.input, 2e-6));

    let own = deployment(
        "model_list:\n  - model_name: gpt\n    litellm_params:\n      model: azure/gpt-4.1\n      api_base: https://x.openai.azure.com\n      api_key: k\n    model_info:\n      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n",
    );
    let (p, src) = for_deployment(&own).expect("priced by model_info");
    assert_eq!(src, PriceSource::ModelInfo);
    assert!(close(p.output, 2e-6));

    let unknown = deployment(
        "model_list:\n  - model_name: x\n    litellm_params:\n      model: azure/team-prod-deployment\n      api_base: https://x.openai.azure.com\n      api_key: k\n",
    );
    assert_eq!(for_deployment(&unknown), None);

    let mock = deployment(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: mock/anything\n",
    );
    assert_eq!(for_deployment(&mock), Some((Prices::default(), PriceSource::Free)));
}

#[test]
fn claude_is_priced_on_every_host_with_cache_reads_and_writes_apart() {
    let sonnet = built_in("claude-sonnet-4-5").expect("row");
    assert_eq!(built_in("claude-sonnet-4-5@20250929"), Some(sonnet), "Vertex AI's snapshot name");
    assert_eq!(built_in("claude-sonnet-4-5-20250929"), Some(sonnet), "Anthropic's snapshot name");
    assert!(close(built_in("claude-opus-4-1-20250805").expect("row").input, 15e-6));
    assert!(close(built_in("claude-opus-4-5").expect("row").output, 25e-6));
    // 1,000 fresh + 2,000 read + 400 written prompt tokens, 100 out.
    let mut u = usage(3400, 2000, 100);
    u.extra.insert("cache_creation_input_tokens".into(), json!(400));
    let want = 1000.0 * 3e-6 + 2000.0 * 0.3e-6 + 400.0 * 3.75e-6 + 100.0 * 15e-6;
    assert!(close(sonnet.cost(&u), want), "{} vs {want}", sonnet.cost(&u));
    let info = json!({"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                      "cache_creation_input_token_cost": 5e-6});
    let p = from_model_info(info.as_object().expect("object")).expect("prices");
    assert!(close(p.cost(&u), 1000.0 * 1e-6 + 2000.0 * 1e-6 + 400.0 * 5e-6 + 100.0 * 2e-6));
}

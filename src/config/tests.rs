//! Config loading: LiteLLM's format as users write it, every error message, and resolution.

use super::*;

fn load_ok(yaml: &str, vars: &[(&str, &str)]) -> Config {
    load(yaml, Source::File("/cfg/config.yaml".into()), Env::from_vars(vars.iter().copied()))
        .expect("config loads")
}

fn load_err(yaml: &str) -> String {
    load(yaml, Source::File("/cfg/config.yaml".into()), Env::default())
        .expect_err("config fails")
        .to_string()
}

const SEED_STYLE: &str = r#"
model_list:
  - model_name: gpt-4
    litellm_params:
      model: azure/gpt4-deployment
      api_base: os.environ/AZURE_API_BASE
      api_version: "2024-10-21"
      rpm: 1000
      tpm: 50000
      timeout: 30
      stream_timeout: 5
      max_retries: 2
      http_proxy: os.environ/AZURE_PROXY
    model_info:
      base_model: gpt-4
  - model_name: qwen-max
    litellm_params:
      model: dashscope/qwen-max
      api_key: os.environ/DASHSCOPE_API_KEY
      additional_drop_params: ["logprobs"]
      ssl_verify: false
  - model_name: local
    litellm_params:
      model: llama3
      api_base: http://127.0.0.1:11434/v1
      temperature: 0.2
      extra_headers:
        X-Team: platform
litellm_settings:
  drop_params: True
  request_timeout: 120
  num_retries: 1
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"#;

#[test]
fn seed_style_config_resolves() {
    let c = load_ok(
        SEED_STYLE,
        &[
            ("AZURE_API_BASE", "https://res.openai.azure.com/"),
            ("AZURE_PROXY", "http://proxy:8080"),
            ("DASHSCOPE_API_KEY", "sk-ds"),
            ("LITELLM_MASTER_KEY", "sk-master"),
        ],
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.master_key.as_ref().map(|k| k.expose().as_str()), Some("sk-master"));
    assert_eq!(c.master_key_origin, Some(Origin::Process));
    assert_eq!(c.settings.num_retries, 1);

    let gpt = &c.deployments[0];
    assert_eq!(gpt.alias, "gpt-4");
    assert_eq!(gpt.provider, ProviderKind::Azure);
    assert_eq!(gpt.model, "gpt4-deployment");
    assert_eq!(gpt.api_base.as_deref(), Some("https://res.openai.azure.com/"));
    assert_eq!(gpt.api_version.as_deref(), Some("2024-10-21"));
    assert_eq!((gpt.rpm, gpt.tpm, gpt.max_retries), (Some(1000), Some(50000), Some(2)));
    assert_eq!(gpt.timeout, Duration::from_secs(30));
    assert_eq!(gpt.stream_timeout, Some(Duration::from_secs(5)));
    assert!(gpt.drop_params, "global drop_params applies");
    assert_eq!(gpt.params.str("http_proxy"), Some("http://proxy:8080"));
    assert_eq!(gpt.model_info.get("base_model"), Some(&Value::from("gpt-4")));
    assert!(gpt.is_available());

    let qwen = &c.deployments[1];
    assert_eq!(qwen.provider, ProviderKind::DashScope);
    assert_eq!(qwen.api_key.as_ref().map(|k| k.expose().as_str()), Some("sk-ds"));
    assert_eq!(qwen.additional_drop_params, vec!["logprobs"]);
    assert_eq!(qwen.ssl_verify, SslVerify::Disabled);
    assert_eq!(qwen.timeout, Duration::from_secs(120), "request_timeout is the default timeout");

    let local = &c.deployments[2];
    assert_eq!(
        local.provider,
        ProviderKind::OpenAi,
        "a bare model name means openai, as in LiteLLM"
    );
    assert_eq!(local.request_defaults.get("temperature"), Some(&Value::from(0.2)));
    assert_eq!(local.extra_headers, vec![("X-Team".to_owned(), "platform".to_owned())]);
}

#[test]
fn missing_variables_make_a_deployment_unavailable_with_the_names() {
    let c = load_ok(SEED_STYLE, &[("DASHSCOPE_API_KEY", "sk-ds")]);
    let reason = c.deployments[0].unavailable.as_deref().expect("unavailable");
    assert_eq!(
        reason,
        "model `gpt-4`: os.environ/AZURE_API_BASE not set (set it in the environment, the .env file or the secret store)"
    );
    // An unset proxy variable (`http_proxy: os.environ/AZURE_PROXY`) is not a missing
    // credential: egress falls through to the next proxy rule.
    assert!(!reason.contains("AZURE_PROXY"), "{reason}");
    assert!(c.deployments[1].is_available());
    assert_eq!(c.available_count(), 2);
    assert!(c.master_key.is_none());
    assert!(
        c.warnings.is_empty(),
        "an unset LITELLM_MASTER_KEY only means no key: {:?}",
        c.warnings
    );
    let other = load_ok("general_settings:\n  master_key: os.environ/MY_KEY\n", &[]);
    assert_eq!(
        other.warnings,
        vec![
            "/cfg/config.yaml: general_settings.master_key refers to os.environ/MY_KEY, which is not set; falling back to LITELLM_MASTER_KEY"
        ]
    );
}

#[test]
fn master_key_falls_back_to_the_environment_variable() {
    let c = load_ok("model_list: []", &[("LITELLM_MASTER_KEY", "sk-env")]);
    assert_eq!(c.master_key.as_ref().map(|k| k.expose().as_str()), Some("sk-env"));
    let c = load_ok(
        "general_settings:\n  master_key: sk-literal\n",
        &[("LITELLM_MASTER_KEY", "sk-env")],
    );
    assert_eq!(c.master_key.as_ref().map(|k| k.expose().as_str()), Some("sk-literal"));
}

#[test]
fn unsupported_keys_warn_once_each_and_never_fail() {
    let c = load_ok(
        r#"
model_list:
  - model_name: a
    litellm_params:
      model: mock/x
      input_cost_per_token: 0.1
      made_up_key: 1
    extra_thing: true
litellm_settings:
  success_callback: ["langfuse"]
  set_verbose: true
router_settings:
  redis_host: localhost
general_settings:
  database_url: postgres://x
guardrails: []
"#,
        &[],
    );
    let w = c.warnings.join("\n");
    for key in [
        "top-level key `guardrails`",
        "model_list[0].extra_thing is not supported",
        "model_list[0].litellm_params.input_cost_per_token has no effect",
        "model_list[0].litellm_params.made_up_key is not supported",
        "litellm_settings.success_callback is not supported",
        "litellm_settings.set_verbose is ignored",
        "router_settings.redis_host is not supported",
        "general_settings.database_url is not supported",
    ] {
        assert!(w.contains(key), "missing warning for {key}:\n{w}");
    }
    assert_eq!(c.warnings.len(), 8, "{w}");
}

#[test]
fn unknown_providers_are_unavailable_not_fatal() {
    let c = load_ok(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: bedrock/claude-3\n",
        &[],
    );
    let why = c.deployments[0].unavailable.as_deref().expect("unavailable");
    assert!(
        why.starts_with(
            "model `bedrock/claude-3`: provider `bedrock` is not supported by ai-proxy; supported: openai, azure,"
        ),
        "{why}"
    );
}

#[test]
fn yaml_syntax_errors_name_file_line_and_column() {
    let e = load_err("model_list:\n  - model_name: a\n    litellm_params: {model: mock/x\n");
    assert!(e.starts_with("/cfg/config.yaml:"), "{e}");
    assert!(e.contains(":4:1") || e.contains(":3:"), "line and column: {e}");
}

#[test]
fn type_errors_name_the_key_path_and_line() {
    let e = load_err(
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/x\n      rpm: lots\n",
    );
    assert_eq!(
        e,
        "/cfg/config.yaml:5:7: model_list[0].litellm_params.rpm: expected a whole number of requests from 0 to 4294967295, got \"lots\""
    );

    let e = load_err("model_list:\n  - litellm_params:\n      model: mock/x\n");
    assert!(e.contains("missing field `model_name`"), "{e}");

    let e = load_err("litellm_settings:\n  request_timeout: soon\n");
    assert_eq!(
        e,
        "/cfg/config.yaml:2:3: litellm_settings.request_timeout: expected a number of seconds from 0.001 to 604800, got \"soon\""
    );
    let e = load_err("litellm_settings:\n  drop_params: maybe\n");
    assert_eq!(e, "/cfg/config.yaml:2:3: litellm_settings.drop_params: expected true or false");
    let e = load_err(
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/x\n      extra_headers: [1]\n",
    );
    assert_eq!(
        e,
        "/cfg/config.yaml:5:7: model_list[0].litellm_params.extra_headers: expected a mapping of header names to values"
    );
}

#[test]
fn extra_headers_a_request_could_not_carry_are_reported_at_load() {
    // A name is the config's own text: a load error that points at it.
    let e = load_err(
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/x\n      extra_headers:\n        X Team: platform\n",
    );
    assert!(
        e.contains(
            "model_list[0].litellm_params.extra_headers.X Team: is not a valid HTTP header name"
        ),
        "{e}"
    );
    // A value may come from a variable and hold a credential: the model is unavailable, and
    // the reason names the header, not the value.
    let yaml = "model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/x\n      extra_headers:\n        X-Team: platform\n        X-Token: os.environ/TEAM_TOKEN\n";
    let c = load_ok(yaml, &[("TEAM_TOKEN", "tok-4711\nsecond line")]);
    let reason = c.deployments[0].unavailable.as_deref().expect("unavailable");
    assert_eq!(
        reason,
        "model `a`: the value of litellm_params.extra_headers `X-Token` contains a line break or another character an HTTP header cannot carry"
    );
    let c = load_ok(yaml, &[("TEAM_TOKEN", "tok-4711")]);
    assert!(c.deployments[0].is_available());
}

/// Every numeric setting, where it is written in a config.
const NUMERIC_KEYS: &[(&str, &str)] = &[
    ("litellm_settings", "request_timeout"),
    ("litellm_settings", "num_retries"),
    ("litellm_settings", "max_request_size_mb"),
    ("router_settings", "num_retries"),
    ("router_settings", "timeout"),
    ("router_settings", "allowed_fails"),
    ("router_settings", "cooldown_time"),
    ("router_settings", "max_fallbacks"),
    ("router_settings", "default_max_parallel_requests"),
    ("litellm_settings", "allowed_fails"),
    ("litellm_settings", "max_fallbacks"),
    ("general_settings", "max_request_size_mb"),
    ("general_settings", "max_response_size_mb"),
    ("general_settings", "max_stream_event_size_mb"),
    ("general_settings", "header_read_timeout"),
    ("general_settings", "keep_alive_timeout"),
    ("general_settings", "body_read_timeout"),
    ("general_settings", "max_connections"),
    ("general_settings", "stream_keep_alive_interval"),
    ("litellm_params", "rpm"),
    ("litellm_params", "tpm"),
    ("litellm_params", "timeout"),
    ("litellm_params", "stream_timeout"),
    ("litellm_params", "max_retries"),
    ("litellm_params", "weight"),
    ("litellm_params", "order"),
    ("litellm_params", "max_parallel_requests"),
    ("litellm_params", "cooldown_time"),
    ("litellm_params", "max_budget"),
];

/// A config with one numeric key set to `value` (YAML text), and the key's line.
fn with_number(section: &str, key: &str, value: &str) -> (String, usize) {
    let model = "model_list:\n  - model_name: m\n    litellm_params:\n      model: mock/x\n";
    if section == "litellm_params" {
        (format!("{model}      {key}: {value}\n"), 5)
    } else {
        (format!("{model}{section}:\n  drop_params: true\n  {key}: {value}\n"), 7)
    }
}

#[test]
fn every_numeric_setting_out_of_range_is_a_located_error_never_a_panic() {
    for (section, key) in NUMERIC_KEYS {
        for bad in ["-1", ".nan", ".inf", "-.inf", "1e300", "99999999999999999999", "\"x\"", "[1]"]
        {
            let (yaml, line) = with_number(section, key, bad);
            let result = std::panic::catch_unwind(|| {
                load(&yaml, Source::File("/cfg/config.yaml".into()), Env::default())
            });
            let Ok(result) = result else { panic!("{section}.{key}: {bad} panicked") };
            // drop_params is accepted; only litellm_settings knows it, so the other sections
            // may warn about it, never fail on it.
            let e = result.expect_err(&format!("{section}.{key}: {bad} is refused")).to_string();
            assert!(
                e.starts_with(&format!("/cfg/config.yaml:{line}:")),
                "{section}.{key}={bad}: {e}"
            );
            assert!(e.contains(&format!(".{key}")), "{e}");
            assert!(
                (e.contains(" from ") && e.contains(", got ")) || e.contains("is too large"),
                "names the range and the value: {e}"
            );
        }
        // A sensible value loads.
        let (yaml, _) = with_number(section, key, "3");
        load(&yaml, Source::File("/cfg/config.yaml".into()), Env::default())
            .unwrap_or_else(|e| panic!("{section}.{key}: 3: {e}"));
    }
}

#[test]
fn whole_number_settings_refuse_fractions_and_timeouts_refuse_zero() {
    let (yaml, _) = with_number("litellm_params", "max_retries", "1.5");
    assert!(load_err(&yaml).contains("expected a whole number of retries from 0 to 100, got 1.5"));
    let (yaml, _) = with_number("litellm_params", "timeout", "0");
    assert!(load_err(&yaml).contains("expected a number of seconds from 0.001 to 604800, got 0"));
    let (yaml, _) = with_number("litellm_params", "timeout", "\"45\"");
    let cfg = load_ok(&yaml, &[]);
    assert_eq!(cfg.deployments[0].timeout, Duration::from_secs(45));
}

#[test]
fn key_paths_are_located_in_block_yaml() {
    let text = "# comment\nmodel_list:\n- model_name: a\n  litellm_params:\n    model: mock/x\n\n  - nope\n- model_name: b\n  litellm_params: {model: mock/y, rpm: -1}\ngeneral_settings:\n  \"master_key\": x\n";
    assert_eq!(raw::locate(text, "model_list"), Some((2, 1)));
    assert_eq!(raw::locate(text, "model_list[0]"), Some((3, 1)));
    assert_eq!(raw::locate(text, "model_list[0].litellm_params.model"), Some((5, 5)));
    // Flow style: the nearest written ancestor.
    assert_eq!(raw::locate(text, "model_list[1].litellm_params.rpm"), Some((9, 3)));
    assert_eq!(raw::locate(text, "general_settings.master_key"), Some((11, 3)));
    // An item that is not there: its list.
    assert_eq!(raw::locate(text, "model_list[5].x"), Some((2, 1)));
    assert_eq!(raw::locate(text, "nothing"), None);
    // Whatever the text, never a panic.
    for t in ["-", "- -", "a:\n-\n - b: [", "\u{00e9}: 1", "  - x:\n-"] {
        let _ = raw::locate(t, "a[0].b");
        let _ = raw::locate(t, "x[0]");
    }
}

#[test]
fn environment_variables_section_is_lowest_priority() {
    let yaml = r#"
environment_variables:
  QWEN_KEY: from-config
  OTHER: from-config
model_list:
  - model_name: q
    litellm_params:
      model: dashscope/qwen-max
      api_key: os.environ/QWEN_KEY
      api_base: os.environ/OTHER
"#;
    let c = load_ok(yaml, &[("QWEN_KEY", "from-env")]);
    assert_eq!(c.deployments[0].api_key.as_ref().map(|k| k.expose().as_str()), Some("from-env"));
    assert_eq!(c.deployments[0].api_base.as_deref(), Some("from-config"));
}

#[test]
fn ssl_verify_forms() {
    let yaml = r#"
litellm_settings:
  ssl_verify: /etc/corp-ca.pem
model_list:
  - model_name: a
    litellm_params: {model: mock/a}
  - model_name: b
    litellm_params: {model: mock/b, ssl_verify: true}
  - model_name: c
    litellm_params: {model: mock/c, ssl_verify: "False"}
"#;
    let c = load_ok(yaml, &[]);
    assert_eq!(c.deployments[0].ssl_verify, SslVerify::ExtraCa("/etc/corp-ca.pem".into()));
    assert_eq!(c.deployments[1].ssl_verify, SslVerify::System);
    assert_eq!(c.deployments[2].ssl_verify, SslVerify::Disabled);
}

#[test]
fn debug_output_never_contains_secret_values() {
    let c = load_ok(
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: azure/x\n      api_key: sk-plain-secret\n      client_secret: cs-secret\n",
        &[("LITELLM_MASTER_KEY", "sk-master-secret")],
    );
    let shown = format!("{c:?}");
    for s in ["sk-plain-secret", "cs-secret", "sk-master-secret"] {
        assert!(!shown.contains(s), "{s} leaked in Debug output");
    }
    assert!(shown.contains("client_secret"), "param names are shown");
}

#[test]
fn embedded_default_config_loads_with_the_mock_model() {
    let c = load(EMBEDDED_DEFAULT, Source::Embedded, Env::default()).expect("embedded config");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.deployments.iter().all(|d| d.provider == ProviderKind::Mock && d.is_available()));
}

#[test]
fn repository_config_is_the_seed_model_table() {
    let text = include_str!("../../config.yaml");
    let c = load(text, Source::File("config.yaml".into()), Env::default()).expect("repo config");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let aliases = c.aliases();
    for a in [
        "mock",
        "gpt-4",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "gemini-pro",
        "gemini-3-flash",
        "gemini-3-pro",
        "qwen-max",
    ] {
        assert!(aliases.contains(&a), "{a} missing");
    }
    let mock = c.deployments.iter().find(|d| d.alias == "mock").expect("mock");
    assert!(mock.is_available(), "the mock model needs no credentials");
}

#[test]
fn body_limits_default_and_come_from_general_settings() {
    let model = "model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/x\n";
    let cfg = load_ok(model, &[]);
    assert_eq!(cfg.settings.body_limits.response_bytes, 64 << 20);
    assert_eq!(cfg.settings.body_limits.stream_event_bytes, 16 << 20);
    let cfg = load_ok(
        &format!(
            "{model}general_settings:\n  max_response_size_mb: 0.5\n  max_stream_event_size_mb: \"2\"\n"
        ),
        &[],
    );
    let expected = BodyLimits { response_bytes: 512 << 10, stream_event_bytes: 2 << 20 };
    assert_eq!(cfg.settings.body_limits, expected);
    assert_eq!(cfg.deployments[0].body_limits, expected, "each deployment carries them");
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    for bad in ["0", "-1", ".nan", ".inf", "1e300", "lots", "[1]"] {
        let e = load_err(&format!("general_settings:\n  max_response_size_mb: {bad}\n"));
        let expected =
            "general_settings.max_response_size_mb: expected a size in MB from 0.001 to 4096, got ";
        assert!(e.starts_with("/cfg/config.yaml") && e.contains(expected), "{bad}: {e}");
    }
    let e = load_err("general_settings:\n  max_stream_event_size_mb: 0\n");
    assert!(e.contains("general_settings.max_stream_event_size_mb: expected a size in MB"), "{e}");
}

#[test]
fn budgets_read_litellm_keys_and_half_a_budget_is_a_warning() {
    let model = "model_list:\n  - model_name: m\n    litellm_params:\n      model: mock/x\n";
    let cfg = load(
        &format!("{model}      max_budget: 2.5\n      budget_duration: 1mo\n"),
        Source::Embedded,
        Env::default(),
    )
    .expect("loads");
    assert_eq!(
        cfg.deployments[0].budget,
        Some(BudgetLimit { max_usd: 2.5, period: Duration::from_secs(30 * 86_400) })
    );
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);

    for (extra, says) in [
        ("      max_budget: 1\n", "max_budget has no effect without budget_duration"),
        ("      budget_duration: 1d\n", "budget_duration has no effect without max_budget"),
    ] {
        let cfg =
            load(&format!("{model}{extra}"), Source::Embedded, Env::default()).expect("loads");
        assert_eq!(cfg.deployments[0].budget, None);
        assert!(cfg.warnings.iter().any(|w| w.contains(says)), "{:?}", cfg.warnings);
    }

    let e = load(
        &format!("{model}      max_budget: 1\n      budget_duration: 1y\n"),
        Source::File("/cfg/config.yaml".into()),
        Env::default(),
    )
    .expect_err("a bad period")
    .to_string();
    assert!(e.starts_with("/cfg/config.yaml:6:"), "{e}");
    assert!(e.contains("budget_duration") && e.contains("\"1d\""), "{e}");
}

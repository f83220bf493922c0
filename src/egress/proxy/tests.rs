//! Resolution order and NO_PROXY application, as tables of cases.

use super::*;
use crate::config::{self, Source};

fn dep(provider_model: &str, extra: &str, env: &Env) -> Deployment {
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: {provider_model}\n      api_key: k\n{extra}"
    );
    let cfg = config::load(&yaml, Source::Embedded, env.clone()).expect("config");
    cfg.deployments.into_iter().next().expect("one deployment")
}

fn url(s: &str) -> Url {
    Url::parse(s).expect("url")
}

/// (case, provider model, extra litellm_params lines, env, target URL, expected description)
#[test]
#[allow(clippy::type_complexity)]
fn resolution_order() {
    let p = "      ";
    let cases: Vec<(&str, &str, String, Vec<(&str, &str)>, &str, &str)> = vec![
        (
            "nothing set",
            "azure/gpt",
            String::new(),
            vec![],
            "https://r.openai.azure.com/",
            "direct (no proxy configured)",
        ),
        (
            "param beats provider var",
            "azure/gpt",
            format!("{p}http_proxy: http://param:1\n"),
            vec![("AZURE_PROXY", "http://azure:2"), ("HTTPS_PROXY", "http://std:3")],
            "https://r.openai.azure.com/",
            "via proxy http://param:1 (from litellm_params.http_proxy of the model)",
        ),
        (
            "https_proxy param beats http_proxy param",
            "azure/gpt",
            format!("{p}http_proxy: http://a:1\n{p}https_proxy: http://b:2\n"),
            vec![],
            "https://r.openai.azure.com/",
            "via proxy http://b:2 (from litellm_params.https_proxy of the model)",
        ),
        (
            "param from os.environ",
            "azure/gpt",
            format!("{p}http_proxy: os.environ/AZURE_PROXY\n"),
            vec![("AZURE_PROXY", "http://azure:2")],
            "https://r.openai.azure.com/",
            "via proxy http://azure:2 (from litellm_params.http_proxy of the model)",
        ),
        (
            "param naming an unset variable falls through",
            "azure/gpt",
            format!("{p}http_proxy: os.environ/AZURE_PROXY\n"),
            vec![("HTTPS_PROXY", "http://std:3")],
            "https://r.openai.azure.com/",
            "via proxy http://std:3 (from HTTPS_PROXY)",
        ),
        (
            "azure var beats standard",
            "azure/gpt",
            String::new(),
            vec![("AZURE_PROXY", "http://azure:2"), ("HTTPS_PROXY", "http://std:3")],
            "https://r.openai.azure.com/",
            "via proxy http://azure:2 (from AZURE_PROXY)",
        ),
        (
            "azure ignores other providers' vars",
            "azure/gpt",
            String::new(),
            vec![("GEMINI_PROXY", "http://g:2"), ("QWEN_PROXY", "http://q:2")],
            "https://r.openai.azure.com/",
            "direct (no proxy configured)",
        ),
        (
            "vertex: GEMINI_PROXY first",
            "vertex_ai/gemini",
            String::new(),
            vec![("VERTEX_PROXY", "http://v:1"), ("GEMINI_PROXY", "http://g:2")],
            "https://us-central1-aiplatform.googleapis.com/",
            "via proxy http://g:2 (from GEMINI_PROXY)",
        ),
        (
            "vertex: VERTEX_PROXY second",
            "vertex_ai/gemini",
            String::new(),
            vec![("VERTEX_PROXY", "http://v:1"), ("HTTPS_PROXY", "http://std:3")],
            "https://oauth2.googleapis.com/token",
            "via proxy http://v:1 (from VERTEX_PROXY)",
        ),
        (
            "dashscope: QWEN_PROXY",
            "dashscope/qwen-max",
            String::new(),
            vec![("QWEN_PROXY", "socks5://q:1080"), ("DASHSCOPE_PROXY", "http://d:1")],
            "https://dashscope.aliyuncs.com/",
            "via proxy socks5://q:1080 (from QWEN_PROXY)",
        ),
        (
            "dashscope: DASHSCOPE_PROXY",
            "dashscope/qwen-max",
            String::new(),
            vec![("DASHSCOPE_PROXY", "http://d:1")],
            "https://dashscope.aliyuncs.com/",
            "via proxy http://d:1 (from DASHSCOPE_PROXY)",
        ),
        (
            "deepseek: DEEPSEEK_PROXY",
            "deepseek/deepseek-chat",
            String::new(),
            vec![("DEEPSEEK_PROXY", "http://ds:1"), ("HTTPS_PROXY", "http://std:3")],
            "https://api.deepseek.com/beta",
            "via proxy http://ds:1 (from DEEPSEEK_PROXY)",
        ),
        (
            "together_ai: TOGETHER_AI_PROXY, not other providers' variables",
            "together_ai/meta-llama/Llama-3-8b",
            String::new(),
            vec![("TOGETHER_AI_PROXY", "http://t:1"), ("GROQ_PROXY", "http://g:1")],
            "https://api.together.xyz/v1",
            "via proxy http://t:1 (from TOGETHER_AI_PROXY)",
        ),
        (
            "ollama_chat: OLLAMA_PROXY after OLLAMA_CHAT_PROXY",
            "ollama_chat/llama3",
            String::new(),
            vec![("OLLAMA_PROXY", "http://o:1")],
            "http://gpu-box:11434/v1",
            "via proxy http://o:1 (from OLLAMA_PROXY)",
        ),
        (
            "openai: OPENAI_PROXY",
            "openai/gpt",
            String::new(),
            vec![("OPENAI_PROXY", "http://oa:1"), ("HTTPS_PROXY", "http://std:3")],
            "https://api.openai.com/",
            "via proxy http://oa:1 (from OPENAI_PROXY)",
        ),
        (
            "standard: HTTPS_PROXY for https targets",
            "openai/gpt",
            String::new(),
            vec![("HTTPS_PROXY", "http://s:1"), ("HTTP_PROXY", "http://h:1")],
            "https://api.openai.com/",
            "via proxy http://s:1 (from HTTPS_PROXY)",
        ),
        (
            "standard: lower case",
            "openai/gpt",
            String::new(),
            vec![("https_proxy", "http://s:1")],
            "https://api.openai.com/",
            "via proxy http://s:1 (from https_proxy)",
        ),
        (
            "standard: HTTP_PROXY does not cover https targets",
            "openai/gpt",
            String::new(),
            vec![("HTTP_PROXY", "http://h:1")],
            "https://api.openai.com/",
            "direct (no proxy configured)",
        ),
        (
            "standard: HTTP_PROXY for http targets",
            "openai/gpt",
            String::new(),
            vec![("HTTP_PROXY", "http://h:1"), ("HTTPS_PROXY", "http://s:1")],
            "http://vllm.internal:8000/v1",
            "via proxy http://h:1 (from HTTP_PROXY)",
        ),
        (
            "standard: ALL_PROXY after the scheme's variable",
            "openai/gpt",
            String::new(),
            vec![("ALL_PROXY", "socks5h://a:1")],
            "https://api.openai.com/",
            "via proxy socks5h://a:1 (from ALL_PROXY)",
        ),
        (
            "NO_PROXY applies to a provider proxy",
            "dashscope/qwen-max",
            String::new(),
            vec![("QWEN_PROXY", "http://q:1"), ("NO_PROXY", "localhost,127.0.0.1,0.0.0.0")],
            "http://127.0.0.1:9999/compatible-mode/v1",
            "direct (NO_PROXY entry `127.0.0.1` matches)",
        ),
        (
            "no_proxy (lower case) too",
            "azure/gpt",
            String::new(),
            vec![("AZURE_PROXY", "http://a:1"), ("no_proxy", ".azure.com")],
            "https://r.openai.azure.com/",
            "direct (NO_PROXY entry `.azure.com` matches)",
        ),
        (
            "NO_PROXY applies to a deployment param proxy",
            "azure/gpt",
            format!("{p}http_proxy: http://param:1\n"),
            vec![("NO_PROXY", "*")],
            "https://r.openai.azure.com/",
            "direct (NO_PROXY entry `*` matches)",
        ),
        (
            "without NO_PROXY, loopback goes through the proxy",
            "dashscope/qwen-max",
            String::new(),
            vec![("QWEN_PROXY", "http://q:1")],
            "http://127.0.0.1:9999/compatible-mode/v1",
            "via proxy http://q:1 (from QWEN_PROXY)",
        ),
        (
            "per-deployment no_proxy list",
            "azure/gpt",
            format!("{p}no_proxy: [\"login.microsoftonline.com\"]\n"),
            vec![("AZURE_PROXY", "http://a:1"), ("NO_PROXY", "localhost")],
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            "direct (NO_PROXY entry `login.microsoftonline.com` matches)",
        ),
        (
            "per-deployment no_proxy string, other hosts still proxied",
            "azure/gpt",
            format!("{p}no_proxy: login.microsoftonline.com\n"),
            vec![("AZURE_PROXY", "http://a:1")],
            "https://r.openai.azure.com/",
            "via proxy http://a:1 (from AZURE_PROXY)",
        ),
        (
            "credentials are never shown",
            "azure/gpt",
            String::new(),
            vec![("AZURE_PROXY", "http://bob:s3cret@a:1")],
            "https://r.openai.azure.com/",
            "via proxy http://bob:***@a:1 (from AZURE_PROXY)",
        ),
    ];
    for (name, model, extra, vars, target, want) in cases {
        let env = Env::from_vars(vars);
        let d = dep(model, &extra, &env);
        assert!(d.is_available(), "{name}: {:?}", d.unavailable);
        let plan = resolve(&d, &env, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plan.decide(&url(target)).describe(), want, "case: {name}");
    }
}

#[test]
fn system_settings_come_last() {
    let sys = SystemProxy {
        http: Some("sys-http:8080".into()),
        https: Some("sys-https:8443".into()),
        socks: None,
        exceptions: vec!["*.local".into(), "intranet.corp".into()],
        ..SystemProxy::default()
    };
    let env = Env::from_vars([("NO_PROXY", "localhost")]);
    let d = dep("azure/gpt", "", &env);
    let plan = resolve(&d, &env, Some(&sys)).expect("plan");
    assert_eq!(
        plan.decide(&url("https://r.openai.azure.com/")).describe(),
        "via proxy http://sys-https:8443 (from macOS system proxy settings)"
    );
    assert_eq!(
        plan.decide(&url("http://plain.example/")).describe(),
        "via proxy http://sys-http:8080 (from macOS system proxy settings)"
    );
    assert_eq!(
        plan.decide(&url("https://wiki.intranet.corp/")).describe(),
        "direct (NO_PROXY entry `intranet.corp` matches)"
    );
    assert_eq!(plan.no_proxy_sources, vec!["NO_PROXY", "macOS proxy exceptions"]);

    // Any variable wins over the system settings, and then the exceptions do not apply.
    let env = Env::from_vars([("AZURE_PROXY", "http://azure:1")]);
    let plan = resolve(&d, &env, Some(&sys)).expect("plan");
    assert_eq!(
        plan.decide(&url("https://wiki.intranet.corp/")).describe(),
        "via proxy http://azure:1 (from AZURE_PROXY)"
    );

    // A SOCKS-only system setting covers both schemes.
    let socks = SystemProxy { socks: Some("127.0.0.1:1080".into()), ..SystemProxy::default() };
    let plan = resolve(&d, &Env::default(), Some(&socks)).expect("plan");
    assert_eq!(
        plan.decide(&url("https://r.openai.azure.com/")).describe(),
        "via proxy socks5://127.0.0.1:1080 (from macOS system proxy settings)"
    );
}

#[test]
fn proxy_password_from_a_variable_or_the_store() {
    let env =
        Env::from_vars([("AZURE_PROXY", "http://bob@a:1"), ("AZURE_PROXY_PASSWORD", "p@ss word")]);
    let d = dep("azure/gpt", "", &env);
    let plan = resolve(&d, &env, None).expect("plan");
    let chosen = plan.https.expect("proxy");
    assert_eq!(chosen.url.expose().password(), Some("p%40ss%20word"));
    assert_eq!(chosen.url.to_string(), "http://bob:***@a:1");

    let env = Env::from_vars([("HTTPS_PROXY", "http://bob@a:1"), ("PROXY_PASSWORD", "pw")]);
    let d = dep("openai/x", "", &env);
    let plan = resolve(&d, &env, None).expect("plan");
    assert_eq!(plan.https.expect("proxy").url.expose().password(), Some("pw"));
}

#[test]
fn bad_proxy_urls_are_errors_without_the_password() {
    for (value, want) in [
        ("ftp://p:21", "scheme `ftp` is not supported"),
        ("corp-proxy:3128", "no scheme: write it as http://host:port"),
        ("http://bob:hunter2@", "hunter2"),
        ("http://", ""),
    ] {
        let env = Env::from_vars([("AZURE_PROXY", value)]);
        let d = dep("azure/gpt", "", &env);
        let e = resolve(&d, &env, None).expect_err(value).to_string();
        if want == "hunter2" {
            assert!(!e.contains("hunter2"), "{e}");
        } else {
            assert!(e.contains(want), "{e}");
        }
    }
}

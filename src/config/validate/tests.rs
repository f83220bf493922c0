//! Every validate check, with the exact message and fix users see.

use std::path::Path;

use super::*;
use crate::config::{Env, Source, load};

fn cfg(yaml: &str, vars: &[(&str, &str)]) -> Config {
    load(yaml, Source::File("/cfg/config.yaml".into()), Env::from_vars(vars.iter().copied()))
        .expect("config loads")
}

fn failures(c: &Config) -> Vec<String> {
    check_config(c, None).iter().filter(|c| !c.ok).map(Check::render).collect()
}

const KEY: &[(&str, &str)] = &[("LITELLM_MASTER_KEY", "sk-long-random-key")];

#[test]
fn yaml_errors_carry_the_line_and_the_fix() {
    let r = load(
        "model_list:\n  - model_name: a\n    litellm_params: [\n",
        Source::File("/cfg/config.yaml".into()),
        Env::default(),
    );
    let c = load_check(&r);
    assert!(!c.ok && c.fatal_at_start);
    assert!(
        c.message.starts_with("/cfg/config.yaml:3:21 (at `model_list[0].litellm_params`)"),
        "{}",
        c.message
    );
    assert!(c.fix.as_deref().is_some_and(|f| f.starts_with("correct the YAML at line 3")), "{c:?}");

    let r = load(
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: x\n      rpm: many\n",
        Source::File("/cfg/config.yaml".into()),
        Env::default(),
    );
    let c = load_check(&r);
    assert!(c.message.contains("model_list[0].litellm_params.rpm"), "{}", c.message);

    let ok = load_check(&Ok(cfg("model_list: []", &[])));
    assert_eq!(ok.render(), "✓ config /cfg/config.yaml parses (0 models)");
}

#[test]
fn placeholders_from_the_template_are_recognised() {
    for v in [
        "sk-1234",
        "您的DashScope_API_KEY",
        "https://您的资源名.openai.azure.com/",
        "<your-resource>",
        "your-project-id",
        "https://your-resource.openai.azure.com",
    ] {
        assert!(placeholder(v).is_some(), "{v}");
    }
    for v in ["sk-4f9a", "https://team.openai.azure.com/", "my-project-42", "a < b"] {
        assert_eq!(placeholder(v), None, "{v}");
    }
}

#[test]
fn placeholder_in_config_is_fatal_with_its_location() {
    let c = cfg(
        "model_list:\n  - model_name: gpt-4\n    litellm_params:\n      model: azure/您的部署名\n      api_base: https://您的资源名.openai.azure.com/\n      api_key: your-api-key\n",
        KEY,
    );
    let f = failures(&c);
    assert!(f.contains(&"✗ model `gpt-4`: model is a `您的…` template placeholder (您的部署名)\n    fix: replace it in model_list[0].litellm_params.model with your real value (ai-proxy setup asks for it)".to_owned()), "{f:#?}");
    assert!(f.contains(&"✗ model `gpt-4`: api_base is a `您的…` template placeholder (https://您的资源名.openai.azure.com/)\n    fix: replace it in model_list[0].litellm_params.api_base with your real value (ai-proxy setup asks for it)".to_owned()), "{f:#?}");
    assert!(f.contains(&"✗ model `gpt-4`: api_key is a `your-…` template placeholder\n    fix: store the real key with ai-proxy secrets set NAME and refer to it as os.environ/NAME".to_owned()), "{f:#?}");
    let err = startup_checks(&c).expect_err("refuses to start");
    assert!(err.to_string().starts_with("the configuration has 3 error(s)"), "{err}");
}

#[test]
fn template_master_key_and_missing_key() {
    let c = cfg("model_list: []", &[("LITELLM_MASTER_KEY", "sk-1234")]);
    assert_eq!(
        failures(&c),
        [
            "✗ the master key is the template value sk-1234, which everyone knows\n    fix: store a random key: ai-proxy secrets set LITELLM_MASTER_KEY (or re-run ai-proxy setup)"
        ]
    );
    assert!(
        startup_checks(&c).is_ok(),
        "a template key on loopback is a warning at start, as before"
    );
    let c = cfg("model_list: []", &[]);
    assert_eq!(
        failures(&c),
        [
            "✗ no master key: any program on this machine can call the gateway\n    fix: ai-proxy secrets set LITELLM_MASTER_KEY (or re-run ai-proxy setup, which generates one)"
        ]
    );
    let c = cfg("model_list: []", KEY);
    assert_eq!(check_config(&c, None)[0].render(), "✓ master key set (from env)");
}

#[test]
fn dotenv_placeholders_are_reported_but_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(".env");
    std::fs::write(
        &path,
        "AZURE_CLIENT_SECRET=您的客户端密钥\nLITELLM_MASTER_KEY=sk-long-random-key\n",
    )
    .expect("write");
    let mut env = Env::default();
    env.load_dotenv(&path).expect("load");
    let c = load("model_list: []", Source::Embedded, env).expect("load");
    let f = failures(&c);
    assert_eq!(
        f,
        [format!(
            "✗ AZURE_CLIENT_SECRET in {p} is a `您的…` template placeholder\n    fix: set the real value: ai-proxy secrets set AZURE_CLIENT_SECRET (secrets) or edit {p}; remove the line if you do not use it",
            p = path.display()
        )]
    );
    assert!(startup_checks(&c).is_ok());
}

#[test]
fn unresolved_references_name_the_variable_and_the_command() {
    let c = cfg(
        "model_list:\n  - model_name: qwen-max\n    litellm_params:\n      model: dashscope/qwen-max\n      api_key: os.environ/DASHSCOPE_API_KEY\n",
        KEY,
    );
    assert_eq!(
        failures(&c),
        [
            "✗ model `qwen-max`: os.environ/DASHSCOPE_API_KEY not set (set it in the environment, the .env file or the secret store)\n    fix: ai-proxy secrets set DASHSCOPE_API_KEY (or add DASHSCOPE_API_KEY=... to .env if it is not a secret)"
        ]
    );
    assert!(startup_checks(&c).is_ok(), "a missing variable only makes the model unavailable");
}

/// A secret store whose keyring is locked: every read fails.
struct LockedStore;

impl crate::secrets::SecretStore for LockedStore {
    fn get(
        &self,
        name: &str,
    ) -> Result<Option<crate::secrets::Secret<String>>, crate::secrets::StoreError> {
        Err(crate::secrets::StoreError::Failed {
            store: "secret-service",
            action: "read",
            name: name.to_owned(),
            reason: "the keyring is locked".into(),
        })
    }
    fn set(
        &self,
        _: &str,
        _: &crate::secrets::Secret<String>,
    ) -> Result<(), crate::secrets::StoreError> {
        unreachable!("validate never writes")
    }
    fn delete(&self, _: &str) -> Result<bool, crate::secrets::StoreError> {
        unreachable!("validate never deletes")
    }
    fn label(&self) -> &'static str {
        "secret-service"
    }
}

#[test]
fn a_store_that_cannot_be_read_is_named_and_a_master_key_it_holds_stops_serve() {
    let mut env = Env::default();
    env.set_store(std::sync::Arc::new(crate::secrets::StoreLookup::new(std::sync::Arc::new(
        LockedStore,
    ))));
    let yaml = "model_list:\n  - model_name: qwen-max\n    litellm_params:\n      model: dashscope/qwen-max\n      api_key: os.environ/DASHSCOPE_API_KEY\n";
    let c = load(yaml, Source::File("/cfg/config.yaml".into()), env).expect("config loads");
    assert_eq!(c.master_key, None);
    assert_eq!(
        c.master_key_unreadable.as_deref(),
        Some("secret-service: cannot read LITELLM_MASTER_KEY: the keyring is locked")
    );
    let f = failures(&c);
    assert_eq!(
        f,
        [
            "✗ the master key could not be read from the secret store: secret-service: cannot read LITELLM_MASTER_KEY: the keyring is locked\n    fix: make the store readable (unlock the keyring) and start again; the gateway does not run without the key you set",
            "✗ model `qwen-max`: os.environ/DASHSCOPE_API_KEY not set (set it in the environment, the .env file or the secret store); secret-service: cannot read DASHSCOPE_API_KEY: the keyring is locked\n    fix: ai-proxy secrets set DASHSCOPE_API_KEY (or add DASHSCOPE_API_KEY=... to .env if it is not a secret)",
        ]
    );
    let err = startup_checks(&c).expect_err("no start without the key the user stored");
    assert!(err.to_string().contains("the master key could not be read"), "{err}");

    // The same store failure is no reason to stop when the key comes from elsewhere.
    let mut env = Env::from_vars(KEY.iter().copied());
    env.set_store(std::sync::Arc::new(crate::secrets::StoreLookup::new(std::sync::Arc::new(
        LockedStore,
    ))));
    let c = load(yaml, Source::File("/cfg/config.yaml".into()), env).expect("config loads");
    assert_eq!(c.master_key_unreadable, None);
    assert!(startup_checks(&c).is_ok());
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

#[test]
fn credential_files_missing_unreadable_or_of_the_wrong_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sa = write(
        dir.path(),
        "sa.json",
        r#"{"type": "service_account", "client_email": "a@b", "private_key": "k"}"#,
    );
    let adc = write(dir.path(), "adc.json", r#"{"type": "authorized_user", "refresh_token": "r"}"#);
    let ext = write(dir.path(), "ext.json", r#"{"type": "external_account"}"#);
    let bad = write(dir.path(), "bad.json", "not json");
    let missing = dir.path().join("missing.json").display().to_string();

    assert_eq!(credential_file("f", Path::new(&sa)).render(), "✓ f is a service-account key");
    assert_eq!(
        credential_file("f", Path::new(&adc)).render(),
        "✓ f is a gcloud user credential (ADC)"
    );
    assert_eq!(
        credential_file("f", Path::new(&ext)).render(),
        "✗ f has type `external_account`, expected service_account or authorized_user\n    fix: use a service-account JSON key or the file `gcloud auth application-default login` writes"
    );
    assert_eq!(
        credential_file("f", Path::new(&bad)).render(),
        "✗ f is not JSON (expected ident at line 1 column 2)\n    fix: download the key again (IAM → Service accounts → Keys → JSON)"
    );
    assert_eq!(
        credential_file("f", Path::new(&missing)).render(),
        "✗ f does not exist\n    fix: point it at your service-account JSON, or unset it and run `gcloud auth application-default login`"
    );
    let dir_as_file = credential_file("f", dir.path());
    assert!(dir_as_file.message.starts_with("f cannot be read: "), "{}", dir_as_file.message);

    let c = cfg(
        &format!(
            "model_list:\n  - model_name: g\n    litellm_params:\n      model: vertex_ai/gemini-2.5-pro\n      vertex_project: p\n      vertex_location: global\n      vertex_credentials: {missing}\n"
        ),
        KEY,
    );
    let f = failures(&c);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].starts_with(&format!("✗ model `g`: vertex_credentials {missing} does not exist")),
        "{f:#?}"
    );
    assert!(startup_checks(&c).is_err(), "a named credential file that is missing stops serve");
}

/// `SSL_CERT_FILE` naming the system bundle (common in corporate shells): its blocks are
/// counted, not decoded (start-up), and the check says what the file is.
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
#[test]
fn the_system_bundle_as_ca_file_is_counted_and_named() {
    let (bundle, certs) = crate::egress::tls::system_roots()
        .expect("this machine has a CA bundle (Debian: ca-certificates)");
    assert_eq!(
        ca_file(&bundle).render(),
        format!(
            "✓ CA file {} is the system CA bundle ({} certificates)",
            bundle.display(),
            certs.len()
        )
    );
}

#[test]
fn ca_file_must_be_pem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["corp".into()]).expect("cert");
    let pem = write(dir.path(), "ca.pem", &cert.cert.pem());
    let der = dir.path().join("ca.der");
    std::fs::write(&der, cert.cert.der()).expect("write");
    assert_eq!(
        ca_file(Path::new(&pem)).render(),
        format!("✓ CA file {pem} has 1 PEM certificate(s)")
    );
    assert_eq!(
        ca_file(&der).render(),
        format!(
            "✗ CA file {} is not PEM: no certificate in it\n    fix: export the corporate root CA as PEM (text starting with -----BEGIN CERTIFICATE-----), e.g. `openssl x509 -inform der -in ca.cer -out ca.pem`",
            der.display()
        )
    );
    let c =
        cfg(&format!("model_list: []\nlitellm_settings:\n  ssl_verify: {}\n", der.display()), KEY);
    let err = startup_checks(&c).expect_err("not PEM stops serve");
    assert!(err.to_string().contains(&format!("✗ CA file {} is not PEM", der.display())), "{err}");
}

#[test]
fn proxy_urls_must_parse_and_never_show_the_password() {
    assert_eq!(
        proxy_url("AZURE_PROXY", "http://bob:hunter2@proxy.corp:8080").render(),
        "✓ AZURE_PROXY: proxy http://bob:***@proxy.corp:8080/"
    );
    assert_eq!(
        proxy_url("AZURE_PROXY", "proxy.corp:8080").render(),
        "✗ AZURE_PROXY: proxy URL scheme `proxy.corp` is not supported\n    fix: write it as http://host:port (or http://user:<password>@host:port, socks5://host:port)"
    );
    assert_eq!(
        proxy_url("QWEN_PROXY", "http://").render(),
        "✗ QWEN_PROXY: proxy URL does not parse (empty host)\n    fix: write it as http://host:port (or http://user:<password>@host:port, socks5://host:port)"
    );
    let c = cfg(
        "model_list: []",
        &[("LITELLM_MASTER_KEY", "sk-long-random-key"), ("GEMINI_PROXY", "http//proxy:8080")],
    );
    let err = startup_checks(&c).expect_err("a broken proxy URL stops serve");
    assert!(
        err.to_string()
            .contains("✗ GEMINI_PROXY: proxy URL does not parse (relative URL without a base)"),
        "{err}"
    );
}

#[test]
fn azure_endpoints_must_look_like_a_resource() {
    assert_eq!(
        azure_base("model `a`", "https://team.openai.azure.com/").render(),
        "✓ model `a`: Azure endpoint https://team.openai.azure.com"
    );
    assert!(azure_base("m", "https://team.cognitiveservices.azure.com").ok);
    assert!(azure_base("m", "http://127.0.0.1:8080").ok, "a local relay or mock");
    assert_eq!(
        azure_base("model `a`", "https://api.openai.com/v1").render(),
        "✗ model `a`: api_base `https://api.openai.com/v1` does not look like an Azure OpenAI resource (https://<resource>.openai.azure.com)\n    fix: use your resource's endpoint from the Azure portal (Keys and Endpoint): https://<resource>.openai.azure.com/"
    );
    assert!(!azure_base("m", "http://team.openai.azure.com").ok, "plain http to Azure");
    let c = cfg(
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: azure/d\n      api_base: https://example.com\n      api_key: k\n",
        KEY,
    );
    assert_eq!(failures(&c).len(), 1);
    assert!(
        startup_checks(&c).is_ok(),
        "an unusual endpoint is a warning at start (private gateways exist)"
    );
}

#[test]
fn port_in_use_is_reported_with_the_fix() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    assert_eq!(
        port_check("127.0.0.1", port).render(),
        format!(
            "✗ port {port} on 127.0.0.1 is already in use (another ai-proxy or LiteLLM?)\n    fix: stop that program, or choose another port with --port, LITELLM_PORT or AI_PROXY_PORT"
        )
    );
    drop(l);
    assert!(port_check("127.0.0.1", port).ok);
}

#[test]
fn json_shape_has_kind_ok_message_fix() {
    let c = Check::fail(Kind::Port, "m", "f");
    assert_eq!(
        serde_json::to_value(&c).expect("json"),
        serde_json::json!({"kind": "port", "ok": false, "message": "m", "fix": "f"})
    );
}

#[test]
fn budgets_need_a_price_and_the_request_log_to_be_kept() {
    let model = |extra: &str, info: &str| {
        format!(
            "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/own-model\n      api_key: k\n      max_budget: 5\n      budget_duration: 1d\n{extra}{info}"
        )
    };
    let priced = "    model_info:\n      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n";
    let budget_checks = |c: &Config| -> Vec<Check> {
        check_config(c, None).into_iter().filter(|c| c.kind == Kind::Budget).collect()
    };

    let ok = budget_checks(&cfg(&model("", priced), &[]));
    assert_eq!(ok.len(), 1);
    assert!(ok[0].ok, "{:?}", ok[0]);
    assert_eq!(ok[0].message, "model `m` (openai/own-model): budget $5.00 per 1d");

    // A model nobody knows the price of: the budget would never fill.
    let unpriced = budget_checks(&cfg(&model("", ""), &[]));
    assert!(!unpriced[0].ok && !unpriced[0].fatal_at_start);
    assert!(unpriced[0].message.contains("price is unknown"), "{:?}", unpriced[0]);
    assert!(unpriced[0].fix.as_deref().is_some_and(|f| f.contains("input_cost_per_token")));

    // No request log: counted from zero at each start.
    let off =
        cfg(&format!("{}general_settings:\n  disable_spend_logs: true\n", model("", priced)), &[]);
    let off = budget_checks(&off);
    assert!(!off[0].ok && off[0].message.contains("request log is off"), "{:?}", off[0]);
}

//! Tests of the setup model: rendering, reading an existing setup back, model lists.

use super::*;
use crate::config::{Source, load};

fn full() -> Answers {
    Answers {
        azure: Some(Azure {
            endpoint: "https://team.openai.azure.com/".into(),
            api_version: None,
            deployments: parse_models("gpt-4.1=gpt41-prod, gpt-5-mini").expect("models"),
            auth: AzureAuth::ServicePrincipal,
            tenant_id: Some("tenant-1".into()),
            client_id: Some("client-1".into()),
            client_secret: Some("client-secret-value".into()),
            api_key: None,
            proxy: Some("http://bob:proxy-password@proxy.corp:8080".into()),
        }),
        vertex: Some(Vertex {
            project: "proj-1".into(),
            location: "global".into(),
            models: default_vertex_models(),
            claude_models: default_vertex_claude_models(),
            credentials: Some("/keys/sa.json".into()),
            proxy: Some("http://proxy.corp:3128".into()),
        }),
        dashscope: Some(DashScope {
            api_key: Some("sk-dashscope-value".into()),
            region: "international".into(),
            models: default_dashscope_models(),
            proxy: None,
        }),
        gemini_api: Some(GeminiApi {
            api_key: Some("gemini-key-value".into()),
            models: default_gemini_api_models(),
            proxy: None,
        }),
        no_proxy: Some("localhost,127.0.0.1".into()),
        ca_file: Some("/etc/corp-ca.pem".into()),
        port: Some(4100),
        master_key: None,
    }
}

#[test]
fn rendered_files_hold_no_secret_and_load_as_litellm_config() {
    let r = render(&full(), Some(Secret::from("sk-master-value")));
    for secret in [
        "client-secret-value",
        "proxy-password",
        "sk-dashscope-value",
        "sk-master-value",
        "gemini-key-value",
    ] {
        assert!(!r.config_yaml.contains(secret), "{secret} in config.yaml");
        assert!(!r.dotenv.contains(secret), "{secret} in .env");
    }
    let names: Vec<&str> = r.secrets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "AZURE_PROXY",
            "AZURE_CLIENT_SECRET",
            "DASHSCOPE_API_KEY",
            "GEMINI_API_KEY",
            "LITELLM_MASTER_KEY"
        ]
    );
    assert!(
        r.dotenv.contains("GEMINI_PROXY=http://proxy.corp:3128\n"),
        "a proxy without password stays in .env"
    );
    assert!(
        r.dotenv.contains("LITELLM_PORT=4100\n")
            && r.dotenv.contains("NO_PROXY=localhost,127.0.0.1\n")
    );

    let mut vars: Vec<(String, String)> = Vec::new();
    for line in r.dotenv.lines().filter(|l| !l.starts_with('#')) {
        let (k, v) = line.split_once('=').expect("k=v");
        vars.push((k.into(), v.into()));
    }
    vars.extend(r.secrets.iter().map(|(k, v)| (k.clone(), v.expose().clone())));
    let c = load(&r.config_yaml, Source::Embedded, Env::from_vars(vars)).expect("loads");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let aliases = c.aliases();
    assert_eq!(
        aliases,
        [
            "mock",
            "gpt-4.1",
            "gpt-5-mini",
            "gemini-3-flash",
            "gemini-3-pro",
            "claude-sonnet-4-5",
            "qwen-max",
            "qwen-plus",
            "gemini-flash",
            "gemini-pro"
        ]
    );
    assert_eq!(c.available_count(), 10);
    assert_eq!(c.deployments[5].provider, crate::config::ProviderKind::VertexClaude);
    assert_eq!(c.deployments[8].provider, crate::config::ProviderKind::Gemini);
    assert_eq!(c.deployments[1].model, "gpt41-prod");
    assert_eq!(c.deployments[6].api_base.as_deref(), Some(DASHSCOPE_INTL));
    assert_eq!(c.master_key.as_ref().map(|k| k.expose().as_str()), Some("sk-master-value"));
}

#[test]
fn an_existing_setup_comes_back_as_the_defaults() {
    let a = full();
    let r = render(&a, None);
    let mut vars: Vec<(String, String)> = r
        .dotenv
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    vars.extend(r.secrets.iter().map(|(k, v)| (k.clone(), v.expose().clone())));
    let back = Answers::from_existing(&r.config_yaml, &Env::from_vars(vars));
    let mut want = a;
    // Secrets are never read back: the wizard keeps the stored ones.
    if let Some(az) = want.azure.as_mut() {
        az.client_secret = None;
        az.api_version = Some(DEFAULT_AZURE_API_VERSION.into());
    }
    if let Some(d) = want.dashscope.as_mut() {
        d.api_key = None;
    }
    if let Some(g) = want.gemini_api.as_mut() {
        g.api_key = None;
    }
    assert_eq!(back, want);
}

#[test]
fn model_lists() {
    assert_eq!(
        parse_models("a=b, c").expect("ok"),
        [
            Model { alias: "a".into(), model: "b".into() },
            Model { alias: "c".into(), model: "c".into() }
        ]
    );
    assert_eq!(format_models(&parse_models("a=b,c").expect("ok")), "a=b, c");
    assert!(parse_models(" , ").is_err());
    assert!(parse_models("a b=c").is_err());
}

#[test]
fn master_keys_are_random_and_never_the_template() {
    let a = generate_master_key().expect("key");
    let b = generate_master_key().expect("key");
    assert_ne!(a, b);
    assert_eq!(a.expose().len(), 67);
    assert!(a.expose().starts_with("sk-") && a.expose() != "sk-1234");
}

#[test]
fn answers_file_shape() {
    let a: Answers = serde_yaml_ng::from_str(
        "dashscope:\n  api_key: sk-x\n  region: international\n  models: [{alias: qwen-max, model: qwen-max}]\nport: 4001\n",
    )
    .expect("parses");
    assert_eq!(a.dashscope.as_ref().map(DashScope::api_base), Some(DASHSCOPE_INTL));
    let e = serde_yaml_ng::from_str::<Answers>("prot: 1\n").expect_err("unknown key");
    assert!(e.to_string().contains("unknown field `prot`"), "{e}");
}

#[test]
fn a_rerun_keeps_what_the_user_added_to_dotenv_and_moves_added_secrets_to_the_store() {
    let mut r = render(&full(), None);
    let previous = "LITELLM_PORT=4000\nMY_TOOL_URL=http://tool.local\nGITHUB_TOKEN=ghp_secret_value\nAZURE_CLIENT_ID=old\n";
    let kept = carry_over(previous, &mut r);
    assert_eq!(kept, ["MY_TOOL_URL", "GITHUB_TOKEN"]);
    assert!(
        r.dotenv.ends_with("# kept from the previous .env\nMY_TOOL_URL=http://tool.local\n"),
        "{}",
        r.dotenv
    );
    assert!(!r.dotenv.contains("ghp_secret_value") && !r.dotenv.contains("AZURE_CLIENT_ID=old"));
    assert!(r.secrets.iter().any(|(k, v)| k == "GITHUB_TOKEN" && v.expose() == "ghp_secret_value"));
}

//! Unit tests of the Azure provider's pure parts: URLs and credential choice.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::*;
use crate::config::{BodyLimits, Params, ProviderKind, SslVerify};

#[test]
fn classic_urls_from_any_base_form() {
    for base in [
        "https://res.openai.azure.com",
        "https://res.openai.azure.com/",
        "https://res.openai.azure.com/openai",
        "https://res.openai.azure.com/openai/",
    ] {
        let e = endpoints(base, "gpt-5", "2025-04-01-preview").expect("urls");
        assert_eq!(e.resource, "https://res.openai.azure.com", "{base}");
        assert_eq!(
            e.chat,
            "https://res.openai.azure.com/openai/deployments/gpt-5/chat/completions?api-version=2025-04-01-preview"
        );
        assert_eq!(
            e.embeddings,
            "https://res.openai.azure.com/openai/deployments/gpt-5/embeddings?api-version=2025-04-01-preview"
        );
    }
    let e = endpoints("https://apim.example.com/aoai/", "my dep", "2024-10-21").expect("urls");
    assert_eq!(
        e.chat,
        "https://apim.example.com/aoai/openai/deployments/my%20dep/chat/completions?api-version=2024-10-21"
    );
}

#[test]
fn v1_urls_carry_no_dated_version() {
    let e =
        endpoints("https://res.openai.azure.com/openai/v1/", "gpt-5", "2024-10-21").expect("urls");
    assert_eq!(e.chat, "https://res.openai.azure.com/openai/v1/chat/completions");
    assert_eq!(e.embeddings, "https://res.openai.azure.com/openai/v1/embeddings");
    let e = endpoints("https://res.openai.azure.com", "gpt-5", "v1").expect("urls");
    assert_eq!(e.chat, "https://res.openai.azure.com/openai/v1/chat/completions");
    let e = endpoints("https://res.openai.azure.com", "gpt-5", "preview").expect("urls");
    assert_eq!(
        e.chat,
        "https://res.openai.azure.com/openai/v1/chat/completions?api-version=preview"
    );
    assert!(endpoints("res.openai.azure.com", "d", "v1").is_err());
}

fn dep(params: Value, api_key: Option<&str>) -> Deployment {
    let Value::Object(params) = params else { panic!("object") };
    Deployment {
        index: 0,
        alias: "gpt-5".into(),
        provider: ProviderKind::Azure,
        model: "gpt-5".into(),
        api_base: Some("https://res.openai.azure.com".into()),
        api_key: api_key.map(Secret::from),
        api_version: None,
        rpm: None,
        tpm: None,
        weight: None,
        order: None,
        max_parallel_requests: None,
        cooldown_time: None,
        budget: None,
        timeout: Duration::from_secs(600),
        stream_timeout: None,
        max_retries: None,
        drop_params: false,
        additional_drop_params: Vec::new(),
        ssl_verify: SslVerify::System,
        mock_response: None,
        request_defaults: Map::new(),
        extra_headers: Vec::new(),
        body_limits: BodyLimits::default(),
        params: Params(params),
        model_info: Map::new(),
        unavailable: None,
    }
}

fn kind(c: &Result<Credential, String>) -> String {
    match c {
        Ok(Credential::ApiKey(k)) => format!("key:{}", k.expose()),
        Ok(Credential::StaticToken(t)) => format!("static:{}", t.expose()),
        Ok(Credential::ServicePrincipal { cred, .. }) => {
            format!("sp:{}|{}|{}|{}", cred.authority, cred.tenant, cred.client_id, cred.scope)
        }
        Ok(Credential::Cli { cli, .. }) => {
            format!("cli:{}|{:?}", cli.program.display(), cli.tenant)
        }
        Err(e) => format!("err:{e}"),
    }
}

const SP_ENV: [(&str, &str); 3] =
    [("AZURE_TENANT_ID", "t-env"), ("AZURE_CLIENT_ID", "c-env"), ("AZURE_CLIENT_SECRET", "s-env")];

#[test]
fn credentials_are_chosen_in_order() {
    let no_az = |_: &Path| false;
    let env_all = Env::from_vars(SP_ENV.iter().copied().chain([("AZURE_API_KEY", "env-key")]));
    assert_eq!(
        kind(&choose_credential(
            &dep(json!({"azure_ad_token": "tok"}), Some("k")),
            &env_all,
            "AZURE_API_KEY",
            no_az
        )),
        "key:k"
    );
    assert_eq!(
        kind(&choose_credential(
            &dep(json!({"azure_ad_token": "tok"}), None),
            &env_all,
            "AZURE_API_KEY",
            no_az
        )),
        "static:tok"
    );
    assert_eq!(
        kind(&choose_credential(&dep(json!({}), None), &env_all, "AZURE_API_KEY", no_az)),
        "sp:https://login.microsoftonline.com|t-env|c-env|https://cognitiveservices.azure.com/.default",
        "a service principal beats AZURE_API_KEY"
    );
    let params = json!({"tenant_id": "t-p", "client_secret": "s-p", "azure_scope": "api://x/.default",
                        "azure_authority_host": "https://login.microsoftonline.us"});
    assert_eq!(
        kind(&choose_credential(&dep(params, None), &env_all, "AZURE_API_KEY", no_az)),
        "sp:https://login.microsoftonline.us|t-p|c-env|api://x/.default",
        "each field from litellm_params, else the environment"
    );
    let key_only = Env::from_vars([("AZURE_API_KEY", "env-key")]);
    assert_eq!(
        kind(&choose_credential(&dep(json!({}), None), &key_only, "AZURE_API_KEY", no_az)),
        "key:env-key"
    );
    let tenant_only = Env::from_vars([("AZURE_TENANT_ID", "t-env"), ("PATH", "/tools")]);
    assert_eq!(
        kind(&choose_credential(
            &dep(json!({}), None),
            &tenant_only,
            "AZURE_API_KEY",
            |p: &Path| p == Path::new("/tools/az")
        )),
        "cli:/tools/az|Some(\"t-env\")"
    );
    let none = kind(&choose_credential(
        &dep(json!({}), None),
        &Env::from_vars::<[(&str, &str); 0], _, _>([]),
        "AZURE_API_KEY",
        no_az,
    ));
    assert!(none.starts_with("err:model `gpt-5`: no Azure credential"), "{none}");
    assert!(none.contains("az login"), "{none}");
}

#[test]
fn incomplete_or_unsafe_service_principals_are_refused() {
    let env = Env::from_vars([("AZURE_CLIENT_SECRET", "s")]);
    let e =
        kind(&choose_credential(&dep(json!({}), None), &env, "AZURE_API_KEY", |_: &Path| false));
    assert!(
        e.contains("tenant_id / AZURE_TENANT_ID and client_id / AZURE_CLIENT_ID is not"),
        "{e}"
    );
    let env = Env::from_vars(
        SP_ENV.iter().copied().chain([("AZURE_AUTHORITY_HOST", "http://login.example.com")]),
    );
    let e =
        kind(&choose_credential(&dep(json!({}), None), &env, "AZURE_API_KEY", |_: &Path| false));
    assert!(e.contains("must use https"), "{e}");
    let env = Env::from_vars(
        SP_ENV.iter().copied().chain([("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9/")]),
    );
    assert_eq!(
        kind(&choose_credential(&dep(json!({}), None), &env, "AZURE_API_KEY", |_: &Path| false)),
        "sp:http://127.0.0.1:9|t-env|c-env|https://cognitiveservices.azure.com/.default"
    );
}

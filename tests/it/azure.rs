//! Azure OpenAI through the real binary, against the Entra ID and Azure OpenAI mocks: every
//! credential kind, the token cache (single flight, expiry, rejected tokens), the Azure CLI
//! path with a fake `az`, failure messages, reasoning-model rewriting, streams, embeddings.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::azure::{self, AzureState};
use crate::support::{Gateway, MockUpstream, client, sse_data};

const KEY: &str = "sk-gateway-azure-test";

/// One model entry: `azure/<deployment>` at the mock, plus extra litellm_params lines.
fn entry(alias: &str, deployment: &str, base: &str, extra: &[&str]) -> String {
    let mut s = format!(
        "  - model_name: {alias}\n    litellm_params:\n      model: azure/{deployment}\n      api_base: {base}\n"
    );
    for line in extra {
        s.push_str(&format!("      {line}\n"));
    }
    s
}

fn config(entries: &[String]) -> String {
    format!(
        "model_list:\n{}general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n",
        entries.concat()
    )
}

/// The mock resource with a shared state, on one loopback port (Entra and Azure together).
fn mocks() -> (MockUpstream, Arc<AzureState>) {
    let state = Arc::new(AzureState::default());
    (MockUpstream::start(azure::router_with(state.clone())), state)
}

/// A gateway using the service principal from the environment, the mock as authority.
fn sp_gateway(up: &MockUpstream, entries: &[String]) -> Gateway {
    Gateway::builder(&config(entries))
        .env("LITELLM_MASTER_KEY", KEY)
        .env("AZURE_TENANT_ID", azure::TENANT)
        .env("AZURE_CLIENT_ID", azure::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", azure::CLIENT_SECRET)
        .env("AZURE_AUTHORITY_HOST", &up.url())
        .start()
}

async fn post(gw: &Gateway, path: &str, body: Value) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client().post(gw.url(path)).bearer_auth(KEY).json(&body).send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

async fn chat(gw: &Gateway, model: &str, text: &str) -> (u16, Value) {
    let (status, _, body) = post(
        gw,
        "/v1/chat/completions",
        json!({"model": model, "messages": [{"role": "user", "content": text}]}),
    )
    .await;
    (status, serde_json::from_str(&body).unwrap_or_else(|_| json!({"raw": body})))
}

fn token_requests(up: &MockUpstream) -> Vec<crate::support::Recorded> {
    up.requests().into_iter().filter(|r| r.uri.contains("/oauth2/v2.0/token")).collect()
}

fn azure_requests(up: &MockUpstream) -> Vec<crate::support::Recorded> {
    up.requests().into_iter().filter(|r| r.uri.starts_with("/openai/")).collect()
}

fn message(v: &Value) -> String {
    v["error"]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn api_key_goes_in_the_api_key_header_on_the_classic_path() {
    let (up, _) = mocks();
    let base = format!("{}/", up.url());
    let gw = Gateway::builder(&config(&[entry(
        "gpt-4o",
        "gpt-4o",
        &base,
        &["api_key: os.environ/MY_AZURE_KEY"],
    )]))
    .env("LITELLM_MASTER_KEY", KEY)
    .env("MY_AZURE_KEY", azure::KEY)
    .start();
    let (status, v) = chat(&gw, "gpt-4o", "hello").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "gpt-4o");
    assert_eq!(v["choices"][0]["message"]["content"], "Azure gpt-4o says: hello");
    assert_eq!(
        v["choices"][0]["content_filter_results"]["hate"]["filtered"], false,
        "filter results pass through"
    );
    let sent = up.last();
    assert_eq!(
        sent.uri, "/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview",
        "default api_version"
    );
    assert_eq!(sent.header("api-key"), Some(azure::KEY));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.json()["model"], "gpt-4o");
    assert!(!gw.stderr().contains(azure::KEY), "the key is never logged");
}

#[tokio::test]
async fn azure_api_key_variable_is_the_fallback() {
    let (up, _) = mocks();
    let gw = Gateway::builder(&config(&[entry(
        "gpt-4o",
        "gpt-4o",
        &up.url(),
        &["api_version: \"2024-10-21\""],
    )]))
    .env("LITELLM_MASTER_KEY", KEY)
    .env("AZURE_API_KEY", azure::KEY)
    .start();
    let (status, v) = chat(&gw, "gpt-4o", "x").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(up.last().header("api-key"), Some(azure::KEY));
    assert_eq!(up.last().uri, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21");
}

#[tokio::test]
async fn static_azure_ad_token_is_sent_as_bearer() {
    let (up, state) = mocks();
    let extra = [format!("azure_ad_token: {}", azure::STATIC_TOKEN)];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let gw = Gateway::builder(&config(&[entry("gpt-4o", "gpt-4o", &up.url(), &extra)]))
        .env("LITELLM_MASTER_KEY", KEY)
        .start();
    let (status, v) = chat(&gw, "gpt-4o", "x").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        up.last().header("authorization"),
        Some(format!("Bearer {}", azure::STATIC_TOKEN).as_str())
    );
    assert_eq!(up.last().header("api-key"), None);
    assert_eq!(state.tokens_issued(), 0);
}

#[tokio::test]
async fn service_principal_from_the_environment_gets_a_token_from_entra() {
    let (up, state) = mocks();
    let gw = sp_gateway(&up, &[entry("gpt-4o", "gpt-4o", &up.url(), &[])]);
    let (status, v) = chat(&gw, "gpt-4o", "x").await;
    assert_eq!(status, 200, "{v}");
    let tokens = token_requests(&up);
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0];
    assert_eq!(t.uri, format!("/{}/oauth2/v2.0/token", azure::TENANT));
    assert!(
        t.header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    );
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&t.body).into_owned().collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], azure::CLIENT_ID);
    assert_eq!(form["client_secret"], azure::CLIENT_SECRET);
    assert_eq!(form["scope"], "https://cognitiveservices.azure.com/.default");
    assert_eq!(up.last().header("authorization"), Some("Bearer entra-token-1"));
    assert_eq!(state.tokens_issued(), 1);
    let log = gw.stderr();
    assert!(
        !log.contains(azure::CLIENT_SECRET) && !log.contains("entra-token-1"),
        "no secrets in logs:\n{log}"
    );
}

#[tokio::test]
async fn service_principal_from_litellm_params_with_its_own_scope() {
    let (up, _) = mocks();
    let extra = [
        format!("tenant_id: {}", azure::TENANT),
        format!("client_id: {}", azure::CLIENT_ID),
        "client_secret: os.environ/SP_SECRET".to_owned(),
        "azure_scope: api://custom/.default".to_owned(),
        format!("azure_authority_host: {}", up.url()),
    ];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let gw = Gateway::builder(&config(&[entry("gpt-4o", "gpt-4o", &up.url(), &extra)]))
        .env("LITELLM_MASTER_KEY", KEY)
        .env("SP_SECRET", azure::CLIENT_SECRET)
        .start();
    let (status, v) = chat(&gw, "gpt-4o", "x").await;
    assert_eq!(status, 200, "{v}");
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(&token_requests(&up)[0].body).into_owned().collect();
    assert!(form.contains(&("scope".into(), "api://custom/.default".into())), "{form:?}");
}

#[tokio::test]
async fn concurrent_requests_on_several_deployments_fetch_one_token() {
    let (up, state) = mocks();
    let gw = sp_gateway(
        &up,
        &[entry("gpt-4o", "gpt-4o", &up.url(), &[]), entry("gpt-4.1", "gpt-4.1", &up.url(), &[])],
    );
    let mut tasks = Vec::new();
    for i in 0..20 {
        let url = gw.url("/v1/chat/completions");
        let model = if i % 2 == 0 { "gpt-4o" } else { "gpt-4.1" };
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(KEY)
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), 200);
    }
    assert_eq!(state.tokens_issued(), 1, "one token for 20 concurrent requests on two deployments");
    assert_eq!(azure_requests(&up).len(), 20);
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_exactly_once() {
    let (up, state) = mocks();
    // The first token is already inside the refresh margin; the second lives an hour.
    state.lifetimes(&[60, 3599]);
    let gw = sp_gateway(&up, &[entry("gpt-4o", "gpt-4o", &up.url(), &[])]);
    for _ in 0..3 {
        assert_eq!(chat(&gw, "gpt-4o", "x").await.0, 200);
    }
    assert_eq!(state.tokens_issued(), 2);
    let used: Vec<String> = azure_requests(&up)
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(used, ["Bearer entra-token-1", "Bearer entra-token-2", "Bearer entra-token-2"]);
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_and_the_call_retried() {
    let (up, state) = mocks();
    state.reject("entra-token-1");
    let gw = sp_gateway(&up, &[entry("gpt-4o", "gpt-4o", &up.url(), &[])]);
    let (status, v) = chat(&gw, "gpt-4o", "x").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(state.tokens_issued(), 2);
    let used: Vec<String> = azure_requests(&up)
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(used, ["Bearer entra-token-1", "Bearer entra-token-2"]);
    assert_eq!(chat(&gw, "gpt-4o", "x").await.0, 200);
    assert_eq!(state.tokens_issued(), 2, "the fresh token is cached");
}

#[tokio::test]
async fn concurrent_requests_rejected_with_one_token_cause_one_refresh() {
    let (up, state) = mocks();
    state.reject("entra-token-1");
    let gw = sp_gateway(&up, &[entry("gpt-4o", "gpt-4o", &up.url(), &[])]);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let url = gw.url("/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(KEY)
                .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), 200);
    }
    assert_eq!(
        state.tokens_issued(),
        2,
        "every request saw token 1 rejected; one refresh served them all"
    );
    let with_second = azure_requests(&up)
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer entra-token-2"))
        .count();
    assert_eq!(with_second, 10, "each request succeeded once with the fresh token");
}

#[tokio::test]
async fn a_missing_role_is_retried_once_then_named() {
    let (up, state) = mocks();
    let gw = sp_gateway(&up, &[entry("no-role", "no-role", &up.url(), &[])]);
    let (status, v) = chat(&gw, "no-role", "x").await;
    assert_eq!(status, 401, "{v}");
    let m = message(&v);
    assert!(m.contains("lacks the required data action"), "Azure's message is kept: {m}");
    assert!(m.contains("`Cognitive Services OpenAI User` role"), "{m}");
    assert!(m.contains(&format!("service principal `{}`", azure::CLIENT_ID)), "{m}");
    assert_eq!(v["error"]["code"], "PermissionDenied");
    assert_eq!(azure_requests(&up).len(), 2, "one refresh and one retry, no more");
    assert_eq!(state.tokens_issued(), 2);
}

#[tokio::test]
async fn entra_errors_show_the_aadsts_code_and_what_to_check() {
    let (up, state) = mocks();
    let cases = [
        (
            azure::TENANT,
            "wrong-secret",
            "AADSTS7000215: Invalid client secret provided.",
            "not its Secret ID",
        ),
        (
            azure::TENANT,
            "expired-secret",
            "AADSTS7000222: The provided client secret keys",
            "has expired",
        ),
        (
            "unknown-tenant",
            azure::CLIENT_SECRET,
            "AADSTS90002: Tenant 'unknown-tenant' not found.",
            "check AZURE_TENANT_ID",
        ),
    ];
    for (tenant, secret, aadsts, hint) in cases {
        let gw = Gateway::builder(&config(&[entry("gpt-4o", "gpt-4o", &up.url(), &[])]))
            .env("LITELLM_MASTER_KEY", KEY)
            .env("AZURE_TENANT_ID", tenant)
            .env("AZURE_CLIENT_ID", azure::CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", secret)
            .env("AZURE_AUTHORITY_HOST", &up.url())
            .start();
        let (status, v) = chat(&gw, "gpt-4o", "x").await;
        assert_eq!(status, 502, "{v}");
        assert_eq!(v["error"]["type"], "upstream_credential_error");
        let m = message(&v);
        assert!(m.contains(aadsts), "{m}");
        assert!(m.contains(hint), "{m}");
        assert!(
            !m.contains(secret) || secret == azure::CLIENT_SECRET && !m.contains("sp-secret"),
            "no secret in {m}"
        );
    }
    assert_eq!(state.tokens_issued(), 0);
    assert!(azure_requests(&up).is_empty(), "nothing reaches Azure without a token");
}

#[tokio::test]
async fn a_missing_deployment_names_deployment_and_resource() {
    let (up, _) = mocks();
    let gw = sp_gateway(
        &up,
        &[entry("gpt-9", "gpt-9-typo", &up.url(), &["api_version: \"2024-10-21\""])],
    );
    let (status, v) = chat(&gw, "gpt-9", "x").await;
    assert_eq!(status, 404, "{v}");
    let m = message(&v);
    assert!(
        m.contains("deployment `gpt-9-typo` was not found on resource http://127.0.0.1:"),
        "{m}"
    );
    assert!(m.contains("api-version 2024-10-21"), "{m}");
    assert!(m.contains("The API deployment for this resource does not exist"), "{m}");
    assert_eq!(v["error"]["code"], "DeploymentNotFound");
}

#[tokio::test]
async fn content_filter_rejections_pass_through_with_details() {
    let (up, _) = mocks();
    let gw = sp_gateway(&up, &[entry("filtered", "filtered", &up.url(), &[])]);
    let (status, v) = chat(&gw, "filtered", "something violent").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "content_filter");
    assert_eq!(v["error"]["param"], "prompt");
    assert!(message(&v).contains("content management policy"), "{v}");
    let inner = &v["error"]["innererror"];
    assert_eq!(inner["code"], "ResponsibleAIPolicyViolation");
    assert_eq!(
        inner["content_filter_result"]["violence"],
        json!({"filtered": true, "severity": "medium"})
    );
}

#[tokio::test]
async fn throttling_keeps_azures_retry_after() {
    let (up, _) = mocks();
    let gw = sp_gateway(&up, &[entry("throttled", "throttled", &up.url(), &[])]);
    let (status, headers, body) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "throttled", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers.get("retry-after").map(|v| v.to_str().expect("ascii")), Some("7"));
    assert!(body.contains("Please retry after 7 seconds"), "{body}");
}

#[tokio::test]
async fn reasoning_models_get_their_parameters_rewritten() {
    let (up, _) = mocks();
    let gw = sp_gateway(
        &up,
        &[
            entry("gpt-5-mini", "gpt-5-mini", &up.url(), &[]),
            entry("gpt-5-lenient", "gpt-5-mini", &up.url(), &["drop_params: true"]),
            entry("thinker", "o3-prod", &up.url(), &[]).replace(
                "    litellm_params:",
                "    model_info:\n      base_model: azure/o3-mini\n    litellm_params:",
            ),
            entry("gpt-4o", "gpt-4o", &up.url(), &[]),
        ],
    );
    let req = json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "think"}], "max_tokens": 50,
                     "temperature": 1, "reasoning_effort": "low"});
    let (status, _, body) = post(&gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 200, "{body}");
    let sent = up.last().json();
    assert_eq!(sent["max_completion_tokens"], 50);
    assert!(sent.get("max_tokens").is_none() && sent.get("temperature").is_none(), "{sent}");
    assert_eq!(sent["reasoning_effort"], "low");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"], 64,
        "reasoning usage reaches the client"
    );

    let hot = json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "x"}], "temperature": 0.2});
    let before = azure_requests(&up).len();
    let (status, _, body) = post(&gw, "/v1/chat/completions", hot.clone()).await;
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert!(message(&v).contains("only supports temperature=1"), "{v}");
    assert!(message(&v).contains("drop_params"), "{v}");
    assert_eq!(v["error"]["param"], "temperature");
    assert_eq!(azure_requests(&up).len(), before, "rejected before reaching Azure");

    let mut lenient = hot;
    lenient["model"] = json!("gpt-5-lenient");
    let (status, _, body) = post(&gw, "/v1/chat/completions", lenient).await;
    assert_eq!(status, 200, "dropped with drop_params: {body}");
    assert!(up.last().json().get("temperature").is_none());

    let (status, _, body) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "thinker", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5}),
    )
    .await;
    assert_eq!(status, 200, "model_info.base_model marks o3-prod as a reasoning model: {body}");
    assert_eq!(up.last().json()["max_completion_tokens"], 5);

    // A chat model keeps max_tokens; reasoning_effort is one it does not take.
    let (status, _, body) = post(
        &gw,
        "/v1/chat/completions",
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "reasoning_effort": "low"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("reasoning_effort") && body.contains("drop_params"), "{body}");
}

#[tokio::test]
async fn streams_fold_the_prompt_filter_chunk_and_relay_text() {
    let (up, _) = mocks();
    let gw = sp_gateway(&up, &[entry("gpt-4o", "gpt-4o", &up.url(), &[])]);
    let req = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "stream it"}], "stream": true});
    let (status, _, body) = post(&gw, "/v1/chat/completions", req.clone()).await;
    assert_eq!(status, 200, "{body}");
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> =
        data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).expect("chunk")).collect();
    assert!(
        chunks.iter().all(|c| !c["choices"].as_array().expect("choices").is_empty()),
        "no empty-choices chunk: {body}"
    );
    assert_eq!(chunks[0]["id"], "chatcmpl-BdAzureMock0002");
    assert_eq!(chunks[0]["prompt_filter_results"][0]["prompt_index"], 0, "filter results are kept");
    assert!(chunks.iter().all(|c| c["model"] == "gpt-4o"));
    let text: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Azure gpt-4o says: stream it");
    assert_eq!(up.last().json()["stream_options"]["include_usage"], true);

    let mut with_usage = req;
    with_usage["stream_options"] = json!({"include_usage": true});
    let (_, _, body) = post(&gw, "/v1/chat/completions", with_usage).await;
    let data = sse_data(&body);
    let last: Value = serde_json::from_str(&data[data.len() - 2]).expect("usage chunk");
    assert_eq!(last["usage"]["total_tokens"], 21);
}

#[tokio::test]
async fn old_api_versions_get_no_stream_options() {
    let (up, _) = mocks();
    let gw =
        sp_gateway(&up, &[entry("gpt-4o", "gpt-4o", &up.url(), &["api_version: \"2024-06-01\""])]);
    let req =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": true});
    let (status, _, body) = post(&gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 200, "{body}");
    assert!(up.last().json().get("stream_options").is_none());
}

#[tokio::test]
async fn v1_api_sends_the_deployment_as_model() {
    let (up, _) = mocks();
    let gw = sp_gateway(
        &up,
        &[
            entry("gpt-4o", "gpt-4o", &up.url(), &["api_version: v1"]),
            entry("embed", "text-embedding-3-small", &format!("{}/openai/v1/", up.url()), &[]),
        ],
    );
    let (status, v) = chat(&gw, "gpt-4o", "v1").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(up.last().uri, "/openai/v1/chat/completions");
    assert_eq!(up.last().json()["model"], "gpt-4o");
    let (status, _, body) =
        post(&gw, "/v1/embeddings", json!({"model": "embed", "input": "hi"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.last().uri, "/openai/v1/embeddings");
    assert_eq!(up.last().json()["model"], "text-embedding-3-small");
}

#[tokio::test]
async fn embeddings_pass_dimensions_and_encoding_format() {
    let (up, _) = mocks();
    let gw = sp_gateway(
        &up,
        &[entry("text-embedding-3-small", "text-embedding-3-small", &up.url(), &[])],
    );
    let (status, _, body) = post(
        &gw,
        "/v1/embeddings",
        json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["data"][1]["embedding"], json!([0.1, 0.2, 0.3]));
    assert_eq!(v["usage"]["total_tokens"], 4);
    let sent = up.last();
    assert_eq!(
        sent.uri,
        "/openai/deployments/text-embedding-3-small/embeddings?api-version=2025-04-01-preview"
    );
    assert_eq!(sent.json()["dimensions"], 3);

    let (status, _, body) = post(
        &gw,
        "/embeddings",
        json!({"model": "text-embedding-3-small", "input": "a", "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        serde_json::from_str::<Value>(&body).expect("json")["data"][0]["embedding"].is_string()
    );
    assert_eq!(up.last().json()["encoding_format"], "base64");
}

/// A fake `az` in a temp folder: logs its arguments, prints a token like az 2.54+ does.
fn fake_az(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("az-calls.log");
    let script = format!("#!/bin/sh\necho \"$@\" >> '{}'\n{body}\n", log.display());
    let az = dir.join("az");
    std::fs::write(&az, script).expect("write az");
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    log
}

fn path_with(dir: &std::path::Path) -> String {
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

#[tokio::test]
async fn azure_cli_login_is_used_when_nothing_else_is_set() {
    let (up, state) = mocks();
    let bin = tempfile::tempdir().expect("tempdir");
    let log = fake_az(
        bin.path(),
        "sleep 0.2\nnow=$(date +%s)\nprintf '{\"accessToken\":\"cli-token-1\",\"expiresOn\":\"2030-01-01 00:00:00.000000\",\"expires_on\":%s,\"subscription\":\"sub\",\"tenant\":\"t\",\"tokenType\":\"Bearer\"}\\n' $((now + 3600))",
    );
    let gw = Gateway::builder(&config(&[entry("gpt-4o", "gpt-4o", &up.url(), &[])]))
        .env("LITELLM_MASTER_KEY", KEY)
        .env("PATH", &path_with(bin.path()))
        .start();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = gw.url("/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(KEY)
                .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), 200);
    }
    let calls = std::fs::read_to_string(&log).expect("az was run");
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "account get-access-token --output json --scope https://cognitiveservices.azure.com/.default"
        ],
        "az runs once for concurrent requests"
    );
    assert_eq!(up.last().header("authorization"), Some("Bearer cli-token-1"));
    assert_eq!(state.tokens_issued(), 0, "no Entra call");
}

#[tokio::test]
async fn azure_cli_without_login_says_to_run_az_login() {
    let (up, _) = mocks();
    let bin = tempfile::tempdir().expect("tempdir");
    fake_az(bin.path(), "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1");
    let gw = Gateway::builder(&config(&[entry("gpt-4o", "gpt-4o", &up.url(), &[])]))
        .env("LITELLM_MASTER_KEY", KEY)
        .env("AZURE_TENANT_ID", "my-tenant")
        .env("PATH", &path_with(bin.path()))
        .start();
    let (status, v) = chat(&gw, "gpt-4o", "x").await;
    assert_eq!(status, 502, "{v}");
    let m = message(&v);
    assert!(m.contains("Please run 'az login'"), "{m}");
    assert!(m.contains("Run `az login`"), "{m}");
    let calls = std::fs::read_to_string(bin.path().join("az-calls.log")).expect("az was run");
    assert!(calls.contains("--tenant my-tenant"), "{calls}");
    assert!(azure_requests(&up).is_empty());
}

#[tokio::test]
async fn token_and_model_requests_go_through_the_deployments_proxy() {
    // The "proxy" is a second mock: an HTTP forward proxy receives absolute-form requests,
    // which the mock answers itself. The resource and authority in the config are the first
    // mock, which must see nothing.
    let (direct, _) = mocks();
    let (proxy, state) = mocks();
    let extra = [format!("http_proxy: {}", proxy.url())];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let gw = sp_gateway(&direct, &[entry("gpt-4o", "gpt-4o", &direct.url(), &extra)]);
    let (status, v) = chat(&gw, "gpt-4o", "via proxy").await;
    assert_eq!(status, 200, "{v}");
    assert!(direct.requests().is_empty(), "nothing bypassed the proxy");
    let uris: Vec<String> = proxy.requests().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(
        uris,
        [
            format!("{}/{}/oauth2/v2.0/token", direct.url(), azure::TENANT),
            format!(
                "{}/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview",
                direct.url()
            ),
        ]
    );
    assert_eq!(state.tokens_issued(), 1);
}

#[tokio::test]
async fn a_wrong_api_key_says_to_check_the_key() {
    let (up, _) = mocks();
    let gw = Gateway::builder(&config(&[entry(
        "gpt-4o",
        "gpt-4o",
        &up.url(),
        &["api_key: not-the-key"],
    )]))
    .env("LITELLM_MASTER_KEY", KEY)
    .start();
    let (status, v) = chat(&gw, "gpt-4o", "x").await;
    assert_eq!(status, 401, "{v}");
    let m = message(&v);
    assert!(m.contains("Access denied due to invalid subscription key"), "{m}");
    assert!(
        m.contains(
            "check that the API key (api_key / AZURE_API_KEY) is a key of http://127.0.0.1:"
        ),
        "{m}"
    );
    assert_eq!(azure_requests(&up).len(), 1, "no retry with an API key");
}

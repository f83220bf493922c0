//! Upstreams and token endpoints that answer with a redirect, through the real binary: the
//! gateway does not follow it, so neither a model call (body and `api-key`) nor a token
//! request (the Azure client secret, a Google key's signed assertion) reaches the address the
//! redirect names, and the client is told where it pointed and which setting to change.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::support::google::{self, MockState};
use crate::support::{Gateway, client};
use crate::support::{MockUpstream, azure};

/// A server whose every answer is `status` with `Location` = `target` + the request's path
/// and query: a moved upstream, or a hostile one sending the caller elsewhere.
fn redirector(status: StatusCode, target: String) -> MockUpstream {
    MockUpstream::start(Router::new().fallback(move |req: Request| {
        let to = format!("{target}{}", req.uri());
        async move { (status, [(header::LOCATION, to)]).into_response() as Response }
    }))
}

async fn chat(gw: &Gateway, model: &str) -> (u16, Value) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })))
}

fn message(v: &Value) -> String {
    v["error"]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_model_call_is_not_sent_where_a_redirect_points() {
    // The Azure mock would answer the call (and would see the api-key) if it got there.
    let sink = MockUpstream::start(azure::router());
    for status in
        [StatusCode::TEMPORARY_REDIRECT, StatusCode::PERMANENT_REDIRECT, StatusCode::FOUND]
    {
        let moved = redirector(status, sink.url());
        let cfg = format!(
            "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: azure/gpt-4o\n      api_base: {}\n      api_key: {}\n",
            moved.url(),
            azure::KEY
        );
        let gw = Gateway::builder(&cfg).start();
        let (code, v) = chat(&gw, "gpt-4o").await;
        assert_eq!(code, 502, "{status}: {v}");
        assert_eq!(v["error"]["type"], "upstream_protocol_error", "{v}");
        let m = message(&v);
        assert!(m.contains(&format!("HTTP {}", status.as_u16())), "{m}");
        assert!(
            m.contains(&format!(
                "a redirect to {}/openai/deployments/gpt-4o/chat/completions",
                sink.url()
            )),
            "{m}"
        );
        assert!(m.contains("does not follow redirects") && m.contains("api_base"), "{m}");
        assert!(!m.contains("api-version"), "the query is left out: {m}");
        assert!(!m.contains(azure::KEY), "{m}");
        assert_eq!(moved.requests().len(), 1, "asked once, not retried");
        assert_eq!(moved.last().header("api-key"), Some(azure::KEY));
    }
    assert!(sink.requests().is_empty(), "nothing followed a redirect: {:?}", sink.requests());
}

#[tokio::test]
async fn the_azure_client_secret_is_not_sent_where_a_redirect_points() {
    // A 307 re-sends the form, client secret included, if followed.
    let sink = MockUpstream::start(azure::router());
    let moved = redirector(StatusCode::TEMPORARY_REDIRECT, sink.url());
    let cfg = format!(
        "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: azure/gpt-4o\n      api_base: {}\n",
        sink.url()
    );
    let gw = Gateway::builder(&cfg)
        .env("AZURE_TENANT_ID", azure::TENANT)
        .env("AZURE_CLIENT_ID", azure::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", azure::CLIENT_SECRET)
        .env("AZURE_AUTHORITY_HOST", &moved.url())
        .start();
    let (code, v) = chat(&gw, "gpt-4o").await;
    assert_eq!(code, 502, "{v}");
    assert_eq!(v["error"]["type"], "upstream_credential_error", "{v}");
    let m = message(&v);
    assert!(m.contains("HTTP 307 Temporary Redirect"), "{m}");
    assert!(
        m.contains(&format!("a redirect to {}/{}/oauth2/v2.0/token", sink.url(), azure::TENANT)),
        "{m}"
    );
    assert!(m.contains("AZURE_AUTHORITY_HOST"), "{m}");
    assert!(!m.contains(azure::CLIENT_SECRET), "{m}");
    let asked = moved.requests();
    assert!(!asked.is_empty() && asked.iter().all(|r| r.uri.contains("/oauth2/v2.0/token")));
    assert!(
        sink.requests().is_empty(),
        "neither the token request nor the call went on: {:?}",
        sink.requests()
    );
    assert!(!gw.stderr().contains(azure::CLIENT_SECRET));
}

#[tokio::test]
async fn a_google_token_request_is_not_sent_where_a_redirect_points() {
    let state = Arc::new(MockState::default());
    let sink = MockUpstream::start(google::router_with(state.clone()));
    let moved = redirector(StatusCode::PERMANENT_REDIRECT, sink.url());
    let creds = tempfile::tempdir().expect("tmp");
    let sa = creds.path().join("sa.json");
    std::fs::write(
        &sa,
        state.service_account(&format!("{}/token", moved.url()), "gw@proj.iam.gserviceaccount.com"),
    )
    .expect("write key");
    let cfg = format!(
        "model_list:\n  - model_name: gemini\n    litellm_params:\n      model: vertex_ai/gemini-2.5-flash\n      api_base: {}\n      vertex_project: p\n      vertex_credentials: {}\n",
        sink.url(),
        sa.display()
    );
    let gw = Gateway::builder(&cfg).start();
    let (code, v) = chat(&gw, "gemini").await;
    assert_eq!(code, 502, "{v}");
    let m = message(&v);
    assert!(
        m.contains(&format!("HTTP 308 Permanent Redirect, a redirect to {}/token", sink.url())),
        "{m}"
    );
    assert!(m.contains("token_uri"), "{m}");
    assert_eq!(state.token_requests(), 0);
    assert!(sink.requests().is_empty(), "{:?}", sink.requests());
}

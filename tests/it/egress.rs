//! Corporate egress through the real binary: a proxy per provider (two real tinyproxy
//! instances, whose logs say what each carried), NO_PROXY, HTTPS upstreams signed by a CA
//! made at test time, SSL_CERT_FILE, proxy failures and a SOCKS5 proxy (microsocks).

use serde_json::{Value, json};

use crate::support::proxies::{Microsocks, Tinyproxy, free_port};
use crate::support::tls::{CA_NAME, TestCa, TlsFront};
use crate::support::{Gateway, MockUpstream, client, dashscope};

const KEY: &str = "sk-gateway-test-key";

fn model(alias: &str, provider_model: &str, base: &str, extra: &str) -> String {
    format!(
        "  - model_name: {alias}\n    litellm_params:\n      model: {provider_model}\n      api_base: {base}/compatible-mode/v1\n      api_key: {}\n{extra}",
        dashscope::KEY
    )
}

fn config(models: &[String]) -> String {
    format!("model_list:\n{}general_settings:\n  master_key: {KEY}\n", models.concat())
}

async fn chat(gw: &Gateway, alias: &str) -> (u16, Value) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({"model": alias, "messages": [{"role": "user", "content": "ping"}]}))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn each_provider_goes_through_its_own_proxy_and_no_proxy_goes_direct() {
    let upstream = MockUpstream::start(dashscope::router());
    let port = upstream.addr.port();
    let (azure_proxy, qwen_proxy) = (Tinyproxy::start(), Tinyproxy::start());
    // Three deployments on the same mock: one through the proxy its params name (the seed's
    // `http_proxy: os.environ/AZURE_PROXY`), one through its provider variable, and one
    // whose host NO_PROXY lists.
    let cfg = config(&[
        model(
            "via-azure-proxy",
            "openai/qwen-max",
            &format!("http://127.0.0.1:{port}"),
            "      http_proxy: os.environ/AZURE_PROXY\n",
        ),
        model("via-qwen-proxy", "dashscope/qwen-max", &format!("http://127.0.0.1:{port}"), ""),
        model("direct", "dashscope/qwen-max", &format!("http://localhost:{port}"), ""),
    ]);
    let gw = Gateway::builder(&cfg)
        .env("AZURE_PROXY", &azure_proxy.url())
        .env("QWEN_PROXY", &qwen_proxy.url())
        .env("NO_PROXY", "localhost,0.0.0.0")
        .start();

    let (s, b) = chat(&gw, "via-azure-proxy").await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = chat(&gw, "via-qwen-proxy").await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = chat(&gw, "direct").await;
    assert_eq!(s, 200, "{b}");

    let target = format!("127.0.0.1:{port}");
    let a = azure_proxy.requests();
    let q = qwen_proxy.requests();
    assert_eq!(a.len(), 1, "the Azure proxy carried exactly the Azure call: {a:?}");
    assert!(
        a[0].starts_with(&format!("POST http://{target}/compatible-mode/v1/chat/completions")),
        "{a:?}"
    );
    assert_eq!(q.len(), 1, "the Qwen proxy carried exactly the Qwen call: {q:?}");
    assert!(q[0].contains(&target), "{q:?}");
    assert!(
        !a.iter().chain(&q).any(|r| r.contains("localhost")),
        "the NO_PROXY host went direct: azure {a:?} qwen {q:?}"
    );
    assert_eq!(upstream.requests().len(), 3);
}

#[tokio::test]
async fn https_through_a_proxy_trusts_the_corporate_ca_from_ssl_cert_file() {
    let ca = TestCa::new();
    let upstream = MockUpstream::start(dashscope::router());
    let front = TlsFront::start(&ca, upstream.addr);
    let proxy = Tinyproxy::start();
    let cfg = config(&[model(
        "qwen",
        "dashscope/qwen-max",
        &format!("https://localhost:{}", front.port()),
        "",
    )]);
    let gw = Gateway::builder(&cfg)
        .env("QWEN_PROXY", &proxy.url())
        .env("SSL_CERT_FILE", &ca.ca_path())
        .start();
    let (s, b) = chat(&gw, "qwen").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["choices"][0]["message"]["role"], "assistant");
    let r = proxy.requests();
    assert_eq!(
        r,
        vec![format!("CONNECT localhost:{} HTTP/1.1", front.port())],
        "a CONNECT tunnel carried the TLS"
    );
}

#[tokio::test]
async fn without_the_corporate_ca_the_error_names_host_issuer_and_fix() {
    let ca = TestCa::new();
    let upstream = MockUpstream::start(dashscope::router());
    let front = TlsFront::start(&ca, upstream.addr);
    let cfg = config(&[model(
        "qwen",
        "dashscope/qwen-max",
        &format!("https://localhost:{}", front.port()),
        "",
    )]);
    let gw = Gateway::builder(&cfg).start();
    let (s, b) = chat(&gw, "qwen").await;
    assert_eq!(s, 502, "{b}");
    let m = message(&b);
    assert!(m.contains("TLS certificate of localhost is not trusted"), "{m}");
    assert!(m.contains(&format!("issued by \"CN={CA_NAME}, O=Example Corp\"")), "{m}");
    // How to add the CA to this system's own store.
    let store_tool = if cfg!(target_os = "macos") { "Keychain" } else { "update-ca-certificates" };
    assert!(m.contains("SSL_CERT_FILE") && m.contains(store_tool), "{m}");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn ssl_verify_path_per_deployment_and_ssl_verify_false_with_a_warning() {
    let ca = TestCa::new();
    let upstream = MockUpstream::start(dashscope::router());
    let front = TlsFront::start(&ca, upstream.addr);
    let base = format!("https://127.0.0.1:{}", front.port());
    let cfg = config(&[
        model(
            "with-ca",
            "dashscope/qwen-max",
            &base,
            &format!("      ssl_verify: {}\n", ca.ca_path()),
        ),
        model("unverified", "dashscope/qwen-max", &base, "      ssl_verify: false\n"),
        model("default", "dashscope/qwen-max", &base, ""),
    ]);
    let gw = Gateway::builder(&cfg).start();
    assert_eq!(chat(&gw, "with-ca").await.0, 200);
    assert_eq!(chat(&gw, "unverified").await.0, 200);
    assert_eq!(
        chat(&gw, "default").await.0,
        502,
        "the CA of one deployment does not leak to others"
    );
    let log = gw.stderr();
    assert!(log.contains("model `unverified`: ssl_verify is false"), "{log}");
}

#[test]
fn an_unusable_ca_file_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("corp.cer");
    std::fs::write(&not_pem, [0x30u8, 0x82, 0x01]).expect("write");
    let cfg = config(&[model("qwen", "dashscope/qwen-max", "https://dashscope.example", "")]);
    // `config::validate` (start-up checklist) or egress's own check: either names the file
    // and the problem.
    for (var, value, problems) in [
        (
            "SSL_CERT_FILE",
            dir.path().join("missing.pem").display().to_string(),
            ["cannot be read", "file not found"],
        ),
        (
            "SSL_CERT_FILE",
            not_pem.display().to_string(),
            ["is not PEM", "is not a PEM certificate file"],
        ),
        (
            "SSL_CERT_DIR",
            dir.path().join("no-such-dir").display().to_string(),
            ["cannot read the directory", "cannot read the directory"],
        ),
    ] {
        let err = match Gateway::builder(&cfg).env(var, &value).try_start() {
            Ok(_) => panic!("started with {var}={value}"),
            Err(e) => e,
        };
        assert!(err.contains(&value) && problems.iter().any(|p| err.contains(p)), "{err}");
    }
}

#[tokio::test]
async fn a_proxy_that_is_down_is_a_502_naming_the_proxy() {
    let upstream = MockUpstream::start(dashscope::router());
    let dead = free_port();
    let cfg = config(&[model("qwen", "dashscope/qwen-max", &upstream.url(), "")]);
    let gw = Gateway::builder(&cfg).env("QWEN_PROXY", &format!("http://127.0.0.1:{dead}")).start();
    let (s, b) = chat(&gw, "qwen").await;
    assert_eq!(s, 502, "{b}");
    let m = message(&b);
    assert!(
        m.contains(&format!("cannot reach the proxy http://127.0.0.1:{dead} (from QWEN_PROXY)")),
        "{m}"
    );
    assert!(m.contains("Connection refused") || m.contains("connection refused"), "{m}");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_proxy_demanding_authentication_says_so_and_credentials_work() {
    let ca = TestCa::new();
    let upstream = MockUpstream::start(dashscope::router());
    let front = TlsFront::start(&ca, upstream.addr);
    let proxy = Tinyproxy::start_with_auth(Some(("alice", "s3cret")));
    let https = format!("https://localhost:{}", front.port());
    let cfg = config(&[
        model("tunnel", "dashscope/qwen-max", &https, ""),
        model("plain", "dashscope/qwen-max", &upstream.url(), ""),
    ]);

    let gw = Gateway::builder(&cfg)
        .env("QWEN_PROXY", &proxy.url())
        .env("SSL_CERT_FILE", &ca.ca_path())
        .start();
    for alias in ["tunnel", "plain"] {
        let (s, b) = chat(&gw, alias).await;
        assert_eq!(s, 502, "{alias}: {b}");
        let m = message(&b);
        assert!(m.contains("proxy authentication required"), "{alias}: {m}");
        assert!(m.contains("http://user:<password>@host:port"), "{alias}: {m}");
    }
    drop(gw);

    // The user in the URL, the password from QWEN_PROXY_PASSWORD (which may live in the
    // secret store): never printed.
    let with_user = format!("http://alice@127.0.0.1:{}", proxy.port);
    let gw = Gateway::builder(&cfg)
        .env("QWEN_PROXY", &with_user)
        .env("QWEN_PROXY_PASSWORD", "s3cret")
        .env("SSL_CERT_FILE", &ca.ca_path())
        .start();
    for alias in ["tunnel", "plain"] {
        let (s, b) = chat(&gw, alias).await;
        assert_eq!(s, 200, "{alias}: {b}");
    }
    assert!(!gw.stderr().contains("s3cret"));
}

#[tokio::test]
async fn a_socks5_proxy_carries_the_traffic() {
    let upstream = MockUpstream::start(dashscope::router());
    let socks = Microsocks::start(None);
    let dead = free_port();
    let cfg = config(&[
        model("qwen", "dashscope/qwen-max", &upstream.url(), ""),
        model("qwen-down", "dashscope/qwen-max", &format!("http://127.0.0.1:{dead}"), ""),
    ]);
    let gw = Gateway::builder(&cfg).env("QWEN_PROXY", &socks.url()).start();
    let (s, b) = chat(&gw, "qwen").await;
    assert_eq!(s, 200, "{b}");
    assert!(socks.carried(&upstream.addr.to_string()), "microsocks output: {}", socks.output());
    // The proxy is up but cannot reach the host: said so, not "cannot reach the proxy".
    let (s, b) = chat(&gw, "qwen-down").await;
    assert_eq!(s, 502, "{b}");
    let m = message(&b);
    assert!(
        m.contains(&format!(
            "the SOCKS proxy {} (from QWEN_PROXY) could not connect to 127.0.0.1:{dead}",
            socks.url()
        )),
        "{m}"
    );
}

#[tokio::test]
async fn a_socks5_proxy_with_authentication() {
    let upstream = MockUpstream::start(dashscope::router());
    let socks = Microsocks::start(Some(("bob", "pw")));
    let cfg = config(&[model("qwen", "dashscope/qwen-max", &upstream.url(), "")]);

    let gw = Gateway::builder(&cfg).env("QWEN_PROXY", &socks.url()).start();
    let (s, b) = chat(&gw, "qwen").await;
    assert_eq!(s, 502, "{b}");
    let m = message(&b);
    assert!(
        m.contains(&format!(
            "proxy authentication required: the proxy socks5://127.0.0.1:{} (from QWEN_PROXY)",
            socks.port
        )),
        "{m}"
    );
    assert!(
        m.contains("SOCKS5 user/password authentication") && m.contains("QWEN_PROXY_PASSWORD"),
        "{m}"
    );
    drop(gw);

    let url = format!("socks5://bob:pw@127.0.0.1:{}", socks.port);
    let gw = Gateway::builder(&cfg).env("QWEN_PROXY", &url).start();
    let (s, b) = chat(&gw, "qwen").await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn azure_model_calls_and_token_requests_share_its_proxy() {
    use crate::support::azure;
    // Azure and Entra over HTTPS as in production (the test CA via SSL_CERT_FILE), under two
    // host names so the proxy log tells the token tunnel from the model tunnel.
    let ca = TestCa::new();
    let azure_up = MockUpstream::start(azure::router());
    let front = TlsFront::start(&ca, azure_up.addr);
    let qwen_up = MockUpstream::start(dashscope::router());
    let (azure_proxy, qwen_proxy) = (Tinyproxy::start(), Tinyproxy::start());
    let az = front.port();
    let cfg = config(&[
        format!(
            "  - model_name: gpt-4o\n    litellm_params:\n      model: azure/gpt-4o\n      api_base: https://127.0.0.1:{az}\n"
        ),
        model("qwen", "dashscope/qwen-max", &qwen_up.url(), ""),
        model(
            "qwen-direct",
            "dashscope/qwen-max",
            &format!("http://localhost:{}", qwen_up.addr.port()),
            "",
        ),
    ]);
    let start = |proxy: &str| {
        Gateway::builder(&cfg)
            .env("AZURE_TENANT_ID", azure::TENANT)
            .env("AZURE_CLIENT_ID", azure::CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", azure::CLIENT_SECRET)
            .env("AZURE_AUTHORITY_HOST", &format!("https://localhost:{az}"))
            .env("SSL_CERT_FILE", &ca.ca_path())
            .env("AZURE_PROXY", proxy)
            .env("QWEN_PROXY", &qwen_proxy.url())
            // Only the DashScope mock's port on localhost goes direct (a host:port entry).
            .env("NO_PROXY", &format!("localhost:{},0.0.0.0", qwen_up.addr.port()))
            .start()
    };
    let gw = start(&azure_proxy.url());
    for alias in ["gpt-4o", "qwen", "qwen-direct"] {
        let (s, b) = chat(&gw, alias).await;
        assert_eq!(s, 200, "{alias}: {b}");
    }
    let a = azure_proxy.requests();
    assert_eq!(
        a,
        vec![
            format!("CONNECT localhost:{az} HTTP/1.1"),
            format!("CONNECT 127.0.0.1:{az} HTTP/1.1")
        ],
        "the Entra token request, then the model call, both through AZURE_PROXY"
    );
    let reached: Vec<String> = azure_up.requests().iter().map(|r| r.uri.clone()).collect();
    assert!(
        reached[0].starts_with(&format!("/{}/oauth2/v2.0/token", azure::TENANT)),
        "{reached:?}"
    );
    assert!(reached[1].starts_with("/openai/deployments/gpt-4o/chat/completions"), "{reached:?}");
    let q = qwen_proxy.requests();
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(q[0].contains(&qwen_up.addr.to_string()), "{q:?}");
    assert_eq!(qwen_up.requests().len(), 2, "the NO_PROXY model reached the mock directly");
    drop(gw);

    // The token request through a proxy that is down names the proxy.
    let dead = free_port();
    let gw = start(&format!("http://127.0.0.1:{dead}"));
    let (s, b) = chat(&gw, "gpt-4o").await;
    assert!(s >= 500, "{s}: {b}");
    let m = message(&b);
    assert!(
        m.contains("Entra ID at")
            && m.contains(&format!(
                "cannot reach the proxy http://127.0.0.1:{dead} (from AZURE_PROXY)"
            )),
        "{m}"
    );
}

#[tokio::test]
async fn ssl_cert_dir_and_a_global_ssl_verify_path_add_the_ca_too() {
    let ca = TestCa::new();
    let upstream = MockUpstream::start(dashscope::router());
    let front = TlsFront::start(&ca, upstream.addr);
    let models =
        [model("qwen", "dashscope/qwen-max", &format!("https://localhost:{}", front.port()), "")];

    let gw = Gateway::builder(&config(&models))
        .env("SSL_CERT_DIR", &ca.dir.path().display().to_string())
        .start();
    assert_eq!(chat(&gw, "qwen").await.0, 200, "SSL_CERT_DIR");
    drop(gw);

    let global = format!("{}litellm_settings:\n  ssl_verify: {}\n", config(&models), ca.ca_path());
    let gw = Gateway::builder(&global).start();
    assert_eq!(chat(&gw, "qwen").await.0, 200, "litellm_settings.ssl_verify");
}

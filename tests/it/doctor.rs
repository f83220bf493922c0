//! `ai-proxy doctor` against real proxies (tinyproxy), an HTTPS mock signed by a test CA and
//! a plain mock: its table is snapshotted (ports and paths replaced by names).

use std::process::Command;

use serde_json::Value;

use crate::support::proxies::{Tinyproxy, free_port};
use crate::support::tls::{TestCa, TlsFront};
use crate::support::{MockUpstream, bin, dashscope};

struct Setup {
    _upstream: MockUpstream,
    _front: TlsFront,
    azure_proxy: Tinyproxy,
    qwen_proxy: Tinyproxy,
    ca: TestCa,
    dir: tempfile::TempDir,
    /// (text, placeholder) pairs for stable output.
    names: Vec<(String, String)>,
}

fn setup() -> Setup {
    let ca = TestCa::new();
    let upstream = MockUpstream::start(dashscope::router());
    let front = TlsFront::start(&ca, upstream.addr);
    let (azure_proxy, qwen_proxy) = (Tinyproxy::start(), Tinyproxy::start());
    let dead = free_port();
    let (plain, tls) = (upstream.addr.port(), front.port());
    let key = dashscope::KEY;
    let config = format!(
        r#"model_list:
  - model_name: qwen-direct
    litellm_params:
      model: dashscope/qwen-max
      api_base: http://127.0.0.1:{plain}/compatible-mode/v1
      api_key: {key}
      no_proxy: 127.0.0.1
  - model_name: qwen-tls
    litellm_params:
      model: dashscope/qwen-max
      api_base: https://127.0.0.1:{tls}/compatible-mode/v1
      api_key: {key}
  - model_name: gpt-4
    litellm_params:
      model: openai/qwen-max
      api_base: https://localhost:{tls}/compatible-mode/v1
      api_key: {key}
      http_proxy: os.environ/AZURE_PROXY
  - model_name: qwen-proxy-down
    litellm_params:
      model: dashscope/qwen-max
      api_base: https://127.0.0.1:{tls}/compatible-mode/v1
      api_key: {key}
      https_proxy: http://127.0.0.1:{dead}
  - model_name: qwen-no-key
    litellm_params:
      model: dashscope/qwen-max
      api_base: http://127.0.0.1:{plain}/compatible-mode/v1
      api_key: os.environ/QWEN_SECOND_KEY
      no_proxy: 127.0.0.1
"#
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.yaml"), config).expect("write config");
    let names = vec![
        (format!(":{}", azure_proxy.port), ":<AZURE_PROXY_PORT>".to_owned()),
        (format!(":{}", qwen_proxy.port), ":<QWEN_PROXY_PORT>".to_owned()),
        (format!(":{dead}"), ":<DEAD_PORT>".to_owned()),
        (format!(":{plain}"), ":<HTTP_PORT>".to_owned()),
        (format!(":{tls}"), ":<HTTPS_PORT>".to_owned()),
        (dir.path().display().to_string(), "<DIR>".to_owned()),
    ];
    Setup { _upstream: upstream, _front: front, azure_proxy, qwen_proxy, ca, dir, names }
}

fn doctor(s: &Setup, args: &[&str], with_ca: bool) -> (i32, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("doctor")
        .arg("--config")
        .arg(s.dir.path().join("config.yaml"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", s.dir.path())
        .env("AZURE_PROXY", s.azure_proxy.url())
        .env("QWEN_PROXY", s.qwen_proxy.url())
        .current_dir(s.dir.path());
    if with_ca {
        cmd.env("SSL_CERT_FILE", s.ca.ca_path());
    }
    let out = cmd.output().expect("run doctor");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    for (from, to) in &s.names {
        text = text.replace(from, to);
    }
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn doctor_checks_every_model_step_by_step() {
    let s = setup();
    let (code, text) = doctor(&s, &["--live"], true);
    assert_eq!(code, 1, "a failing model makes doctor fail:\n{text}");
    insta::assert_snapshot!("doctor_live", text);
    // The checks went through the proxies the models use.
    assert!(
        s.azure_proxy.requests().iter().any(|r| r.starts_with("CONNECT localhost:")),
        "{:?}",
        s.azure_proxy.requests()
    );
    assert!(
        s.qwen_proxy.requests().iter().any(|r| r.starts_with("CONNECT 127.0.0.1:")),
        "{:?}",
        s.qwen_proxy.requests()
    );
}

#[test]
fn doctor_for_one_healthy_model_exits_zero() {
    let s = setup();
    let (code, text) = doctor(&s, &["--model", "gpt-4", "--live"], true);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("All checks passed."), "{text}");
}

#[test]
fn doctor_json_reports_the_missing_ca() {
    let s = setup();
    let (code, text) = doctor(&s, &["--model", "qwen-tls", "--json"], false);
    assert_eq!(code, 1, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["ok"], false);
    let steps = &v["models"][0]["targets"][0]["steps"];
    let tls =
        steps.as_array().expect("steps").iter().find(|s| s["name"] == "tls").expect("tls step");
    assert_eq!(tls["outcome"], "fail");
    assert!(
        tls["detail"]
            .as_str()
            .expect("detail")
            .contains("issued by CN=Example Corp TLS Inspection CA, O=Example Corp"),
        "{tls}"
    );
    assert!(tls["fix"].as_str().expect("fix").contains("SSL_CERT_FILE"), "{tls}");
    let proxy =
        steps.as_array().expect("steps").iter().find(|s| s["name"] == "proxy").expect("proxy step");
    assert_eq!(proxy["detail"], "via proxy http://127.0.0.1:<QWEN_PROXY_PORT> (from QWEN_PROXY)");
}

#[test]
fn doctor_gets_the_azure_token_through_azure_proxy() {
    use crate::support::azure;
    let up = MockUpstream::start(azure::router());
    let proxy = Tinyproxy::start();
    let az = up.addr.port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!("model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: azure/gpt-4o\n      api_base: http://127.0.0.1:{az}\n"),
    )
    .expect("write");
    let out = Command::new(bin())
        .args(["doctor", "--json", "--config"])
        .arg(&cfg)
        .env_clear()
        .env("HOME", dir.path())
        .env("AZURE_TENANT_ID", azure::TENANT)
        .env("AZURE_CLIENT_ID", azure::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", azure::CLIENT_SECRET)
        .env("AZURE_AUTHORITY_HOST", format!("http://127.0.0.1:{az}"))
        .env("AZURE_PROXY", proxy.url())
        .output()
        .expect("run doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    let model = &v["models"][0];
    let labels: Vec<&str> = model["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| t["label"].as_str())
        .collect();
    assert_eq!(labels, ["api", "token"]);
    let creds = model["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "credentials")
        .expect("credentials");
    assert_eq!(creds["outcome"], "pass", "{creds}");
    assert_eq!(
        creds["detail"],
        format!(
            "token obtained for service principal `{}` (tenant `{}`)",
            azure::CLIENT_ID,
            azure::TENANT
        )
    );
    assert!(
        proxy.requests().iter().any(|r| r.starts_with(&format!(
            "POST http://127.0.0.1:{az}/{}/oauth2/v2.0/token",
            azure::TENANT
        ))),
        "{:?}",
        proxy.requests()
    );
}

//! Secrets, validate and the setup wizard through the real binary, with the platform's own
//! store for real ([`STORE`]: kernel keyutils on Linux, where the suite runs inside `keyctl
//! session -`; the default Keychain on macOS, a temporary one in CI; each test uses its own
//! service name): `secrets import` followed by upstream authentication with the moved values,
//! resolution order, `validate` and `serve` agreeing on errors, and the wizard driven through
//! a pseudo-terminal as a person would, then the gateway serving what it wrote.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Gateway, MockUpstream, bin, client, dashscope};

/// The store `ai-proxy` picks by itself in these tests (their environment is cleared, so
/// there is no session bus), as `secrets` and the start-up log name it. Gateways started here
/// name it (`AI_PROXY_SECRET_STORE`): on macOS the harness's gateways read no store otherwise.
pub(crate) const STORE: &str = if cfg!(target_os = "macos") { "keychain" } else { "keyutils" };

/// Where [`STORE`] comes from and what it needs, for the message when it is not usable.
const STORE_HINT: &str = if cfg!(target_os = "macos") {
    "The tests need a default keychain that is unlocked and reachable with a temporary HOME \
     (a keychain file outside HOME): .github/workflows/macos.yml creates one with \
     `security create-keychain`, `security default-keychain -s` and `security unlock-keychain`"
} else {
    "Run the tests inside a session keyring: `keyctl session - cargo nextest run` (scripts/test does; \
     keyctl is in the Debian package keyutils)"
};

/// A service name of our own in [`STORE`], and a check that the store works.
pub(crate) fn store_service(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let service = format!("ai-proxy-test-{test}-{}-{nanos}", std::process::id());
    let probe =
        ai_proxy(&["secrets", "set", "AI_PROXY_PROBE"], &service, Path::new("/"), Some("probe"));
    assert!(
        probe.status.success(),
        "the {STORE} secret store is not usable here, so this test cannot run: {}\n{STORE_HINT}",
        String::from_utf8_lossy(&probe.stderr)
    );
    service
}

/// Run the binary with a clean environment (HOME in a temp folder) and the given service.
fn ai_proxy(args: &[&str], service: &str, cwd: &Path, stdin: Option<&str>) -> Output {
    ai_proxy_env(args, service, cwd, stdin, &[])
}

pub(crate) fn ai_proxy_env(
    args: &[&str],
    service: &str,
    cwd: &Path,
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("AI_PROXY_SECRET_SERVICE", service)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn ai-proxy");
    if let Some(text) = stdin {
        // A child that rejects its arguments exits without reading stdin: a broken pipe then
        // is expected, not a failure of the test.
        if let Err(e) = child.stdin.as_mut().expect("stdin").write_all(text.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("ai-proxy output")
}

pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

pub(crate) fn qwen_config(upstream: &str) -> String {
    format!(
        "model_list:\n  - model_name: qwen-max\n    litellm_params:\n      model: dashscope/qwen-max\n      api_base: {upstream}/compatible-mode/v1\n      api_key: os.environ/DASHSCOPE_API_KEY\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"
    )
}

pub(crate) async fn chat(gw: &Gateway, key: &str) -> (u16, String) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "qwen-max", "messages": [{"role": "user", "content": "你好"}]}))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

pub(crate) const MASTER: &str = "sk-gateway-master-7f3a9c";

#[tokio::test]
async fn import_moves_every_secret_out_of_dotenv_and_the_gateway_still_authenticates_upstream() {
    let service = store_service("import");
    let upstream = MockUpstream::start(dashscope::router());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = qwen_config(&upstream.url());
    std::fs::write(dir.path().join("config.yaml"), &config).expect("write config");
    let original = format!(
        "# my settings\nDASHSCOPE_API_KEY={key}\nLITELLM_MASTER_KEY={MASTER}\nQWEN_PROXY=http://bob:proxy-pw@127.0.0.1:9\nVERTEX_PROJECT=my-project\nLITELLM_PORT=4000\n",
        key = dashscope::KEY
    );
    let env_path = dir.path().join(".env");
    std::fs::write(&env_path, &original).expect("write .env");

    let out =
        ai_proxy(&["secrets", "import", "--config", "config.yaml"], &service, dir.path(), None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "moved 3 secret(s) from {} to the {STORE} store: DASHSCOPE_API_KEY, LITELLM_MASTER_KEY, QWEN_PROXY",
            env_path.display()
        )),
        "{}",
        text(&out)
    );
    let after = std::fs::read_to_string(&env_path).expect("read .env");
    for secret in [dashscope::KEY, MASTER, "proxy-pw"] {
        assert!(!after.contains(secret), ".env still holds a secret:\n{after}");
        assert!(!text(&out).contains(secret), "a value was printed");
    }
    assert_eq!(
        after,
        format!(
            "# my settings\n# DASHSCOPE_API_KEY: moved to the {STORE} store (ai-proxy secrets import)\n# LITELLM_MASTER_KEY: moved to the {STORE} store (ai-proxy secrets import)\n# QWEN_PROXY: moved to the {STORE} store (ai-proxy secrets import)\nVERTEX_PROJECT=my-project\nLITELLM_PORT=4000\n"
        )
    );
    assert_eq!(mode(&env_path), 0o600);
    assert!(!dir.path().join(".env.bak").exists(), "no backup unless asked");

    let list =
        ai_proxy(&["secrets", "list", "--config", "config.yaml"], &service, dir.path(), None);
    let listed = text(&list);
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["DASHSCOPE_API_KEY", STORE]),
        "{listed}"
    );
    assert!(
        listed.lines().any(|l| l.starts_with("VERTEX_PROJECT") && l.contains(".env (")),
        "{listed}"
    );
    assert!(!listed.contains(dashscope::KEY) && !listed.contains(MASTER));

    // The gateway reads the rewritten .env and finds the moved values in the store.
    // (QWEN_PROXY, now in the store, names no real proxy: the mock is reached directly.)
    let gw = Gateway::builder(&config)
        .dotenv(&after)
        .env("AI_PROXY_SECRET_STORE", STORE)
        .env("AI_PROXY_SECRET_SERVICE", &service)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .start();
    assert_served_from_store(&gw, &upstream, STORE).await;
}

/// A chat with the master key goes through `gw` and reaches `upstream` with the DashScope key,
/// and the start-up log names `store` as where both came from, never their values.
pub(crate) async fn assert_served_from_store(gw: &Gateway, upstream: &MockUpstream, store: &str) {
    let (status, body) = chat(gw, MASTER).await;
    assert_eq!(status, 200, "{body}\n{}", gw.stderr());
    assert_eq!(
        upstream.last().header("authorization"),
        Some(format!("Bearer {}", dashscope::KEY).as_str())
    );
    let log = gw.stderr();
    assert!(log.contains(&format!("master key from {store}")), "{log}");
    assert!(log.contains(&format!("DASHSCOPE_API_KEY from {store}")), "{log}");
    assert!(
        !log.contains(dashscope::KEY) && !log.contains(MASTER),
        "a secret reached the log:\n{log}"
    );
}

#[test]
fn import_keeps_a_backup_only_when_asked() {
    let service = store_service("backup");
    let dir = tempfile::tempdir().expect("tempdir");
    let env_path = dir.path().join(".env");
    std::fs::write(&env_path, "AZURE_CLIENT_SECRET=s3cr3t-value\nAZURE_CLIENT_ID=abc\n")
        .expect("write");
    let out = ai_proxy(
        &["secrets", "import", "--env-file", ".env", "--backup"],
        &service,
        dir.path(),
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let bak = dir.path().join(".env.bak");
    assert_eq!(
        std::fs::read_to_string(&bak).expect("backup"),
        "AZURE_CLIENT_SECRET=s3cr3t-value\nAZURE_CLIENT_ID=abc\n"
    );
    assert_eq!(mode(&bak), 0o600);
    assert!(!std::fs::read_to_string(&env_path).expect("read").contains("s3cr3t-value"));
}

#[test]
fn set_list_delete_never_show_values() {
    let service = store_service("crud");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        "model_list: []\ngeneral_settings:\n  master_key: os.environ/MY_GATEWAY_KEY\n",
    )
    .expect("write");
    let set = ai_proxy(
        &["secrets", "set", "MY_GATEWAY_KEY"],
        &service,
        dir.path(),
        Some("sk-value-from-stdin\n"),
    );
    assert!(set.status.success(), "{}", text(&set));
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        format!("stored MY_GATEWAY_KEY in the {STORE} store (service {service})\n")
    );
    let list = ai_proxy(&["secrets", "list"], &service, dir.path(), None);
    assert!(
        text(&list)
            .lines()
            .next()
            .is_some_and(|l| l.split_whitespace().collect::<Vec<_>>() == ["MY_GATEWAY_KEY", STORE]),
        "{}",
        text(&list)
    );
    assert!(!text(&list).contains("sk-value-from-stdin"));
    let bad = ai_proxy(&["secrets", "set", "1BAD"], &service, dir.path(), Some("x"));
    assert!(!bad.status.success());
    assert!(text(&bad).contains("1BAD is not a valid variable name"), "{}", text(&bad));
    let del = ai_proxy(&["secrets", "delete", "MY_GATEWAY_KEY"], &service, dir.path(), None);
    assert_eq!(
        String::from_utf8_lossy(&del.stdout),
        format!("deleted MY_GATEWAY_KEY from the {STORE} store\n")
    );
    let again = ai_proxy(&["secrets", "delete", "MY_GATEWAY_KEY"], &service, dir.path(), None);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        format!("MY_GATEWAY_KEY was not in the {STORE} store\n")
    );
}

#[tokio::test]
async fn environment_wins_over_dotenv_which_wins_over_the_store() {
    let service = store_service("order");
    let upstream = MockUpstream::start(dashscope::router());
    let dir = tempfile::tempdir().expect("tempdir");
    let set = ai_proxy(
        &["secrets", "set", "DASHSCOPE_API_KEY"],
        &service,
        dir.path(),
        Some("sk-stale-store-key"),
    );
    assert!(set.status.success(), "{}", text(&set));
    let config = qwen_config(&upstream.url());

    // .env beats the store.
    let gw = Gateway::builder(&config)
        .dotenv(&format!("DASHSCOPE_API_KEY={}\n", dashscope::KEY))
        .env("AI_PROXY_SECRET_STORE", STORE)
        .env("AI_PROXY_SECRET_SERVICE", &service)
        .env("LITELLM_MASTER_KEY", MASTER)
        .start();
    assert_eq!(chat(&gw, MASTER).await.0, 200);
    assert!(gw.stderr().contains("DASHSCOPE_API_KEY from .env"), "{}", gw.stderr());
    drop(gw);

    // The environment beats .env.
    let gw = Gateway::builder(&config)
        .dotenv(&format!("DASHSCOPE_API_KEY={}\n", dashscope::KEY))
        .env("AI_PROXY_SECRET_STORE", STORE)
        .env("AI_PROXY_SECRET_SERVICE", &service)
        .env("LITELLM_MASTER_KEY", MASTER)
        .env("DASHSCOPE_API_KEY", "sk-wrong-env-key")
        .start();
    assert_eq!(chat(&gw, MASTER).await.0, 401);
    assert_eq!(upstream.last().header("authorization"), Some("Bearer sk-wrong-env-key"));
    drop(gw);

    // With neither, the store answers.
    let gw = Gateway::builder(&config)
        .env("AI_PROXY_SECRET_STORE", STORE)
        .env("AI_PROXY_SECRET_SERVICE", &service)
        .env("LITELLM_MASTER_KEY", MASTER)
        .start();
    assert_eq!(chat(&gw, MASTER).await.0, 401);
    assert_eq!(upstream.last().header("authorization"), Some("Bearer sk-stale-store-key"));
    assert!(gw.stderr().contains(&format!("DASHSCOPE_API_KEY from {STORE}")), "{}", gw.stderr());
}

#[test]
fn validate_and_serve_report_the_same_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("corp-ca.cer");
    std::fs::write(&not_pem, [0x30u8, 0x82, 0x01, 0x0a]).expect("write");
    let config = format!(
        "model_list:\n  - model_name: gpt-4\n    litellm_params:\n      model: azure/您的部署名\n      api_base: https://example.com/\n      api_key: os.environ/AZURE_API_KEY\nlitellm_settings:\n  ssl_verify: {}\n",
        not_pem.display()
    );
    std::fs::write(dir.path().join("config.yaml"), &config).expect("write");
    std::fs::write(dir.path().join(".env"), "LITELLM_MASTER_KEY=sk-1234\n").expect("write");

    let out = ai_proxy_env(
        &["validate", "--no-port"],
        "unused",
        dir.path(),
        None,
        &[("AI_PROXY_SECRET_STORE", "none")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let ca_line = format!("✗ CA file {} is not PEM: no certificate in it", not_pem.display());
    for line in [
        "✓ config ",
        "✗ the master key is the template value sk-1234, which everyone knows",
        "✗ model `gpt-4`: model is a `您的…` template placeholder (您的部署名)",
        "✗ model `gpt-4`: os.environ/AZURE_API_KEY not set (set it in the environment, the .env file or the secret store)",
        "    fix: ai-proxy secrets set AZURE_API_KEY (or add AZURE_API_KEY=... to .env if it is not a secret)",
        "✗ model `gpt-4`: api_base `https://example.com/` does not look like an Azure OpenAI resource (https://<resource>.openai.azure.com)",
        &ca_line,
    ] {
        assert!(shown.contains(line), "missing {line:?} in:\n{shown}");
    }

    let json_out = ai_proxy_env(
        &["validate", "--json", "--no-port"],
        "unused",
        dir.path(),
        None,
        &[("AI_PROXY_SECRET_STORE", "none")],
    );
    assert_eq!(json_out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&json_out.stdout).expect("JSON");
    assert_eq!(v["ok"], false);
    let kinds: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["ok"] == false)
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["master_key", "placeholder", "variable", "azure_endpoint", "ca_file"],
        "sk-1234 in .env is reported once, as the master key"
    );

    // serve refuses with the same lines (the fatal ones), and names validate.
    let err = Gateway::builder(&config)
        .dotenv("LITELLM_MASTER_KEY=sk-1234\n")
        .env("AI_PROXY_SECRET_STORE", "none")
        .try_start()
        .err()
        .expect("serve refuses to start");
    assert!(
        err.contains(
            "the configuration has 2 error(s) (run `ai-proxy validate` for the full checklist)"
        ),
        "{err}"
    );
    assert!(err.contains(&ca_line), "{err}");
    assert!(
        err.contains("✗ model `gpt-4`: model is a `您的…` template placeholder (您的部署名)"),
        "{err}"
    );

    let good = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        good.path().join("config.yaml"),
        "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/echo\n",
    )
    .expect("write");
    let ok = ai_proxy_env(
        &["validate", "--port", "0"],
        "unused",
        good.path(),
        None,
        &[("AI_PROXY_SECRET_STORE", "none"), ("LITELLM_MASTER_KEY", MASTER)],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).ends_with("checks passed\n"), "{}", text(&ok));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// One wizard run in a pseudo-terminal: `answers` is a list of (prompt to wait for, keys).
fn wizard(service: &str, home: &Path, dir: &Path, answers: &[(&str, String)]) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(["setup", "--dir"])
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TERM", "xterm")
        .env("AI_PROXY_SECRET_SERVICE", service)
        .current_dir(home);
    let mut p = expectrl::Session::spawn(cmd).expect("spawn in a pty");
    p.set_expect_timeout(Some(Duration::from_secs(30)));
    let mut seen = String::new();
    for (prompt, keys) in answers {
        let found = p
            .expect(*prompt)
            .unwrap_or_else(|e| panic!("waiting for {prompt:?}: {e}\nso far:\n{seen}"));
        seen.push_str(&String::from_utf8_lossy(found.before()));
        seen.push_str(&String::from_utf8_lossy(found.as_bytes()));
        p.send(keys).expect("type");
    }
    let rest = p
        .expect(expectrl::Eof)
        .map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned())
        .unwrap_or_default();
    seen.push_str(&rest);
    let status = p.wait().expect("exit status");
    assert!(format!("{status:?}").ends_with(", 0)"), "setup exited with {status:?}:\n{seen}");
    seen
}

const ENTER: &str = "\r";
const BACKSPACE: &str = "\x7f";

#[tokio::test]
async fn the_wizard_through_a_terminal_then_the_gateway_serves_what_it_wrote() {
    let service = store_service("wizard");
    let upstream = MockUpstream::start(dashscope::router());
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join(".config/ai-proxy");
    let not_pem = home.path().join("ca.cer");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    let port = free_port();
    let endpoint = format!("{}/compatible-mode/v1", upstream.url());
    let typed_ca = not_pem.display().to_string();

    let first = wizard(
        &service,
        home.path(),
        &dir,
        &[
            ("Use Azure OpenAI?", format!("n{ENTER}")),
            ("Use Google Vertex AI (Gemini", format!("n{ENTER}")),
            ("Use Alibaba DashScope (Qwen)?", format!("y{ENTER}")),
            ("DashScope API key:", format!("{}{ENTER}", dashscope::KEY)),
            ("DashScope region:", format!("other{ENTER}")),
            ("DashScope endpoint", format!("{endpoint}{ENTER}")),
            ("Qwen models", ENTER.to_owned()),
            ("Proxy for DashScope", ENTER.to_owned()),
            ("Use the Gemini API", format!("n{ENTER}")),
            // A CA file that is not PEM is refused on the spot; the person clears it.
            ("Corporate CA certificate file", format!("{typed_ca}{ENTER}")),
            ("is not PEM", format!("{}{ENTER}", BACKSPACE.repeat(typed_ca.chars().count()))),
            ("Port to listen on", format!("{}{port}{ENTER}", BACKSPACE.repeat(4))),
            ("Start ai-proxy automatically at login?", format!("n{ENTER}")),
        ],
    );
    assert!(!first.contains(dashscope::KEY), "the typed key was echoed:\n{first}");
    let key_line = first
        .lines()
        .find(|l| l.contains("shown only now"))
        .unwrap_or_else(|| panic!("no master key line:\n{first}"));
    let master = key_line.rsplit(' ').next().expect("key").trim().to_owned();
    assert!(master.starts_with("sk-") && master.len() == 67, "{master:?}");
    assert!(
        first.contains("all ") || first.contains(&format!("✓ master key set (from {STORE})")),
        "{first}"
    );

    let config_path = dir.join("config.yaml");
    let env_path = dir.join(".env");
    let config = std::fs::read_to_string(&config_path).expect("config.yaml written");
    let dotenv = std::fs::read_to_string(&env_path).expect(".env written");
    assert_eq!((mode(&dir), mode(&config_path), mode(&env_path)), (0o700, 0o600, 0o600));
    for secret in [dashscope::KEY, master.as_str()] {
        assert!(
            !config.contains(secret) && !dotenv.contains(secret),
            "a secret was written to a file"
        );
    }
    assert!(
        config.contains("api_key: os.environ/DASHSCOPE_API_KEY")
            && config.contains(&format!("api_base: {endpoint}")),
        "{config}"
    );
    assert!(dotenv.contains(&format!("LITELLM_PORT={port}\n")), "{dotenv}");

    // validate agrees.
    let v = ai_proxy(
        &["validate", "--no-port", "--config", config_path.to_str().expect("utf8")],
        &service,
        home.path(),
        None,
    );
    assert!(v.status.success(), "{}", text(&v));

    // The gateway runs on what the wizard wrote and authenticates both ways.
    let gw = Gateway::builder(&config)
        .dotenv(&dotenv)
        .env("AI_PROXY_SECRET_STORE", STORE)
        .env("AI_PROXY_SECRET_SERVICE", &service)
        .start();
    let (status, body) = chat(&gw, &master).await;
    assert_eq!(status, 200, "{body}\n{}", gw.stderr());
    assert!(body.contains("Qwen says: 你好"), "{body}");
    assert_eq!(
        upstream.last().header("authorization"),
        Some(format!("Bearer {}", dashscope::KEY).as_str())
    );
    assert_eq!(chat(&gw, "sk-1234").await.0, 401);
    drop(gw);

    // Re-running edits the setup: every prompt shows the current value, Enter keeps it.
    let second = wizard(
        &service,
        home.path(),
        &dir,
        &[
            ("Use Azure OpenAI?", ENTER.to_owned()),
            ("Use Google Vertex AI (Gemini", ENTER.to_owned()),
            ("Use Alibaba DashScope (Qwen)? (Y/n)", ENTER.to_owned()),
            ("Enter keeps the DASHSCOPE_API_KEY", ENTER.to_owned()),
            ("DashScope region:", ENTER.to_owned()),
            ("DashScope endpoint", ENTER.to_owned()),
            ("qwen-max, qwen-plus", ENTER.to_owned()),
            ("Proxy for DashScope", ENTER.to_owned()),
            ("Use the Gemini API", ENTER.to_owned()),
            ("Corporate CA certificate file", ENTER.to_owned()),
            (&format!("({port})"), ENTER.to_owned()),
            ("Start ai-proxy automatically at login?", ENTER.to_owned()),
        ],
    );
    assert!(second.contains("Editing the setup in"), "{second}");
    assert!(!second.contains("shown only now"), "the stored master key is kept");
    assert_eq!(std::fs::read_to_string(&config_path).expect("config"), config);
    assert_eq!(std::fs::read_to_string(&env_path).expect(".env"), dotenv);
}

#[tokio::test]
async fn setup_from_an_answers_file_for_scripts() {
    let service = store_service("answers");
    let upstream = MockUpstream::start(dashscope::router());
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("cfg");
    let answers = home.path().join("answers.yaml");
    std::fs::write(
        &answers,
        format!(
            "dashscope:\n  api_key: {key}\n  region: {base}/compatible-mode/v1\n  models: [{{alias: qwen-max, model: qwen-max}}]\n  proxy: http://bob:proxy-pw@proxy.corp:8080\nno_proxy: localhost,127.0.0.1\nmaster_key: {MASTER}\n",
            key = dashscope::KEY,
            base = upstream.url()
        ),
    )
    .expect("write answers");
    let out = ai_proxy(
        &[
            "setup",
            "--no-validate",
            "--answers",
            answers.to_str().expect("utf8"),
            "--dir",
            dir.to_str().expect("utf8"),
        ],
        &service,
        home.path(),
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "stored in the {STORE} store: DASHSCOPE_API_KEY, QWEN_PROXY, LITELLM_MASTER_KEY"
        )),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("shown only now"), "a given key is not shown");
    let config = std::fs::read_to_string(dir.join("config.yaml")).expect("config");
    let dotenv = std::fs::read_to_string(dir.join(".env")).expect(".env");
    for secret in [dashscope::KEY, MASTER, "proxy-pw"] {
        assert!(!config.contains(secret) && !dotenv.contains(secret), "{secret} written to a file");
    }
    assert!(config.contains("https_proxy: os.environ/QWEN_PROXY"), "{config}");

    // The proxy (password in the store) does not exist here: serve a copy without its line,
    // so the gateway reaches the mock directly with the stored key and master key.
    let direct = config.replace("      https_proxy: os.environ/QWEN_PROXY\n", "");
    let gw = Gateway::builder(&direct)
        .dotenv(&dotenv)
        .env("AI_PROXY_SECRET_STORE", STORE)
        .env("AI_PROXY_SECRET_SERVICE", &service)
        .start();
    let (status, body) = chat(&gw, MASTER).await;
    assert_eq!(status, 200, "{body}\n{}", gw.stderr());

    // Answers are checked like the prompts check them; sk-1234 is refused.
    std::fs::write(&answers, "ca_file: /nonexistent/ca.pem\n").expect("write");
    let bad = ai_proxy(
        &[
            "setup",
            "--answers",
            answers.to_str().expect("utf8"),
            "--dir",
            dir.to_str().expect("utf8"),
        ],
        &service,
        home.path(),
        None,
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("✗ CA file /nonexistent/ca.pem cannot be read"), "{}", text(&bad));
    std::fs::write(&answers, "master_key: sk-1234\n").expect("write");
    let bad = ai_proxy(
        &[
            "setup",
            "--answers",
            answers.to_str().expect("utf8"),
            "--dir",
            dir.to_str().expect("utf8"),
        ],
        &service,
        home.path(),
        None,
    );
    assert!(
        text(&bad).contains("the master key sk-1234 is the published template key"),
        "{}",
        text(&bad)
    );
}

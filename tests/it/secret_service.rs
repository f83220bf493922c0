//! The Linux desktop secret store for real: a private session bus with gnome-keyring-daemon's
//! Secret Service on it. `ai-proxy` picks it on its own when a session bus is there, other
//! tools (`secret-tool`) see the same items, the gateway authenticates upstream with values
//! from it, a locked keyring is reported rather than waited on, and a bus without a Secret
//! Service falls back to keyutils.

#![cfg(target_os = "linux")]

use crate::secrets_setup::{
    MASTER, ai_proxy_env, assert_served_from_store, qwen_config, store_service, text,
};
use crate::support::secret_service::{SessionBus, files_under};
use crate::support::{Gateway, MockUpstream, dashscope};

/// `ai-proxy <args>` on `bus`, in `cwd`, under the default service name `ai-proxy`.
fn on_bus(
    bus: &SessionBus,
    args: &[&str],
    cwd: &std::path::Path,
    stdin: Option<&str>,
) -> std::process::Output {
    on_bus_with(bus, "ai-proxy", args, cwd, stdin, &[])
}

/// `ai-proxy <args>` on `bus` under `service`, with `extra` variables.
fn on_bus_with(
    bus: &SessionBus,
    service: &str,
    args: &[&str],
    cwd: &std::path::Path,
    stdin: Option<&str>,
    extra: &[(&str, &str)],
) -> std::process::Output {
    let env = bus.env();
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend_from_slice(extra);
    ai_proxy_env(args, service, cwd, stdin, &pairs)
}

#[test]
fn the_desktop_keyring_is_the_store_when_a_session_bus_runs() {
    let bus = SessionBus::with_keyring();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        "model_list: []\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n",
    )
    .expect("write config");

    let set = on_bus(
        &bus,
        &["secrets", "set", "LITELLM_MASTER_KEY"],
        dir.path(),
        Some(&format!("{MASTER}\n")),
    );
    assert!(set.status.success(), "{}", text(&set));
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        "stored LITELLM_MASTER_KEY in the secret-service store (service ai-proxy)\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&set.stderr),
        "",
        "no fallback note when the Secret Service works"
    );

    // Other tools see the item under service/username, and ai-proxy sees theirs.
    assert_eq!(bus.secret_tool_lookup("ai-proxy", "LITELLM_MASTER_KEY").as_deref(), Some(MASTER));
    bus.secret_tool_store("ai-proxy", "AZURE_CLIENT_SECRET", "azure-secret-by-hand");
    bus.secret_tool_store("ai-proxy", "MY_TEAM_TOKEN", "team-token-by-hand");
    let list = on_bus(&bus, &["secrets", "list"], dir.path(), None);
    let listed = text(&list);
    assert!(list.status.success(), "{listed}");
    let line = |name: &str| {
        listed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    assert_eq!(
        line("LITELLM_MASTER_KEY"),
        Some(vec!["LITELLM_MASTER_KEY", "secret-service"]),
        "{listed}"
    );
    assert_eq!(
        line("AZURE_CLIENT_SECRET"),
        Some(vec!["AZURE_CLIENT_SECRET", "secret-service"]),
        "{listed}"
    );
    assert_eq!(
        line("MY_TEAM_TOKEN"),
        Some(vec!["MY_TEAM_TOKEN", "secret-service"]),
        "what the config does not name is listed too:\n{listed}"
    );
    assert_eq!(line("QWEN_PROXY"), Some(vec!["QWEN_PROXY", "not", "set"]), "{listed}");
    assert!(!listed.contains(MASTER), "a value was printed:\n{listed}");

    // Replacing keeps one item; the value on disk is encrypted by the keyring.
    let again = on_bus(
        &bus,
        &["secrets", "set", "LITELLM_MASTER_KEY"],
        dir.path(),
        Some("sk-replaced-value"),
    );
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        bus.secret_tool_lookup("ai-proxy", "LITELLM_MASTER_KEY").as_deref(),
        Some("sk-replaced-value")
    );
    let files = files_under(&bus.keyrings_dir());
    assert!(
        !files.is_empty(),
        "gnome-keyring wrote no keyring file in {}",
        bus.keyrings_dir().display()
    );
    for f in files {
        let bytes = std::fs::read(&f).expect("read keyring file");
        for value in ["sk-replaced-value", "azure-secret-by-hand", "team-token-by-hand"] {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{value} is in {} in plain text",
                f.display()
            );
        }
    }

    let del = on_bus(&bus, &["secrets", "delete", "LITELLM_MASTER_KEY"], dir.path(), None);
    assert_eq!(
        String::from_utf8_lossy(&del.stdout),
        "deleted LITELLM_MASTER_KEY from the secret-service store\n"
    );
    assert_eq!(bus.secret_tool_lookup("ai-proxy", "LITELLM_MASTER_KEY"), None);
    let del = on_bus(&bus, &["secrets", "delete", "LITELLM_MASTER_KEY"], dir.path(), None);
    assert_eq!(
        String::from_utf8_lossy(&del.stdout),
        "LITELLM_MASTER_KEY was not in the secret-service store\n"
    );
}

#[tokio::test]
async fn import_into_the_desktop_keyring_and_the_gateway_authenticates_upstream_with_it() {
    let bus = SessionBus::with_keyring();
    let upstream = MockUpstream::start(dashscope::router());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = qwen_config(&upstream.url());
    std::fs::write(dir.path().join("config.yaml"), &config).expect("write config");
    let env_path = dir.path().join(".env");
    std::fs::write(
        &env_path,
        format!(
            "DASHSCOPE_API_KEY={}\nLITELLM_MASTER_KEY={MASTER}\nLITELLM_PORT=4000\n",
            dashscope::KEY
        ),
    )
    .expect("write .env");

    let out = on_bus(&bus, &["secrets", "import", "--config", "config.yaml"], dir.path(), None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "moved 2 secret(s) from {} to the secret-service store: DASHSCOPE_API_KEY, LITELLM_MASTER_KEY",
            env_path.display()
        )),
        "{}",
        text(&out)
    );
    let after = std::fs::read_to_string(&env_path).expect("read .env");
    assert!(
        !after.contains(dashscope::KEY) && !after.contains(MASTER),
        ".env still holds a secret:\n{after}"
    );
    assert_eq!(
        bus.secret_tool_lookup("ai-proxy", "DASHSCOPE_API_KEY").as_deref(),
        Some(dashscope::KEY)
    );

    let mut gw = Gateway::builder(&config).dotenv(&after).env("NO_PROXY", "127.0.0.1,localhost");
    for (k, v) in bus.env() {
        gw = gw.env(k, &v);
    }
    assert_served_from_store(&gw.start(), &upstream, "secret-service").await;
}

#[test]
fn a_locked_keyring_is_reported_and_serve_will_not_start_without_the_stored_key() {
    let bus = SessionBus::with_keyring();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.yaml"), qwen_config("http://127.0.0.1:9"))
        .expect("write config");
    for (name, value) in [("LITELLM_MASTER_KEY", MASTER), ("DASHSCOPE_API_KEY", dashscope::KEY)] {
        let set = on_bus(&bus, &["secrets", "set", name], dir.path(), Some(value));
        assert!(set.status.success(), "{}", text(&set));
    }
    bus.lock_login_keyring();

    let locked = "the keyring is locked and its unlock prompt was dismissed or not answered within 60 s \
                  (unlock it, e.g. in Seahorse / Passwords and Keys, and retry)";
    let list = on_bus(&bus, &["secrets", "list", "--config", "config.yaml"], dir.path(), None);
    let listed = text(&list);
    assert!(
        listed.lines().any(|l| l.starts_with("DASHSCOPE_API_KEY")
            && l.ends_with(&format!(
                "not readable: secret-service: cannot read DASHSCOPE_API_KEY: {locked}"
            ))),
        "{listed}"
    );

    let validate =
        on_bus(&bus, &["validate", "--config", "config.yaml", "--no-port"], dir.path(), None);
    assert!(!validate.status.success());
    let checklist = text(&validate);
    assert!(
        checklist.contains(&format!(
            "✗ the master key could not be read from the secret store: secret-service: cannot read LITELLM_MASTER_KEY: {locked}\n    \
             fix: make the store readable (unlock the keyring) and start again; the gateway does not run without the key you set"
        )),
        "{checklist}"
    );

    let mut gw = Gateway::builder(&qwen_config("http://127.0.0.1:9"));
    for (k, v) in bus.env() {
        gw = gw.env(k, &v);
    }
    let err = gw.try_start().err().expect("serve refuses to start without the stored master key");
    assert!(err.contains("the master key could not be read from the secret store"), "{err}");
    assert!(!err.contains(MASTER) && !err.contains(dashscope::KEY));
}

#[test]
fn a_bus_without_a_secret_service_falls_back_to_keyutils_and_naming_it_does_not() {
    let service = store_service("bus-fallback");
    let bus = SessionBus::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let set = on_bus_with(
        &bus,
        &service,
        &["secrets", "set", "QWEN_PROXY"],
        dir.path(),
        Some("http://u:pw@127.0.0.1:3128"),
        &[],
    );
    assert!(set.status.success(), "{}", text(&set));
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        format!("stored QWEN_PROXY in the keyutils store (service {service})\n")
    );
    assert_eq!(
        String::from_utf8_lossy(&set.stderr),
        "note: the secret-service secret store is not available: no Secret Service runs on the session bus \
         (start gnome-keyring-daemon, KWallet or KeePassXC's Secret Service integration); \
         using kernel keyutils (values there do not survive a reboot)\n"
    );

    let named = on_bus_with(
        &bus,
        &service,
        &["secrets", "set", "QWEN_PROXY"],
        dir.path(),
        Some("x"),
        &[("AI_PROXY_SECRET_STORE", "secret-service")],
    );
    assert!(!named.status.success());
    assert_eq!(
        String::from_utf8_lossy(&named.stderr),
        "error: the secret-service secret store is not available: no Secret Service runs on the session bus \
         (start gnome-keyring-daemon, KWallet or KeePassXC's Secret Service integration)\n"
    );
}

#[test]
fn a_secret_service_without_a_default_keyring_falls_back_to_keyutils() {
    let service = store_service("no-default-keyring");
    let bus = SessionBus::with_no_default_keyring();
    let dir = tempfile::tempdir().expect("tempdir");
    let set = on_bus_with(
        &bus,
        &service,
        &["secrets", "set", "DASHSCOPE_API_KEY"],
        dir.path(),
        Some("sk-x"),
        &[],
    );
    assert!(set.status.success(), "{}", text(&set));
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        format!("stored DASHSCOPE_API_KEY in the keyutils store (service {service})\n")
    );
    assert_eq!(
        String::from_utf8_lossy(&set.stderr),
        "note: the secret-service secret store is not available: it has no default keyring to keep items in \
         (create one, e.g. \"Login\" in Seahorse / Passwords and Keys, or choose AI_PROXY_SECRET_STORE=keyutils); \
         using kernel keyutils (values there do not survive a reboot)\n"
    );
}

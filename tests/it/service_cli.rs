//! `ai-proxy service install | status | uninstall` through the real binary, with a
//! temporary HOME and a `systemctl` on PATH that records its calls (Linux).

#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Output};

use crate::support::bin;

/// A fake `systemctl` that appends its arguments to calls.log and answers like systemd for
/// an enabled, inactive unit.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
case "$2" in
  is-enabled) echo enabled ;;
  show) printf 'LoadState=loaded\nActiveState=inactive\nMainPID=0\n' ;;
esac
exit 0
"#;

fn ai_proxy(home: &Path, args: &[&str]) -> Output {
    let fake_bin = home.join("bin");
    Command::new(bin())
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", format!("{}:/usr/bin:/bin", fake_bin.display()))
        .current_dir(home.join("project"))
        .output()
        .expect("run ai-proxy")
}

#[test]
fn install_status_uninstall_with_a_temporary_home() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path();
    std::fs::create_dir_all(home.join("bin")).expect("mkdir");
    std::fs::create_dir_all(home.join("project")).expect("mkdir");
    std::fs::write(home.join("project/config.yaml"), "model_list: []\n").expect("config");
    let fake = home.join("bin/systemctl");
    std::fs::write(&fake, FAKE_SYSTEMCTL).expect("fake");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let calls = || std::fs::read_to_string(home.join("bin/calls.log")).unwrap_or_default();

    let out =
        ai_proxy(home, &["service", "install", "--mode", "serve", "--label", "test.ai-proxy"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let unit = home.join(".config/systemd/user/test.ai-proxy.service");
    let text = std::fs::read_to_string(&unit).expect("unit written");
    let config = home.join("project/config.yaml");
    assert!(
        text.contains(&format!(
            "ExecStart={} serve --config {}",
            bin().display(),
            config.display()
        )),
        "the job runs this binary with the config found in the current directory:\n{text}"
    );
    assert!(text.contains("Restart=on-failure"), "{text}");
    assert!(text.contains("Environment=AI_PROXY_LOG_STDERR=0"), "{text}");
    assert!(home.join(".local/state/ai-proxy").is_dir(), "the log folder is created");
    assert!(
        calls().starts_with("--user daemon-reload\n--user enable test.ai-proxy.service\n--user restart test.ai-proxy.service\n"),
        "{}",
        calls()
    );
    assert!(stdout.contains(&format!("wrote {}", unit.display())), "{stdout}");

    let out = ai_proxy(home, &["service", "status", "--label", "test.ai-proxy"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "not running → exit 3: {stdout}");
    assert_eq!(
        stdout.trim(),
        format!(
            "test.ai-proxy: installed at {}; starts at login; loaded, not running",
            unit.display()
        )
    );

    let out = ai_proxy(home, &["service", "uninstall", "--label", "test.ai-proxy"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!unit.exists());
    assert!(
        calls().ends_with("--user disable --now test.ai-proxy.service\n--user daemon-reload\n"),
        "{}",
        calls()
    );
}

#[test]
fn a_missing_config_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path();
    std::fs::create_dir_all(home.join("project")).expect("mkdir");
    let out = ai_proxy(home, &["service", "install", "--mode", "serve", "--config", "nope.yaml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.yaml (from --config) does not exist"), "{err}");
    assert!(!home.join(".config/systemd").exists());
}

#[test]
fn the_launchd_scripts_are_thin_wrappers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path();
    std::fs::create_dir_all(home.join("bin")).expect("mkdir");
    std::fs::create_dir_all(home.join("project")).expect("mkdir");
    std::fs::write(home.join("project/config.yaml"), "model_list: []\n").expect("config");
    let fake = home.join("bin/systemctl");
    std::fs::write(&fake, FAKE_SYSTEMCTL).expect("fake");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/launchd");
    let run = |script: &str| {
        Command::new("bash")
            .arg(scripts.join(script))
            .env_clear()
            .env("HOME", home)
            .env("PATH", format!("{}:/usr/bin:/bin", home.join("bin").display()))
            .env("AI_PROXY_BIN", bin())
            .env("LABEL", "seed.label")
            .env("MODE", "serve")
            .env("PROJECT_DIR", home.join("project"))
            .current_dir(home)
            .output()
            .expect("run script")
    };
    let out = run("install.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let unit = std::fs::read_to_string(home.join(".config/systemd/user/seed.label.service"))
        .expect("unit");
    assert!(
        unit.contains(&format!("serve --config {}", home.join("project/config.yaml").display())),
        "PROJECT_DIR selects the config, MODE the subcommand:\n{unit}"
    );
    assert_eq!(run("status.sh").status.code(), Some(3));
    assert!(run("uninstall.sh").status.success());
    assert!(!home.join(".config/systemd/user/seed.label.service").exists());
}

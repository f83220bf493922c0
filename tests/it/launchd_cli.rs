//! `ai-proxy service install | status | uninstall` through the real binary on macOS, with a
//! temporary HOME and a `launchctl` on PATH that records its calls: the LaunchAgent plist
//! passes Apple's own `plutil -lint` and holds the promised keys, and the `launchctl` calls
//! are the ones launchd needs. (The Linux counterpart with `systemctl` is `service_cli`; the
//! workflow also installs a job with the real `launchctl`.)

#![cfg(target_os = "macos")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::bin;

/// A fake `launchctl` that appends its arguments to calls.log and answers `print` like
/// launchd for a loaded job that is not running.
const FAKE_LAUNCHCTL: &str = r#"#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
case "$1" in
  print) printf 'gui/501/test.ai-proxy = {\n\tactive count = 0\n\tstate = not running\n}\n' ;;
esac
exit 0
"#;

/// HOME with `bin/launchctl` (the fake) and `project/config.yaml`.
fn home_with_fake_launchctl() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path();
    std::fs::create_dir_all(home.join("bin")).expect("mkdir");
    std::fs::create_dir_all(home.join("project")).expect("mkdir");
    std::fs::write(home.join("project/config.yaml"), "model_list: []\n").expect("config");
    let fake = home.join("bin/launchctl");
    std::fs::write(&fake, FAKE_LAUNCHCTL).expect("fake");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    tmp
}

fn path_with_fake(home: &Path) -> String {
    format!("{}:/usr/bin:/bin:/usr/sbin", home.join("bin").display())
}

fn ai_proxy(home: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", path_with_fake(home))
        .current_dir(home.join("project"))
        .output()
        .expect("run ai-proxy")
}

fn calls(home: &Path) -> String {
    std::fs::read_to_string(home.join("bin/calls.log")).unwrap_or_default()
}

fn uid() -> String {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `plutil -lint` (Apple's plist checker) accepts the file.
fn plutil_lint(file: &Path) {
    let out = Command::new("/usr/bin/plutil").arg("-lint").arg(file).output().expect("plutil");
    assert!(
        out.status.success(),
        "plutil -lint {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn install_status_uninstall_with_a_temporary_home() {
    let tmp = home_with_fake_launchctl();
    let home = tmp.path();
    let uid = uid();

    let out =
        ai_proxy(home, &["service", "install", "--mode", "serve", "--label", "test.ai-proxy"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let plist_file = home.join("Library/LaunchAgents/test.ai-proxy.plist");
    assert!(stdout.contains(&format!("wrote {}", plist_file.display())), "{stdout}");
    plutil_lint(&plist_file);
    assert_eq!(
        calls(home),
        format!(
            "enable gui/{uid}/test.ai-proxy\nbootout gui/{uid}/test.ai-proxy\nbootstrap gui/{uid} {}\nprint gui/{uid}/test.ai-proxy\nprint-disabled gui/{uid}\n",
            plist_file.display()
        ),
        "enable for login, replace a loaded copy, load the new file, then ask (state, and whether macOS disabled it)"
    );

    let job = plist::Value::from_file(&plist_file).expect("the plist parses");
    let d = job.as_dictionary().expect("a dict");
    let s = |k: &str| d.get(k).and_then(|v| v.as_string()).map(str::to_owned);
    assert_eq!(s("Label").as_deref(), Some("test.ai-proxy"));
    let args: Vec<&str> = d
        .get("ProgramArguments")
        .and_then(|v| v.as_array())
        .expect("ProgramArguments")
        .iter()
        .filter_map(|v| v.as_string())
        .collect();
    // The job runs this binary with the config found in the current directory (the
    // binary reports its folders resolved: /var is /private/var on macOS).
    assert_eq!(canonical(Path::new(args[0])), canonical(&bin()));
    assert_eq!(args[1..3], ["serve", "--config"]);
    assert_eq!(canonical(Path::new(args[3])), canonical(&home.join("project/config.yaml")));
    assert_eq!(d.get("RunAtLoad").and_then(|v| v.as_boolean()), Some(true));
    let keep_alive = d.get("KeepAlive").and_then(|v| v.as_dictionary()).expect("KeepAlive");
    assert_eq!(
        keep_alive.get("SuccessfulExit").and_then(|v| v.as_boolean()),
        Some(false),
        "restarted only after a crash: Quit stays quit"
    );
    assert_eq!(d.get("LimitLoadToSessionType"), None, "serve mode needs no GUI session");
    let logs = home.join("Library/Logs/ai-proxy");
    assert_eq!(
        s("StandardErrorPath"),
        Some(logs.join("test.ai-proxy.err.log").display().to_string())
    );
    assert!(logs.is_dir(), "the log folder is created");
    let vars = d.get("EnvironmentVariables").and_then(|v| v.as_dictionary()).expect("env");
    let path = vars.get("PATH").and_then(|v| v.as_string()).expect("PATH");
    assert!(path.starts_with("/opt/homebrew/bin:/usr/local/bin:"), "{path}");
    assert_eq!(vars.get("AI_PROXY_LOG_STDERR").and_then(|v| v.as_string()), Some("0"));

    let out = ai_proxy(home, &["service", "status", "--label", "test.ai-proxy"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "not running → exit 3: {stdout}");
    assert_eq!(
        stdout.trim(),
        format!(
            "test.ai-proxy: installed at {}; starts at login; loaded, not running",
            plist_file.display()
        )
    );

    let before = calls(home);
    let out = ai_proxy(home, &["service", "uninstall", "--label", "test.ai-proxy"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!plist_file.exists());
    assert_eq!(calls(home), format!("{before}bootout gui/{uid}/test.ai-proxy\n"));
}

#[cfg(feature = "tray")]
#[test]
fn the_menu_bar_app_job_belongs_to_the_gui_session() {
    let tmp = home_with_fake_launchctl();
    let home = tmp.path();
    let out = ai_proxy(
        home,
        &["service", "install", "--mode", "tray", "--no-start", "--label", "test.ai-proxy"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plist_file = home.join("Library/LaunchAgents/test.ai-proxy.plist");
    plutil_lint(&plist_file);
    assert!(!calls(home).contains("bootstrap"), "--no-start loads nothing now:\n{}", calls(home));
    let job = plist::Value::from_file(&plist_file).expect("the plist parses");
    let d = job.as_dictionary().expect("a dict");
    let s = |k: &str| d.get(k).and_then(|v| v.as_string()).map(str::to_owned);
    assert_eq!(s("LimitLoadToSessionType").as_deref(), Some("Aqua"));
    assert_eq!(s("ProcessType").as_deref(), Some("Interactive"));
    let second = d
        .get("ProgramArguments")
        .and_then(|v| v.as_array())
        .and_then(|a| a.get(1))
        .and_then(|v| v.as_string());
    assert_eq!(second, Some("tray"));
}

#[test]
fn the_launchd_scripts_are_thin_wrappers() {
    let tmp = home_with_fake_launchctl();
    let home = tmp.path();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/launchd");
    let run = |script: &str| {
        Command::new("bash")
            .arg(scripts.join(script))
            .env_clear()
            .env("HOME", home)
            .env("PATH", path_with_fake(home))
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
    let plist_file = home.join("Library/LaunchAgents/seed.label.plist");
    plutil_lint(&plist_file);
    let text = std::fs::read_to_string(&plist_file).expect("plist");
    assert!(
        text.contains(&format!("<string>{}</string>", home.join("project/config.yaml").display()))
            && text.contains("<string>serve</string>"),
        "PROJECT_DIR selects the config, MODE the subcommand:\n{text}"
    );
    assert_eq!(run("status.sh").status.code(), Some(3));
    assert!(run("uninstall.sh").status.success());
    assert!(!plist_file.exists());
}

//! Tests of the login-job text (snapshots, parsed back) and of install / status / uninstall
//! against a temporary HOME with a fake `launchctl` / `systemctl` that records its calls.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::*;
use crate::config::Env;

fn mac_spec(mode: Mode) -> Spec {
    Spec {
        label: DEFAULT_LABEL.to_owned(),
        mode,
        program: PathBuf::from("/Applications/AI Proxy.app/Contents/MacOS/ai-proxy"),
        args: vec!["--config".into(), "/Users/ann/ai proxy/config & more.yaml".into()],
        log_dir: PathBuf::from("/Users/ann/Library/Logs/ai-proxy"),
        path_env: job_path(
            Os::MacOs,
            Some("/Users/ann/google-cloud-sdk/bin:/usr/bin:relative/bin"),
        ),
    }
}

fn linux_spec(mode: Mode) -> Spec {
    Spec {
        label: DEFAULT_LABEL.to_owned(),
        mode,
        program: PathBuf::from("/home/ann/.cargo/bin/ai-proxy"),
        args: vec!["--config".into(), "/home/ann/ai proxy/config.yaml".into()],
        log_dir: PathBuf::from("/home/ann/.local/state/ai-proxy"),
        path_env: job_path(Os::Linux, Some("/home/ann/.local/bin:/usr/bin")),
    }
}

#[test]
fn launchd_plist_text() {
    insta::assert_snapshot!("launchd_tray", launchd::plist(&mac_spec(Mode::Tray)));
    insta::assert_snapshot!("launchd_serve", launchd::plist(&mac_spec(Mode::Serve)));
}

#[test]
fn launchd_plist_parses_back_with_the_promised_keys() {
    let text = launchd::plist(&mac_spec(Mode::Tray));
    let value = plist::Value::from_reader_xml(text.as_bytes()).expect("valid plist XML");
    let d = value.as_dictionary().expect("top-level dict");
    assert_eq!(d.get("Label").and_then(|v| v.as_string()), Some(DEFAULT_LABEL));
    let args: Vec<&str> = d
        .get("ProgramArguments")
        .and_then(|v| v.as_array())
        .expect("ProgramArguments")
        .iter()
        .map(|v| v.as_string().expect("string"))
        .collect();
    assert_eq!(
        args,
        [
            "/Applications/AI Proxy.app/Contents/MacOS/ai-proxy",
            "tray",
            "--config",
            "/Users/ann/ai proxy/config & more.yaml"
        ]
    );
    assert_eq!(d.get("RunAtLoad").and_then(|v| v.as_boolean()), Some(true));
    let keep = d.get("KeepAlive").and_then(|v| v.as_dictionary()).expect("KeepAlive dict");
    assert_eq!(keep.get("SuccessfulExit").and_then(|v| v.as_boolean()), Some(false));
    assert_eq!(keep.len(), 1, "KeepAlive only on abnormal exit");
    assert_eq!(
        d.get("StandardOutPath").and_then(|v| v.as_string()),
        Some("/Users/ann/Library/Logs/ai-proxy/com.local.ai-proxy.out.log")
    );
    assert_eq!(
        d.get("StandardErrorPath").and_then(|v| v.as_string()),
        Some("/Users/ann/Library/Logs/ai-proxy/com.local.ai-proxy.err.log")
    );
    let env = d.get("EnvironmentVariables").and_then(|v| v.as_dictionary()).expect("env");
    let path = env.get("PATH").and_then(|v| v.as_string()).expect("PATH");
    let dirs: Vec<&str> = path.split(':').collect();
    assert_eq!(&dirs[..2], ["/opt/homebrew/bin", "/usr/local/bin"]);
    assert!(dirs.contains(&"/Users/ann/google-cloud-sdk/bin"), "{path}");
    assert!(!dirs.contains(&"relative/bin"), "{path}");
    assert_eq!(dirs.iter().filter(|d| **d == "/usr/bin").count(), 1, "{path}");
    assert_eq!(env.get("AI_PROXY_LOG_STDERR").and_then(|v| v.as_string()), Some("0"));
}

#[test]
fn systemd_unit_text() {
    insta::assert_snapshot!("systemd_tray", systemd::unit(&linux_spec(Mode::Tray)));
    insta::assert_snapshot!("systemd_serve", systemd::unit(&linux_spec(Mode::Serve)));
}

#[test]
fn config_arguments_follow_what_the_installer_found() {
    let cwd = Path::new("/work");
    let f = |p: &str, rule| Found::File { path: p.into(), rule };
    assert_eq!(
        config_args(&f("config.yaml", "./config.yaml"), None, cwd),
        ["--config", "/work/config.yaml"]
    );
    assert_eq!(
        config_args(&f("/etc/a.yaml", "--config"), Some(Path::new(".env")), cwd),
        ["--config", "/etc/a.yaml", "--env-file", "/work/.env"]
    );
    assert!(
        config_args(&f("/h/.config/ai-proxy/config.yaml", "user config folder"), None, cwd)
            .is_empty()
    );
    assert!(config_args(&Found::Embedded, None, cwd).is_empty());
}

/// A fake launchctl / systemctl with just enough state to answer like the real ones.
#[derive(Default)]
struct FakeManager {
    calls: Mutex<Vec<String>>,
    loaded: Mutex<BTreeSet<String>>,
    enabled: Mutex<BTreeSet<String>>,
    /// launchd labels turned off (launchctl disable, or the Login Items switch).
    disabled: Mutex<BTreeSet<String>>,
    /// Print the disabled list the way macOS 12 and older do (`=> true`).
    old_format: bool,
    /// The loaded launchd job is not running (quit or crashed, waiting).
    idle: bool,
    missing: bool,
}

impl FakeManager {
    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().expect("lock"))
    }
}

fn ok(stdout: &str) -> io::Result<Output> {
    Ok(Output { success: true, stdout: stdout.to_owned(), stderr: String::new() })
}

fn fail(stderr: &str) -> io::Result<Output> {
    Ok(Output { success: false, stdout: String::new(), stderr: stderr.to_owned() })
}

impl Runner for &FakeManager {
    fn run(&self, program: &str, args: &[String]) -> io::Result<Output> {
        self.calls.lock().expect("lock").push(format!("{program} {}", args.join(" ")));
        if self.missing {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such file"));
        }
        let mut loaded = self.loaded.lock().expect("lock");
        let mut enabled = self.enabled.lock().expect("lock");
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match (program, a.as_slice()) {
            ("launchctl", ["enable", target]) => {
                let label = target.rsplit('/').next().expect("label");
                self.disabled.lock().expect("lock").remove(label);
                ok("")
            }
            ("launchctl", ["print-disabled", domain]) => {
                let mut out =
                    String::from("disabled services = {\n\t\"com.apple.Siri.agent\" => enabled\n");
                for label in self.disabled.lock().expect("lock").iter() {
                    let v = if self.old_format { "true" } else { "disabled" };
                    out.push_str(&format!("\t\"{label}\" => {v}\n"));
                }
                out.push_str(&format!(
                    "}}\n\nlogin item associations = {{\n\t\"{domain}\" => disabled\n}}\n"
                ));
                ok(&out)
            }
            ("launchctl", ["bootstrap", domain, plist]) => {
                assert!(Path::new(plist).exists(), "bootstrap of a missing plist");
                let label =
                    Path::new(plist).file_stem().expect("stem").to_string_lossy().into_owned();
                loaded.insert(format!("{domain}/{label}"));
                ok("")
            }
            ("launchctl", ["bootout", target]) => {
                if loaded.remove(*target) {
                    ok("")
                } else {
                    fail("Boot-out failed: 3: No such process")
                }
            }
            ("launchctl", ["print", target]) => {
                if loaded.contains(*target) && self.idle {
                    ok(&format!("{target} = {{\n\tactive count = 0\n\tstate = not running\n}}\n"))
                } else if loaded.contains(*target) {
                    ok(&format!(
                        "{target} = {{\n\tactive count = 1\n\tstate = running\n\tpid = 4242\n}}\n"
                    ))
                } else {
                    fail(&format!("Could not find service \"{target}\" in domain"))
                }
            }
            ("systemctl", ["--user", "daemon-reload"]) => ok(""),
            ("systemctl", ["--user", "enable", unit]) => {
                enabled.insert((*unit).to_owned());
                ok("")
            }
            ("systemctl", ["--user", "restart", unit]) => {
                loaded.insert((*unit).to_owned());
                ok("")
            }
            ("systemctl", ["--user", "disable", rest @ ..]) => {
                let unit = rest.last().expect("unit");
                enabled.remove(*unit);
                if rest.contains(&"--now") {
                    loaded.remove(*unit);
                }
                ok("")
            }
            ("systemctl", ["--user", "is-enabled", unit]) => {
                if enabled.contains(*unit) {
                    ok("enabled\n")
                } else {
                    Ok(Output {
                        success: false,
                        stdout: "disabled\n".into(),
                        stderr: String::new(),
                    })
                }
            }
            ("systemctl", ["--user", "show", unit, _]) => {
                if loaded.contains(*unit) {
                    ok("LoadState=loaded\nActiveState=active\nMainPID=4242\n")
                } else {
                    ok("LoadState=not-found\nActiveState=inactive\nMainPID=0\n")
                }
            }
            _ => panic!("unexpected call: {program} {a:?}"),
        }
    }
}

fn home() -> (tempfile::TempDir, UserDirs, UserDirs) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = Env::from_vars([("HOME", tmp.path().to_str().expect("utf8"))]);
    let mac = UserDirs::from_env(&env, Os::MacOs).expect("dirs");
    let linux = UserDirs::from_env(&env, Os::Linux).expect("dirs");
    (tmp, mac, linux)
}

fn spec_in(dirs: &UserDirs, mode: Mode) -> Spec {
    Spec {
        label: DEFAULT_LABEL.to_owned(),
        mode,
        program: PathBuf::from("/usr/local/bin/ai-proxy"),
        args: Vec::new(),
        log_dir: dirs.log_dir(),
        path_env: job_path(dirs.os, None),
    }
}

#[test]
fn launchd_install_status_uninstall_in_a_temporary_home() {
    let (_tmp, dirs, _) = home();
    let fake = FakeManager::default();
    let m = Manager::new(Kind::Launchd { uid: 501 }, dirs.clone(), &fake);
    let plist_file = dirs.launch_agents_dir().join("com.local.ai-proxy.plist");

    let st = m.status(DEFAULT_LABEL);
    assert!(!st.installed && !st.at_login);
    assert_eq!(st.state, RunState::NotLoaded);
    assert_eq!(fake.calls(), ["launchctl print gui/501/com.local.ai-proxy"]);

    // Install and start now (the CLI default).
    let file = m.install(&spec_in(&dirs, Mode::Tray), true).expect("install");
    assert_eq!(file, plist_file);
    assert!(dirs.log_dir().is_dir(), "the log folder exists for StandardOutPath");
    let text = std::fs::read_to_string(&file).expect("plist written");
    assert!(text.contains("<string>tray</string>"), "{text}");
    assert_eq!(
        fake.calls(),
        [
            "launchctl enable gui/501/com.local.ai-proxy",
            "launchctl bootout gui/501/com.local.ai-proxy",
            format!("launchctl bootstrap gui/501 {}", plist_file.display()).as_str(),
        ]
    );
    let st = m.status(DEFAULT_LABEL);
    assert!(st.installed && st.at_login && !st.disabled);
    assert_eq!(st.state, RunState::Running { pid: Some(4242) });
    assert_eq!(
        fake.calls(),
        ["launchctl print gui/501/com.local.ai-proxy", "launchctl print-disabled gui/501"]
    );
    assert_eq!(
        st.to_string(),
        format!(
            "com.local.ai-proxy: installed at {}; starts at login; running (pid 4242)",
            plist_file.display()
        )
    );
    fake.calls();

    // Uninstall and stop.
    assert!(m.uninstall(DEFAULT_LABEL, true).expect("uninstall"));
    assert_eq!(fake.calls(), ["launchctl bootout gui/501/com.local.ai-proxy"]);
    assert!(!plist_file.exists());
    let st = m.status(DEFAULT_LABEL);
    assert!(!st.installed && !st.at_login);
    assert_eq!(st.state, RunState::NotLoaded);
    // Uninstalling twice is not an error.
    fake.calls();
    assert!(!m.uninstall(DEFAULT_LABEL, true).expect("second uninstall"));
}

#[test]
fn launchd_login_item_from_the_menu_does_not_start_or_kill_the_running_app() {
    let (_tmp, dirs, _) = home();
    let fake = FakeManager::default();
    let m = Manager::new(Kind::Launchd { uid: 501 }, dirs.clone(), &fake);
    m.install(&spec_in(&dirs, Mode::Tray), false).expect("install");
    assert_eq!(
        fake.calls(),
        ["launchctl enable gui/501/com.local.ai-proxy"],
        "no bootstrap: no second tray"
    );
    assert!(m.status(DEFAULT_LABEL).at_login);
    fake.calls();
    m.uninstall(DEFAULT_LABEL, false).expect("uninstall");
    assert_eq!(
        fake.calls(),
        ["launchctl print gui/501/com.local.ai-proxy"],
        "not loaded: nothing to boot out"
    );
    assert!(!m.status(DEFAULT_LABEL).at_login);
}

#[test]
fn launchd_unticking_boots_out_an_idle_job_but_never_a_running_one() {
    let (_tmp, dirs, _) = home();
    // Loaded and running (this menu-bar app, started by the job): left running.
    let fake = FakeManager::default();
    let m = Manager::new(Kind::Launchd { uid: 501 }, dirs.clone(), &fake);
    m.install(&spec_in(&dirs, Mode::Tray), true).expect("install");
    fake.calls();
    assert!(m.uninstall(DEFAULT_LABEL, false).expect("uninstall"));
    assert_eq!(fake.calls(), ["launchctl print gui/501/com.local.ai-proxy"]);
    assert_eq!(m.status(DEFAULT_LABEL).state, RunState::Running { pid: Some(4242) });

    // Loaded but not running (a KeepAlive job waiting): booted out, nothing left loaded.
    let fake = FakeManager { idle: true, ..FakeManager::default() };
    let m = Manager::new(Kind::Launchd { uid: 501 }, dirs.clone(), &fake);
    m.install(&spec_in(&dirs, Mode::Tray), true).expect("install");
    fake.calls();
    assert!(m.uninstall(DEFAULT_LABEL, false).expect("uninstall"));
    assert_eq!(
        fake.calls(),
        [
            "launchctl print gui/501/com.local.ai-proxy",
            "launchctl bootout gui/501/com.local.ai-proxy"
        ]
    );
    assert_eq!(m.status(DEFAULT_LABEL).state, RunState::NotLoaded);
}

#[test]
fn launchd_disabled_in_system_settings_is_not_at_login() {
    for old_format in [false, true] {
        let (_tmp, dirs, _) = home();
        let fake = FakeManager { old_format, ..FakeManager::default() };
        let m = Manager::new(Kind::Launchd { uid: 501 }, dirs.clone(), &fake);
        m.install(&spec_in(&dirs, Mode::Tray), false).expect("install");
        fake.disabled.lock().expect("lock").insert(DEFAULT_LABEL.to_owned());
        let st = m.status(DEFAULT_LABEL);
        assert!(st.installed && st.disabled && !st.at_login, "{st:?}");
        assert!(
            st.to_string().contains(
                "disabled in System Settings > General > Login Items (or by launchctl disable): does not start at login"
            ),
            "{st}"
        );
        // Installing again enables it (launchctl enable).
        m.install(&spec_in(&dirs, Mode::Tray), false).expect("install");
        assert!(m.status(DEFAULT_LABEL).at_login);
    }
}

#[test]
fn launchctl_print_disabled_is_parsed() {
    // Written from launchctl(1)'s documented `print-disabled` output, not captured on a Mac.
    let new = "disabled services = {\n\t\"com.apple.ftpd\" => disabled\n\t\"com.local.ai-proxy\" => disabled\n\t\"com.other\" => enabled\n}\n\nlogin item associations = {\n\t\"com.local.ai-proxy\" => enabled\n}\n";
    assert!(launchd::parse_print_disabled(new, "com.local.ai-proxy"));
    assert!(!launchd::parse_print_disabled(new, "com.other"));
    assert!(!launchd::parse_print_disabled(new, "com.local"), "exact label only");
    let old =
        "disabled services = {\n\t\"com.local.ai-proxy\" => true\n\t\"com.other\" => false\n}\n";
    assert!(launchd::parse_print_disabled(old, "com.local.ai-proxy"));
    assert!(!launchd::parse_print_disabled(old, "com.other"));
    // Listed only outside the disabled services block: not disabled.
    let elsewhere = "disabled services = {\n}\n\nlogin item associations = {\n\t\"com.local.ai-proxy\" => disabled\n}\n";
    assert!(!launchd::parse_print_disabled(elsewhere, "com.local.ai-proxy"));
    assert!(!launchd::parse_print_disabled("", "com.local.ai-proxy"));
}

#[test]
fn systemd_install_status_uninstall_in_a_temporary_home() {
    let (_tmp, _, dirs) = home();
    let fake = FakeManager::default();
    let m = Manager::new(Kind::Systemd, dirs.clone(), &fake);
    let unit_file = dirs.systemd_user_dir().join("com.local.ai-proxy.service");

    let file = m.install(&spec_in(&dirs, Mode::Serve), true).expect("install");
    assert_eq!(file, unit_file);
    assert!(
        std::fs::read_to_string(&file)
            .expect("unit")
            .contains("ExecStart=/usr/local/bin/ai-proxy serve")
    );
    assert_eq!(
        fake.calls(),
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable com.local.ai-proxy.service",
            "systemctl --user restart com.local.ai-proxy.service",
        ]
    );
    let st = m.status(DEFAULT_LABEL);
    assert!(st.installed && st.at_login && !st.disabled, "systemd has no disabled-by-system state");
    assert_eq!(st.state, RunState::Running { pid: Some(4242) });
    assert_eq!(
        fake.calls(),
        [
            "systemctl --user is-enabled com.local.ai-proxy.service",
            "systemctl --user show com.local.ai-proxy.service --property=LoadState,ActiveState,MainPID",
        ]
    );
    fake.calls();

    assert!(m.uninstall(DEFAULT_LABEL, true).expect("uninstall"));
    assert_eq!(
        fake.calls(),
        [
            "systemctl --user disable --now com.local.ai-proxy.service",
            "systemctl --user daemon-reload",
        ]
    );
    assert!(!unit_file.exists());
    let st = m.status(DEFAULT_LABEL);
    assert!(!st.installed && !st.at_login);
    assert_eq!(st.state, RunState::NotLoaded);
}

#[test]
fn a_missing_service_manager_is_reported_not_hidden() {
    let (_tmp, _, dirs) = home();
    let fake = FakeManager { missing: true, ..FakeManager::default() };
    let m = Manager::new(Kind::Systemd, dirs.clone(), &fake);
    let e = m.install(&spec_in(&dirs, Mode::Serve), false).expect_err("no systemctl");
    assert_eq!(e.to_string(), "`systemctl --user daemon-reload` failed: systemctl not found");
    let st = m.status(DEFAULT_LABEL);
    assert!(st.installed, "the unit file was written");
    assert!(!st.at_login, "but it is not enabled");
    assert_eq!(st.state, RunState::Unknown("systemctl not found".into()));
}

#[test]
fn launchctl_print_is_parsed() {
    assert_eq!(
        launchd::parse_print("gui/501/x = {\n\tstate = running\n\tpid = 77\n}"),
        RunState::Running { pid: Some(77) }
    );
    assert_eq!(
        launchd::parse_print("gui/501/x = {\n\tstate = not running\n\tlast exit code = 0\n}"),
        RunState::Loaded
    );
}

#[test]
fn default_mode_depends_on_the_build() {
    assert_eq!(Mode::default_for_build() == Mode::Tray, cfg!(feature = "tray"));
}

#[test]
fn a_translocated_app_is_refused() {
    let moved = Path::new(
        "/private/var/folders/xy/abc123/T/AppTranslocation/0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0/d/AI Proxy.app/Contents/MacOS/ai-proxy",
    );
    let why = translocation_problem(moved).expect("refused");
    assert!(why.starts_with("AI Proxy.app runs from a temporary copy"), "{why}");
    assert!(why.contains("move AI Proxy.app to /Applications"), "{why}");
    for fine in [
        "/Applications/AI Proxy.app/Contents/MacOS/ai-proxy",
        "/Users/me/Applications/AI Proxy.app/Contents/MacOS/ai-proxy",
        "/Volumes/External/AI Proxy.app/Contents/MacOS/ai-proxy",
        "/usr/local/bin/ai-proxy",
        "/home/me/.local/bin/ai-proxy",
    ] {
        assert_eq!(translocation_problem(Path::new(fine)), None, "{fine}");
    }

    // Install writes nothing and calls nothing for such a path.
    let (_tmp, dirs, _) = home();
    let fake = FakeManager::default();
    let m = Manager::new(Kind::Launchd { uid: 501 }, dirs.clone(), &fake);
    let spec = Spec { program: moved.to_owned(), ..spec_in(&dirs, Mode::Tray) };
    let e = m.install(&spec, false).expect_err("refused").to_string();
    assert!(e.contains("App Translocation"), "{e}");
    assert!(fake.calls().is_empty());
    assert!(!m.file(DEFAULT_LABEL).exists());
}

//! The menu-bar app as a process. With the `tray` feature (on Linux under Xvfb, on macOS in
//! the logged-in session, as GitHub's macOS runners have): the gateway answers
//! /health/readiness, a second copy says the first one runs, SIGHUP reloads, and SIGTERM stops
//! it cleanly within the grace period while an in-flight request finishes. Without the
//! feature: `ai-proxy tray` says how to get it.

#[cfg(not(feature = "tray"))]
#[test]
fn without_the_feature_tray_explains_how_to_build_it() {
    use std::process::Command;

    use crate::support::bin;

    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(bin())
        .args(["tray", "--port", "0"])
        .env_clear()
        .env("HOME", tmp.path())
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("built without the menu-bar app"), "{err}");
    assert!(err.contains("--features tray"), "{err}");
}

#[cfg(all(feature = "tray", any(target_os = "linux", target_os = "macos")))]
mod process {
    use std::io::{BufRead, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use std::process::Command;

    use ai_proxy::config::Env;
    use ai_proxy::paths::{Os, UserDirs};

    use crate::support::{MockUpstream, bin, client, dashscope};

    /// The platform's folders under a temporary HOME, as the app computes them.
    fn dirs(home: &Path) -> UserDirs {
        let home = home.display().to_string();
        UserDirs::from_env(&Env::from_vars([("HOME", home.as_str())]), Os::current())
            .expect("an absolute HOME")
    }

    /// Kills what is left if an assertion fails half-way.
    struct Running {
        child: Child,
        home: PathBuf,
        stderr: Arc<Mutex<String>>,
    }

    impl Running {
        fn lock_file(&self) -> PathBuf {
            dirs(&self.home).state_dir().join("tray.lock")
        }

        fn tray_pid(&self) -> u32 {
            std::fs::read_to_string(self.lock_file())
                .expect("the tray holds its lock file")
                .trim()
                .parse()
                .expect("the lock file holds a pid")
        }

        fn stderr(&self) -> String {
            self.stderr.lock().expect("lock").clone()
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            if self.child.try_wait().ok().flatten().is_none() {
                if let Ok(pid) = std::fs::read_to_string(self.lock_file()) {
                    let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
                }
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }

    /// `ai-proxy` where a menu-bar app can run: under `xvfb-run -a` on Linux (a virtual
    /// display), as is on macOS (the session's window server).
    #[cfg(target_os = "linux")]
    fn tray_command() -> Command {
        let found = Command::new("xvfb-run")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            found,
            "xvfb-run is missing: install the xvfb and xauth packages (scripts/test-deps does)"
        );
        let mut cmd = Command::new("xvfb-run");
        cmd.arg("-a").arg(bin());
        cmd
    }

    #[cfg(target_os = "macos")]
    fn tray_command() -> Command {
        Command::new(bin())
    }

    fn start(home: &Path, config: &Path) -> (Running, String) {
        let mut child = tray_command()
            .args(["tray", "--port", "0", "--grace-seconds", "8", "--config"])
            .arg(config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("RUST_LOG", "info")
            // Not a secret-store test: read none (on macOS that would be the user's Keychain).
            .env("AI_PROXY_SECRET_STORE", "none")
            .current_dir(home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the tray");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().expect("lock");
                s.push_str(&line);
                s.push('\n');
            }
        });
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let running = Running { child, home: home.to_owned(), stderr };
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => panic!("the tray did not announce its URL; stderr:\n{}", running.stderr()),
        };
        (running, line)
    }

    #[tokio::test]
    async fn tray_serves_refuses_a_second_copy_reloads_and_stops_on_sigterm() {
        let up = MockUpstream::start(dashscope::router());
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path();
        let config = home.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "model_list:\n  - model_name: qwen-slow\n    litellm_params:\n      model: dashscope/qwen-slow\n      api_base: {}/compatible-mode/v1\n      api_key: {}\n      timeout: 10\n",
                up.url(),
                dashscope::KEY
            ),
        )
        .expect("config");

        let (mut tray, line) = start(home, &config);
        let log = dirs(home).log_dir().join("ai-proxy.log");
        assert!(
            line.ends_with(&format!("(1 of 1 models ready) - logs: {}", log.display())),
            "{line}"
        );
        let base = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .expect("URL")
            .to_owned();
        let ready =
            client().get(format!("{base}/health/readiness")).send().await.expect("readiness");
        assert_eq!(ready.status(), 200);
        let body: serde_json::Value = ready.json().await.expect("json");
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["models_available"], 1);

        // A second copy notices the first and exits successfully (a login job would not
        // restart it).
        let second = Command::new(bin())
            .args(["tray", "--port", "0", "--config"])
            .arg(&config)
            .env_clear()
            .env("HOME", home)
            .current_dir(home)
            .output()
            .expect("second copy");
        let pid = tray.tray_pid();
        assert!(second.status.success());
        assert_eq!(
            String::from_utf8_lossy(&second.stdout).trim(),
            format!(
                "ai-proxy tray is already running (pid {pid}): use its menu-bar icon. This second copy exits."
            )
        );

        // SIGHUP is the menu's Reload: a model added to the file appears on the same address.
        std::fs::write(
            &config,
            format!(
                "{}  - model_name: mock\n    litellm_params:\n      model: mock/echo\n",
                std::fs::read_to_string(&config).expect("config")
            ),
        )
        .expect("config");
        let hup = Command::new("kill").args(["-HUP", &pid.to_string()]).status().expect("kill");
        assert!(hup.success());
        let mut available = 0;
        for _ in 0..100 {
            let body: serde_json::Value = client()
                .get(format!("{base}/health/readiness"))
                .send()
                .await
                .expect("readiness after SIGHUP")
                .json()
                .await
                .expect("json");
            available = body["models_available"].as_u64().unwrap_or_default();
            if available == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(available, 2, "reloaded in place; stderr:\n{}", tray.stderr());
        // The log line comes right after the switch, on another thread's pipe.
        for _ in 0..100 {
            if tray.stderr().contains("reloaded the config on") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(tray.stderr().contains("reloaded the config on"), "{}", tray.stderr());

        // SIGTERM while a request is in flight: it completes, then the app exits cleanly.
        let inflight =
            crate::support::slow_request_in_flight(format!("{base}/v1/chat/completions"), &up)
                .await;
        let sent = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
        assert!(sent.success());
        assert_eq!(inflight.await.expect("join").as_u16(), 200, "the in-flight request finished");

        let started = Instant::now();
        let status = loop {
            if let Some(s) = tray.child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "still running after SIGTERM; stderr:\n{}",
                tray.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let stderr = tray.stderr();
        assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
        assert!(stderr.contains("stopping the gateway"), "{stderr}");
        assert!(stderr.contains("menu-bar app exited"), "{stderr}");
        let logged = std::fs::read_to_string(&log).expect("log file");
        assert!(logged.contains("menu-bar app exited"), "the same lines reach the log file");
        assert!(!logged.contains(dashscope::KEY), "the upstream key is never logged");
        assert!(
            client().get(format!("{base}/health/readiness")).send().await.is_err(),
            "the port is closed"
        );
    }
}

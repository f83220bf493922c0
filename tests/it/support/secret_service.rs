//! A private D-Bus session bus, and on it a real Secret Service (gnome-keyring-daemon), for
//! the Linux desktop-store tests. Each test gets its own bus socket, HOME and keyring files
//! in a temp folder. The bus has no service activation, so nothing starts on it by itself
//! (an unlock prompt cannot appear: gnome-keyring reports it dismissed).

#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SessionBus {
    pub address: String,
    dir: tempfile::TempDir,
    bus: Child,
    keyring: Option<Child>,
}

/// The password of the test login keyring (it only protects the temp folder's files).
const KEYRING_PASSWORD: &str = "test-login-password";

fn need(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} not found: the Secret Service tests need it (Debian package {package}; scripts/test-deps installs it)"
    );
}

impl SessionBus {
    /// A bare session bus: no Secret Service on it.
    pub fn start() -> SessionBus {
        need("dbus-daemon", "dbus-daemon");
        need("dbus-send", "dbus-bin");
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["home", "run"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig>\n  <type>session</type>\n  <listen>unix:path={}</listen>\n  <auth>EXTERNAL</auth>\n  \
                 <policy context=\"default\">\n    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n    \
                 <allow eavesdrop=\"true\"/>\n    <allow own=\"*\"/>\n  </policy>\n</busconfig>\n",
                socket.display()
            ),
        )
        .expect("write bus.conf");
        let bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dbus-daemon");
        let address = format!("unix:path={}", socket.display());
        let bus = SessionBus { address, dir, bus, keyring: None };
        bus.wait_for(|| socket.exists(), "the session bus socket");
        bus
    }

    /// A session bus with gnome-keyring-daemon's Secret Service on it and an unlocked
    /// login keyring (created on the spot, as at a desktop login).
    pub fn with_keyring() -> SessionBus {
        SessionBus::with_gnome_keyring(true)
    }

    /// gnome-keyring's Secret Service with no keyring at all (never unlocked at a login, as
    /// under WSL): it answers, but has no default collection to store items in.
    pub fn with_no_default_keyring() -> SessionBus {
        SessionBus::with_gnome_keyring(false)
    }

    fn with_gnome_keyring(login: bool) -> SessionBus {
        need("gnome-keyring-daemon", "gnome-keyring");
        let mut bus = SessionBus::start();
        let mut args = vec!["--foreground", "--components=secrets"];
        if login {
            args.push("--unlock");
        }
        let mut child = Command::new("gnome-keyring-daemon")
            .args(&args)
            .env_clear()
            .envs(bus.env())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn gnome-keyring-daemon");
        // --unlock reads the login password from stdin, up to end of file.
        let mut stdin = child.stdin.take().expect("stdin");
        if login {
            stdin.write_all(KEYRING_PASSWORD.as_bytes()).expect("write the keyring password");
        }
        drop(stdin);
        bus.keyring = Some(child);
        bus.wait_for(|| bus.name_has_owner("org.freedesktop.secrets"), "gnome-keyring on the bus");
        bus
    }

    /// The variables a client on this bus needs (HOME and XDG dirs point into the temp folder).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let home = self.home();
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.address.clone()),
            ("HOME", home.display().to_string()),
            ("XDG_DATA_HOME", home.join(".local/share").display().to_string()),
            ("XDG_RUNTIME_DIR", self.dir.path().join("run").display().to_string()),
        ]
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Where gnome-keyring keeps its keyring files.
    pub fn keyrings_dir(&self) -> PathBuf {
        self.home().join(".local/share/keyrings")
    }

    /// A command with a clean environment that talks to this bus.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env())
            .stdin(Stdio::null());
        cmd
    }

    /// `secret-tool lookup service <service> username <name>`: what other tools see.
    pub fn secret_tool_lookup(&self, service: &str, name: &str) -> Option<String> {
        need("secret-tool", "libsecret-tools");
        let out = self
            .command("secret-tool")
            .args(["lookup", "service", service, "username", name])
            .output()
            .expect("secret-tool");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `secret-tool store`, as a user would put a value in the keyring by hand.
    pub fn secret_tool_store(&self, service: &str, name: &str, value: &str) {
        need("secret-tool", "libsecret-tools");
        let mut child = self
            .command("secret-tool")
            .args([
                "store",
                "--label",
                &format!("{name} by hand"),
                "service",
                service,
                "username",
                name,
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("secret-tool");
        child.stdin.take().expect("stdin").write_all(value.as_bytes()).expect("write");
        assert!(child.wait().expect("secret-tool").success(), "secret-tool store failed");
    }

    /// Lock the login keyring (the Secret Service's Lock needs no prompt).
    pub fn lock_login_keyring(&self) {
        let out = self
            .command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .output()
            .expect("dbus-send");
        assert!(out.status.success(), "lock: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn name_has_owner(&self, name: &str) -> bool {
        self.command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                &format!("string:{name}"),
            ])
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("boolean true")
            })
    }

    fn wait_for(&self, ready: impl Fn() -> bool, what: &str) {
        let start = Instant::now();
        while !ready() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{what} did not come up within 15 s"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// Every file under `dir` (the keyring files), to check that no value is in them in plain text.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        for child in self.keyring.iter_mut().chain(std::iter::once(&mut self.bus)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

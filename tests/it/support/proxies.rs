//! Real proxy servers for egress tests: `tinyproxy` (HTTP, CONNECT, BasicAuth) and
//! `microsocks` (SOCKS5), from Debian or Homebrew, started on free loopback ports with
//! generated config files, their logs read to see what each proxy carried, and killed when
//! dropped.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A port that was free a moment ago (the proxies cannot bind port 0 and report it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Where a proxy program is looked for after PATH: Homebrew (Apple silicon, then Intel) and
/// the system folders, so a test run from an IDE or a login shell with a short PATH finds it.
const TOOL_DIRS: &[&str] = &[
    "/opt/homebrew/bin",
    "/opt/homebrew/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/bin",
    "/usr/sbin",
];

/// The full path of `bin` (on PATH, else in [`TOOL_DIRS`]); panics saying how to install it.
fn require(bin: &str, debian_package: &str, brew_formula: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(TOOL_DIRS.iter().map(PathBuf::from));
    for dir in dirs {
        let p = dir.join(bin);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{bin}` was not found on PATH nor in {}: the egress tests need it (Debian: apt-get install {debian_package}, which scripts/test-deps does; macOS: brew install {brew_formula})",
        TOOL_DIRS.join(", ")
    );
}

fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} is not listening on 127.0.0.1:{port} after 10s");
}

/// A tinyproxy instance.
pub struct Tinyproxy {
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    pub fn start() -> Tinyproxy {
        Tinyproxy::start_with_auth(None)
    }

    /// With `BasicAuth user password` when `auth` is given.
    pub fn start_with_auth(auth: Option<(&str, &str)>) -> Tinyproxy {
        let bin = require("tinyproxy", "tinyproxy-bin", "tinyproxy");
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("tinyproxy.log");
        let port = free_port();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 50\nDisableViaHeader Yes\n",
            log.display()
        );
        if let Some((u, p)) = auth {
            conf.push_str(&format!("BasicAuth {u} {p}\n"));
        }
        let conf_path = dir.path().join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).expect("write tinyproxy.conf");
        let mut child = Command::new(bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tinyproxy");
        wait_listening(port, &mut child, "tinyproxy");
        Tinyproxy { port, child, log, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines tinyproxy logged (`GET http://...`, `CONNECT host:port`).
    pub fn requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split("Request (file descriptor ").nth(1))
            .filter_map(|l| l.split_once("): ").map(|(_, r)| r.to_owned()))
            .collect()
    }

    /// Whether the proxy carried any request to `host_port` (e.g. "127.0.0.1:4567").
    pub fn carried(&self, host_port: &str) -> bool {
        self.requests().iter().any(|r| r.contains(host_port))
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A microsocks (SOCKS5) instance; its stderr lines say where each client connected.
pub struct Microsocks {
    pub port: u16,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Microsocks {
    pub fn start(auth: Option<(&str, &str)>) -> Microsocks {
        let bin = require("microsocks", "microsocks", "microsocks");
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((u, p)) = auth {
            cmd.args(["-u", u, "-P", p]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn microsocks");
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = output.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut s = sink.lock().expect("lock");
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        wait_listening(port, &mut child, "microsocks");
        Microsocks { port, child, output }
    }

    pub fn url(&self) -> String {
        format!("socks5://127.0.0.1:{}", self.port)
    }

    /// Whether a client was connected through to `host_port`.
    pub fn carried(&self, host_port: &str) -> bool {
        self.output.lock().expect("lock").contains(&format!("connected to {host_port}"))
    }

    pub fn output(&self) -> String {
        self.output.lock().expect("lock").clone()
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

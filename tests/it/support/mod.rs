//! Test harness: run the real `ai-proxy` binary on a free port, and mock upstreams on
//! 127.0.0.1 that record what they received.

#![allow(dead_code)]

pub mod anthropic;
pub mod azure;
pub mod compat;
pub mod dashscope;
pub mod google;
pub mod hostile;
pub mod proxies;
pub mod secret_service;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;

/// One request a mock upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// A mock upstream server on 127.0.0.1 with a random port.
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl MockUpstream {
    /// Start `router` on its own runtime thread (usable from sync and async tests).
    pub fn start(router: Router) -> MockUpstream {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let rec = requests.clone();
        let app = router.layer(middleware::from_fn(move |req: Request, next: Next| {
            let rec = rec.clone();
            async move { record(rec, req, next).await }
        }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener =
                    tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
                let _ = addr_tx.send(listener.local_addr().expect("addr"));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            });
            rt.shutdown_background();
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("mock started");
        MockUpstream { addr, requests, shutdown: Some(tx) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().last().cloned().expect("the mock received a request")
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn record(rec: Arc<Mutex<Vec<Recorded>>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    rec.lock().expect("lock").push(Recorded {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: bytes.clone(),
    });
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// The real binary, started with a config text and a clean environment.
pub struct Gateway {
    child: Option<Child>,
    pub base: String,
    pub dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
}

pub struct GatewayBuilder {
    config: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    dotenv: Option<String>,
}

impl GatewayBuilder {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    pub fn dotenv(mut self, text: &str) -> Self {
        self.dotenv = Some(text.to_owned());
        self
    }

    /// Start and wait for the start-up line; panics with the gateway's stderr on failure.
    pub fn start(self) -> Gateway {
        match self.try_start() {
            Ok(g) => g,
            Err(e) => panic!("gateway did not start: {e}"),
        }
    }

    /// Start; on failure return the exit status text and stderr.
    pub fn try_start(self) -> Result<Gateway, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, &self.config).expect("write config");
        if let Some(d) = &self.dotenv {
            std::fs::write(dir.path().join(".env"), d).expect("write .env");
        }
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--config")
            .arg(&cfg)
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("RUST_LOG", "info")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !self.args.iter().any(|a| a == "--host") {
            cmd.args(["--host", "127.0.0.1"]);
        }
        if !self.args.iter().any(|a| a == "--port") {
            cmd.args(["--port", "0"]);
        }
        if !self.args.iter().any(|a| a == "--grace-seconds") {
            cmd.args(["--grace-seconds", "3"]);
        }
        // On macOS the platform store is the user's Keychain, shared by everything the user
        // runs: a test gateway reads no store unless its test names one (`.env(
        // "AI_PROXY_SECRET_STORE", …)` below wins), so tests never see the developer's own
        // items. (On Linux the suite runs inside a fresh `keyctl session -`.)
        if cfg!(target_os = "macos") {
            cmd.env("AI_PROXY_SECRET_STORE", "none");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ai-proxy");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().expect("lock");
                s.push_str(&line);
                s.push('\n');
            }
        });
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(url);
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(base) => Ok(Gateway { child: Some(child), base, dir, stderr }),
            Err(_) => {
                let status = wait_exit(&mut child, Duration::from_secs(5));
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(100));
                let err = stderr.lock().expect("lock").clone();
                Err(format!("exit: {status:?}\nstderr:\n{err}"))
            }
        }
    }
}

fn wait_exit(child: &mut Child, max: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < max {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ai-proxy"))
}

impl Gateway {
    pub fn builder(config: &str) -> GatewayBuilder {
        GatewayBuilder {
            config: config.to_owned(),
            env: Vec::new(),
            args: Vec::new(),
            dotenv: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /health/readiness` (no key needed), as JSON.
    pub async fn readiness(&self) -> serde_json::Value {
        client()
            .get(self.url("/health/readiness"))
            .send()
            .await
            .expect("readiness")
            .json()
            .await
            .expect("readiness json")
    }

    /// What the gateway logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// The log once it contains `needle` (stderr is read on its own thread, so a line written
    /// before the stdout "listening" line may arrive after it), waiting at most 5 s.
    pub fn stderr_with(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.stderr();
            if log.contains(needle) || start.elapsed() > Duration::from_secs(5) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Send SIGTERM and wait (bounded) for the exit status.
    pub fn terminate(&mut self, max: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        wait_exit(child, max)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A blocking HTTP client for tests (no proxy from the environment).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

/// Send a chat request to the DashScope mock's `qwen-slow` (it answers after 3 s) and return
/// once the mock has received it, so the caller can stop the gateway mid-request.
pub async fn slow_request_in_flight(
    url: String,
    up: &MockUpstream,
) -> tokio::task::JoinHandle<reqwest::StatusCode> {
    let inflight = tokio::spawn(async move {
        client()
            .post(url)
            .json(&serde_json::json!({"model": "qwen-slow", "messages": [{"role": "user", "content": "wait"}]}))
            .send()
            .await
            .expect("send")
            .status()
    });
    for _ in 0..200 {
        if !up.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!up.requests().is_empty(), "the request reached the upstream");
    inflight
}

/// Parse an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|ev| {
            let data: Vec<&str> = ev
                .lines()
                .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

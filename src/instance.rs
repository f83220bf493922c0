//! One instance at a time: an advisory lock file in the state folder (held while the process
//! lives, released by the OS when it dies) and a probe that tells who holds a busy port.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An exclusive lock on `<state dir>/<name>.lock`, holding this process's pid.
#[derive(Debug)]
pub struct InstanceLock {
    path: PathBuf,
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("already running{}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held { pid: Option<u32> },
    #[error("cannot use the lock file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl InstanceLock {
    /// Take the lock or report the pid of the process that holds it.
    pub fn acquire(state_dir: &Path, name: &str) -> Result<InstanceLock, LockError> {
        let path = state_dir.join(format!("{name}.lock"));
        let io_err = |source| LockError::Io { path: path.clone(), source };
        fs::create_dir_all(state_dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held { pid: text.trim().parse().ok() });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(InstanceLock { path, _file: file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who answers on a port that could not be bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occupant {
    /// Another ai-proxy (its readiness body carries our `version` and model counts).
    AiProxy { version: String },
    /// Something answering LiteLLM's readiness shape (LiteLLM itself, most likely).
    LiteLlm,
    /// Any other program, or nothing that answers HTTP.
    Other,
}

impl Occupant {
    /// The words after "is already in use".
    pub fn describe(&self) -> String {
        match self {
            Occupant::AiProxy { version } => format!(
                " by ai-proxy {version} (the menu-bar app, a login service, or another `ai-proxy serve`): use that one or stop it"
            ),
            Occupant::LiteLlm => " by LiteLLM (or another gateway answering /health/readiness): stop it (the seed's launchd job is com.local.litellm.proxy)".to_owned(),
            Occupant::Other => " by another program".to_owned(),
        }
    }
}

/// Classify the raw HTTP response to `GET /health/readiness`.
pub fn classify(response: &[u8]) -> Occupant {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Occupant::Other;
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Occupant::Other;
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body.trim()) else {
        return Occupant::Other;
    };
    if json.get("status").and_then(|s| s.as_str()) != Some("healthy") {
        return Occupant::Other;
    }
    match (json.get("version").and_then(|v| v.as_str()), json.get("models_available")) {
        (Some(v), Some(_)) => Occupant::AiProxy { version: v.to_owned() },
        _ => Occupant::LiteLlm,
    }
}

/// The address to probe for a listen host: wildcard binds are reached on loopback.
pub fn probe_host(host: &str) -> &str {
    match host.trim_matches(['[', ']']) {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        h => h,
    }
}

/// Ask `host:port` for `/health/readiness` (plain HTTP/1.0, one short exchange, bounded in
/// time and size) and classify the answer.
pub async fn probe(host: &str, port: u16) -> Occupant {
    let host = probe_host(host).to_owned();
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        let authority =
            if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let req = format!(
            "GET /health/readiness HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        (&mut s).take(64 * 1024).read_to_end(&mut buf).await?;
        Ok::<_, io::Error>(buf)
    };
    match tokio::time::timeout(Duration::from_secs(2), exchange).await {
        Ok(Ok(buf)) => classify(&buf),
        _ => Occupant::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_reports_the_first_holders_pid() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let first = InstanceLock::acquire(tmp.path(), "tray").expect("first");
        assert_eq!(
            fs::read_to_string(first.path()).expect("read").trim(),
            std::process::id().to_string()
        );
        match InstanceLock::acquire(tmp.path(), "tray") {
            Err(LockError::Held { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        let e = InstanceLock::acquire(tmp.path(), "tray").expect_err("held");
        assert_eq!(e.to_string(), format!("already running (pid {})", std::process::id()));
        drop(first);
        InstanceLock::acquire(tmp.path(), "tray").expect("free again after the holder is gone");
    }

    #[test]
    fn classifies_who_holds_a_port() {
        let ours = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"status\":\"healthy\",\"db\":\"Not connected\",\"version\":\"0.1.0\",\"models\":2,\"models_available\":2}";
        assert_eq!(classify(ours), Occupant::AiProxy { version: "0.1.0".into() });
        let litellm = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"status\":\"healthy\",\"db\":\"Not connected\",\"cache\":null,\"litellm_version\":\"1.108.7\"}";
        assert_eq!(classify(litellm), Occupant::LiteLlm);
        assert_eq!(classify(b"HTTP/1.1 404 Not Found\r\n\r\nnope"), Occupant::Other);
        assert_eq!(classify(b"SSH-2.0-OpenSSH_9.2\r\n"), Occupant::Other);
        assert_eq!(classify(b""), Occupant::Other);
    }

    #[test]
    fn wildcard_binds_are_probed_on_loopback() {
        assert_eq!(probe_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(probe_host("[::]"), "::1");
        assert_eq!(probe_host("127.0.0.1"), "127.0.0.1");
    }

    #[tokio::test]
    async fn probing_a_port_nobody_answers_http_on_says_other() {
        // A listener that accepts and closes without a word.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        tokio::spawn(async move {
            for _ in 0..4 {
                if let Ok((s, _)) = l.accept().await {
                    drop(s);
                }
            }
        });
        assert_eq!(probe("127.0.0.1", port).await, Occupant::Other);
    }
}

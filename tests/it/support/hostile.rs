//! A hostile upstream on 127.0.0.1: a raw TCP server whose answers break the rules on purpose
//! (streams that end without their terminal marker, a line that never ends, huge bodies, pages
//! that are not event streams). Raw bytes, so every framing detail is under the test's control.
//!
//! The first path segment picks the behaviour (`api_base: {base}/no-done/v1`); every answer
//! closes the connection. For each behaviour the server records how many body bytes it
//! managed to write before the gateway hung up, which is how a test proves the gateway never
//! read a huge body whole.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Body bytes an endless answer writes at most (if the gateway never hangs up).
pub const CAP: usize = 512 << 20;
/// The size of a huge completion: far more than loopback socket buffers hold, so the bytes
/// written before the gateway hung up show how much it read.
pub const HUGE: usize = 256 << 20;

/// OpenAI chunks of a short answer, as `data:` frames.
fn chunk(delta: &str, finish: &str) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-h\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

const USAGE: &str = "data: {\"id\":\"chatcmpl-h\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n";

pub struct Hostile {
    pub addr: SocketAddr,
    /// Behaviour → body bytes written, once its answer is over.
    written: Arc<Mutex<HashMap<String, usize>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Hostile {
    pub fn start() -> Hostile {
        let written: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let rec = written.clone();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind hostile");
                let _ = addr_tx.send(listener.local_addr().expect("addr"));
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((sock, _)) = accepted else { continue };
                            tokio::spawn(serve(sock, rec.clone()));
                        }
                    }
                }
            });
            rt.shutdown_background();
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("hostile upstream started");
        Hostile { addr, written, shutdown: Some(tx) }
    }

    /// The `api_base` that picks `behaviour`.
    pub fn base(&self, behaviour: &str) -> String {
        format!("http://{}/{behaviour}/v1", self.addr)
    }

    /// Body bytes written for `behaviour`, once its answer is over (waits at most 30 s).
    pub fn written(&self, behaviour: &str) -> usize {
        let start = Instant::now();
        loop {
            if let Some(n) = self.written.lock().expect("lock").get(behaviour) {
                return *n;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{behaviour}: answer never ended");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn serve(mut sock: TcpStream, written: Arc<Mutex<HashMap<String, usize>>>) {
    let Some(path) = read_request(&mut sock).await else { return };
    let behaviour = path.trim_start_matches('/').split('/').next().unwrap_or_default().to_owned();
    let sse = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nconnection: close\r\n\r\n";
    let role = chunk(r#"{"role":"assistant","content":""}"#, "null");
    let text = format!(
        "{}{}",
        chunk(r#"{"content":"Hel"}"#, "null"),
        chunk(r#"{"content":"lo"}"#, "null")
    );
    let stop = chunk("{}", "\"stop\"");
    let n = match behaviour.as_str() {
        // Close-delimited bodies: the end of the body is the connection closing, a clean EOF.
        "no-done" => send(&mut sock, sse, &[&role, &text]).await,
        "empty" => send(&mut sock, sse, &[]).await,
        "finish-no-usage" => send(&mut sock, sse, &[&role, &text, &stop]).await,
        "finish-and-usage-no-done" => send(&mut sock, sse, &[&role, &text, &stop, USAGE]).await,
        "complete" => send(&mut sock, sse, &[&role, &text, &stop, USAGE, "data: [DONE]\n\n"]).await,
        // A chunked body properly terminated, without [DONE].
        "no-done-chunked" => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            let mut body = String::new();
            for part in [role.as_str(), text.as_str()] {
                body.push_str(&format!("{:x}\r\n{part}\r\n", part.len()));
            }
            body.push_str("0\r\n\r\n");
            send(&mut sock, head, &[&body]).await
        }
        "endless" => {
            let head = format!("{sse}{role}data: ");
            endless(&mut sock, &head, b'x', CAP).await
        }
        "huge-error" => {
            let head = format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                50 << 20
            );
            endless(&mut sock, &head, b'e', 50 << 20).await
        }
        "huge-json" => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                HUGE
            );
            let start = r#"{"id":"chatcmpl-h","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""#;
            endless(&mut sock, &format!("{head}{start}"), b'j', HUGE - start.len()).await
        }
        "huge-json-unsized" => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
            let start = r#"{"id":"chatcmpl-h","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""#;
            endless(&mut sock, &format!("{head}{start}"), b'j', HUGE).await
        }
        "html" => {
            let page = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Sign in - Corporate Proxy</title></head>\n<body><form action=\"/login\">Use your corporate account</form></body></html>\n";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                page.len()
            );
            send(&mut sock, &head, &[page]).await
        }
        "json" => {
            let body = r#"{"id":"chatcmpl-h","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"not a stream"},"finish_reason":"stop"}]}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            send(&mut sock, &head, &[body]).await
        }
        "gzip" => {
            // The start of a gzip stream: what an SSE body compressed without being asked looks like.
            let body: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x4b\x49\x2c\x49\xb4\x52";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let ok =
                sock.write_all(head.as_bytes()).await.is_ok() && sock.write_all(body).await.is_ok();
            let _ = sock.shutdown().await;
            if ok { body.len() } else { 0 }
        }
        other => {
            let body = format!("unknown behaviour {other}");
            let head = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            send(&mut sock, &head, &[&body]).await
        }
    };
    written.lock().expect("lock").insert(behaviour, n);
}

/// The request's path, once its head and body are read (`None` if the peer went away).
async fn read_request(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut piece = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut piece).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&piece[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = sock.read(&mut piece).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&piece[..n]);
    }
    head.split_whitespace().nth(1).map(str::to_owned)
}

/// Write the head and the body parts, then close; the body bytes written.
async fn send(sock: &mut TcpStream, head: &str, parts: &[&str]) -> usize {
    if sock.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut n = 0;
    for p in parts {
        if sock.write_all(p.as_bytes()).await.is_err() {
            break;
        }
        n += p.len();
        // Separate reads, as a real upstream's frames arrive.
        let _ = sock.flush().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = sock.shutdown().await;
    n
}

/// Write the head, then `byte` repeated up to `total` bytes, until the peer hangs up (or a
/// write stalls for 10 s); the bytes written after the head.
async fn endless(sock: &mut TcpStream, head: &str, byte: u8, total: usize) -> usize {
    if sock.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let piece = vec![byte; 64 * 1024];
    let mut n = 0;
    while n < total {
        let len = piece.len().min(total - n);
        match tokio::time::timeout(Duration::from_secs(10), sock.write_all(&piece[..len])).await {
            Ok(Ok(())) => n += len,
            _ => break,
        }
    }
    let _ = sock.shutdown().await;
    n
}

//! The accept loop: each connection is served by hyper (HTTP/1.1, and HTTP/2 including h2c
//! by prior knowledge) under the deadlines of `server::conn`, at most `max_connections` at
//! once, from a [`LiveApp`] that a reload replaces without closing the listener; then a
//! bounded shutdown in three steps: drain, cut the streams still open, close.
//!
//! At the connection limit, the connection that has been idle longest (no request in
//! progress: an idle keep-alive or a client that has not sent its request yet) is closed to
//! make room; when every connection has a request in progress, new ones wait in the
//! kernel's listen queue until one ends. Waiting rather than refusing keeps bursts (a
//! benchmark, a parallel test run) from failing, and the file descriptors under the limit
//! stay free for upstream connections. One warning per 10 s at most says so.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use super::AppState;
use super::conn::{self, Tracker};
use crate::config::ConnectionSettings;
use crate::fdlimit;

/// After the grace period, how long cut streams get to write their error event.
const CUT_FLUSH: Duration = Duration::from_secs(1);
/// After that, how long closing the remaining connections may take.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// While a new connection waits for a slot, how often to look for one that became idle.
const WAIT_RECHECK: Duration = Duration::from_millis(100);
/// At most one connection-limit warning per this period.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// The derived connection limit never exceeds this (far above one developer's clients and the
/// 1,000-stream benchmark; keeps the buffers of a flood bounded).
pub const MAX_CONNECTIONS_CEILING: usize = 4096;
/// Descriptors kept aside from the connection limit: the listener, log files, the secret
/// store, token requests.
const RESERVED_FDS: u64 = 64;

/// The default connection limit for an open-file limit: half of what is left after
/// [`RESERVED_FDS`] (each client request may hold an upstream connection), between 16 and
/// [`MAX_CONNECTIONS_CEILING`].
pub fn default_max_connections(open_files: Option<u64>) -> usize {
    let Some(n) = open_files else { return MAX_CONNECTIONS_CEILING };
    let half = n.saturating_sub(RESERVED_FDS) / 2;
    usize::try_from(half).unwrap_or(usize::MAX).clamp(16, MAX_CONNECTIONS_CEILING)
}

/// The app a running server answers with, replaceable while it runs (a config reload): each
/// request takes the app current when it arrives, so keep-alive connections see a new config
/// on their next request and requests in flight finish on the app they started with. New
/// connections take the connection timeouts current when they are accepted.
#[derive(Clone)]
pub struct LiveApp {
    live: Arc<RwLock<Live>>,
    /// The listener's address, given to each request's app for the Host check.
    bound: Option<SocketAddr>,
}

struct Live {
    app: super::App,
    connections: ConnectionSettings,
}

impl LiveApp {
    pub fn new(state: AppState) -> Self {
        let connections = state.connections();
        let live = Live { app: super::app(state), connections };
        LiveApp { live: Arc::new(RwLock::new(live)), bound: None }
    }

    /// The same, for a listener bound to `addr` (a wildcard or network address widens the
    /// Host allow-list to this machine's addresses and names).
    pub fn bound_to(mut self, addr: SocketAddr) -> Self {
        self.bound = Some(addr);
        self
    }

    /// Answer every request from now on with `state`'s app; new connections get its
    /// timeouts (a new `max_connections` needs a restart).
    pub fn replace(&self, state: AppState) {
        let connections = state.connections();
        let app = super::app(state);
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        if live.connections.max_connections != connections.max_connections {
            tracing::warn!(
                "general_settings.max_connections changed: the new limit applies after a restart"
            );
        }
        *live = Live { app, connections };
    }

    pub fn connections(&self) -> ConnectionSettings {
        self.live.read().unwrap_or_else(PoisonError::into_inner).connections
    }

    /// The app to answer the next request with: the current one, with the listener's address.
    pub fn app(&self) -> super::App {
        let mut app = self.live.read().unwrap_or_else(PoisonError::into_inner).app.clone();
        if let Some(addr) = self.bound {
            app.bound = addr.ip();
        }
        app
    }
}

/// `LiveApp` as a tower service (in-process callers such as benchmarks).
impl tower_service::Service<Request> for LiveApp {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = super::BoxedAnswer;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // An axum router is always ready.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.app().boxed_answer(req)
    }
}

/// Where the server is in its life; connections act on each step once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    /// Stop reusing connections: each closes when its requests are answered.
    Draining,
    /// The grace period is over: streams end with their error event.
    Cutting,
    /// Close whatever is left.
    Closing,
}

/// Serve until `shutdown` resolves, then stop accepting and let in-flight requests and
/// streams finish for at most `grace`; streams still open then end with an error event.
pub async fn serve<F>(
    listener: TcpListener,
    app: LiveApp,
    shutdown: F,
    grace: Duration,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let start_settings = app.connections();
    let open_files = fdlimit::soft_limit();
    let max = match start_settings.max_connections {
        Some(n) => {
            if let Some(files) = open_files
                && n as u64 > files.saturating_sub(RESERVED_FDS) / 2
            {
                tracing::warn!(
                    "general_settings.max_connections {n} is more than half the open-file limit ({files}): clients could take the descriptors upstream connections need"
                );
            }
            n
        }
        None => default_max_connections(open_files),
    };
    tracing::debug!(
        "client connections: at most {max} at once (general_settings.max_connections; open-file limit {}), header read {:?}, keep-alive {:?}, body read {:?}",
        open_files.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        start_settings.header_read_timeout,
        start_settings.keep_alive_timeout,
        start_settings.body_read_timeout,
    );
    let server = Arc::new(Server {
        app,
        builders: Builders::new(),
        phase: watch::channel(Phase::Serving).0,
        open: Mutex::default(),
    });
    let permits = Arc::new(Semaphore::new(max));
    let mut limit_log = LimitLog::new(max);
    let mut accept_log = Throttle::default();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);

    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: back off instead of spinning.
                    if accept_log.ready() {
                        tracing::warn!("cannot accept a connection: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let mut evicted = server.evict_idlest();
                limit_log.record(evicted);
                let acquired = loop {
                    tokio::select! {
                        () = &mut shutdown => break None,
                        p = permits.clone().acquire_owned() => break p.ok(),
                        // A connection that finished its request meanwhile makes room too.
                        () = tokio::time::sleep(WAIT_RECHECK), if !evicted => {
                            evicted = server.evict_idlest();
                        }
                    }
                };
                match acquired {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        next_id += 1;
        tokio::spawn(server.clone().connection(next_id, stream, remote, permit));
    }
    // Stop accepting: the port closes now.
    drop(listener);
    server.stop(&permits, max, grace).await;
    Ok(())
}

/// hyper's connection builders: one that reads the protocol off the connection itself, and one
/// for each protocol for connections whose first bytes were peeked at.
struct Builders {
    sniffing: auto::Builder<TokioExecutor>,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
}

impl Builders {
    fn new() -> Self {
        // No hyper timer: its HTTP/1 header timeout is off (server::conn keeps the deadlines).
        let sniffing = auto::Builder::new(TokioExecutor::new());
        Builders {
            http1: sniffing.clone().http1_only(),
            http2: sniffing.clone().http2_only(),
            sniffing,
        }
    }

    /// The builder for a connection whose first bytes are `first` (as far as they came).
    fn for_first_bytes(&self, first: &[u8]) -> &auto::Builder<TokioExecutor> {
        match protocol(first) {
            Some(Protocol::Http1) => &self.http1,
            Some(Protocol::Http2) => &self.http2,
            None => &self.sniffing,
        }
    }
}

/// What an HTTP/2 client with prior knowledge sends first (RFC 9113 section 3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// The protocol a connection's first bytes commit it to: HTTP/2 once the whole preface is
/// there, HTTP/1 at the first byte that leaves it (`POST`, `GET`: the second byte at the
/// latest), `None` while what came is still the start of the preface.
fn protocol(first: &[u8]) -> Option<Protocol> {
    let n = first.len().min(HTTP2_PREFACE.len());
    if first[..n] != HTTP2_PREFACE[..n] {
        Some(Protocol::Http1)
    } else if n == HTTP2_PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

struct Server {
    app: LiveApp,
    builders: Builders,
    phase: watch::Sender<Phase>,
    /// Open connections, for eviction and the shutdown report.
    open: Mutex<HashMap<u64, Arc<Tracker>>>,
}

impl Server {
    async fn connection(
        self: Arc<Self>,
        id: u64,
        stream: TcpStream,
        remote: SocketAddr,
        permit: OwnedSemaphorePermit,
    ) {
        // Nagle against delayed ACK costs ~40 ms per request on loopback.
        let _ = stream.set_nodelay(true);
        let settings = self.app.connections();
        let tracker = Tracker::new(&settings);
        self.open_map().insert(id, tracker.clone());
        let mut phase = self.phase.subscribe();
        let first = self.first_bytes(&stream, &tracker, &settings, &mut phase, remote).await;
        if let Some(builder) = first {
            self.serve(builder, stream, remote, &settings, tracker, phase).await;
        }
        self.open_map().remove(&id);
        drop(permit);
    }

    /// Wait for the client's first bytes and pick the builder for its protocol, leaving the
    /// bytes on the socket. hyper's own detection reads them (up to the 24 bytes of the
    /// HTTP/2 preface) and hands them back as a first read of their own, after which its
    /// HTTP/1 read buffer, holding those few bytes, grows from 8 to 16 KiB on the next read
    /// and stays so for the connection's life. `None`: the connection closed, expired or
    /// the server is stopping before a byte came.
    async fn first_bytes(
        &self,
        stream: &TcpStream,
        tracker: &Tracker,
        settings: &ConnectionSettings,
        phase: &mut watch::Receiver<Phase>,
        remote: SocketAddr,
    ) -> Option<&auto::Builder<TokioExecutor>> {
        let mut first = [0u8; HTTP2_PREFACE.len()];
        loop {
            if *phase.borrow_and_update() >= Phase::Draining {
                return None;
            }
            tokio::select! {
                peeked = stream.peek(&mut first) => return match peeked {
                    Ok(0) => None,
                    Ok(n) => Some(self.builders.for_first_bytes(&first[..n])),
                    // hyper meets the error itself and ends the connection.
                    Err(_) => Some(&self.builders.sniffing),
                },
                why = tracker.expired() => {
                    tracing::debug!("closing the connection from {remote}: {}", why.describe(settings));
                    return None;
                }
                changed = phase.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    async fn serve(
        &self,
        builder: &auto::Builder<TokioExecutor>,
        stream: TcpStream,
        remote: SocketAddr,
        settings: &ConnectionSettings,
        tracker: Arc<Tracker>,
        mut phase: watch::Receiver<Phase>,
    ) {
        let service = conn::Service::new(self.app.clone(), tracker.clone(), settings);
        let io = TokioIo::new(conn::Io::new(stream, tracker.clone()));
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut acted = Phase::Serving;
        loop {
            // A phase set before this connection subscribed is acted on at once.
            let now = *phase.borrow_and_update();
            if now >= Phase::Draining && acted < Phase::Draining {
                connection.as_mut().graceful_shutdown();
            }
            if now >= Phase::Cutting && acted < Phase::Cutting {
                tracker.cut_streams();
            }
            if now >= Phase::Closing {
                break;
            }
            acted = now;
            tokio::select! {
                r = connection.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!("connection from {remote}: {e}");
                    }
                    break;
                }
                why = tracker.expired() => {
                    tracing::debug!("closing the connection from {remote}: {}", why.describe(settings));
                    break;
                }
                changed = phase.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
    }

    fn open_map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Tracker>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Close the connection idle longest, if one has no request in progress.
    fn evict_idlest(&self) -> bool {
        let open = self.open_map();
        let mut candidates: Vec<(Instant, &Arc<Tracker>)> =
            open.values().filter_map(|t| t.idle_since().map(|s| (s, t))).collect();
        candidates.sort_by_key(|(since, _)| *since);
        candidates.into_iter().any(|(_, t)| t.evict())
    }

    /// Drain for at most `grace`, then cut streams, then close what is left.
    async fn stop(&self, permits: &Arc<Semaphore>, max: usize, grace: Duration) {
        let all_closed = || {
            let permits = permits.clone();
            async move {
                let n = u32::try_from(max).unwrap_or(u32::MAX);
                let _ = permits.acquire_many_owned(n).await;
            }
        };
        self.phase.send_replace(Phase::Draining);
        if tokio::time::timeout(grace, all_closed()).await.is_ok() {
            return;
        }
        let (connections, streams) = {
            let open = self.open_map();
            (open.len(), open.values().map(|t| t.streams()).sum::<usize>())
        };
        tracing::warn!(
            "grace period of {}s over: ending {streams} open stream(s) with an error event and closing {connections} connection(s)",
            grace.as_secs()
        );
        self.phase.send_replace(Phase::Cutting);
        if tokio::time::timeout(CUT_FLUSH, all_closed()).await.is_ok() {
            return;
        }
        self.phase.send_replace(Phase::Closing);
        let _ = tokio::time::timeout(CLOSE_WAIT, all_closed()).await;
    }
}

/// Errors of one connection attempt (the listener is fine).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// True at most once per [`REPORT_EVERY`].
#[derive(Default)]
struct Throttle(Option<Instant>);

impl Throttle {
    fn ready(&mut self) -> bool {
        let now = Instant::now();
        match self.0 {
            Some(last) if now.duration_since(last) < REPORT_EVERY => false,
            _ => {
                self.0 = Some(now);
                true
            }
        }
    }
}

/// The connection-limit warning: the first time at once, then at most once per period with
/// the counts since the last one.
struct LimitLog {
    max: usize,
    throttle: Throttle,
    evicted: u64,
    waited: u64,
}

impl LimitLog {
    fn new(max: usize) -> Self {
        LimitLog { max, throttle: Throttle::default(), evicted: 0, waited: 0 }
    }

    fn record(&mut self, evicted: bool) {
        if evicted {
            self.evicted += 1;
        } else {
            self.waited += 1;
        }
        if self.throttle.ready() {
            tracing::warn!(
                "connection limit reached: {} client connections open (general_settings.max_connections raises it); since the last report {} idle connection(s) were closed to make room and {} new connection(s) waited for a free slot",
                self.max,
                self.evicted,
                self.waited
            );
            self.evicted = 0;
            self.waited = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listener's address reaches the Host check: a network-bound listener takes a
    /// request addressed to any address literal, a loopback one refuses it.
    #[tokio::test]
    async fn the_listeners_address_reaches_the_host_check() {
        use tower_service::Service as _;
        let cfg = crate::config::load(
            "model_list: []\ngeneral_settings:\n  master_key: sk-a-long-enough-master-key-1234\n",
            crate::config::Source::Embedded,
            crate::config::Env::default(),
        )
        .expect("config");
        let live = LiveApp::new(AppState::from_config(&cfg));
        let get = || {
            Request::get("/health/liveliness")
                .header(http::header::HOST, "10.1.2.3:4000")
                .body(axum::body::Body::empty())
                .expect("request")
        };
        let on_loopback = live.clone().call(get()).await.expect("answer");
        assert_eq!(on_loopback.status(), http::StatusCode::FORBIDDEN);
        let mut on_lan = live.bound_to("0.0.0.0:4000".parse().expect("addr"));
        let answered = on_lan.call(get()).await.expect("answer");
        assert_eq!(answered.status(), http::StatusCode::OK);
    }

    #[test]
    fn the_default_limit_leaves_descriptors_for_upstreams() {
        assert_eq!(default_max_connections(Some(256)), 96);
        assert_eq!(default_max_connections(Some(1024)), 480);
        assert_eq!(default_max_connections(Some(1_048_576)), MAX_CONNECTIONS_CEILING);
        assert_eq!(default_max_connections(Some(10)), 16);
        assert_eq!(default_max_connections(None), MAX_CONNECTIONS_CEILING);
    }

    #[test]
    fn the_first_bytes_commit_a_connection_to_a_protocol_as_soon_as_they_can() {
        for http1 in
            [&b"GET / HTTP/1.1\r\n"[..], b"POST", b"PUT", b"PATCH", b"G", b"PO", b"PRX", b"\r\n"]
        {
            assert_eq!(protocol(http1), Some(Protocol::Http1), "{http1:?}");
        }
        assert_eq!(protocol(HTTP2_PREFACE), Some(Protocol::Http2));
        let preface_and_frames = [&HTTP2_PREFACE[..], b"\0\0\x12\x04\0"].concat();
        assert_eq!(protocol(&preface_and_frames), Some(Protocol::Http2));
        // Each strict start of the preface could still be either.
        for n in 1..HTTP2_PREFACE.len() {
            assert_eq!(protocol(&HTTP2_PREFACE[..n]), None, "{n} bytes");
        }
        // Leaving the preface at its last byte is HTTP/1 (hyper answers it as a bad request).
        let mut almost = *HTTP2_PREFACE;
        almost[23] = b'x';
        assert_eq!(protocol(&almost), Some(Protocol::Http1));
    }

    #[test]
    fn an_undecided_start_is_left_to_hyper_to_read() {
        let b = Builders::new();
        assert!(std::ptr::eq(b.for_first_bytes(b"POST /v1"), &b.http1));
        assert!(std::ptr::eq(b.for_first_bytes(HTTP2_PREFACE), &b.http2));
        assert!(std::ptr::eq(b.for_first_bytes(b"PRI * HTTP/2"), &b.sniffing));
    }

    #[tokio::test(start_paused = true)]
    async fn the_throttle_lets_one_report_through_per_period() {
        let mut t = Throttle::default();
        assert!(t.ready());
        assert!(!t.ready());
        tokio::time::advance(REPORT_EVERY).await;
        assert!(t.ready());
    }
}

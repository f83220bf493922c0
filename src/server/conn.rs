//! One client connection's deadlines and bookkeeping, shared by its socket wrapper ([`Io`]),
//! its hyper service ([`Service`]) and its task in `server::listen`:
//!
//! - a new connection must complete a request head within `header_read_timeout` of being
//!   accepted; after a response, the next request's head must be complete within that time
//!   of its first byte (HTTP/1.1);
//! - a connection with no request in progress is closed after `keep_alive_timeout`;
//! - a request body that sends nothing for `body_read_timeout` ends with
//!   [`BodyReadTimeout`], which the handlers answer with a 408;
//! - while a request is in progress (its response not yet fully sent) no connection deadline
//!   runs: streams may last as long as the upstream keeps sending.
//!
//! hyper's own HTTP/1 header timer is not used: it also starts on idle keep-alive
//! connections, so it cannot be longer than the keep-alive time.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes};
use http::{Request, Response, Version};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::LiveApp;
use super::cutoff::Cutoff;
use crate::config::ConnectionSettings;

/// Why a connection's task closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// No complete request head in time (`header_read_timeout`).
    HeaderTimeout,
    /// Idle for `keep_alive_timeout`.
    Idle,
    /// Closed to make room at the connection limit (it had no request in progress).
    Evicted,
}

impl Close {
    pub fn describe(self, settings: &ConnectionSettings) -> String {
        match self {
            Close::HeaderTimeout => format!(
                "no complete request head within {:?} (general_settings.header_read_timeout)",
                settings.header_read_timeout
            ),
            Close::Idle => format!(
                "idle for {:?} (general_settings.keep_alive_timeout)",
                settings.keep_alive_timeout
            ),
            Close::Evicted => {
                "idle at the connection limit (general_settings.max_connections)".to_owned()
            }
        }
    }
}

/// What a connection is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Accepted, no request yet: the header deadline runs from accept.
    Fresh,
    /// Bytes of a following HTTP/1.1 request head arrived: the header deadline runs.
    Head,
    /// Between requests: the keep-alive deadline runs.
    Idle,
    /// At least one request in progress: no deadline.
    Busy,
}

/// The shared state of one connection.
pub struct Tracker {
    state: Mutex<Track>,
    /// True while an idle HTTP/1.1 connection waits for the first byte of its next request
    /// (the only time a read changes anything): other reads skip the lock.
    idle_h1: AtomicBool,
    changed: Notify,
    header_read: Duration,
    keep_alive: Duration,
}

struct Track {
    wait: Wait,
    /// When the current wait began.
    since: Instant,
    in_flight: usize,
    h2: bool,
    evict: bool,
    /// The grace period is over: streams are cut as they start.
    cut: bool,
    next_id: u64,
    streams: Vec<(u64, Cutoff)>,
}

impl Tracker {
    pub fn new(settings: &ConnectionSettings) -> Arc<Self> {
        Arc::new(Tracker {
            state: Mutex::new(Track {
                wait: Wait::Fresh,
                since: Instant::now(),
                in_flight: 0,
                h2: false,
                evict: false,
                cut: false,
                next_id: 0,
                streams: Vec::new(),
            }),
            idle_h1: AtomicBool::new(false),
            changed: Notify::new(),
            header_read: settings.header_read_timeout,
            keep_alive: settings.keep_alive_timeout,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Track> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deadline(&self, t: &Track) -> Option<(Instant, Close)> {
        if t.evict && t.wait != Wait::Busy {
            return Some((t.since, Close::Evicted));
        }
        match t.wait {
            Wait::Busy => None,
            Wait::Fresh | Wait::Head => Some((t.since + self.header_read, Close::HeaderTimeout)),
            Wait::Idle => Some((t.since + self.keep_alive, Close::Idle)),
        }
    }

    /// Resolves when the connection must be closed, with why.
    pub async fn expired(&self) -> Close {
        loop {
            let deadline = {
                let t = self.lock();
                self.deadline(&t)
            };
            // `notify_one` keeps a permit, so a change between reading the state and waiting
            // here is not missed.
            match deadline {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if self.idle_h1.swap(false, Ordering::AcqRel) {
            let mut t = self.lock();
            if t.wait == Wait::Idle && !t.h2 {
                t.wait = Wait::Head;
                t.since = Instant::now();
                drop(t);
                self.changed.notify_one();
            }
        }
    }

    /// A request head was read: no deadline until its response is sent.
    fn request_started(self: &Arc<Self>, version: Version) -> InFlight {
        let mut t = self.lock();
        t.in_flight += 1;
        t.wait = Wait::Busy;
        t.h2 |= version == Version::HTTP_2;
        self.idle_h1.store(false, Ordering::Release);
        InFlight { tracker: self.clone(), stream: None, _busy: crate::memory::Busy::begin() }
    }

    fn request_finished(&self, stream: Option<u64>) {
        let mut t = self.lock();
        if let Some(id) = stream {
            t.streams.retain(|(i, _)| *i != id);
        }
        t.in_flight = t.in_flight.saturating_sub(1);
        if t.in_flight == 0 {
            t.wait = Wait::Idle;
            t.since = Instant::now();
            self.idle_h1.store(!t.h2, Ordering::Release);
            drop(t);
            self.changed.notify_one();
        }
    }

    fn add_stream(&self, cutoff: Cutoff) -> u64 {
        let mut t = self.lock();
        if t.cut {
            cutoff.fire();
        }
        t.next_id += 1;
        let id = t.next_id;
        t.streams.push((id, cutoff));
        id
    }

    /// The grace period is over: end every stream on this connection with its error event,
    /// and any that starts from now on.
    pub fn cut_streams(&self) {
        let mut t = self.lock();
        t.cut = true;
        for (_, c) in &t.streams {
            c.fire();
        }
    }

    /// Streams in progress on this connection.
    pub fn streams(&self) -> usize {
        self.lock().streams.len()
    }

    /// When this connection last became idle (or was accepted), if it has no request in
    /// progress and is not already being closed: what eviction picks the oldest of.
    pub fn idle_since(&self) -> Option<Instant> {
        let t = self.lock();
        (t.wait != Wait::Busy && !t.evict).then_some(t.since)
    }

    /// Close this connection to make room, if it still has no request in progress.
    pub fn evict(&self) -> bool {
        let mut t = self.lock();
        if t.wait == Wait::Busy || t.evict {
            return false;
        }
        t.evict = true;
        drop(t);
        self.changed.notify_one();
        true
    }
}

/// A request in progress: ends when hyper drops the response body (sent, or the connection
/// closed), or the request's future if it never answered.
struct InFlight {
    tracker: Arc<Tracker>,
    stream: Option<u64>,
    /// Counted process-wide, for `memory::trim_when_idle`.
    _busy: crate::memory::Busy,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.tracker.request_finished(self.stream);
    }
}

/// The client socket, telling the tracker when bytes arrive.
pub struct Io<T> {
    inner: T,
    tracker: Arc<Tracker>,
}

impl<T> Io<T> {
    pub fn new(inner: T, tracker: Arc<Tracker>) -> Self {
        Io { inner, tracker }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.tracker.on_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The hyper service of one connection: the current app, with the request body under the
/// body-read deadline and the response body counted as in progress until it is sent.
#[derive(Clone)]
pub struct Service {
    app: LiveApp,
    tracker: Arc<Tracker>,
    body_read: Duration,
}

impl Service {
    pub fn new(app: LiveApp, tracker: Arc<Tracker>, settings: &ConnectionSettings) -> Self {
        Service { app, tracker, body_read: settings.body_read_timeout }
    }
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut guard = self.tracker.request_started(req.version());
        let body_read = self.body_read;
        let req = req.map(|b| Body::new(ReadTimeout::new(b, body_read)));
        let app = self.app.app();
        // The answer's future is made inside the box, not made here and copied in.
        Box::pin(async move {
            let resp = app.answer(req).await;
            let (parts, body) = resp.into_parts();
            if let Some(cutoff) = parts.extensions.get::<Cutoff>() {
                guard.stream = Some(guard.tracker.add_stream(cutoff.clone()));
            }
            Ok(Response::from_parts(parts, Tracked { body, _in_flight: guard }))
        })
    }
}

/// A response body that keeps its request counted as in progress until hyper drops it.
pub struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body paused for longer than `body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error(
    "The request body stalled: nothing arrived for {0:?} (general_settings.body_read_timeout). Send the body without pauses."
)]
pub struct BodyReadTimeout(pub Duration);

/// The request body with a deadline on each read: a body that keeps arriving, however
/// slowly overall, is never cut; one that stops is.
struct ReadTimeout {
    inner: Incoming,
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The sleep runs from the first wait after the last frame.
    armed: bool,
}

impl ReadTimeout {
    fn new(inner: Incoming, limit: Duration) -> Self {
        ReadTimeout { inner, limit, sleep: None, armed: false }
    }
}

impl http_body::Body for ReadTimeout {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
            }
            Poll::Pending => {
                let limit = this.limit;
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if !this.armed {
                    sleep.as_mut().reset(Instant::now() + limit);
                    this.armed = true;
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyReadTimeout(limit))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The [`BodyReadTimeout`] behind a body-reading failure, if that is what it was.
pub fn body_read_timeout<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a BodyReadTimeout> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<BodyReadTimeout>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(header: u64, idle: u64) -> ConnectionSettings {
        ConnectionSettings {
            header_read_timeout: Duration::from_secs(header),
            keep_alive_timeout: Duration::from_secs(idle),
            ..ConnectionSettings::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_gets_the_header_deadline() {
        let t = Tracker::new(&settings(30, 120));
        let start = Instant::now();
        assert_eq!(t.expired().await, Close::HeaderTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_progress_have_no_deadline_and_idle_ones_get_keep_alive() {
        let t = Tracker::new(&settings(30, 120));
        let guard = t.request_started(Version::HTTP_11);
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                (t.expired().await, start.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!waiter.is_finished(), "a long response is never cut");
        drop(guard);
        let (why, after) = waiter.await.expect("join");
        assert_eq!(why, Close::Idle);
        assert_eq!(after, Duration::from_secs(720));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_byte_of_a_next_request_starts_the_header_deadline() {
        let t = Tracker::new(&settings(30, 120));
        drop(t.request_started(Version::HTTP_11));
        tokio::time::sleep(Duration::from_secs(10)).await;
        t.on_read();
        let start = Instant::now();
        assert_eq!(t.expired().await, Close::HeaderTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    /// A byte that arrives after the task began waiting moves the deadline to that byte's
    /// header deadline (10 + 30 s), not the keep-alive one (120 s).
    #[tokio::test(start_paused = true)]
    async fn a_byte_after_the_wait_began_still_gets_its_header_deadline() {
        let t = Tracker::new(&settings(30, 120));
        drop(t.request_started(Version::HTTP_11));
        let waiter = spawn_waiter(&t);
        tokio::time::sleep(Duration::from_secs(10)).await;
        t.on_read();
        assert_eq!(waiter.await.expect("join"), (Close::HeaderTimeout, Duration::from_secs(40)));
    }

    /// With a keep-alive shorter than the header deadline, a connection whose task began
    /// waiting on the header deadline (30 s) closes at the keep-alive deadline of the request
    /// it served (2 + 5 s).
    #[tokio::test(start_paused = true)]
    async fn a_request_after_the_wait_began_still_gets_its_keep_alive_deadline() {
        let t = Tracker::new(&settings(30, 5));
        let waiter = spawn_waiter(&t);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let guard = t.request_started(Version::HTTP_11);
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(guard);
        assert_eq!(waiter.await.expect("join"), (Close::Idle, Duration::from_secs(7)));
    }

    fn spawn_waiter(t: &Arc<Tracker>) -> tokio::task::JoinHandle<(Close, Duration)> {
        let t = t.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            (t.expired().await, start.elapsed())
        })
    }

    #[tokio::test(start_paused = true)]
    async fn http2_control_frames_do_not_start_a_header_deadline() {
        let t = Tracker::new(&settings(30, 120));
        drop(t.request_started(Version::HTTP_2));
        t.on_read();
        let start = Instant::now();
        assert_eq!(t.expired().await, Close::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn only_connections_without_a_request_are_evicted() {
        let t = Tracker::new(&settings(30, 120));
        let guard = t.request_started(Version::HTTP_11);
        assert!(t.idle_since().is_none());
        assert!(!t.evict());
        drop(guard);
        assert!(t.idle_since().is_some());
        assert!(t.evict());
        assert!(!t.evict(), "once");
        assert_eq!(t.expired().await, Close::Evicted);
    }

    #[test]
    fn streams_are_cut_when_registered_late_too() {
        let t = Tracker::new(&settings(30, 120));
        let early = Cutoff::default();
        t.add_stream(early.clone());
        t.cut_streams();
        assert!(early.is_fired());
        let late = Cutoff::default();
        t.add_stream(late.clone());
        assert!(late.is_fired());
        assert_eq!(t.streams(), 2);
    }

    #[test]
    fn the_timeout_is_found_behind_wrapping_errors() {
        let inner: BoxError = Box::new(BodyReadTimeout(Duration::from_secs(1)));
        let wrapped = axum::Error::new(axum::Error::new(inner));
        assert!(body_read_timeout(&wrapped).is_some());
        let other = axum::Error::new(io::Error::other("reset"));
        assert!(body_read_timeout(&other).is_none());
    }
}

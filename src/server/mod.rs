//! The HTTP front: `app(state)` builds the axum router; [`serve`] runs it (as a [`LiveApp`],
//! replaceable while it runs) with graceful, bounded shutdown. Handlers are thin: parse,
//! route, render.

pub mod access;
pub mod auth;
pub mod body;
pub mod error;
pub mod headers;
pub mod log;
pub mod routes;
pub mod stream;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Router as AxumRouter;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::egress::Egress;
use crate::router::Router;
use crate::secrets::Secret;
use access::AccessPolicy;

/// How long in-flight requests and streams may run after a stop was asked for.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Shared, read-only state of a running gateway.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    router: Router,
    master_key: Option<Secret<String>>,
    max_body: usize,
    access: AccessPolicy,
    started: Instant,
}

impl AppState {
    pub fn new(router: Router, master_key: Option<Secret<String>>, max_body: usize) -> Self {
        AppState::with_access(router, master_key, max_body, AccessPolicy::default())
    }

    pub fn with_access(
        router: Router,
        master_key: Option<Secret<String>>,
        max_body: usize,
        access: AccessPolicy,
    ) -> Self {
        AppState(Arc::new(Inner { router, master_key, max_body, access, started: Instant::now() }))
    }

    /// Build providers for a resolved config.
    pub fn from_config(config: &Config) -> Self {
        AppState::with_egress(config, &Egress::new(&config.env))
    }

    /// Build providers with the `Egress` start-up already checked (its parsed CA files and
    /// system proxy settings are reused, not read again).
    pub fn with_egress(config: &Config, egress: &Egress) -> Self {
        let router = Router::from_config(config, egress);
        let access = AccessPolicy {
            allowed_hosts: config.settings.allowed_hosts.clone(),
            allowed_origins: config.settings.allowed_origins.clone(),
        };
        AppState::with_access(
            router,
            config.master_key.clone(),
            config.settings.max_request_bytes,
            access,
        )
    }

    /// Who may call (Host allow-list and browser origins).
    pub fn access(&self) -> &AccessPolicy {
        &self.0.access
    }

    pub fn router(&self) -> &Router {
        &self.0.router
    }

    pub fn master_key(&self) -> Option<&Secret<String>> {
        self.0.master_key.as_ref()
    }

    pub fn max_body(&self) -> usize {
        self.0.max_body
    }

    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }
}

/// The whole HTTP surface. Outermost first, every request passes: `headers::stamp` (request
/// id, `x-should-retry`), `log::log_requests`, `access::guard` (Host and Origin), the body
/// limit, then the master key on every route but the health probes.
pub fn app(state: AppState) -> AxumRouter {
    let protected = AxumRouter::new()
        .route("/v1/chat/completions", post(routes::chat::chat_completions))
        .route("/chat/completions", post(routes::chat::chat_completions))
        .route("/openai/deployments/{model}/chat/completions", post(routes::chat::azure_style_chat))
        .route("/engines/{model}/chat/completions", post(routes::chat::azure_style_chat))
        .route("/v1/embeddings", post(routes::embeddings::embeddings))
        .route("/embeddings", post(routes::embeddings::embeddings))
        .route(
            "/openai/deployments/{model}/embeddings",
            post(routes::embeddings::azure_style_embeddings),
        )
        .route("/v1/responses", post(routes::responses::create))
        .route("/responses", post(routes::responses::create))
        .route("/v1/responses/compact", post(routes::responses::compact))
        .route("/responses/compact", post(routes::responses::compact))
        .route("/v1/messages", post(routes::messages::messages))
        .route("/messages", post(routes::messages::messages))
        .route("/v1/messages/count_tokens", post(routes::messages::count_tokens))
        .route("/messages/count_tokens", post(routes::messages::count_tokens))
        .route("/v1/models", get(routes::models::list))
        .route("/models", get(routes::models::list))
        .route("/v1/models/{model}", get(routes::models::retrieve))
        .route("/models/{model}", get(routes::models::retrieve))
        .route("/model/info", get(routes::models::info))
        .route("/v1/model/info", get(routes::models::info))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_key));
    let open = AxumRouter::new()
        .route("/", get(routes::health::root))
        .route("/health/liveliness", get(routes::health::liveliness))
        .route("/health/liveness", get(routes::health::liveliness))
        .route("/health/readiness", get(routes::health::readiness));
    protected
        .merge(open)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.max_body()))
        .layer(middleware::from_fn_with_state(state.clone(), access::guard))
        .layer(middleware::from_fn(log::log_requests))
        .layer(middleware::from_fn(headers::stamp))
        .with_state(state)
}

/// Why the listener could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "port {port} on {host} is already in use (another ai-proxy or LiteLLM?). Stop that program, or choose another port with --port, LITELLM_PORT or AI_PROXY_PORT"
    )]
    PortInUse { host: String, port: u16 },
    #[error("cannot listen on {host}:{port}: {source}")]
    Other {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
}

/// Open the listening socket.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, BindError> {
    TcpListener::bind((host, port)).await.map_err(|source| {
        if source.kind() == io::ErrorKind::AddrInUse {
            BindError::PortInUse { host: host.to_owned(), port }
        } else {
            BindError::Other { host: host.to_owned(), port, source }
        }
    })
}

/// The app a running server answers with, replaceable while it runs (a config reload): each
/// request takes the app current when it arrives, so keep-alive connections see a new config
/// on their next request and requests in flight finish on the app they started with.
/// Each request carries the listener's address ([`access::BoundAddr`]) for the Host check.
#[derive(Clone)]
pub struct LiveApp {
    app: Arc<RwLock<AxumRouter>>,
    bound: Option<SocketAddr>,
}

impl LiveApp {
    pub fn new(app: AxumRouter) -> Self {
        LiveApp { app: Arc::new(RwLock::new(app)), bound: None }
    }

    /// The same, for a listener bound to `addr` (a wildcard or network address widens the
    /// Host allow-list to this machine's addresses and names).
    pub fn bound_to(mut self, addr: SocketAddr) -> Self {
        self.bound = Some(addr);
        self
    }

    /// Answer every request from now on with `app`.
    pub fn replace(&self, app: AxumRouter) {
        *self.app.write().unwrap_or_else(PoisonError::into_inner) = app;
    }

    fn current(&self) -> AxumRouter {
        self.app.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl tower_service::Service<Request> for LiveApp {
    type Response = Response;
    type Error = Infallible;
    type Future = <AxumRouter as tower_service::Service<Request>>::Future;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        // An axum router is always ready.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if let Some(addr) = self.bound {
            req.extensions_mut().insert(access::BoundAddr(addr));
        }
        tower_service::Service::call(&mut self.current(), req)
    }
}

/// Serve until `shutdown` resolves, then stop accepting and let in-flight requests and
/// streams finish for at most `grace`.
pub async fn serve<F>(
    listener: TcpListener,
    app: LiveApp,
    shutdown: F,
    grace: Duration,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    use axum::ServiceExt;
    use axum::serve::ListenerExt;
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let listener = listener.tap_io(|tcp| {
        // Nagle against delayed ACK costs ~40 ms per request on loopback.
        let _ = tcp.set_nodelay(true);
    });
    let make = ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
    let server = axum::serve(listener, make).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let deadline = async move {
        let _ = rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server => r,
        () = deadline => {
            tracing::warn!("grace period of {}s over; closing the connections still open", grace.as_secs());
            Ok(())
        }
    }
}

/// SIGHUP (reload the config) as a stream of `()`; it never yields where there are no Unix
/// signals. Call it inside a tokio runtime.
pub fn hangup_signals() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if tx.send(()).await.is_err() {
                        break;
                    }
                }
            });
        }
        Err(e) => tracing::warn!("cannot listen for SIGHUP (config reload): {e}"),
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("stop requested: no new connections; finishing in-flight requests");
}

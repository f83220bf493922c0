//! The HTTP front: `app(state)` builds the [`App`] (the axum router and the steps every request
//! passes before it); [`serve`] runs it (as a [`LiveApp`], replaceable while it runs) under
//! per-connection deadlines and a connection limit, with graceful, bounded shutdown (`listen`,
//! `conn`). Handlers are thin: parse, route, render.

pub mod access;
pub mod auth;
pub mod body;
pub mod conn;
pub mod cutoff;
pub mod error;
pub mod headers;
pub mod listen;
pub mod log;
pub mod routes;
pub mod stream;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router as AxumRouter;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::FutureExt;
use http_body::Body as _;
use tokio::net::TcpListener;

pub use listen::{LiveApp, serve};

use crate::config::{Config, ConnectionSettings};
use crate::egress::Egress;
use crate::router::Router;
use crate::secrets::Secret;
use crate::usage::UsageLog;
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
    connections: ConnectionSettings,
    started: Instant,
    /// The request log, or why there is none (set once, by `gateway::build_state`).
    usage: OnceLock<Result<UsageLog, String>>,
}

impl AppState {
    pub fn new(router: Router, master_key: Option<Secret<String>>, max_body: usize) -> Self {
        AppState::with_settings(
            router,
            master_key,
            max_body,
            AccessPolicy::default(),
            ConnectionSettings::default(),
        )
    }

    /// [`new`](Self::new) with who may call and the client connection timeouts and limit.
    pub fn with_settings(
        router: Router,
        master_key: Option<Secret<String>>,
        max_body: usize,
        access: AccessPolicy,
        connections: ConnectionSettings,
    ) -> Self {
        AppState(Arc::new(Inner {
            router,
            master_key,
            max_body,
            access,
            connections,
            started: Instant::now(),
            usage: OnceLock::new(),
        }))
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
        AppState::with_settings(
            router,
            config.master_key.clone(),
            config.settings.max_request_bytes,
            access,
            config.settings.connections,
        )
    }

    /// Attach the request log (or why it is off); only the first call counts.
    pub fn set_usage(&self, log: Result<UsageLog, String>) {
        let _ = self.0.usage.set(log);
    }

    /// The request log model calls are written to, when there is one.
    pub fn usage(&self) -> Option<&UsageLog> {
        self.0.usage.get().and_then(|r| r.as_ref().ok())
    }

    /// Why [`usage`](Self::usage) is `None`, for the client.
    pub fn usage_off_reason(&self) -> String {
        match self.0.usage.get() {
            Some(Err(why)) => why.clone(),
            _ => "this gateway keeps no request log".to_owned(),
        }
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

    pub fn connections(&self) -> ConnectionSettings {
        self.0.connections
    }

    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }
}

/// The whole HTTP surface. Outermost first, every request passes: `headers::stamp` (request
/// id, `x-should-retry`), `log::log_requests`, `access::guard` (Host and Origin), the body
/// limit, then the master key on every route but the health probes and the dashboard's
/// static assets (`/ui`, which read their data from the keyed APIs).
///
/// The outer steps ([`App::answer`]) run around the finished router as plain function calls
/// instead of going through `Router::layer`: that applies a layer to each route, and axum
/// clones a matched route's whole boxed stack for every request (and each `from_fn` layer
/// clones its inner stack again), which cost ~80 allocations per request. Nor are they a
/// `from_fn` layer around the router: that boxes its future and a clone of the router, and
/// the outer router it would need boxes once more (BENCHMARKS.md, "CPU per request" and "The
/// outer steps called directly").
pub fn app(state: AppState) -> App {
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
        .route("/health", get(routes::health::health))
        .route("/spend/logs", get(routes::spend::logs))
        .route("/global/spend/report", get(routes::spend::report))
        .route("/usage", get(routes::spend::usage))
        .route("/metrics", get(routes::spend::metrics))
        .route_layer(auth::RequireKeyLayer(state.clone()));
    let open = AxumRouter::new()
        .route("/", get(routes::health::root))
        .route("/health/liveliness", get(routes::health::liveliness))
        .route("/health/liveness", get(routes::health::liveliness))
        .route("/health/readiness", get(routes::health::readiness))
        .route("/ui", get(routes::ui::page))
        .route("/ui/", get(routes::ui::page))
        .route("/ui/app.js", get(routes::ui::script))
        .route("/ui/app.css", get(routes::ui::style));
    let routes = protected
        .merge(open)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state.clone());
    App { routes, state, bound: IpAddr::V4(Ipv4Addr::LOCALHOST) }
}

/// The app a server answers with: the outer steps of every request around the axum router.
#[derive(Clone)]
pub struct App {
    state: AppState,
    routes: AxumRouter,
    /// The listener's address, for the Host check ([`access::guard`]): loopback unless
    /// [`LiveApp::app`] says otherwise.
    bound: IpAddr,
}

impl App {
    /// Answer one request. Each outer step is a plain `fn` that decides what it can at once
    /// and calls the next, so the answer is one future of a known type that holds the router's
    /// future and a few words per step (the connection boxes it once). As `async fn`s the
    /// steps made it ~5 KB: each kept room for the request it was given and for its inner
    /// step's future, and the request id's scope held its future twice.
    pub fn answer(self, req: Request) -> impl Future<Output = Response> + Send + 'static {
        let App { state, mut routes, bound } = self;
        let head = req.method() == Method::HEAD;
        let answered = headers::stamp(req, move |req| {
            log::log_requests(req, move |req| {
                let max_body = state.max_body();
                access::guard(&state, bound, req, move |req| {
                    body::reject_declared_oversize(max_body, req, move |mut req| {
                        DefaultBodyLimit::max(max_body).apply(&mut req);
                        tower_service::Service::call(&mut routes, req).map(
                            |answered| match answered {
                                Ok(resp) => resp,
                                Err(never) => match never {},
                            },
                        )
                    })
                })
            })
        });
        answered.map(move |resp| if head { headers_only(resp) } else { resp })
    }
}

/// The answer to a `HEAD` request: the length a `GET` would get, and no body. axum's router
/// does this for the routes' answers; this covers the outer steps' own (a refusal, a 413),
/// which hyper would otherwise send with their body over HTTP/2.
fn headers_only(mut resp: Response) -> Response {
    if !resp.headers().contains_key(header::CONTENT_LENGTH)
        && let Some(n) = resp.body().size_hint().exact()
    {
        resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    *resp.body_mut() = Body::empty();
    resp
}

/// [`App::answer`] boxed as a tower service's future: what in-process callers (tests,
/// benchmarks) get from `App` and from [`LiveApp`] as tower services.
pub type BoxedAnswer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl App {
    pub fn boxed_answer(self, req: Request) -> BoxedAnswer {
        Box::pin(async move { Ok(self.answer(req).await) })
    }
}

/// `App` as a tower service, for in-process callers (tests, benchmarks).
impl tower_service::Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxedAnswer;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // An axum router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> BoxedAnswer {
        self.clone().boxed_answer(req)
    }
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

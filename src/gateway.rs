//! The gateway as a unit a process can start and stop: bind, serve in the background, drain
//! on stop, or switch it to a new state without closing the port. `cli::serve` runs one until
//! a signal; the tray controller starts, stops, restarts and reloads one from the menu.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::egress::Egress;
use crate::fdlimit;
use crate::instance::{self, Occupant};
use crate::paths::{Os, UserDirs};
use crate::router::Routed;
use crate::router::health::State;
use crate::server::{self, AppState, BindError, LiveApp};
use crate::usage::{self, Retention, UsageLog};

/// Worker threads of the gateway's async runtime, unless `TOKIO_WORKER_THREADS` sets another
/// number. A request hops between the server's connection task, its handler and the HTTP
/// client's connection task; on two workers most hops wake the other thread. With one, CPU per
/// request fell by a quarter at concurrency 64 and by a third at concurrency 1, and throughput
/// rose (BENCHMARKS.md, "One worker thread"). One core of async work is far more than one
/// machine's clients need; work of milliseconds (the tokenizer) runs on the blocking pool.
pub const WORKER_THREADS: usize = 1;

/// The runtime builder for a gateway (`serve`, and the menu-bar app's background runtime).
pub fn runtime_builder() -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads(std::env::var_os("TOKIO_WORKER_THREADS").as_deref()) {
        builder.worker_threads(n);
    }
    builder.enable_all();
    builder
}

/// [`WORKER_THREADS`] unless the variable is set (then tokio reads it and says if it is bad).
fn worker_threads(variable: Option<&std::ffi::OsStr>) -> Option<usize> {
    variable.is_none().then_some(WORKER_THREADS)
}

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "port {port} on {host} is already in use{}. Or choose another port with --port, LITELLM_PORT or AI_PROXY_PORT",
        .occupant.describe()
    )]
    PortInUse { host: String, port: u16, occupant: Occupant },
    #[error(transparent)]
    Bind(BindError),
    #[error("cannot read the listening address: {0}")]
    Address(io::Error),
}

/// The state for a checked config, its providers built with `egress` (the one the start-up
/// checks used). A provider that cannot be built is logged; its model answers 503 with why.
pub fn build_state(config: &Config, egress: &Egress) -> AppState {
    let state = AppState::with_egress(config, egress);
    state.set_usage(open_usage_log(config));
    if let Some(log) = state.usage() {
        seed_budgets(state.router().deployments(), log);
    }
    for r in state.router().deployments() {
        if let (Err(reason), true) = (&r.provider, r.dep.is_available()) {
            tracing::warn!("{reason}");
        }
    }
    state
}

/// The request log in the state folder (`usage.sqlite3`), shared by every state this process
/// builds, or why there is none. A log that cannot be opened is a warning: the gateway
/// serves without one.
fn open_usage_log(config: &Config) -> Result<UsageLog, String> {
    let settings = config.settings.usage;
    if !settings.enabled {
        return Err("the request log is off (general_settings.disable_spend_logs: true)".into());
    }
    let Some(dirs) = UserDirs::from_env(&config.env, Os::current()) else {
        return Err("the request log is off: no home folder (set HOME)".into());
    };
    let path = dirs.state_dir().join(USAGE_LOG_FILE);
    let retention = Retention {
        max_age_ms: i64::try_from(settings.retention.as_millis()).unwrap_or(i64::MAX),
        max_bytes: (settings.max_mb * 1024.0 * 1024.0) as u64,
    };
    usage::shared(&path, retention).map_err(|e| {
        let why = format!("the request log is off: {e}");
        tracing::warn!("{why}");
        why
    })
}

/// Budgets carry on across restarts and reloads: each budgeted deployment's window starts
/// with the priced calls the request log holds for it (once the writer has caught up).
/// Nothing is read when no deployment has a budget. A log that cannot be read is a warning:
/// the budgets then count from zero.
fn seed_budgets(deployments: &[Arc<Routed>], log: &UsageLog) {
    let budgeted: Vec<&Arc<Routed>> = deployments.iter().filter(|r| r.budget().is_some()).collect();
    if budgeted.is_empty() {
        return;
    }
    log.flush(Duration::from_secs(2));
    let conn = match usage::store::open_reader(log.path()) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("budgets count from zero: {e}");
            return;
        }
    };
    let now = usage::now_ms();
    for r in budgeted {
        let Some(b) = r.budget() else { continue };
        match usage::store::spend_by_slot(&conn, &r.id, b.window_start_ms(now), b.slot_ms()) {
            Ok(slots) => {
                for (slot, usd) in slots {
                    b.add(slot.saturating_mul(b.slot_ms()), usd, now);
                }
            }
            Err(e) => tracing::warn!(
                "budget of model `{}` ({}) counts from zero: reading the request log {} failed: {e}",
                r.dep.alias,
                r.label(),
                log.path().display()
            ),
        }
    }
}

/// The request log's file name in the state folder.
pub const USAGE_LOG_FILE: &str = "usage.sqlite3";

/// A gateway serving in the background of the current tokio runtime.
pub struct Running {
    addr: SocketAddr,
    app: LiveApp,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

/// Bind `host:port` and serve `state` on a background task. After [`Running::stop`], new
/// connections are refused and in-flight requests and streams get `grace` to finish. The
/// first start in a process raises its open-file limit (`fdlimit::raise`).
pub async fn start(
    state: AppState,
    host: &str,
    port: u16,
    grace: Duration,
) -> Result<Running, StartError> {
    fdlimit::raise();
    let listener = match server::bind(host, port).await {
        Ok(l) => l,
        Err(BindError::PortInUse { host, port }) => {
            let occupant = instance::probe(&host, port).await;
            return Err(StartError::PortInUse { host, port, occupant });
        }
        Err(e) => return Err(StartError::Bind(e)),
    };
    let addr = listener.local_addr().map_err(StartError::Address)?;
    let (tx, rx) = oneshot::channel::<()>();
    let shutdown = async move {
        // A dropped sender (the handle went away) stops the server too.
        let _ = rx.await;
    };
    let app = LiveApp::new(state).bound_to(addr);
    let serving = server::serve(listener, app.clone(), shutdown, grace);
    let task = tokio::spawn(async move {
        tokio::select! {
            served = serving => served,
            never = crate::memory::trim_when_idle() => match never {},
        }
    });
    Ok(Running { addr, app, stop: Some(tx), task })
}

impl Running {
    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients on this machine use (wildcard binds are reached on loopback).
    pub fn url(&self) -> String {
        client_url(self.addr)
    }

    /// Serve `state` from now on, on the same listener: no connection is refused, requests
    /// in flight finish with the state they started with (a config reload).
    pub fn replace(&self, state: AppState) {
        self.app.replace(state);
    }

    /// Stop accepting, let in-flight requests finish (bounded by the grace period), and wait
    /// until the server is gone.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        join(&mut self.task).await
    }

    /// Resolves when the server task ends by itself (it failed); after it, do not `stop`.
    pub async fn exited(&mut self) -> io::Result<()> {
        join(&mut self.task).await
    }

    /// Serve until `signal` resolves, then [`stop`](Self::stop). Returns early if the server
    /// fails on its own.
    pub async fn until<F: std::future::Future<Output = ()>>(mut self, signal: F) -> io::Result<()> {
        tokio::select! {
            () = signal => self.stop().await,
            r = join(&mut self.task) => r,
        }
    }
}

async fn join(task: &mut JoinHandle<io::Result<()>>) -> io::Result<()> {
    match task.await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(format!("the server task failed: {e}"))),
    }
}

/// The base URL a local client uses for a bound address.
pub fn client_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// One alias as the menu shows it: the providers behind it, whether any can answer, how
/// many of its deployments are cooling down and its current upstream error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub alias: String,
    /// Distinct provider names in config order (`azure`, `vertex_ai`, …).
    pub providers: Vec<&'static str>,
    pub available: bool,
    /// Deployments of the alias that can serve (configured and built).
    pub deployments: usize,
    /// Of those, the ones the router skips for now after upstream failures.
    pub cooling: usize,
    /// The newest upstream error of its deployments that no answer followed
    /// (`429: rate limited`), redacted.
    pub last_error: Option<String>,
}

/// Models of a running gateway, one entry per alias in config order (provider build
/// failures count as unavailable), with their cooldowns and current errors.
pub fn models_of_router(deployments: &[Arc<Routed>]) -> Vec<ModelEntry> {
    group(deployments.iter().map(|r| {
        let report = r.report();
        let cooling = matches!(report.state, State::CoolingDown { .. });
        let error = report.last_error.filter(|_| report.failing).map(|e| {
            let text = match e.status {
                Some(s) => format!("{s}: {}", e.message),
                None => e.message,
            };
            (text, e.at)
        });
        let available = r.unavailable_reason().is_none();
        (r.dep.alias.as_str(), r.dep.provider.name(), available, cooling, error)
    }))
}

/// Models of a loaded config, one entry per alias in config order.
pub fn models_of_config(config: &Config) -> Vec<ModelEntry> {
    group(
        config
            .deployments
            .iter()
            .map(|d| (d.alias.as_str(), d.provider.name(), d.is_available(), false, None)),
    )
}

type Item<'a> = (&'a str, &'static str, bool, bool, Option<(String, SystemTime)>);

fn group<'a>(items: impl Iterator<Item = Item<'a>>) -> Vec<ModelEntry> {
    let mut out: Vec<(ModelEntry, Option<SystemTime>)> = Vec::new();
    for (alias, provider, available, cooling, error) in items {
        let i = match out.iter().position(|(m, _)| m.alias == alias) {
            Some(i) => i,
            None => {
                out.push((
                    ModelEntry {
                        alias: alias.to_owned(),
                        providers: Vec::new(),
                        available: false,
                        deployments: 0,
                        cooling: 0,
                        last_error: None,
                    },
                    None,
                ));
                out.len() - 1
            }
        };
        let (m, at) = &mut out[i];
        if !m.providers.contains(&provider) {
            m.providers.push(provider);
        }
        m.available |= available;
        if available {
            m.deployments += 1;
            m.cooling += usize::from(cooling);
        }
        if let Some((text, when)) = error
            && at.is_none_or(|t| when > t)
        {
            m.last_error = Some(text);
            *at = Some(when);
        }
    }
    out.into_iter().map(|(m, _)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Env, Source};

    #[test]
    fn one_worker_unless_the_variable_is_set() {
        assert_eq!(worker_threads(None), Some(WORKER_THREADS));
        assert_eq!(worker_threads(Some(std::ffi::OsStr::new("4"))), None);
    }

    #[test]
    fn client_urls_reach_wildcard_binds_on_loopback() {
        let a = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(client_url(a("127.0.0.1:4000")), "http://127.0.0.1:4000");
        assert_eq!(client_url(a("0.0.0.0:4000")), "http://127.0.0.1:4000");
        assert_eq!(client_url(a("[::]:4000")), "http://[::1]:4000");
        assert_eq!(client_url(a("[::1]:4001")), "http://[::1]:4001");
    }

    #[test]
    fn models_are_grouped_by_alias_in_config_order() {
        let yaml = r#"
model_list:
  - model_name: gpt-4o
    litellm_params: { model: azure/gpt-4o, api_base: "https://a.example", api_key: os.environ/NOPE }
  - model_name: mock
    litellm_params: { model: mock/echo }
  - model_name: gpt-4o
    litellm_params: { model: openai/gpt-4o, api_key: k }
  - model_name: gpt-4o
    litellm_params: { model: openai/gpt-4o-mini, api_key: k }
"#;
        let cfg = config::load(yaml, Source::Embedded, Env::default()).expect("config");
        let m = models_of_config(&cfg);
        assert_eq!(
            m,
            vec![
                ModelEntry {
                    alias: "gpt-4o".into(),
                    providers: vec!["azure", "openai"],
                    available: true,
                    deployments: 2,
                    cooling: 0,
                    last_error: None,
                },
                ModelEntry {
                    alias: "mock".into(),
                    providers: vec!["mock"],
                    available: true,
                    deployments: 1,
                    cooling: 0,
                    last_error: None,
                },
            ]
        );
    }

    #[tokio::test]
    async fn start_serves_and_stop_releases_the_port() {
        let cfg = config::load(config::EMBEDDED_DEFAULT, Source::Embedded, Env::default())
            .expect("config");
        let running = start(AppState::from_config(&cfg), "127.0.0.1", 0, Duration::from_secs(1))
            .await
            .expect("start");
        let addr = running.addr();
        assert_ne!(addr.port(), 0);
        let body = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .get(format!("{}/health/readiness", running.url()))
            .send()
            .await
            .expect("readiness")
            .text()
            .await
            .expect("body");
        assert!(body.contains("\"healthy\""), "{body}");
        running.stop().await.expect("stopped cleanly");
        // The port is free again: binding it succeeds.
        tokio::net::TcpListener::bind(addr).await.expect("port released");
    }

    #[tokio::test]
    async fn a_busy_port_names_the_ai_proxy_holding_it() {
        let cfg = config::load(config::EMBEDDED_DEFAULT, Source::Embedded, Env::default())
            .expect("config");
        let first = start(AppState::from_config(&cfg), "127.0.0.1", 0, Duration::from_secs(1))
            .await
            .expect("start");
        let port = first.addr().port();
        let err =
            match start(AppState::from_config(&cfg), "127.0.0.1", port, Duration::from_secs(1))
                .await
            {
                Err(e) => e,
                Ok(_) => panic!("second start on the same port succeeded"),
            };
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "port {port} on 127.0.0.1 is already in use by ai-proxy {}",
                env!("CARGO_PKG_VERSION")
            )),
            "{msg}"
        );
        assert!(msg.contains("--port"), "{msg}");
        first.stop().await.expect("stop");
    }
}

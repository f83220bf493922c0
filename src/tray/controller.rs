//! The tray's state machine: [`Command`]s from the menu in, [`Snapshot`]s for the menu out.
//! It owns the running gateway and lives on the background tokio runtime, so the UI thread
//! only sends commands and never waits: a stop that drains open streams, a config load or a
//! `launchctl` call all happen here. While the gateway runs, the model list is read again
//! every [`REFRESH`] (cooldowns and upstream errors change without a command) and published
//! when it changed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::menu::{LoginState, Snapshot, Status};
use crate::config::Config;
use crate::egress::Egress;
use crate::gateway::{self, Running};
use crate::server::AppState;
use crate::usage::{self, store};

/// How often the running gateway's model list (cooldowns, last errors) is read again.
pub const REFRESH: Duration = Duration::from_secs(2);

/// What the menu asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    /// Start when not running, Stop when running (decided here, on the real state).
    Toggle,
    /// Stop, then start with the config read again.
    Restart,
    /// Read the config again; switch to it only if it loads (a broken file keeps the
    /// running gateway on the previous config).
    Reload,
    /// Flip Launch at Login from its real current state.
    ToggleLaunchAtLogin,
    /// Show a one-off message (the outcome of Install Command Line Tool…).
    Notice(String),
    /// Stop (draining) and tell the UI to exit.
    Quit,
}

/// A config that loaded, with where to listen.
pub struct Loaded {
    pub config: Config,
    /// The egress the start-up checks used (reused for the gateway's clients).
    pub egress: Egress,
    pub host: String,
    pub port: u16,
    /// The folder of the config file (or the user config folder for the embedded default).
    pub config_dir: Option<PathBuf>,
}

/// Loads the config the way `serve` does; the error text is shown in the menu.
pub type Loader = Arc<dyn Fn() -> Result<Loaded, String> + Send + Sync>;

/// The Launch at Login switch (the login job), as the service manager sees it.
pub trait LoginItem: Send + Sync {
    /// On, Off or DisabledBySystem; `Err` when the manager cannot be asked.
    fn state(&self) -> Result<LoginState, String>;
    fn set_enabled(&self, on: bool) -> Result<(), String>;
}

/// What the menu says when ticking Launch at Login did not make it start at login because
/// macOS keeps the item switched off.
pub const DISABLED_BY_SYSTEM: &str = "macOS keeps AI Proxy from starting at login: turn it on in System Settings > General > Login Items";

/// Receives every new snapshot (the UI wakes its event loop with it).
pub type Publish = Box<dyn Fn(Snapshot) + Send + Sync>;

pub struct Controller {
    loader: Loader,
    login: Arc<dyn LoginItem>,
    grace: Duration,
    running: Option<Running>,
    /// The state the running gateway serves (read for the model list's live state).
    state: Option<AppState>,
    /// The host and port the running gateway was asked for (a reload to the same ones
    /// switches the config in place).
    listen: Option<(String, u16)>,
    snap: Snapshot,
    publish: Publish,
}

impl Controller {
    pub fn new(
        loader: Loader,
        login: Arc<dyn LoginItem>,
        grace: Duration,
        publish: Publish,
    ) -> Controller {
        Controller {
            loader,
            login,
            grace,
            running: None,
            state: None,
            listen: None,
            snap: Snapshot::initial(),
            publish,
        }
    }

    /// Handle commands until Quit or until every sender is gone; the gateway is stopped
    /// (drained) before the final snapshot with `exiting` is published.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        self.snap.login = self.login_state().await;
        self.emit();
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { break };
                    tracing::debug!("tray command {cmd:?}");
                    if cmd == Command::Quit {
                        break;
                    }
                    self.handle(cmd).await;
                }
                _ = tick.tick() => self.refresh().await,
            }
        }
        self.stop().await;
        self.snap.exiting = true;
        self.emit();
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Start => self.start(None).await,
            Command::Stop => self.stop().await,
            Command::Toggle if self.running.is_some() => self.stop().await,
            Command::Toggle => self.start(None).await,
            Command::Restart => {
                self.stop().await;
                self.start(None).await;
            }
            Command::Reload => self.reload().await,
            Command::ToggleLaunchAtLogin => self.toggle_login().await,
            Command::Notice(text) => {
                self.snap.notice = Some(text);
                self.emit();
            }
            Command::Quit => {}
        }
    }

    fn emit(&self) {
        (self.publish)(self.snap.clone());
    }

    /// Publish the model list again when the running gateway's cooldowns, upstream errors
    /// or today's usage (read from the request log off the runtime) changed it.
    async fn refresh(&mut self) {
        let Some(state) = &self.state else { return };
        let models = gateway::models_of_router(state.router().deployments());
        let today = match state.usage() {
            Some(log) => match log
                .read(|c| {
                    let since = store::local_day_start_ms(c, 0)?;
                    store::totals(c, since, usage::now_ms() + 1)
                })
                .await
            {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::debug!("today's usage for the menu: {e}");
                    self.snap.today.clone()
                }
            },
            None => None,
        };
        if models != self.snap.models || today != self.snap.today {
            self.snap.models = models;
            self.snap.today = today;
            self.emit();
        }
    }

    fn set_status(&mut self, status: Status) {
        self.snap.status = status;
        self.emit();
    }

    async fn load(&self) -> Result<Loaded, String> {
        let loader = self.loader.clone();
        tokio::task::spawn_blocking(move || loader())
            .await
            .unwrap_or_else(|e| Err(format!("reading the config failed: {e}")))
    }

    fn remember(&mut self, l: &Loaded) {
        self.snap.models = gateway::models_of_config(&l.config);
        self.snap.master_key = l.config.master_key.clone();
        self.snap.config_dir = l.config_dir.clone();
    }

    async fn start(&mut self, loaded: Option<Loaded>) {
        if self.running.is_some() {
            return;
        }
        self.snap.notice = None;
        self.set_status(Status::Starting);
        let loaded = match loaded {
            Some(l) => l,
            None => match self.load().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("cannot start: {e}");
                    self.snap.models.clear();
                    return self.set_status(Status::Error(e));
                }
            },
        };
        self.remember(&loaded);
        let state = gateway::build_state(&loaded.config, &loaded.egress);
        match gateway::start(state.clone(), &loaded.host, loaded.port, self.grace).await {
            Ok(running) => {
                let url = running.url();
                let (ready, total) = self.count_models(&state);
                tracing::info!(
                    "gateway listening on {url} ({ready} of {total} models ready, config: {})",
                    loaded.config.source
                );
                self.running = Some(running);
                self.state = Some(state);
                self.listen = Some((loaded.host, loaded.port));
                self.set_status(Status::Running { url, ready, total });
            }
            Err(e) => {
                tracing::error!("cannot start: {e}");
                self.set_status(Status::Error(e.to_string()));
            }
        }
    }

    /// Switch the running gateway to a config on the same address: the port stays open and
    /// requests in flight finish on the previous config.
    fn switch(&mut self, loaded: Loaded) {
        let state = gateway::build_state(&loaded.config, &loaded.egress);
        let Some(running) = &self.running else { return };
        let url = running.url();
        running.replace(state.clone());
        self.remember(&loaded);
        let (ready, total) = self.count_models(&state);
        self.state = Some(state);
        tracing::info!(
            "reloaded the config on {url} without a restart ({ready} of {total} models ready, config: {})",
            loaded.config.source
        );
        self.snap.notice = None;
        self.set_status(Status::Running { url, ready, total });
    }

    /// Ready and total models of a state, and the menu's model list from it.
    fn count_models(&mut self, state: &AppState) -> (usize, usize) {
        self.snap.models = gateway::models_of_router(state.router().deployments());
        state.router().ready_count()
    }

    async fn stop(&mut self) {
        self.listen = None;
        self.state = None;
        let Some(running) = self.running.take() else {
            if matches!(self.snap.status, Status::Error(_)) {
                self.set_status(Status::Stopped);
            }
            return;
        };
        self.set_status(Status::Stopping);
        tracing::info!(
            "stopping the gateway: no new connections; in-flight requests get up to {}s",
            self.grace.as_secs()
        );
        if let Err(e) = running.stop().await {
            tracing::warn!("the gateway stopped with an error: {e}");
        }
        tracing::info!("stopped");
        self.set_status(Status::Stopped);
    }

    async fn reload(&mut self) {
        match self.load().await {
            Err(e) if self.running.is_some() => {
                tracing::error!("reload failed, still serving the previous config: {e}");
                self.snap.notice =
                    Some(format!("Reload failed, still serving the previous config: {e}"));
                self.emit();
            }
            Err(e) => {
                tracing::error!("reload failed: {e}");
                self.snap.models.clear();
                self.set_status(Status::Error(e));
            }
            Ok(l)
                if self
                    .listen
                    .as_ref()
                    .is_some_and(|(host, port)| *host == l.host && *port == l.port) =>
            {
                self.switch(l)
            }
            Ok(l) if self.running.is_some() => {
                tracing::info!("reloading the config on a new address: restarting");
                self.stop().await;
                self.start(Some(l)).await;
            }
            Ok(l) => {
                self.remember(&l);
                self.snap.notice = None;
                self.set_status(Status::Stopped);
            }
        }
    }

    async fn login_state(&self) -> LoginState {
        let login = self.login.clone();
        match tokio::task::spawn_blocking(move || login.state()).await {
            Ok(Ok(state)) => state,
            Ok(Err(e)) => LoginState::Unavailable(e),
            Err(e) => LoginState::Unavailable(e.to_string()),
        }
    }

    async fn toggle_login(&mut self) {
        let login = self.login.clone();
        let result = tokio::task::spawn_blocking(move || {
            // Disabled by the system counts as off: ticking it asks to turn it on.
            let on = login.state()? == LoginState::On;
            login.set_enabled(!on).map(|()| !on)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        // Show what the manager reports now, not what was asked for.
        self.snap.login = self.login_state().await;
        self.snap.notice = match result {
            Ok(true) if self.snap.login == LoginState::DisabledBySystem => {
                tracing::warn!("Launch at Login: {DISABLED_BY_SYSTEM}");
                Some(DISABLED_BY_SYSTEM.to_owned())
            }
            Ok(_) => None,
            Err(e) => {
                tracing::error!("Launch at Login: {e}");
                Some(format!("Launch at Login: {e}"))
            }
        };
        self.emit();
    }
}

#[cfg(test)]
mod tests;

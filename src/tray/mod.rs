//! The menu-bar app (`ai-proxy tray`): the menu as a pure model (`menu`), the controller
//! that owns the in-process gateway (`controller`), and thin toolkit glue (`app`, behind the
//! `tray` feature: tao event loop on the main thread, tray-icon, muda, arboard).
//! Everything that decides something lives outside `app` and is tested on Linux.

pub mod controller;
pub mod menu;

#[cfg(feature = "tray")]
mod app;
#[cfg(all(feature = "tray", target_os = "macos"))]
mod macos;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;

use crate::config::Env;
#[cfg(feature = "tray")]
use crate::instance::{InstanceLock, LockError};
use crate::paths::Os;
use crate::service::{Kind, Manager, RunState, Spec, SystemRunner};
use controller::{Loader, LoginItem};
use menu::{LoginState, Snapshot, Status};

/// Everything `ai-proxy tray` needs, prepared by `cli::tray`.
pub struct Options {
    pub loader: Loader,
    pub login: Arc<dyn LoginItem>,
    pub grace: Duration,
    /// The log file Open Logs shows.
    pub log_file: Option<PathBuf>,
    /// Where the instance lock lives.
    pub state_dir: Option<PathBuf>,
    /// The process environment (display variables).
    pub env: Env,
}

/// Run the menu-bar app until Quit or SIGINT/SIGTERM. A second instance prints who runs
/// and exits successfully (so a login job does not restart it).
#[cfg(feature = "tray")]
pub fn run(opts: Options) -> anyhow::Result<ExitCode> {
    let lock = match &opts.state_dir {
        Some(dir) => match InstanceLock::acquire(dir, "tray") {
            Ok(l) => Some(l),
            Err(LockError::Held { pid }) => {
                println!("{}", already_running(pid));
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => {
                tracing::warn!("{e}; a second menu-bar app will not be noticed");
                None
            }
        },
        None => None,
    };
    if let Some(problem) = display_problem(Os::current(), &opts.env) {
        bail!(problem);
    }
    app::run(opts, lock)
}

/// Without the `tray` feature there is no menu-bar app to run.
#[cfg(not(feature = "tray"))]
pub fn run(_opts: Options) -> anyhow::Result<ExitCode> {
    bail!(
        "this ai-proxy was built without the menu-bar app: rebuild with `cargo build --release --features tray`, or run `ai-proxy serve`"
    )
}

/// What a second `ai-proxy tray` says before it exits.
pub fn already_running(pid: Option<u32>) -> String {
    let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    format!("ai-proxy tray is already running{who}: use its menu-bar icon. This second copy exits.")
}

/// Why no tray can be shown here, if so: on Linux a graphical session is needed (GTK
/// aborts without one).
pub fn display_problem(os: Os, env: &Env) -> Option<String> {
    let set = |k: &str| env.get(k).is_some_and(|v| !v.is_empty());
    if os == Os::Linux && !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return Some(
            "no graphical session (DISPLAY and WAYLAND_DISPLAY are unset): the menu-bar app needs a desktop. Use `ai-proxy serve` on a headless machine, or `xvfb-run -a ai-proxy tray` to try it"
                .to_owned(),
        );
    }
    None
}

/// The line printed on stdout each time the gateway starts listening (the same shape as
/// `serve`'s start-up line, so scripts and tests can read the URL).
pub fn listening_line(version: &str, status: &Status, logs: &str) -> Option<String> {
    match status {
        Status::Running { url, ready, total } => Some(format!(
            "ai-proxy {version} tray: listening on {url} ({ready} of {total} models ready) - logs: {logs}"
        )),
        _ => None,
    }
}

/// Prints [`listening_line`] once per start (not for every snapshot of a running gateway).
pub fn announcer(version: &'static str, logs: String) -> impl Fn(&Snapshot) + Send + 'static {
    let last: Mutex<Option<Status>> = Mutex::new(None);
    move |s: &Snapshot| {
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref() != Some(&s.status) {
            if let Some(line) = listening_line(version, &s.status, &logs) {
                println!("{line}");
            }
            *last = Some(s.status.clone());
        }
    }
}

/// Launch at Login backed by the real service manager: the checkbox installs the login job
/// for `spec` (without starting a second copy now) or removes it (without stopping this one).
pub struct ServiceLogin {
    pub manager: Manager<SystemRunner>,
    pub spec: Spec,
}

impl ServiceLogin {
    pub fn new(dirs: crate::paths::UserDirs, spec: Spec) -> Self {
        ServiceLogin { manager: Manager::new(Kind::current(), dirs, SystemRunner), spec }
    }
}

impl LoginItem for ServiceLogin {
    fn state(&self) -> Result<LoginState, String> {
        let st = self.manager.status(&self.spec.label);
        match st.state {
            RunState::Unknown(why) if !st.at_login => Err(why),
            _ if st.at_login => Ok(LoginState::On),
            _ if st.disabled => Ok(LoginState::DisabledBySystem),
            _ => Ok(LoginState::Off),
        }
    }

    fn set_enabled(&self, on: bool) -> Result<(), String> {
        let r = if on {
            self.manager.install(&self.spec, false).map(|_| ())
        } else {
            self.manager.uninstall(&self.spec.label, false).map(|_| ())
        };
        r.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_needs_a_display() {
        let none = Env::from_vars([("HOME", "/h")]);
        assert!(display_problem(Os::Linux, &none).expect("problem").contains("ai-proxy serve"));
        assert_eq!(display_problem(Os::Linux, &Env::from_vars([("DISPLAY", ":99")])), None);
        assert_eq!(
            display_problem(Os::Linux, &Env::from_vars([("WAYLAND_DISPLAY", "wayland-0")])),
            None
        );
        assert_eq!(display_problem(Os::MacOs, &none), None);
    }

    #[test]
    fn the_listening_line_matches_serve() {
        let running = Status::Running { url: "http://127.0.0.1:4000".into(), ready: 2, total: 3 };
        assert_eq!(
            listening_line("0.1.0", &running, "/l/ai-proxy.log").as_deref(),
            Some(
                "ai-proxy 0.1.0 tray: listening on http://127.0.0.1:4000 (2 of 3 models ready) - logs: /l/ai-proxy.log"
            )
        );
        assert_eq!(listening_line("0.1.0", &Status::Stopped, "x"), None);
    }

    #[test]
    fn a_second_copy_names_the_first() {
        assert_eq!(
            already_running(Some(42)),
            "ai-proxy tray is already running (pid 42): use its menu-bar icon. This second copy exits."
        );
    }
}

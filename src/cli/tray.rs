//! `ai-proxy tray`: the menu-bar app with the gateway in-process. Same `--config` /
//! `--env-file` flags, config search order and environment as `serve`. Also what the .app
//! bundle runs when Finder starts it with no arguments.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::serve::{self, check_bind_safety, listen_address, load_config};
use super::{ConfigArgs, ServeArgs};
use crate::config::Env;
use crate::config::locate::{Found, config_dir};
use crate::paths::{Os, UserDirs};
use crate::service::{DEFAULT_LABEL, Mode};
use crate::telemetry::{self, Destination};
use crate::tray::controller::{Loaded, Loader, LoginItem};
use crate::tray::menu::LoginState;
use crate::tray::{self, ServiceLogin};

#[derive(Debug, Clone, Args)]
pub struct TrayArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on (default: LITELLM_HOST or 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on (default: LITELLM_PORT or 4000; 0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Seconds to let in-flight requests finish on Stop, Restart, Quit or SIGTERM.
    #[arg(long, default_value_t = 10)]
    pub grace_seconds: u64,
    /// Label of the login job that Launch at Login installs or removes.
    #[arg(long, default_value = DEFAULT_LABEL)]
    pub label: String,
}

pub fn run(args: TrayArgs) -> anyhow::Result<ExitCode> {
    telemetry::init();
    let env = Env::from_process();
    let os = Os::current();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dirs = UserDirs::from_env(&env, os);
    let serve_args = ServeArgs {
        config: args.config.clone(),
        host: args.host.clone(),
        port: args.port,
        strict: false,
        grace_seconds: args.grace_seconds,
    };
    let loader: Loader = Arc::new(move || load(&serve_args).map_err(|e| format!("{e:#}")));
    // A problem here (no HOME, a --config that does not exist yet) only disables the
    // checkbox; the config error itself shows in the menu's status line.
    let login: Arc<dyn LoginItem> = match &dirs {
        Some(d) => {
            match super::service::spec_for(Mode::Tray, &args.label, &args.config, &env, d, &cwd) {
                Ok(spec) => Arc::new(ServiceLogin::new(d.clone(), spec)),
                Err(e) => Arc::new(Unavailable(format!("{e:#}"))),
            }
        }
        None => Arc::new(Unavailable("HOME is not set".into())),
    };
    tray::run(tray::Options {
        loader,
        login,
        grace: Duration::from_secs(args.grace_seconds),
        log_file: Destination::from_env(&env, os).file(),
        state_dir: dirs.as_ref().map(UserDirs::state_dir),
        env,
    })
}

/// Load the config exactly as `serve` does, with the listen address, bind check and the
/// same start-up checks (a failure shows as the menu's error status).
fn load(args: &ServeArgs) -> anyhow::Result<Loaded> {
    let (config, found) = load_config(&args.config)?;
    let (host, port) = listen_address(args, &config.env)?;
    check_bind_safety(&host, &config)?;
    serve::report_config(&config, &found);
    let egress = serve::startup_checks(&config)?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let dir = match &found {
        Found::File { path, .. } => cwd.join(path).parent().map(Path::to_owned),
        Found::Embedded => config_dir(&config.env),
    };
    Ok(Loaded { config, egress, host, port, config_dir: dir })
}

/// Launch at Login when no login job can be described (the reason shows in the menu).
struct Unavailable(String);

impl LoginItem for Unavailable {
    fn state(&self) -> Result<LoginState, String> {
        Err(self.0.clone())
    }

    fn set_enabled(&self, _: bool) -> Result<(), String> {
        Err(self.0.clone())
    }
}

/// The command line to parse: a macOS app bundle started from Finder or at login gets no
/// subcommand (older macOS versions add a `-psn_…` argument), and then runs the tray.
pub fn launch_args(args: Vec<OsString>, exe: Option<PathBuf>) -> Vec<OsString> {
    let in_bundle = exe.is_some_and(|p| p.to_string_lossy().contains(".app/Contents/MacOS/"));
    let only_psn = args.iter().skip(1).all(|a| a.to_string_lossy().starts_with("-psn_"));
    if in_bundle && only_psn {
        let program = args.into_iter().next().unwrap_or_else(|| OsString::from("ai-proxy"));
        return vec![program, OsString::from("tray")];
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_bundle_started_by_finder_runs_the_tray() {
        let app = Some(PathBuf::from("/Applications/AI Proxy.app/Contents/MacOS/ai-proxy"));
        assert_eq!(launch_args(os(&["ai-proxy"]), app.clone()), os(&["ai-proxy", "tray"]));
        assert_eq!(
            launch_args(os(&["ai-proxy", "-psn_0_12345"]), app.clone()),
            os(&["ai-proxy", "tray"])
        );
        assert_eq!(launch_args(os(&["ai-proxy", "serve"]), app), os(&["ai-proxy", "serve"]));
        // Outside a bundle nothing changes (clap prints the help).
        let plain = Some(PathBuf::from("/usr/local/bin/ai-proxy"));
        assert_eq!(launch_args(os(&["ai-proxy"]), plain), os(&["ai-proxy"]));
    }

    #[test]
    fn the_tray_refuses_what_serve_refuses_at_start() {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = dir.path().join("corp-ca.pem");
        std::fs::write(&ca, "this is not a certificate").expect("write");
        let cfg = dir.path().join("config.yaml");
        std::fs::write(
            &cfg,
            format!("model_list:\n  - model_name: m\n    litellm_params:\n      model: mock/x\n      ssl_verify: {}\n", ca.display()),
        )
        .expect("write");
        let args = ServeArgs {
            config: ConfigArgs { config: Some(cfg), env_file: None },
            host: Some("127.0.0.1".into()),
            port: Some(0),
            strict: false,
            grace_seconds: 1,
        };
        let err = match load(&args) {
            Err(e) => format!("{e:#}"),
            Ok(_) => panic!("a CA file that is not PEM must stop the tray's gateway too"),
        };
        assert!(err.contains("corp-ca.pem"), "{err}");
    }
}

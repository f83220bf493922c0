//! `ai-proxy service install | uninstall | status`: the login job (LaunchAgent on macOS,
//! systemd user unit on Linux) that starts the menu-bar app or the gateway at login.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::ConfigArgs;
use crate::config::Env;
use crate::config::locate::{Found, find_config};
use crate::paths::{Os, UserDirs};
use crate::service::{
    self, DEFAULT_LABEL, Kind, Manager, Mode, RunState, ServiceError, Spec, SystemRunner, cli_link,
};

#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: ServiceAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ServiceAction {
    /// Write the login job for this binary and start it now.
    Install(InstallArgs),
    /// Stop the login job and delete it.
    Uninstall(UninstallArgs),
    /// Show whether the login job is installed and running (exit 0 when running, 3 when not).
    Status(LabelArgs),
    /// Put this binary on the PATH: a symlink `ai-proxy` in /usr/local/bin when writable, else
    /// ~/.local/bin. Run it from the app (`"/Applications/AI Proxy.app/Contents/MacOS/ai-proxy"
    /// service install-cli`) so the terminal and the app are one signed binary for the Keychain.
    InstallCli(CliDirArgs),
    /// Remove the `ai-proxy` symlink that install-cli made (only if it points at this binary).
    UninstallCli(CliDirArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CliDirArgs {
    /// The folder for the link (default: /usr/local/bin when writable, else ~/.local/bin).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct LabelArgs {
    /// Job label (launchd Label; the systemd unit is LABEL.service).
    #[arg(long, default_value = DEFAULT_LABEL)]
    pub label: String,
}

#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// What runs at login: the menu-bar app or the gateway alone (default: tray when this
    /// build has it).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    #[command(flatten)]
    pub label: LabelArgs,
    /// Only register for the next login; do not start it now.
    #[arg(long)]
    pub no_start: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub label: LabelArgs,
    /// Leave a running copy running (it just will not start at the next login).
    #[arg(long)]
    pub keep_running: bool,
}

pub fn run(args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let env = Env::from_process();
    let dirs = UserDirs::from_env(&env, Os::current()).ok_or(ServiceError::NoHome)?;
    let manager = Manager::new(Kind::current(), dirs.clone(), SystemRunner);
    match args.action {
        ServiceAction::Install(a) => {
            let mode = a.mode.unwrap_or_else(Mode::default_for_build);
            if mode == Mode::Tray && !cfg!(feature = "tray") {
                bail!(
                    "this ai-proxy was built without the menu-bar app: use --mode serve, or rebuild with --features tray"
                );
            }
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            let spec = spec_for(mode, &a.label.label, &a.config, &env, &dirs, &cwd)?;
            let file = manager.install(&spec, !a.no_start)?;
            println!("wrote {}", file.display());
            println!("runs at login: {}", spec.command_line().join(" "));
            println!(
                "job output: {} and {}",
                spec.stdout_file().display(),
                spec.stderr_file().display()
            );
            println!("{}", manager.status(&spec.label));
            Ok(ExitCode::SUCCESS)
        }
        ServiceAction::Uninstall(a) => {
            let file = manager.file(&a.label.label);
            if manager.uninstall(&a.label.label, !a.keep_running)? {
                println!("removed {}", file.display());
            } else {
                println!("nothing to remove: {} does not exist", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        ServiceAction::InstallCli(a) => {
            let program =
                std::env::current_exe().context("cannot find the path of this ai-proxy binary")?;
            let dir = a.dir.unwrap_or_else(|| default_cli_dir(&dirs.home));
            let done = cli_link::install(&program, &dir).map_err(anyhow::Error::msg)?;
            println!("{}", cli_link::describe(&done, env.get("PATH").as_deref()));
            Ok(ExitCode::SUCCESS)
        }
        ServiceAction::UninstallCli(a) => {
            let program =
                std::env::current_exe().context("cannot find the path of this ai-proxy binary")?;
            let explicit = a.dir.is_some();
            let dirs_to_try = match a.dir {
                Some(d) => vec![d],
                None => {
                    vec![std::path::PathBuf::from("/usr/local/bin"), dirs.home.join(".local/bin")]
                }
            };
            let mut removed = false;
            for dir in &dirs_to_try {
                match cli_link::uninstall(&program, dir) {
                    Ok(true) => {
                        println!("removed {}", dir.join(cli_link::LINK_NAME).display());
                        removed = true;
                    }
                    Ok(false) => {}
                    Err(e) if explicit => bail!(e),
                    Err(e) => println!("note: {e}"),
                }
            }
            if !removed {
                println!("no ai-proxy link to this binary found");
            }
            Ok(ExitCode::SUCCESS)
        }
        ServiceAction::Status(a) => {
            let st = manager.status(&a.label);
            println!("{st}");
            Ok(match st.state {
                RunState::Running { .. } => ExitCode::SUCCESS,
                _ => ExitCode::from(3),
            })
        }
    }
}

/// Where install-cli puts the link without `--dir`.
pub fn default_cli_dir(home: &Path) -> std::path::PathBuf {
    cli_link::choose_dir(cli_link::writable(Path::new("/usr/local/bin")), home)
}

/// The login job for this binary: its path, the config the current directory would use,
/// the platform log folder and a PATH that finds `az` / `gcloud`.
pub fn spec_for(
    mode: Mode,
    label: &str,
    config: &ConfigArgs,
    env: &Env,
    dirs: &UserDirs,
    cwd: &Path,
) -> anyhow::Result<Spec> {
    let program =
        std::env::current_exe().context("cannot find the path of this ai-proxy binary")?;
    let found = find_config(config.config.as_deref(), env, cwd);
    if let Found::File { path, rule } = &found
        && !cwd.join(path).is_file()
    {
        bail!("{} (from {rule}) does not exist", path.display());
    }
    Ok(Spec {
        label: label.to_owned(),
        mode,
        program,
        args: service::config_args(&found, config.env_file.as_deref(), cwd),
        log_dir: dirs.log_dir(),
        path_env: service::job_path(dirs.os, env.get("PATH").as_deref()),
    })
}

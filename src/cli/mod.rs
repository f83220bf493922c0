//! Command-line interface: clap types and dispatch. One file per subcommand.

pub mod doctor;
pub mod secrets;
pub mod serve;
pub mod service;
pub mod setup;
pub mod tray;
pub mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ai-proxy", version, about = "Local LLM gateway with LiteLLM-compatible config")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway in the foreground.
    Serve(ServeArgs),
    /// Check each model's route step by step: proxy, DNS, TCP, TLS, credentials (--live: one request).
    Doctor(DoctorArgs),
    /// Manage secrets in the Keychain (macOS), the Secret Service or keyutils (Linux): set, list, delete, import.
    Secrets(secrets::SecretsArgs),
    /// Check the configuration: a checklist with the fix for each problem (exit 1 on any).
    Validate(validate::ValidateArgs),
    /// Interactive set-up: providers, credentials (to the secret store), proxies, CA, port.
    Setup(setup::SetupArgs),
    /// Run the menu-bar app (tray icon and menu) with the gateway in-process.
    Tray(tray::TrayArgs),
    /// Launch at login: install, remove or inspect the LaunchAgent / systemd user unit.
    Service(service::ServiceArgs),
}

/// Where the configuration comes from (shared by every subcommand that reads it).
#[derive(Debug, Clone, Args, Default)]
pub struct ConfigArgs {
    /// Config file (default: $AI_PROXY_CONFIG, ./config.yaml, then the user config folder).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// .env file to load (default: .env beside the config file).
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on (default: LITELLM_HOST or 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on (default: LITELLM_PORT or 4000; 0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Refuse to start when any model is unavailable (missing variable or credential).
    #[arg(long)]
    pub strict: bool,
    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 10)]
    pub grace_seconds: u64,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Check only this model alias.
    #[arg(long, value_name = "ALIAS")]
    pub model: Option<String>,
    /// Also send one minimal authenticated request per model.
    #[arg(long)]
    pub live: bool,
    /// Print the results as JSON (for scripts) instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Secrets(args) => secrets::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Tray(args) => tray::run(args),
        Command::Service(args) => service::run(args),
    }
}

//! `ai-proxy validate [--json]`: the configuration checklist (✓ / ✗ with the fix for each ✗),
//! exit code 1 on any ✗. The checks themselves live in `config::validate`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::ConfigArgs;
use super::serve::{DEFAULT_HOST, DEFAULT_PORT, prepare_env};
use crate::config::locate::Found;
use crate::config::validate::{self, Check};
use crate::config::{self, Source};

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the checks as JSON: {"ok": bool, "checks": [{"kind", "ok", "message", "fix"}]}.
    #[arg(long)]
    pub json: bool,
    /// Port to check (default: LITELLM_PORT, AI_PROXY_PORT or 4000).
    #[arg(long)]
    pub port: Option<u16>,
    /// Skip the port check (e.g. while the gateway is running).
    #[arg(long)]
    pub no_port: bool,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let checks = collect(&args)?;
    let ok = checks.iter().all(|c| c.ok);
    if args.json {
        println!("{:#}", json!({"ok": ok, "checks": checks}));
    } else {
        for c in &checks {
            println!("{}", c.render());
        }
        let failed = checks.iter().filter(|c| !c.ok).count();
        if ok {
            println!("\nall {} checks passed", checks.len());
        } else {
            println!("\n{failed} of {} checks failed", checks.len());
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Every check for the config the arguments select.
pub fn collect(args: &ValidateArgs) -> anyhow::Result<Vec<Check>> {
    let (env, found, note) = prepare_env(&args.config)?;
    let result = match &found {
        Found::File { path, .. } => config::load_file(path, env.clone()),
        Found::Embedded => config::load(config::EMBEDDED_DEFAULT, Source::Embedded, env.clone()),
    };
    let mut checks = vec![validate::load_check(&result)];
    if let Some(n) = note {
        checks.push(Check {
            kind: validate::Kind::Variable,
            ok: true,
            message: format!("note: {n}"),
            fix: None,
            fatal_at_start: false,
        });
    }
    let Ok(config) = result else { return Ok(checks) };
    let port = match args.port {
        Some(p) => Some(p),
        None => match env.first_of(&["LITELLM_PORT", "AI_PROXY_PORT"]) {
            Some((_, v)) => v.trim().parse().ok(),
            None => Some(DEFAULT_PORT),
        },
    };
    let host = env.get("LITELLM_HOST").unwrap_or_else(|| DEFAULT_HOST.to_owned());
    let listen = if args.no_port { None } else { port.map(|p| (host.as_str(), p)) };
    checks.extend(validate::check_config(&config, listen));
    Ok(checks)
}

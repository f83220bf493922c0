//! `ai-proxy serve`: load config and `.env`, check the bind is safe, run until a signal.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context, bail};

use super::{ConfigArgs, ServeArgs};
use crate::config::locate::{Found, find_config, find_env_file};
use crate::config::validate::Kind;
use crate::config::{self, Config, Env, Source, TEMPLATE_MASTER_KEY};
use crate::egress::Egress;
use crate::gateway;
use crate::secrets::{self, StoreLookup};
use crate::server::{self, AppState};
use crate::telemetry;

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 4000;

/// Load the configuration the way every subcommand does: search order, `.env`, the secret
/// store, resolve.
pub fn load_config(args: &ConfigArgs) -> anyhow::Result<(Config, Found)> {
    let (env, found, store_note) = prepare_env(args)?;
    let mut config = match &found {
        Found::File { path, .. } => config::load_file(path, env)?,
        Found::Embedded => config::load(config::EMBEDDED_DEFAULT, Source::Embedded, env)?,
    };
    config.warnings.extend(store_note);
    Ok((config, found))
}

/// The environment a config resolves against (process, `.env`, secret store) and where the
/// config is. The third value says why no secret store is attached, if none is.
pub fn prepare_env(args: &ConfigArgs) -> anyhow::Result<(Env, Found, Option<String>)> {
    let mut env = Env::from_process();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let found = find_config(args.config.as_deref(), &env, &cwd);
    if let Some(env_file) = find_env_file(args.env_file.as_deref(), &found, &cwd) {
        env.load_dotenv(&env_file)?;
    }
    let note = match secrets::store::open_explained(&env) {
        Ok(opened) => {
            let label = opened.store.as_ref().map(|s| s.label());
            if let Some(store) = opened.store {
                env.set_store(Arc::new(StoreLookup::new(store)));
            }
            fallback_note(&opened.passed_over, label)
        }
        Err(e) => Some(format!("{e}; os.environ/ values come from the environment and .env only")),
    };
    Ok((env, found, note))
}

/// Why the store in use is not the platform's first choice (the Secret Service on a Linux
/// desktop), if it is not.
pub fn fallback_note(passed_over: &[String], used: Option<&str>) -> Option<String> {
    if passed_over.is_empty() {
        return None;
    }
    let used = match used {
        Some("keyutils") => "kernel keyutils (values there do not survive a reboot)".to_owned(),
        Some(other) => other.to_owned(),
        None => "no store".to_owned(),
    };
    Some(format!("{}; using {used}", passed_over.join("; ")))
}

/// Host and port: flags, then LITELLM_HOST / LITELLM_PORT (environment or .env), then defaults.
pub fn listen_address(args: &ServeArgs, env: &Env) -> anyhow::Result<(String, u16)> {
    let host = args
        .host
        .clone()
        .or_else(|| env.get("LITELLM_HOST"))
        .unwrap_or_else(|| DEFAULT_HOST.to_owned());
    let port = match args.port {
        Some(p) => p,
        None => match env.first_of(&["LITELLM_PORT", "AI_PROXY_PORT"]) {
            Some((name, v)) => {
                v.trim().parse().with_context(|| format!("{name}={v} is not a port number"))?
            }
            None => DEFAULT_PORT,
        },
    };
    Ok((host, port))
}

/// Whether `host` only accepts connections from this machine.
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_matches(['[', ']']).parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// Refuse to expose the gateway beyond this machine without a real key.
pub fn check_bind_safety(host: &str, config: &Config) -> anyhow::Result<()> {
    if is_loopback(host) {
        return Ok(());
    }
    match config.master_key.as_ref().map(|k| k.expose().as_str()) {
        None => bail!(
            "refusing to listen on {host} without a master key: anyone on the network could use your cloud credentials. \
             Set LITELLM_MASTER_KEY (or general_settings.master_key), or listen on 127.0.0.1 (--host 127.0.0.1; the seed's LITELLM_HOST=0.0.0.0 is not needed for local tools)"
        ),
        Some(TEMPLATE_MASTER_KEY) => bail!(
            "refusing to listen on {host} with the template master key sk-1234, which everyone knows. \
             Set LITELLM_MASTER_KEY to a long random value, or listen on 127.0.0.1"
        ),
        Some(_) => Ok(()),
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    telemetry::init();
    let (config, found) = load_config(&args.config)?;
    let (host, port) = listen_address(&args, &config.env)?;
    check_bind_safety(&host, &config)?;
    report_config(&config, &found);
    let egress = startup_checks(&config)?;
    let unavailable: Vec<&str> =
        config.deployments.iter().filter_map(|d| d.unavailable.as_deref()).collect();
    if args.strict && !unavailable.is_empty() {
        bail!(
            "--strict: {} model(s) unavailable:\n  {}",
            unavailable.len(),
            unavailable.join("\n  ")
        );
    }

    let runtime = gateway::runtime_builder().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let state = gateway::build_state(&config, &egress);
        if args.strict {
            let failed: Vec<&str> = state
                .router()
                .deployments()
                .iter()
                .filter_map(|r| r.unavailable_reason())
                .collect();
            if !failed.is_empty() {
                bail!("--strict: {} model(s) unavailable:\n  {}", failed.len(), failed.join("\n  "));
            }
        }
        let grace = Duration::from_secs(args.grace_seconds);
        let running = gateway::start(state.clone(), &host, port, grace).await?;
        let addr = running.addr();
        let (ready, total) = state.router().ready_count();
        if config.master_key.is_none() {
            tracing::warn!("no master key set (LITELLM_MASTER_KEY): any local program can call the gateway; listening on loopback only");
        }
        println!(
            "ai-proxy {} listening on http://{addr} ({ready} of {total} models ready, config: {}) - logs: {}",
            env!("CARGO_PKG_VERSION"),
            config.source,
            telemetry::describe_destination()
        );
        serve_until_stopped(running, &args, &host, port).await?;
        tracing::info!("stopped");
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Serve until SIGINT/SIGTERM (then drain) or until the server fails. SIGHUP reads the
/// config again and switches to it in place (see [`reload`]).
async fn serve_until_stopped(
    mut running: gateway::Running,
    args: &ServeArgs,
    host: &str,
    port: u16,
) -> anyhow::Result<()> {
    let shutdown = server::shutdown_signal();
    tokio::pin!(shutdown);
    let mut hangup = server::hangup_signals();
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(running.stop().await?),
            r = running.exited() => return Ok(r?),
            Some(()) = hangup.recv() => {
                let args = args.clone();
                let host_owned = host.to_owned();
                match tokio::task::spawn_blocking(move || reload(&args, &host_owned, port)).await {
                    Ok(Ok((state, note))) => {
                        running.replace(state);
                        tracing::info!("{note}");
                    }
                    Ok(Err(e)) => tracing::error!("reload failed, still serving the previous config: {e:#}"),
                    Err(e) => tracing::error!("reload failed, still serving the previous config: {e}"),
                }
            }
        }
    }
}

/// Load the config again for a running gateway on `host:port`, with the checks of start-up.
/// The listening address is kept: a changed host or port is reported, not applied.
fn reload(args: &ServeArgs, host: &str, port: u16) -> anyhow::Result<(AppState, String)> {
    let (config, found) = load_config(&args.config)?;
    check_bind_safety(host, &config)?;
    let egress = startup_checks(&config)?;
    report_config(&config, &found);
    let state = gateway::build_state(&config, &egress);
    let (ready, total) = state.router().ready_count();
    let mut note = format!(
        "reloaded the config on SIGHUP ({ready} of {total} models ready, config: {})",
        config.source
    );
    let (new_host, new_port) = listen_address(args, &config.env)?;
    if (new_host.as_str(), new_port) != (host, port) {
        note.push_str(&format!("; still listening on {host}:{port}: a new address ({new_host}:{new_port}) needs a restart"));
    }
    Ok((state, note))
}

/// The checks `serve` and the tray run before starting: `validate`'s start-up checks (errors
/// stop start-up with the same text `ai-proxy validate` prints; the rest are logged) and
/// egress's (a CA file that cannot be used or a malformed proxy URL is fatal). Returns the
/// checked `Egress` for [`gateway::build_state`], so nothing is read twice.
pub fn startup_checks(config: &Config) -> anyhow::Result<Egress> {
    for c in config::validate::startup_checks(config)? {
        if !matches!(c.kind, Kind::Variable | Kind::MasterKey) {
            tracing::warn!("{}", c.render());
        }
    }
    let egress = Egress::new(&config.env);
    for w in egress.check(config)? {
        tracing::warn!("{w}");
    }
    Ok(egress)
}

/// Log where the config came from, its warnings and unavailable models.
pub fn report_config(config: &Config, found: &Found) {
    match found {
        Found::File { path, rule } => tracing::info!("config {} (found by {rule})", path.display()),
        Found::Embedded => tracing::info!(
            "no config.yaml found (--config, $AI_PROXY_CONFIG, ./config.yaml, user config folder): serving the embedded default config with the built-in mock model"
        ),
    }
    if let Some(p) = config.env.dotenv_path() {
        tracing::info!("loaded {}", p.display());
    }
    if let Some(origin) = &config.master_key_origin {
        tracing::info!("master key from {origin}");
    }
    let text = match &config.source {
        Source::File(p) => std::fs::read_to_string(p).unwrap_or_default(),
        Source::Embedded => config::EMBEDDED_DEFAULT.to_owned(),
    };
    let origins: Vec<String> = secrets::names::relevant(&text)
        .iter()
        .filter_map(|name| {
            config.env.lookup(name).map(|(_, origin)| format!("{name} from {origin}"))
        })
        .collect();
    if !origins.is_empty() {
        tracing::info!("variables: {}", origins.join(", "));
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    for d in &config.deployments {
        if let Some(reason) = &d.unavailable {
            tracing::warn!("unavailable: {reason}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["0.0.0.0", "192.168.1.5", "::", "example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    fn cfg(key: Option<&str>) -> Config {
        let env = match key {
            Some(k) => Env::from_vars([("LITELLM_MASTER_KEY", k)]),
            None => Env::default(),
        };
        config::load("model_list: []", Source::Embedded, env).expect("config")
    }

    #[test]
    fn non_loopback_needs_a_real_key() {
        assert!(check_bind_safety("127.0.0.1", &cfg(None)).is_ok());
        let e = check_bind_safety("0.0.0.0", &cfg(None)).expect_err("refused");
        assert!(e.to_string().contains("without a master key"), "{e}");
        let e = check_bind_safety("0.0.0.0", &cfg(Some("sk-1234"))).expect_err("refused");
        assert!(e.to_string().contains("template master key sk-1234"), "{e}");
        assert!(check_bind_safety("0.0.0.0", &cfg(Some("sk-long-random"))).is_ok());
    }

    #[test]
    fn address_from_flags_then_env() {
        let args = ServeArgs {
            config: ConfigArgs::default(),
            host: None,
            port: None,
            strict: false,
            grace_seconds: 10,
        };
        assert_eq!(listen_address(&args, &Env::default()).expect("ok"), ("127.0.0.1".into(), 4000));
        let env = Env::from_vars([("LITELLM_HOST", "0.0.0.0"), ("LITELLM_PORT", "4100")]);
        assert_eq!(listen_address(&args, &env).expect("ok"), ("0.0.0.0".into(), 4100));
        let flags = ServeArgs { host: Some("127.0.0.2".into()), port: Some(5), ..args };
        assert_eq!(listen_address(&flags, &env).expect("ok"), ("127.0.0.2".into(), 5));
        let bad = Env::from_vars([("LITELLM_PORT", "http")]);
        let e = listen_address(&ServeArgs { host: None, port: None, ..flags }, &bad)
            .expect_err("bad port");
        assert!(e.to_string().contains("LITELLM_PORT=http is not a port number"), "{e}");
    }
}

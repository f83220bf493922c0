//! `ai-proxy secrets set|list|delete|import`: manage the values `os.environ/NAME` falls back
//! to, in the platform secret store (Keychain on macOS; the Secret Service, else keyutils, on
//! Linux). Values are never printed.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::ConfigArgs;
use super::serve::{fallback_note, prepare_env};
use crate::config::locate::{Found, find_env_file};
use crate::config::{self, Env, Origin};
use crate::files;
use crate::secrets::store::{self, SecretStore};
use crate::secrets::{Secret, dotenv, names};

#[derive(Debug, Clone, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub action: SecretsAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SecretsAction {
    /// Store a value (hidden prompt, or read from stdin when it is not a terminal).
    Set {
        /// Variable name, as written after `os.environ/` (e.g. DASHSCOPE_API_KEY).
        name: String,
    },
    /// The variables the config uses and where each one resolves from (never the values).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove a value from the store.
    Delete { name: String },
    /// Move every secret-looking value of a .env into the store and remove it from the file.
    Import {
        #[command(flatten)]
        config: ConfigArgs,
        /// Keep a copy of the original file as <file>.bak (mode 0600; it still holds the secrets).
        #[arg(long)]
        backup: bool,
    },
}

pub fn run(args: SecretsArgs) -> anyhow::Result<ExitCode> {
    let env = Env::from_process();
    match args.action {
        SecretsAction::Set { name } => set(&env, &name),
        SecretsAction::List { config } => list(&config),
        SecretsAction::Delete { name } => delete(&env, &name),
        SecretsAction::Import { config, backup } => import(&config, backup),
    }
}

/// The store this process uses, or an error saying how to get one.
pub fn open_store(env: &Env) -> anyhow::Result<Arc<dyn SecretStore>> {
    let opened = store::open_explained(env)?;
    let Some(store) = opened.store else {
        bail!("no secret store: AI_PROXY_SECRET_STORE=none");
    };
    if let Some(note) = fallback_note(&opened.passed_over, Some(store.label())) {
        eprintln!("note: {note}");
    }
    Ok(store)
}

fn set(env: &Env, name: &str) -> anyhow::Result<ExitCode> {
    store::check_name(name)?;
    let store = open_store(env)?;
    let value = read_value(name)?;
    store.set(name, &value)?;
    println!("stored {name} in the {} store (service {})", store.label(), store::service_name(env));
    if env.get(name).is_some() {
        println!(
            "note: {name} is also set in this shell's environment, which wins over the store; unset it there"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A value from a hidden prompt on a terminal, else all of stdin (one trailing newline cut).
fn read_value(name: &str) -> anyhow::Result<Secret<String>> {
    let value = if std::io::stdin().is_terminal() {
        inquire::Password::new(&format!("{name}:"))
            .without_confirmation()
            .with_display_mode(inquire::PasswordDisplayMode::Hidden)
            .with_help_message("input is hidden; it goes to the secret store, not to a file")
            .prompt()
            .context("no value entered")?
    } else {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("cannot read the value from stdin")?;
        let trimmed = s.strip_suffix('\n').unwrap_or(&s);
        trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned()
    };
    if value.is_empty() {
        bail!("empty value: nothing stored for {name}");
    }
    Ok(Secret::new(value))
}

fn list(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let (env, found, note) = prepare_env(args)?;
    let text = match &found {
        Found::File { path, .. } => std::fs::read_to_string(path).unwrap_or_default(),
        Found::Embedded => config::EMBEDDED_DEFAULT.to_owned(),
    };
    if let Some(n) = note {
        println!("note: {n}");
    }
    let mut names = names::relevant(&text);
    for n in env.dotenv_names() {
        if !names.iter().any(|x| x == n)
            && env.dotenv_value(n).is_some_and(|v| dotenv::is_secret(n, v))
        {
            names.push(n.to_owned());
        }
    }
    // Whatever else the store holds (a store that can list its items).
    for n in env.store_names() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let width = names.iter().map(String::len).max().unwrap_or(0);
    for name in &names {
        let source = match env.lookup(name) {
            Some((_, Origin::DotEnv(p))) => format!(".env ({})", p.display()),
            Some((_, origin)) => origin.to_string(),
            None => match env.store_failure(name) {
                Some(reason) => format!("not readable: {reason}"),
                None => "not set".to_owned(),
            },
        };
        println!("{name:<width$}  {source}");
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(env: &Env, name: &str) -> anyhow::Result<ExitCode> {
    store::check_name(name)?;
    let store = open_store(env)?;
    if store.delete(name)? {
        println!("deleted {name} from the {} store", store.label());
    } else {
        println!("{name} was not in the {} store", store.label());
    }
    Ok(ExitCode::SUCCESS)
}

fn import(args: &ConfigArgs, backup: bool) -> anyhow::Result<ExitCode> {
    let env = Env::from_process();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let found = config::locate::find_config(args.config.as_deref(), &env, &cwd);
    let Some(path) = find_env_file(args.env_file.as_deref(), &found, &cwd) else {
        bail!(
            "no .env found beside the config ({}) or in the current folder; name it with --env-file",
            describe(&found)
        );
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let store = open_store(&env)?;
    let split = dotenv::split(&text, store.label());
    if split.moved.is_empty() {
        println!("no secrets to move in {}", path.display());
    } else {
        for (name, value) in &split.moved {
            store.set(name, value)?;
            // Read back before the file loses the only other copy.
            match store.get(name)? {
                Some(v) if v == *value => {}
                _ => bail!(
                    "{name} did not read back from the {} store as stored; {} left unchanged",
                    store.label(),
                    path.display()
                ),
            }
        }
        if backup {
            let bak = backup_path(&path);
            files::write_private(&bak, &text)
                .with_context(|| format!("cannot write {}", bak.display()))?;
            println!(
                "backup: {} (mode 0600; it still holds the secrets in plain text, delete it when done)",
                bak.display()
            );
        }
        files::write_private(&path, &split.kept)
            .with_context(|| format!("cannot rewrite {}", path.display()))?;
        let moved: Vec<&str> = split.moved.iter().map(|(n, _)| n.as_str()).collect();
        println!(
            "moved {} secret(s) from {} to the {} store: {}",
            moved.len(),
            path.display(),
            store.label(),
            moved.join(", ")
        );
    }
    for name in &split.placeholders {
        println!(
            "left {name} in {}: it holds a template placeholder; set the real value with `ai-proxy secrets set {name}` and delete the line",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn backup_path(path: &std::path::Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".bak");
    path.with_file_name(name)
}

fn describe(found: &Found) -> String {
    match found {
        Found::File { path, .. } => path.display().to_string(),
        Found::Embedded => "no config.yaml".to_owned(),
    }
}

//! `ai-proxy setup`: the interactive wizard (inquire prompts, each answer checked on the
//! spot), or `--answers FILE` for scripts. Writes config.yaml and .env (0600, no secrets) in
//! the config folder (0700), puts secrets in the store, then runs `validate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use inquire::validator::Validation;
use inquire::{Confirm, CustomType, Password, PasswordDisplayMode, Select, Text};

use super::ConfigArgs;
use super::validate::{ValidateArgs, collect};
use crate::config::locate::config_dir;
use crate::config::validate::{self, Check};
use crate::config::{Env, TEMPLATE_MASTER_KEY};
use crate::files;
use crate::secrets::dotenv::url_has_password;
use crate::secrets::{Secret, StoreLookup};
use crate::setup::{self as model, Answers, Azure, AzureAuth, DashScope, GeminiApi, Vertex};

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Folder for config.yaml and .env (default: the user config folder).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Non-interactive: take the answers from this YAML or JSON file (see README).
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Listening port (overrides the answers).
    #[arg(long)]
    pub port: Option<u16>,
    /// Do not run `validate` at the end.
    #[arg(long)]
    pub no_validate: bool,
}

const WRITTEN_BY: &str = "# Written by `ai-proxy setup`";

pub fn run(args: SetupArgs) -> anyhow::Result<ExitCode> {
    let mut env = Env::from_process();
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => config_dir(&env)
            .context("cannot find the user config folder (HOME is not set); pass --dir")?,
    };
    let config_path = dir.join("config.yaml");
    let env_path = dir.join(".env");
    if env_path.is_file() {
        env.load_dotenv(&env_path)?;
    }
    let store =
        super::secrets::open_store(&env).context("setup keeps secrets in the secret store")?;
    env.set_store(Arc::new(StoreLookup::new(store.clone())));
    let existing = std::fs::read_to_string(&config_path).ok();
    let defaults = existing.as_deref().map(|t| Answers::from_existing(t, &env)).unwrap_or_default();
    let stored = |name: &str| store.get(name).ok().flatten().is_some();

    let mut answers = match &args.answers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let a: Answers = serde_yaml_ng::from_str(&text)
                .with_context(|| format!("{}: not a valid answers file", path.display()))?;
            check_answers(&a)?;
            a
        }
        None => {
            if existing.is_some() {
                println!("Editing the setup in {} (Enter keeps the current value).", dir.display());
            } else {
                println!("Setting up ai-proxy in {}.", dir.display());
            }
            ask(&defaults, &env, &stored)?
        }
    };
    if let Some(p) = args.port {
        answers.port = Some(p);
    }

    let (master_key, new_key) = match answers.master_key.as_deref() {
        Some(TEMPLATE_MASTER_KEY) => bail!(
            "the master key sk-1234 is the published template key; leave master_key out to get a random one"
        ),
        Some(k) if !k.is_empty() => (Some(Secret::from(k)), false),
        _ if stored("LITELLM_MASTER_KEY")
            && store
                .get("LITELLM_MASTER_KEY")
                .ok()
                .flatten()
                .is_some_and(|k| k.expose() != TEMPLATE_MASTER_KEY) =>
        {
            (None, false)
        }
        _ => (
            Some(
                model::generate_master_key()
                    .map_err(|e| anyhow::anyhow!("cannot generate a random master key: {e}"))?,
            ),
            true,
        ),
    };
    let mut rendered = model::render(&answers, master_key.clone());
    if let Ok(previous) = std::fs::read_to_string(&env_path) {
        let kept = model::carry_over(&previous, &mut rendered);
        if !kept.is_empty() {
            println!(
                "kept from the previous .env: {} (secrets among them go to the store)",
                kept.join(", ")
            );
        }
    }

    for (name, value) in &rendered.secrets {
        store.set(name, value)?;
    }
    files::private_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(old) = &existing
        && !old.starts_with(WRITTEN_BY)
    {
        let bak = dir.join("config.yaml.bak");
        files::write_private(&bak, old)?;
        println!("kept your previous config as {}", bak.display());
    }
    files::write_private(&config_path, &rendered.config_yaml)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    files::write_private(&env_path, &rendered.dotenv)
        .with_context(|| format!("cannot write {}", env_path.display()))?;
    let names: Vec<&str> = rendered.secrets.iter().map(|(n, _)| n.as_str()).collect();
    println!("wrote {} and {} (mode 0600)", config_path.display(), env_path.display());
    if !names.is_empty() {
        println!("stored in the {} store: {}", store.label(), names.join(", "));
    }
    if let (true, Some(k)) = (new_key, &master_key) {
        println!(
            "master key (your tools send it as the API key; kept in the {} store, shown only now): {}",
            store.label(),
            k.expose()
        );
    }

    let mut ok = true;
    if !args.no_validate {
        println!("\nChecking the new setup:");
        let checks = collect(&ValidateArgs {
            config: ConfigArgs { config: Some(config_path.clone()), env_file: None },
            json: false,
            port: answers.port.or(Some(model::DEFAULT_PORT)),
            no_port: false,
        })?;
        for c in &checks {
            println!("{}", c.render());
        }
        ok = checks.iter().all(|c| c.ok);
    }

    let port = answers.port.unwrap_or(model::DEFAULT_PORT);
    if args.answers.is_none()
        && Confirm::new("Start ai-proxy automatically at login?")
            .with_default(false)
            .prompt()
            .unwrap_or(false)
    {
        let install = super::service::ServiceArgs {
            action: super::service::ServiceAction::Install(super::service::InstallArgs {
                config: ConfigArgs { config: Some(config_path.clone()), env_file: None },
                mode: None,
                label: super::service::LabelArgs {
                    label: crate::service::DEFAULT_LABEL.to_owned(),
                },
                no_start: false,
            }),
        };
        if let Err(e) = super::service::run(install) {
            println!(
                "could not set up launch at login ({e:#}); run this later:\n  ai-proxy service install --config {}",
                config_path.display()
            );
        }
    }
    println!(
        "\nNext:\n  ai-proxy serve --config {}\n  curl http://127.0.0.1:{port}/health/readiness",
        config_path.display()
    );
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The same on-the-spot checks the prompts make, for an answers file.
fn check_answers(a: &Answers) -> anyhow::Result<()> {
    let mut failed: Vec<Check> = Vec::new();
    let mut push = |c: Check| {
        if !c.ok {
            failed.push(c);
        }
    };
    if let Some(az) = &a.azure {
        push(validate::azure_base("azure.endpoint", &az.endpoint));
        if az.auth == AzureAuth::ServicePrincipal
            && (az.tenant_id.is_none() || az.client_id.is_none())
        {
            bail!("azure.auth service_principal needs tenant_id and client_id");
        }
    }
    if let Some(v) = &a.vertex
        && let Some(p) = &v.credentials
    {
        push(validate::credential_file(&format!("vertex.credentials {}", p.display()), p));
    }
    for (label, proxy) in [
        ("azure.proxy", a.azure.as_ref().and_then(|x| x.proxy.as_deref())),
        ("vertex.proxy", a.vertex.as_ref().and_then(|x| x.proxy.as_deref())),
        ("dashscope.proxy", a.dashscope.as_ref().and_then(|x| x.proxy.as_deref())),
        ("gemini_api.proxy", a.gemini_api.as_ref().and_then(|x| x.proxy.as_deref())),
    ] {
        if let Some(p) = proxy.filter(|p| !p.trim().is_empty()) {
            push(validate::proxy_url(label, p));
        }
    }
    if let Some(ca) = &a.ca_file {
        push(validate::ca_file(ca));
    }
    if failed.is_empty() {
        return Ok(());
    }
    bail!("{}", failed.iter().map(Check::render).collect::<Vec<_>>().join("\n"))
}

type Res<T> = anyhow::Result<T>;

fn ask(d: &Answers, env: &Env, stored: &dyn Fn(&str) -> bool) -> Res<Answers> {
    let mut a = Answers::default();
    if confirm("Use Azure OpenAI?", d.azure.is_some())? {
        a.azure = Some(ask_azure(d.azure.as_ref(), stored)?);
    }
    if confirm(
        "Use Google Vertex AI (Gemini, and Claude from the Model Garden)?",
        d.vertex.is_some(),
    )? {
        a.vertex = Some(ask_vertex(d.vertex.as_ref(), env)?);
    }
    if confirm("Use Alibaba DashScope (Qwen)?", d.dashscope.is_some())? {
        a.dashscope = Some(ask_dashscope(d.dashscope.as_ref(), stored)?);
    }
    if confirm("Use the Gemini API (Google AI Studio, with an API key)?", d.gemini_api.is_some())? {
        a.gemini_api = Some(ask_gemini_api(d.gemini_api.as_ref(), stored)?);
    }
    let any_proxy = [
        a.azure.as_ref().and_then(|x| x.proxy.as_ref()),
        a.vertex.as_ref().and_then(|x| x.proxy.as_ref()),
        a.dashscope.as_ref().and_then(|x| x.proxy.as_ref()),
        a.gemini_api.as_ref().and_then(|x| x.proxy.as_ref()),
    ]
    .iter()
    .any(Option::is_some);
    if any_proxy {
        let np = d.no_proxy.clone().unwrap_or_else(|| model::DEFAULT_NO_PROXY.into());
        a.no_proxy = Some(
            Text::new("Hosts that bypass the proxies (NO_PROXY):").with_default(&np).prompt()?,
        );
    }
    let ca_default = d.ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let ca = Text::new("Corporate CA certificate file (PEM; empty if none):")
        .with_default(&ca_default)
        .with_help_message(
            "needed when your network inspects TLS; added on top of the system roots",
        )
        .with_validator(|s: &str| Ok(check_or_empty(s, |v| validate::ca_file(Path::new(v)))))
        .prompt()?;
    a.ca_file = non_empty(ca).map(PathBuf::from);
    let port_default = d.port.unwrap_or(model::DEFAULT_PORT);
    let port: u16 = CustomType::new("Port to listen on (127.0.0.1):")
        .with_default(port_default)
        .with_error_message("a port number from 1 to 65535")
        .prompt()?;
    let c = validate::port_check("127.0.0.1", port);
    if !c.ok {
        println!("note: {} (fine if it is ai-proxy itself)", c.message);
    }
    a.port = Some(port);
    Ok(a)
}

fn confirm(q: &str, default: bool) -> Res<bool> {
    Ok(Confirm::new(q).with_default(default).prompt()?)
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Validation from a check; empty input is accepted.
fn check_or_empty(s: &str, check: impl Fn(&str) -> Check) -> Validation {
    if s.trim().is_empty() {
        return Validation::Valid;
    }
    let c = check(s.trim());
    if c.ok {
        Validation::Valid
    } else {
        Validation::Invalid(format!("{} ({})", c.message, c.fix.unwrap_or_default()).into())
    }
}

fn required(s: &str) -> Result<Validation, inquire::CustomUserError> {
    Ok(if s.trim().is_empty() { Validation::Invalid("required".into()) } else { Validation::Valid })
}

fn models(
    q: &str,
    current: Option<&[model::Model]>,
    fallback: Vec<model::Model>,
    help: &str,
) -> Res<Vec<model::Model>> {
    let default = model::format_models(current.unwrap_or(&fallback));
    let text = Text::new(q)
        .with_default(&default)
        .with_help_message(help)
        .with_validator(|s: &str| {
            Ok(match model::parse_models(s) {
                Ok(_) => Validation::Valid,
                Err(e) => Validation::Invalid(e.into()),
            })
        })
        .prompt()?;
    model::parse_models(&text).map_err(anyhow::Error::msg)
}

/// A secret: hidden input; Enter keeps the stored value when there is one.
fn secret(q: &str, name: &str, stored: &dyn Fn(&str) -> bool) -> Res<Option<String>> {
    let has = stored(name);
    let help = if has {
        format!("hidden; Enter keeps the {name} already in the secret store")
    } else {
        format!("hidden; goes to the secret store as {name}, never to a file")
    };
    let v = Password::new(q)
        .without_confirmation()
        .with_display_mode(PasswordDisplayMode::Hidden)
        .with_help_message(&help)
        .with_validator(move |s: &str| {
            Ok(if s.is_empty() && !has {
                Validation::Invalid("required".into())
            } else {
                Validation::Valid
            })
        })
        .prompt()?;
    Ok(non_empty(v))
}

fn proxy(q: &str, current: Option<&str>) -> Res<Option<String>> {
    // A proxy URL with a password is shown redacted; Enter keeps the real one.
    let shown = current
        .map(|c| if url_has_password(c) { redact(c) } else { c.to_owned() })
        .unwrap_or_default();
    let v = Text::new(q)
        .with_default(&shown)
        .with_help_message(
            "http://host:port or http://user:<password>@host:port; empty: connect directly",
        )
        .with_validator(|s: &str| {
            Ok(if s.contains(":***@") {
                Validation::Valid
            } else {
                check_or_empty(s, |v| validate::proxy_url("proxy", v))
            })
        })
        .prompt()?;
    Ok(match non_empty(v) {
        Some(v) if v == shown && current.is_some() => current.map(str::to_owned),
        other => other,
    })
}

fn redact(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut url) => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Err(_) => String::new(),
    }
}

fn ask_azure(d: Option<&Azure>, stored: &dyn Fn(&str) -> bool) -> Res<Azure> {
    let endpoint = Text::new("Azure OpenAI endpoint:")
        .with_default(d.map(|x| x.endpoint.as_str()).unwrap_or(""))
        .with_help_message("Azure portal → your resource → Keys and Endpoint, e.g. https://my-team.openai.azure.com/")
        .with_validator(|s: &str| {
            Ok(if s.trim().is_empty() {
                Validation::Invalid("required".into())
            } else {
                check_or_empty(s, |v| validate::azure_base("endpoint", v))
            })
        })
        .prompt()?;
    let deployments = models(
        "Deployments (alias=deployment, comma-separated):",
        d.map(|x| x.deployments.as_slice()),
        model::default_azure_deployments(),
        "the alias is the model name your tools send; the deployment is its name in your Azure resource",
    )?;
    let options = vec![
        "service principal (tenant, client id, client secret)",
        "Azure CLI login (az login)",
        "API key",
    ];
    let start = match d.map(|x| x.auth).unwrap_or_default() {
        AzureAuth::ServicePrincipal => 0,
        AzureAuth::AzureCli => 1,
        AzureAuth::ApiKey => 2,
    };
    let choice = Select::new("How does ai-proxy sign in to Azure?", options.clone())
        .with_starting_cursor(start)
        .prompt()?;
    let auth = match options.iter().position(|o| *o == choice) {
        Some(1) => AzureAuth::AzureCli,
        Some(2) => AzureAuth::ApiKey,
        _ => AzureAuth::ServicePrincipal,
    };
    let mut az = Azure {
        endpoint: endpoint.trim().to_owned(),
        api_version: d.and_then(|x| x.api_version.clone()),
        deployments,
        auth,
        tenant_id: None,
        client_id: None,
        client_secret: None,
        api_key: None,
        proxy: None,
    };
    match auth {
        AzureAuth::ServicePrincipal => {
            az.tenant_id = Some(
                Text::new("Tenant (directory) ID:")
                    .with_default(d.and_then(|x| x.tenant_id.as_deref()).unwrap_or(""))
                    .with_validator(required)
                    .prompt()?,
            );
            az.client_id = Some(
                Text::new("Client (application) ID:")
                    .with_default(d.and_then(|x| x.client_id.as_deref()).unwrap_or(""))
                    .with_validator(required)
                    .prompt()?,
            );
            az.client_secret = secret("Client secret:", "AZURE_CLIENT_SECRET", stored)?;
        }
        AzureAuth::ApiKey => az.api_key = secret("API key:", "AZURE_API_KEY", stored)?,
        AzureAuth::AzureCli => {
            println!("ai-proxy will use the account you signed in with `az login`.")
        }
    }
    az.proxy = proxy("Proxy for Azure (empty: direct):", d.and_then(|x| x.proxy.as_deref()))?;
    Ok(az)
}

/// gcloud's application-default credentials file, if it exists.
fn adc_file(env: &Env) -> Option<PathBuf> {
    let dir = env
        .get("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| PathBuf::from(h).join(".config/gcloud")))?;
    let f = dir.join("application_default_credentials.json");
    f.is_file().then_some(f)
}

fn ask_vertex(d: Option<&Vertex>, env: &Env) -> Res<Vertex> {
    let project = Text::new("Google Cloud project ID:")
        .with_default(d.map(|x| x.project.as_str()).unwrap_or(""))
        .with_validator(required)
        .prompt()?;
    let models = models(
        "Gemini models (alias=model, comma-separated):",
        d.map(|x| x.models.as_slice()),
        model::default_vertex_models(),
        "model ids as in Vertex AI, e.g. gemini-3-pro-preview, gemini-2.5-pro",
    )?;
    let claude_models = if confirm(
        "Also Claude models from the Vertex AI Model Garden (enabled for this project)?",
        d.is_some_and(|x| !x.claude_models.is_empty()),
    )? {
        self::models(
            "Claude models (alias=model, comma-separated):",
            d.map(|x| x.claude_models.as_slice()).filter(|m| !m.is_empty()),
            model::default_vertex_claude_models(),
            "Model Garden ids with their date, e.g. claude-sonnet-4-5@20250929, claude-opus-4-1@20250805",
        )?
    } else {
        Vec::new()
    };
    let gemini3 = models.iter().any(|m| m.model.starts_with("gemini-3"));
    let loc_default = d.map(|x| x.location.clone()).unwrap_or_else(|| "global".into());
    let location = Text::new("Vertex AI location:")
        .with_default(&loc_default)
        .with_help_message(if gemini3 {
            "Gemini 3 models are served from `global`"
        } else {
            "e.g. global, us-central1, europe-west4"
        })
        .with_validator(required)
        .prompt()?;
    if gemini3 && location.trim() != "global" {
        println!(
            "note: Gemini 3 models are only served from `global`; requests to them from {location} will fail."
        );
    }
    let current = d.and_then(|x| x.credentials.clone());
    let credentials = match (adc_file(env), &current) {
        (Some(adc), None)
            if confirm(&format!("Use your gcloud login ({})?", adc.display()), true)? =>
        {
            None
        }
        (adc, _) => {
            let help = if adc.is_some() {
                "path of the service-account JSON key; empty: the gcloud login"
            } else {
                "path of the service-account JSON key; empty: run `gcloud auth application-default login` later"
            };
            let cur = current.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            let v = Text::new("Service-account JSON file:")
                .with_default(&cur)
                .with_help_message(help)
                .with_validator(|s: &str| {
                    Ok(check_or_empty(s, |v| validate::credential_file(v, Path::new(v))))
                })
                .prompt()?;
            non_empty(v).map(PathBuf::from)
        }
    };
    let proxy = proxy("Proxy for Vertex AI (empty: direct):", d.and_then(|x| x.proxy.as_deref()))?;
    Ok(Vertex {
        project: project.trim().into(),
        location: location.trim().into(),
        models,
        claude_models,
        credentials,
        proxy,
    })
}

fn ask_gemini_api(d: Option<&GeminiApi>, stored: &dyn Fn(&str) -> bool) -> Res<GeminiApi> {
    let api_key =
        secret("Gemini API key (https://aistudio.google.com/apikey):", "GEMINI_API_KEY", stored)?;
    let models = models(
        "Gemini models (alias=model, comma-separated):",
        d.map(|x| x.models.as_slice()),
        model::default_gemini_api_models(),
        "model ids as in the Gemini API, e.g. gemini-2.5-flash, gemini-2.5-pro",
    )?;
    let proxy =
        proxy("Proxy for the Gemini API (empty: direct):", d.and_then(|x| x.proxy.as_deref()))?;
    Ok(GeminiApi { api_key, models, proxy })
}

fn ask_dashscope(d: Option<&DashScope>, stored: &dyn Fn(&str) -> bool) -> Res<DashScope> {
    let api_key = secret("DashScope API key:", "DASHSCOPE_API_KEY", stored)?;
    let options = vec!["china (Beijing)", "international (Singapore)", "other endpoint"];
    let start = match d.map(|x| x.region.as_str()) {
        None | Some("china") => 0,
        Some("international") => 1,
        Some(_) => 2,
    };
    let choice =
        Select::new("DashScope region:", options.clone()).with_starting_cursor(start).prompt()?;
    let region = match options.iter().position(|o| *o == choice) {
        Some(1) => "international".to_owned(),
        Some(2) => {
            let cur = d.map(|x| x.region.as_str()).filter(|r| r.contains("://")).unwrap_or("");
            Text::new("DashScope endpoint (OpenAI-compatible base URL):")
                .with_default(cur)
                .with_validator(|s: &str| Ok(match url::Url::parse(s.trim()) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => Validation::Valid,
                    _ => Validation::Invalid("an http(s) URL, e.g. https://dashscope.aliyuncs.com/compatible-mode/v1".into()),
                }))
                .prompt()?
                .trim()
                .to_owned()
        }
        _ => "china".to_owned(),
    };
    let models = models(
        "Qwen models (alias=model, comma-separated):",
        d.map(|x| x.models.as_slice()),
        model::default_dashscope_models(),
        "model ids as in DashScope, e.g. qwen-max, qwen-plus, qwen3-coder-plus",
    )?;
    let proxy = proxy("Proxy for DashScope (empty: direct):", d.and_then(|x| x.proxy.as_deref()))?;
    Ok(DashScope { api_key, region, models, proxy })
}

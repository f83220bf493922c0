//! `ai-proxy doctor [--model ALIAS] [--live] [--json]`: for each deployment, check step by
//! step what a request will go through (config, proxy and why, DNS, TCP through the proxy,
//! TLS with the presented issuer, credentials, and with `--live` one minimal request), then
//! print a ✓/✗ table with the fix for each ✗. Exits non-zero when anything failed.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::json;
use url::Url;

use super::DoctorArgs;
use super::serve::load_config;
use crate::config::{Config, Deployment, ProviderKind};
use crate::egress::Egress;
use crate::egress::diagnose::{self, Outcome, Step};
use crate::providers::{ChatOutput, ProviderError, claude, openai_compat, vertex};
use crate::redact::RedactLines;
use crate::router::{Routed, Router};
use crate::wire::openai::ChatRequest;

/// The checks of one endpoint of a deployment.
#[derive(Debug, Serialize)]
struct TargetReport {
    label: &'static str,
    url: String,
    steps: Vec<Step>,
}

#[derive(Debug, Serialize)]
struct ModelReport {
    alias: String,
    provider: &'static str,
    model: String,
    /// `config`, `credentials`, `request`.
    steps: Vec<Step>,
    targets: Vec<TargetReport>,
}

impl ModelReport {
    /// Steps in the order they are shown: config, each endpoint's, then the model's others.
    fn all_steps(&self) -> impl Iterator<Item = &Step> {
        let (config, rest): (Vec<&Step>, Vec<&Step>) =
            self.steps.iter().partition(|s| s.name == "config");
        config.into_iter().chain(self.targets.iter().flat_map(|t| t.steps.iter())).chain(rest)
    }
}

pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let (config, _) = load_config(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(doctor(config, args))
}

async fn doctor(config: Config, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let egress = Egress::new(&config.env);
    // Everything printed goes through `redact` (a proxy password in a URL, an upstream's
    // error quoting a key).
    let mut out = RedactLines::new(std::io::stdout().lock());
    let quiet = args.json;

    // Trust files and proxy URLs first: serve would refuse to start on these.
    let global = match egress.check(&config) {
        Ok(warnings) => warnings
            .into_iter()
            .map(|w| Step::pass("start-up", format!("warning: {w}")))
            .collect::<Vec<_>>(),
        Err(e) => vec![Step::fail(
            "start-up",
            e.to_string(),
            "fix the file or variable named; `ai-proxy serve` will not start until then",
        )],
    };
    let router = Router::from_config(&config, &egress);
    let selected: Vec<&std::sync::Arc<Routed>> = match &args.model {
        Some(alias) => {
            let picked: Vec<_> =
                router.deployments().iter().filter(|r| &r.dep.alias == alias).collect();
            if picked.is_empty() {
                bail!(
                    "no model `{alias}` in {}; models: {}",
                    config.source,
                    router.aliases().join(", ")
                );
            }
            picked
        }
        None => router.deployments().iter().collect(),
    };

    if !quiet {
        writeln!(out, "ai-proxy doctor: {} model(s) from {}", selected.len(), config.source)?;
        for s in &global {
            print_step(&mut out, s)?;
        }
    }
    let mut reports = Vec::new();
    for (i, routed) in selected.iter().enumerate() {
        let dep = &routed.dep;
        if !quiet {
            writeln!(
                out,
                "\n[{}/{}] {} ({}/{})",
                i + 1,
                selected.len(),
                dep.alias,
                dep.provider.name(),
                dep.model
            )?;
        }
        let report = check_model(&egress, &config, routed, args.live, &mut |s| {
            if !quiet {
                let _ = print_step(&mut RedactLines::new(std::io::stdout().lock()), s);
            }
        })
        .await;
        reports.push(report);
    }

    let failed = global.iter().any(|s| s.outcome == Outcome::Fail)
        || reports.iter().any(|r| r.all_steps().any(|s| s.outcome == Outcome::Fail));
    if args.json {
        let v = json!({ "ok": !failed, "config": config.source.to_string(), "checks": global, "models": reports });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out)?;
        write!(out, "{}", table(&reports))?;
        let fixes: Vec<String> = global
            .iter()
            .filter_map(|s| s.fix.as_ref().map(|f| format!("start-up: {f}")))
            .chain(reports.iter().flat_map(|r| {
                r.all_steps()
                    .filter_map(|s| {
                        s.fix.as_ref().map(|f| format!("{} · {}: {f}", r.alias, s.name))
                    })
                    .collect::<Vec<_>>()
            }))
            .collect();
        if fixes.is_empty() {
            writeln!(out, "\nAll checks passed.")?;
        } else {
            writeln!(out, "\nTo fix:")?;
            for (n, f) in fixes.iter().enumerate() {
                writeln!(out, "  {}. {f}", n + 1)?;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_step(out: &mut dyn Write, s: &Step) -> std::io::Result<()> {
    if s.name == "target" {
        return writeln!(out, "  → {}", s.detail);
    }
    writeln!(out, "  {} {:<11} {}", mark(&s.outcome), s.name, s.detail)
}

fn mark(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✓",
        Outcome::Fail => "✗",
        Outcome::Skip => "–",
    }
}

async fn check_model(
    egress: &Egress,
    config: &Config,
    routed: &Routed,
    live: bool,
    progress: &mut dyn FnMut(&Step),
) -> ModelReport {
    let dep = &routed.dep;
    let mut steps = Vec::new();
    match routed.unavailable_reason() {
        None => record(progress, &mut steps, Step::pass("config", "ready")),
        Some(reason) => record(
            progress,
            &mut steps,
            Step::fail(
                "config",
                reason.to_owned(),
                "set the variable named (environment, the .env beside config.yaml, or the secret store), or fix the model entry",
            ),
        ),
    }
    let mut targets = Vec::new();
    if dep.provider == ProviderKind::Mock {
        record(progress, &mut steps, Step::skip("network", "built-in mock: answers locally"));
    }
    for (label, url) in endpoints(dep, config) {
        let Ok(parsed) = Url::parse(&url) else {
            let s = Step::fail("url", format!("`{url}` is not a URL"), "fix api_base");
            progress(&s);
            targets.push(TargetReport { label, url, steps: vec![s] });
            continue;
        };
        progress(&Step::skip(
            "target",
            format!("{label}: {}", parsed.origin().ascii_serialization()),
        ));
        let steps = match tokio::time::timeout(
            diagnose::TARGET_BUDGET,
            diagnose::check_target(egress, dep, &parsed, progress),
        )
        .await
        {
            Ok(s) => s,
            Err(_) => vec![Step::fail(
                "network",
                "the checks did not finish within 60s",
                "run again; check the proxy",
            )],
        };
        targets.push(TargetReport { label, url, steps });
    }

    let provider = routed.provider.as_ref().ok();
    match provider {
        Some(p) => match p.check_credentials().await {
            Some(Ok(what)) => record(progress, &mut steps, Step::pass("credentials", what)),
            Some(Err(e)) => record(
                progress,
                &mut steps,
                Step::fail("credentials", e.to_string(), credential_fix(dep)),
            ),
            None => record(progress, &mut steps, Step::skip("credentials", "none needed")),
        },
        None => record(progress, &mut steps, Step::skip("credentials", "model unavailable")),
    }
    match (live, provider) {
        (false, _) => record(
            progress,
            &mut steps,
            Step::skip("request", "not sent (add --live to send one minimal request)"),
        ),
        (true, None) => record(progress, &mut steps, Step::skip("request", "model unavailable")),
        (true, Some(p)) => {
            let req: ChatRequest = match serde_json::from_value(json!({
                "model": dep.alias,
                "messages": [{"role": "user", "content": "Reply with OK."}],
                "max_tokens": 5,
            })) {
                Ok(r) => r,
                Err(e) => {
                    record(
                        progress,
                        &mut steps,
                        Step::fail("request", e.to_string(), "report this as a bug"),
                    );
                    return ModelReport {
                        alias: dep.alias.clone(),
                        provider: dep.provider.name(),
                        model: dep.model.clone(),
                        steps,
                        targets,
                    };
                }
            };
            let step = match p.chat(req).await {
                Ok(ChatOutput::Complete(c)) => {
                    Step::pass("request", format!("answered (model {})", c.model))
                }
                Ok(ChatOutput::Stream(_)) => Step::pass("request", "answered (stream)"),
                Ok(ChatOutput::Verbatim(_)) => Step::pass("request", "answered"),
                Err(e) => Step::fail("request", e.to_string(), request_fix(&e)),
            };
            record(progress, &mut steps, step);
        }
    }
    ModelReport {
        alias: dep.alias.clone(),
        provider: dep.provider.name(),
        model: dep.model.clone(),
        steps,
        targets,
    }
}

fn record(progress: &mut dyn FnMut(&Step), steps: &mut Vec<Step>, s: Step) {
    progress(&s);
    steps.push(s);
}

fn credential_fix(dep: &Deployment) -> String {
    match dep.provider {
        ProviderKind::Azure => {
            "check AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET, or run `az login`"
                .into()
        }
        ProviderKind::AzureAi => "check api_key / AZURE_AI_API_KEY, or AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET, or run `az login`".into(),
        ProviderKind::Anthropic => "check api_key / ANTHROPIC_API_KEY".into(),
        ProviderKind::Gemini => "check api_key / GEMINI_API_KEY".into(),
        ProviderKind::Vertex | ProviderKind::VertexClaude => {
            "check GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`"
                .into()
        }
        _ => "check the API key".into(),
    }
}

fn request_fix(e: &ProviderError) -> String {
    match e {
        ProviderError::Upstream { status: 401 | 403, .. } => {
            "the upstream rejected the credentials: check the key or the role assignment".into()
        }
        ProviderError::Upstream { status: 404, .. } => {
            "check the deployment / model name and api_version".into()
        }
        ProviderError::Connect { .. } | ProviderError::Timeout { .. } => {
            "see the network steps above".into()
        }
        _ => "see the message".into(),
    }
}

/// The endpoints a deployment talks to: the model API and, for token-based providers, the
/// token endpoint (which goes through the same proxy).
fn endpoints(dep: &Deployment, config: &Config) -> Vec<(&'static str, String)> {
    let env = &config.env;
    match dep.provider {
        ProviderKind::Mock => Vec::new(),
        ProviderKind::OpenAi => vec![(
            "api",
            dep.api_base.clone().unwrap_or_else(|| openai_compat::OPENAI_DEFAULT_BASE.into()),
        )],
        ProviderKind::DashScope => vec![(
            "api",
            dep.api_base.clone().unwrap_or_else(|| openai_compat::DASHSCOPE_DEFAULT_BASE.into()),
        )],
        // The same resolution as the provider (api_base, the base variables, the default);
        // a model without an address is unavailable and never reaches here.
        ProviderKind::Compat(_) => {
            openai_compat::endpoint_of(dep, env).map(|e| vec![("api", e.base)]).unwrap_or_default()
        }
        ProviderKind::Azure => {
            let mut v = Vec::new();
            if let Some(b) = dep.api_base.clone().or_else(|| env.get("AZURE_API_BASE")) {
                v.push(("api", b));
            }
            if dep.api_key.is_none() && dep.params.str("azure_ad_token").is_none() {
                let host = dep
                    .params
                    .str("azure_authority_host")
                    .map(str::to_owned)
                    .or_else(|| env.get("AZURE_AUTHORITY_HOST"))
                    .unwrap_or_else(|| "https://login.microsoftonline.com".into());
                v.push(("token", host));
            }
            v
        }
        ProviderKind::Gemini => {
            vertex::gemini_api_base(dep, env).map(|b| vec![("api", b)]).unwrap_or_default()
        }
        ProviderKind::Anthropic | ProviderKind::AzureAi => {
            let base = claude::base_of(dep, env);
            let mut v: Vec<(&'static str, String)> =
                base.map(|b| vec![("api", b)]).unwrap_or_default();
            if dep.provider == ProviderKind::AzureAi
                && dep.api_key.is_none()
                && env.get("AZURE_AI_API_KEY").is_none()
            {
                let host = env
                    .get("AZURE_AUTHORITY_HOST")
                    .unwrap_or_else(|| "https://login.microsoftonline.com".into());
                v.push(("token", host));
            }
            v
        }
        ProviderKind::Vertex | ProviderKind::VertexClaude => {
            let location = dep
                .params
                .str("vertex_location")
                .map(str::to_owned)
                .or_else(|| env.get("VERTEX_LOCATION"))
                .unwrap_or_else(|| "us-central1".into());
            let api = dep.api_base.clone().unwrap_or_else(|| {
                if location == "global" {
                    "https://aiplatform.googleapis.com".into()
                } else {
                    format!("https://{location}-aiplatform.googleapis.com")
                }
            });
            // The credential's own token endpoint (a key file's `token_uri`), else Google's.
            let token = crate::auth::google::discover(dep.params.get("vertex_credentials"), env)
                .map(|found| found.credential.token_uri().to_owned())
                .unwrap_or_else(|_| crate::auth::google::DEFAULT_TOKEN_URI.to_owned());
            vec![("api", api), ("token", token)]
        }
    }
}

/// The ✓/✗ table: one row per model endpoint.
fn table(reports: &[ModelReport]) -> String {
    const COLS: [&str; 6] = ["proxy", "dns", "tcp", "tls", "credentials", "request"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for r in reports {
        let model_step = |name: &str| {
            r.steps.iter().find(|s| s.name == name).map(|s| mark(&s.outcome)).unwrap_or(" ")
        };
        let config_mark = model_step("config");
        if r.targets.is_empty() {
            let mut row = vec![r.alias.clone(), "-".into(), config_mark.into()];
            row.extend(COLS.iter().map(|c| model_step(c).to_owned()));
            rows.push(row);
        }
        for t in &r.targets {
            let mut row = vec![
                r.alias.clone(),
                format!("{}: {}", t.label, origin(&t.url)),
                config_mark.into(),
            ];
            for c in COLS {
                let network = matches!(c, "proxy" | "dns" | "tcp" | "tls");
                let m = match t.steps.iter().find(|s| s.name == c) {
                    Some(s) => mark(&s.outcome),
                    // Not reached: an earlier step failed.
                    None if network => mark(&Outcome::Skip),
                    None => model_step(c),
                };
                row.push(m.to_owned());
            }
            rows.push(row);
        }
    }
    let header: Vec<String> = ["model", "endpoint", "config"]
        .iter()
        .chain(COLS.iter())
        .map(|s| (*s).to_owned())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(&header);
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}

fn origin(url: &str) -> String {
    Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| url.to_owned())
}

//! The tray menu as data: a [`Snapshot`] of the gateway and the login item in, a [`Menu`]
//! out (texts, enabled and checked flags, actions, icon, tooltip), plus the exact texts the
//! Copy items put on the clipboard and the command that opens a file. No UI toolkit here.
//! Models that are cooling down after upstream failures are marked, with their last error
//! under them.

use std::path::{Path, PathBuf};

use crate::gateway::ModelEntry;
use crate::paths::Os;
use crate::secrets::Secret;
use crate::usage::ModelTotals;

/// What the gateway is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Stopped,
    Starting,
    Running {
        url: String,
        ready: usize,
        total: usize,
    },
    /// Refusing new connections, letting in-flight requests finish.
    Stopping,
    /// Could not start (config error, port taken, …); Start retries.
    Error(String),
}

/// The real state of Launch at Login, as the service manager reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginState {
    On,
    Off,
    /// Installed, but macOS will not start it at login (the app's switch in System Settings
    /// > General > Login Items is off, or `launchctl disable`).
    DisabledBySystem,
    /// The manager could not be asked; the checkbox is disabled.
    Unavailable(String),
}

/// Everything the menu shows, published by the controller after every change.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    /// Aliases of the last config that loaded.
    pub models: Vec<ModelEntry>,
    /// The master key of the last config that loaded.
    pub master_key: Option<Secret<String>>,
    pub login: LoginState,
    /// A one-off message (a reload that failed while the old config keeps serving, a
    /// login-item change that failed).
    pub notice: Option<String>,
    /// The folder Open Config Folder opens.
    pub config_dir: Option<PathBuf>,
    /// The controller has stopped the gateway for Quit; the UI exits.
    pub exiting: bool,
    /// Today's calls per model from the request log, while the gateway runs and keeps one.
    pub today: Option<Vec<ModelTotals>>,
    /// Offer "Install Command Line Tool…" (macOS: the app's binary linked onto the PATH).
    pub offer_cli: bool,
}

impl Snapshot {
    pub fn initial() -> Snapshot {
        Snapshot {
            status: Status::Stopped,
            models: Vec::new(),
            master_key: None,
            login: LoginState::Off,
            notice: None,
            config_dir: None,
            exiting: false,
            today: None,
            offer_cli: false,
        }
    }

    /// The gateway's base URL while it runs.
    pub fn url(&self) -> Option<&str> {
        match &self.status {
            Status::Running { url, .. } => Some(url),
            _ => None,
        }
    }
}

/// What a menu item does when clicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start when stopped or failed, Stop when running.
    Toggle,
    Restart,
    ReloadConfig,
    CopyBaseUrl,
    CopyApiKey,
    CopyShellExports,
    CopyAlias(String),
    /// The dashboard (`/ui`) in the default browser; its page asks for the master key.
    OpenDashboard,
    OpenLogs,
    OpenConfigFolder,
    /// Flip Launch at Login (the controller reads the real state first).
    LaunchAtLogin,
    /// Link the app's binary onto the PATH as `ai-proxy` (`service::cli_link`).
    InstallCli,
    Quit,
}

const MODEL_PREFIX: &str = "model:";

impl Action {
    /// The menu item id the toolkit hands back on click.
    pub fn id(&self) -> String {
        match self {
            Action::Toggle => "toggle".into(),
            Action::Restart => "restart".into(),
            Action::ReloadConfig => "reload".into(),
            Action::CopyBaseUrl => "copy-base-url".into(),
            Action::CopyApiKey => "copy-api-key".into(),
            Action::CopyShellExports => "copy-shell-exports".into(),
            Action::CopyAlias(a) => format!("{MODEL_PREFIX}{a}"),
            Action::OpenDashboard => "open-dashboard".into(),
            Action::OpenLogs => "open-logs".into(),
            Action::OpenConfigFolder => "open-config-folder".into(),
            Action::LaunchAtLogin => "launch-at-login".into(),
            Action::InstallCli => "install-cli".into(),
            Action::Quit => "quit".into(),
        }
    }

    pub fn from_id(id: &str) -> Option<Action> {
        if let Some(alias) = id.strip_prefix(MODEL_PREFIX) {
            return Some(Action::CopyAlias(alias.to_owned()));
        }
        Some(match id {
            "toggle" => Action::Toggle,
            "restart" => Action::Restart,
            "reload" => Action::ReloadConfig,
            "copy-base-url" => Action::CopyBaseUrl,
            "copy-api-key" => Action::CopyApiKey,
            "copy-shell-exports" => Action::CopyShellExports,
            "open-dashboard" => Action::OpenDashboard,
            "open-logs" => Action::OpenLogs,
            "open-config-folder" => Action::OpenConfigFolder,
            "launch-at-login" => Action::LaunchAtLogin,
            "install-cli" => Action::InstallCli,
            "quit" => Action::Quit,
            _ => return None,
        })
    }
}

/// One menu entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A line of text that cannot be clicked.
    Text(String),
    Button {
        text: String,
        action: Action,
        enabled: bool,
    },
    Check {
        text: String,
        action: Action,
        checked: bool,
        enabled: bool,
    },
    Submenu {
        text: String,
        enabled: bool,
        items: Vec<Item>,
    },
    /// The platform's About item (a standard panel with name and version).
    About {
        text: String,
        name: String,
        version: String,
    },
    Separator,
}

/// Which tray icon to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icon {
    Running,
    Stopped,
    Error,
}

/// The whole menu plus the icon and tooltip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub items: Vec<Item>,
    pub icon: Icon,
    pub tooltip: String,
}

/// The product name in the menu bar.
pub const APP_NAME: &str = "AI Proxy";
/// Longest status or notice line before it is cut with "…".
pub const MAX_LINE: usize = 80;
/// At most this many lines of an error reason are shown.
pub const MAX_ERROR_LINES: usize = 4;

/// The status lines at the top of the menu.
pub fn status_lines(status: &Status) -> Vec<String> {
    match status {
        Status::Stopped => vec!["Stopped".into()],
        Status::Starting => vec!["Starting…".into()],
        Status::Stopping => vec!["Stopping… (finishing open requests)".into()],
        Status::Running { url, ready, total } => {
            vec![format!("Running on {url} · {ready} of {total} models ready")]
        }
        Status::Error(reason) => {
            let text = format!("Error: {}", reason.trim());
            let mut lines: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .flat_map(|l| wrap(l, MAX_LINE))
                .collect();
            if lines.len() > MAX_ERROR_LINES {
                lines.truncate(MAX_ERROR_LINES);
                if let Some(last) = lines.last_mut() {
                    *last = if last.chars().count() + 2 <= MAX_LINE {
                        format!("{last} …")
                    } else {
                        cut(&format!("{last}…"), MAX_LINE)
                    };
                }
            }
            lines
        }
    }
}

/// Greedy word wrap at `width` characters; words longer than a line are split.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = cur.chars().count();
        let wlen = word.chars().count();
        if len > 0 && len + 1 + wlen <= width {
            cur.push(' ');
            cur.push_str(word);
        } else if len == 0 && wlen <= width {
            cur.push_str(word);
        } else if wlen <= width {
            lines.push(std::mem::take(&mut cur));
            cur.push_str(word);
        } else {
            // Too long for any line: fill this one, then continue on the next ones.
            if len > 0 {
                cur.push(' ');
            }
            for c in word.chars() {
                if cur.chars().count() == width {
                    lines.push(std::mem::take(&mut cur));
                }
                cur.push(c);
            }
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Build the menu for a snapshot.
pub fn build(s: &Snapshot, version: &str) -> Menu {
    let mut items: Vec<Item> = status_lines(&s.status).into_iter().map(Item::Text).collect();
    if let (Status::Running { .. }, Some(today)) = (&s.status, &s.today) {
        items.push(Item::Text(today_line(today)));
    }
    if let Some(n) = &s.notice {
        let lines = wrap(&format!("⚠ {}", first_line(n)), MAX_LINE);
        items.extend(lines.into_iter().take(MAX_ERROR_LINES).map(Item::Text));
    }
    items.push(Item::Separator);

    let (toggle, toggle_enabled) = match s.status {
        Status::Running { .. } => ("Stop", true),
        Status::Stopping => ("Stop", false),
        Status::Starting => ("Start", false),
        Status::Stopped | Status::Error(_) => ("Start", true),
    };
    let running = matches!(s.status, Status::Running { .. });
    let busy = matches!(s.status, Status::Starting | Status::Stopping);
    items.push(button(toggle, Action::Toggle, toggle_enabled));
    items.push(button("Restart", Action::Restart, running));
    items.push(button("Reload Config", Action::ReloadConfig, !busy));
    items.push(Item::Separator);

    items.push(button("Copy Base URL", Action::CopyBaseUrl, running));
    items.push(match s.master_key {
        Some(_) => button("Copy API Key", Action::CopyApiKey, true),
        None => button("Copy API Key (no master key set)", Action::CopyApiKey, false),
    });
    items.push(button("Copy Shell Exports", Action::CopyShellExports, running));
    items.push(models_submenu(&s.models, s.today.as_deref().unwrap_or_default()));
    items.push(Item::Separator);

    items.push(button("Open Dashboard", Action::OpenDashboard, running));
    items.push(button("Open Logs", Action::OpenLogs, true));
    items.push(button("Open Config Folder", Action::OpenConfigFolder, s.config_dir.is_some()));
    items.push(match &s.login {
        LoginState::On => check("Launch at Login", true, true),
        LoginState::Off => check("Launch at Login", false, true),
        LoginState::DisabledBySystem => {
            check("Launch at Login (disabled in System Settings)", false, true)
        }
        LoginState::Unavailable(why) => {
            check(&cut(&format!("Launch at Login (unavailable: {why})"), MAX_LINE), false, false)
        }
    });
    if s.offer_cli {
        items.push(button("Install Command Line Tool…", Action::InstallCli, true));
    }
    items.push(Item::Separator);

    items.push(Item::About {
        text: format!("About {APP_NAME}"),
        name: APP_NAME.to_owned(),
        version: version.to_owned(),
    });
    items.push(button(&format!("Quit {APP_NAME}"), Action::Quit, true));

    let icon = match s.status {
        Status::Running { .. } => Icon::Running,
        Status::Error(_) => Icon::Error,
        Status::Stopped | Status::Starting | Status::Stopping => Icon::Stopped,
    };
    let tooltip = format!("{APP_NAME}: {}", status_lines(&s.status).join(" "));
    Menu { items, icon, tooltip }
}

/// `Today: 42 requests · 12.3k tokens · ≈ $0.37`: the sum of today's calls; the cost is
/// "unknown" when no call had a price and marked `+ unpriced` when some had none.
pub fn today_line(models: &[ModelTotals]) -> String {
    let requests: u64 = models.iter().map(|m| m.requests).sum();
    if requests == 0 {
        return "Today: no requests yet".into();
    }
    let tokens: u64 = models.iter().map(|m| m.total_tokens).sum();
    let unpriced: u64 = models.iter().map(|m| m.unpriced_requests).sum();
    let costs: Vec<f64> = models.iter().filter_map(|m| m.cost_usd).collect();
    let cost = (!costs.is_empty()).then(|| costs.iter().sum());
    format!("Today: {} · {}", usage_words(requests, tokens), cost_words(cost, unpriced))
}

/// `12 requests · 3.4k tokens`.
fn usage_words(requests: u64, tokens: u64) -> String {
    let r = if requests == 1 { "1 request".to_owned() } else { format!("{requests} requests") };
    format!("{r} · {} tokens", short_count(tokens))
}

/// `≈ $0.37`, `≈ $0.37 + unpriced`, `< $0.01`, `cost unknown`.
fn cost_words(cost: Option<f64>, unpriced: u64) -> String {
    let Some(c) = cost else { return "cost unknown".into() };
    let amount = if c > 0.0 && c < 0.005 { "< $0.01".to_owned() } else { format!("≈ ${c:.2}") };
    if unpriced > 0 { format!("{amount} + unpriced") } else { amount }
}

/// 999, 12.3k, 4.5M, 1.2B.
pub fn short_count(n: u64) -> String {
    let f = n as f64;
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", f / 1e6),
        _ => format!("{:.1}B", f / 1e9),
    }
}

fn models_submenu(models: &[ModelEntry], today: &[ModelTotals]) -> Item {
    if models.is_empty() {
        return Item::Submenu { text: "Models".into(), enabled: false, items: Vec::new() };
    }
    let mut items = Vec::with_capacity(models.len());
    for m in models {
        let mut text = format!("{} — {}", m.alias, m.providers.join(", "));
        if !m.available {
            text.push_str(" (unavailable)");
        } else if m.cooling > 0 && m.cooling == m.deployments {
            text.push_str(" (cooling down)");
        } else if m.cooling > 0 {
            text.push_str(&format!(" ({} of {} cooling down)", m.cooling, m.deployments));
        }
        items.push(button(&text, Action::CopyAlias(m.alias.clone()), true));
        if let Some(t) = today.iter().find(|t| t.model == m.alias && t.requests > 0) {
            let line = format!(
                "    today: {} · {}",
                usage_words(t.requests, t.total_tokens),
                cost_words(t.cost_usd, t.unpriced_requests)
            );
            items.push(Item::Text(cut(&line, MAX_LINE)));
        }
        if let Some(err) = &m.last_error {
            let line = err.split_whitespace().collect::<Vec<_>>().join(" ");
            items.push(Item::Text(cut(&format!("    last error: {line}"), MAX_LINE)));
        }
    }
    Item::Submenu { text: format!("Models ({})", models.len()), enabled: true, items }
}

fn button(text: &str, action: Action, enabled: bool) -> Item {
    Item::Button { text: text.to_owned(), action, enabled }
}

fn check(text: &str, checked: bool, enabled: bool) -> Item {
    Item::Check { text: text.to_owned(), action: Action::LaunchAtLogin, checked, enabled }
}

/// The key clients send when the gateway has no master key (it accepts any).
pub const NO_KEY_PLACEHOLDER: &str = "no-key-required";

/// The text a Copy action puts on the clipboard, or `None` when there is nothing to copy.
pub fn copy_text(action: &Action, s: &Snapshot) -> Option<Secret<String>> {
    let key = || {
        s.master_key
            .as_ref()
            .map(|k| k.expose().clone())
            .unwrap_or_else(|| NO_KEY_PLACEHOLDER.to_owned())
    };
    match action {
        Action::CopyBaseUrl => s.url().map(|u| Secret::new(openai_base_url(u))),
        Action::CopyApiKey => s.master_key.clone(),
        Action::CopyShellExports => s.url().map(|u| Secret::new(shell_exports(u, &key()))),
        Action::CopyAlias(a) => Some(Secret::new(a.clone())),
        _ => None,
    }
}

/// Whether a Copy action puts the master key on the clipboard (kept out of clipboard
/// history where the platform allows).
pub fn copies_secret(action: &Action) -> bool {
    matches!(action, Action::CopyApiKey | Action::CopyShellExports)
}

/// What OpenAI SDKs call the base URL: the gateway URL plus `/v1`.
pub fn openai_base_url(url: &str) -> String {
    format!("{}/v1", url.trim_end_matches('/'))
}

/// Four `export` lines for OpenAI and Anthropic SDKs and CLIs, single-quoted for POSIX
/// shells (bash, zsh).
pub fn shell_exports(url: &str, key: &str) -> String {
    let url = url.trim_end_matches('/');
    format!(
        "export OPENAI_BASE_URL={}\nexport OPENAI_API_KEY={}\nexport ANTHROPIC_BASE_URL={}\nexport ANTHROPIC_AUTH_TOKEN={}\n",
        sh_quote(&openai_base_url(url)),
        sh_quote(key),
        sh_quote(url),
        sh_quote(key)
    )
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command that opens a log file (Console.app on macOS) or a folder (Finder / the
/// desktop's file manager).
pub fn open_command(os: Os, target: &Path, is_log: bool) -> (String, Vec<String>) {
    let t = target.display().to_string();
    match (os, is_log) {
        (Os::MacOs, true) => ("open".into(), vec!["-a".into(), "Console".into(), t]),
        (Os::MacOs, false) => ("open".into(), vec![t]),
        (Os::Linux, _) => ("xdg-open".into(), vec![t]),
    }
}

/// The dashboard of a gateway running at `url`. The key is not put in it: the page asks for it
/// (the menu's Copy API Key), so it is never on a command line or in the browser's history.
pub fn dashboard_url(url: &str) -> String {
    format!("{}/ui", url.trim_end_matches('/'))
}

/// The command that opens a web address in the default browser.
pub fn open_url_command(os: Os, url: &str) -> (String, Vec<String>) {
    match os {
        Os::MacOs => ("open".into(), vec![url.to_owned()]),
        Os::Linux => ("xdg-open".into(), vec![url.to_owned()]),
    }
}

/// A plain-text picture of the menu (tests and the README): one line per item, submenus
/// indented, greyed-out items marked.
pub fn render(menu: &Menu) -> String {
    fn walk(items: &[Item], depth: usize, out: &mut String) {
        let pad = "    ".repeat(depth);
        for item in items {
            let (line, sub): (String, Option<&[Item]>) = match item {
                Item::Text(t) => (t.clone(), None),
                Item::Separator => ("────────────".into(), None),
                Item::Button { text, enabled, .. } => (greyed(text, *enabled), None),
                Item::Check { text, checked, enabled, .. } => (
                    greyed(&format!("[{}] {text}", if *checked { "x" } else { " " }), *enabled),
                    None,
                ),
                Item::Submenu { text, enabled, items } => {
                    (greyed(&format!("{text} ▸"), *enabled), Some(items))
                }
                Item::About { text, .. } => (text.clone(), None),
            };
            out.push_str(&pad);
            out.push_str(&line);
            out.push('\n');
            if let Some(items) = sub {
                walk(items, depth + 1, out);
            }
        }
    }
    fn greyed(t: &str, enabled: bool) -> String {
        if enabled { t.to_owned() } else { format!("{t}   (greyed out)") }
    }
    let mut out = String::new();
    walk(&menu.items, 0, &mut out);
    out
}

/// Menu text as the toolkit takes it: `&` marks a mnemonic there, so a literal one is
/// doubled.
pub fn toolkit_text(s: &str) -> String {
    s.replace('&', "&&")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests;

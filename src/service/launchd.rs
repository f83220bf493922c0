//! launchd: the LaunchAgent plist text for a [`Spec`], the `gui/<uid>` domain names,
//! parsing `launchctl print` and `launchctl print-disabled`, and the bootout decision. Pure;
//! the calls themselves are in `service::Manager`.

use std::fmt::Write as _;

use super::{Mode, RunState, Spec};

/// The per-user GUI domain (`launchctl bootstrap gui/501 …`).
pub fn domain(uid: u32) -> String {
    format!("gui/{uid}")
}

/// One job in that domain (`launchctl print gui/501/com.local.ai-proxy`).
pub fn service_target(uid: u32, label: &str) -> String {
    format!("gui/{uid}/{label}")
}

/// The LaunchAgent: starts at login (`RunAtLoad`), restarted only after an abnormal exit
/// (`KeepAlive.SuccessfulExit = false`, so Quit from the menu stays quit), stdout/stderr in
/// the log folder, and a PATH where `az` and `gcloud` are found.
pub fn plist(spec: &Spec) -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
    );
    x.push_str("<plist version=\"1.0\">\n<dict>\n");
    key_string(&mut x, 1, "Label", &spec.label);
    key(&mut x, 1, "ProgramArguments");
    line(&mut x, 1, "<array>");
    for arg in spec.command_line() {
        line(&mut x, 2, &format!("<string>{}</string>", escape(&arg)));
    }
    line(&mut x, 1, "</array>");
    key(&mut x, 1, "RunAtLoad");
    line(&mut x, 1, "<true/>");
    key(&mut x, 1, "KeepAlive");
    line(&mut x, 1, "<dict>");
    key(&mut x, 2, "SuccessfulExit");
    line(&mut x, 2, "<false/>");
    line(&mut x, 1, "</dict>");
    key(&mut x, 1, "ThrottleInterval");
    line(&mut x, 1, "<integer>10</integer>");
    if spec.mode == Mode::Tray {
        // A menu-bar app belongs to the logged-in GUI session.
        key_string(&mut x, 1, "LimitLoadToSessionType", "Aqua");
        key_string(&mut x, 1, "ProcessType", "Interactive");
    }
    key_string(&mut x, 1, "StandardOutPath", &spec.stdout_file().display().to_string());
    key_string(&mut x, 1, "StandardErrorPath", &spec.stderr_file().display().to_string());
    key(&mut x, 1, "EnvironmentVariables");
    line(&mut x, 1, "<dict>");
    for (k, v) in spec.environment() {
        key_string(&mut x, 2, k, &v);
    }
    line(&mut x, 1, "</dict>");
    x.push_str("</dict>\n</plist>\n");
    x
}

/// The run state from `launchctl print gui/<uid>/<label>` output (exit status 0).
pub fn parse_print(out: &str) -> RunState {
    let mut running = false;
    let mut pid = None;
    for l in out.lines().map(str::trim) {
        if let Some(v) = l.strip_prefix("state = ") {
            running = v.trim() == "running";
        } else if let Some(v) = l.strip_prefix("pid = ") {
            pid = v.trim().parse().ok();
        }
    }
    if running { RunState::Running { pid } } else { RunState::Loaded }
}

/// Whether `label` is disabled in `launchctl print-disabled gui/<uid>` output: by
/// `launchctl disable`, or (macOS 13+) by its switch in System Settings > General > Login
/// Items. Older releases print `"label" => true` (true = disabled), newer ones
/// `"label" => disabled` / `=> enabled`. Only the `disabled services` block counts (the
/// `login item associations` block that follows lists other things).
pub fn parse_print_disabled(out: &str, label: &str) -> bool {
    let quoted = format!("\"{label}\"");
    let mut in_services = false;
    for l in out.lines().map(str::trim) {
        if l.ends_with('{') {
            in_services = l.starts_with("disabled services");
            continue;
        }
        if l == "}" {
            in_services = false;
            continue;
        }
        if !in_services {
            continue;
        }
        if let Some((name, value)) = l.split_once("=>")
            && name.trim() == quoted
        {
            return matches!(value.trim(), "true" | "disabled");
        }
    }
    false
}

/// Whether removing the login item (`service uninstall`, unticking Launch at Login) also
/// boots the job out of launchd. With `stop_now` always. Without, only a job that is loaded
/// but not running: a running job is left alone, because it is either the menu-bar app
/// whose menu was just clicked (bootout would SIGTERM it mid-click) or a copy the user asked
/// to keep (`--keep-running`). Such a job stays loaded until it quits (after a normal Quit
/// `KeepAlive.SuccessfulExit = false` does not restart it) or the user logs out; with its
/// plist gone it does not start at the next login.
pub fn bootout_on_uninstall(stop_now: bool, state: &super::RunState) -> bool {
    stop_now || matches!(state, super::RunState::Loaded)
}

fn key(x: &mut String, depth: usize, k: &str) {
    line(x, depth, &format!("<key>{}</key>", escape(k)));
}

fn key_string(x: &mut String, depth: usize, k: &str, v: &str) {
    key(x, depth, k);
    line(x, depth, &format!("<string>{}</string>", escape(v)));
}

fn line(x: &mut String, depth: usize, s: &str) {
    let _ = writeln!(x, "{}{s}", "\t".repeat(depth));
}

/// XML character escaping for element text.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

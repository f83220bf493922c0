//! systemd `--user`: the unit text for a [`Spec`] (same behaviour as the LaunchAgent: start
//! at login, restart only on failure, output in the log folder) and parsing `systemctl`
//! answers. Pure; the calls themselves are in `service::Manager`.

use std::fmt::Write as _;

use super::{Mode, RunState, Spec};

/// `com.local.ai-proxy` → `com.local.ai-proxy.service`.
pub fn unit_name(label: &str) -> String {
    format!("{label}.service")
}

/// The user unit.
pub fn unit(spec: &Spec) -> String {
    let (what, target) = match spec.mode {
        Mode::Tray => ("menu-bar app", "graphical-session.target"),
        Mode::Serve => ("gateway", "default.target"),
    };
    let mut u = String::new();
    u.push_str("# Written by `ai-proxy service install`; run it again to regenerate.\n");
    u.push_str("[Unit]\n");
    let _ = writeln!(u, "Description=ai-proxy local LLM gateway ({what})");
    if spec.mode == Mode::Tray {
        // The tray needs the desktop session (DISPLAY / WAYLAND_DISPLAY).
        let _ = writeln!(u, "PartOf={target}\nAfter={target}");
    }
    u.push_str("\n[Service]\nType=simple\n");
    let exec: Vec<String> = spec.command_line().iter().map(|a| quote(a)).collect();
    let _ = writeln!(u, "ExecStart={}", exec.join(" "));
    // `systemctl --user reload`: both modes read the config again on SIGHUP, port kept open.
    u.push_str("ExecReload=/bin/kill -HUP $MAINPID\n");
    // Quit from the menu (exit 0) and `systemctl stop` stay stopped; crashes restart.
    u.push_str("Restart=on-failure\nRestartSec=10\n");
    for (k, v) in spec.environment() {
        let _ = writeln!(u, "Environment={}", quote(&format!("{k}={v}")));
    }
    let _ = writeln!(
        u,
        "StandardOutput=append:{}",
        specifiers(&spec.stdout_file().display().to_string())
    );
    let _ = writeln!(
        u,
        "StandardError=append:{}",
        specifiers(&spec.stderr_file().display().to_string())
    );
    u.push_str("TimeoutStopSec=30\n");
    let _ = writeln!(u, "\n[Install]\nWantedBy={target}");
    u
}

/// `systemctl --user is-enabled` printed `enabled`.
pub fn enabled(stdout: &str) -> bool {
    stdout.trim() == "enabled"
}

/// The run state from `systemctl --user show UNIT --property=LoadState,ActiveState,MainPID`.
pub fn parse_show(out: &str) -> RunState {
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .unwrap_or("")
            .trim()
    };
    match (get("LoadState"), get("ActiveState")) {
        (_, "active" | "activating" | "reloading") => {
            RunState::Running { pid: get("MainPID").parse().ok().filter(|p| *p != 0) }
        }
        ("not-found", _) => RunState::NotLoaded,
        _ => RunState::Loaded,
    }
}

/// Quote one word for `ExecStart=` / `Environment=`: double quotes when needed, `\` and `"`
/// escaped, `%` (specifiers) and `$` (variable expansion) doubled.
fn quote(s: &str) -> String {
    let plain =
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=,@+".contains(c));
    if plain {
        return s.to_owned();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escape `%` for settings that take a path with specifiers.
fn specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_for_exec_lines() {
        assert_eq!(quote("/usr/bin/ai-proxy"), "/usr/bin/ai-proxy");
        assert_eq!(quote("/home/a b/x"), "\"/home/a b/x\"");
        assert_eq!(quote("a\"b\\c%d$e"), "\"a\\\"b\\\\c%%d$$e\"");
        assert_eq!(quote(""), "\"\"");
    }

    #[test]
    fn show_output_is_parsed() {
        assert_eq!(
            parse_show("LoadState=loaded\nActiveState=active\nMainPID=4242\n"),
            RunState::Running { pid: Some(4242) }
        );
        assert_eq!(
            parse_show("LoadState=loaded\nActiveState=inactive\nMainPID=0\n"),
            RunState::Loaded
        );
        assert_eq!(
            parse_show("LoadState=loaded\nActiveState=failed\nMainPID=0\n"),
            RunState::Loaded
        );
        assert_eq!(
            parse_show("LoadState=not-found\nActiveState=inactive\nMainPID=0\n"),
            RunState::NotLoaded
        );
        assert!(enabled("enabled\n"));
        assert!(!enabled("disabled\n"));
        assert!(!enabled("linked\n"));
    }
}

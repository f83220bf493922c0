//! Menu model tests: every status, exact clipboard texts, ids, the login checkbox.

use super::*;

fn model(alias: &str, provider: &'static str, available: bool) -> ModelEntry {
    ModelEntry {
        alias: alias.into(),
        providers: vec![provider],
        available,
        deployments: usize::from(available),
        cooling: 0,
        last_error: None,
    }
}

fn models() -> Vec<ModelEntry> {
    vec![
        model("gpt-4o", "azure", false),
        model("qwen-max", "dashscope", true),
        model("mock", "mock", true),
    ]
}

fn running() -> Snapshot {
    Snapshot {
        status: Status::Running { url: "http://127.0.0.1:4000".into(), ready: 2, total: 3 },
        models: models(),
        master_key: Some(Secret::from("sk-it's-$secret")),
        login: LoginState::On,
        notice: None,
        config_dir: Some("/Users/ann/Library/Application Support/ai-proxy".into()),
        exiting: false,
        today: None,
        offer_cli: false,
    }
}

fn totals(
    model: &str,
    requests: u64,
    tokens: u64,
    cost: Option<f64>,
    unpriced: u64,
) -> ModelTotals {
    ModelTotals {
        model: model.into(),
        requests,
        total_tokens: tokens,
        cost_usd: cost,
        unpriced_requests: unpriced,
        ..Default::default()
    }
}

#[test]
fn the_today_line_sums_models_and_never_calls_an_unknown_cost_zero() {
    assert_eq!(today_line(&[]), "Today: no requests yet");
    assert_eq!(
        today_line(&[totals("a", 40, 12_345, Some(0.3), 0), totals("b", 2, 100, Some(0.07), 0)]),
        "Today: 42 requests · 12.4k tokens · ≈ $0.37"
    );
    assert_eq!(
        today_line(&[totals("a", 1, 999, Some(0.0001), 0)]),
        "Today: 1 request · 999 tokens · < $0.01"
    );
    assert_eq!(
        today_line(&[totals("m", 3, 30, Some(0.0), 0)]),
        "Today: 3 requests · 30 tokens · ≈ $0.00"
    );
    assert_eq!(
        today_line(&[totals("a", 5, 2_500_000, Some(1.5), 0), totals("q", 7, 70, None, 7)]),
        "Today: 12 requests · 2.5M tokens · ≈ $1.50 + unpriced"
    );
    assert_eq!(
        today_line(&[totals("q", 7, 70, None, 7)]),
        "Today: 7 requests · 70 tokens · cost unknown"
    );
    assert_eq!(short_count(1_500_000_000), "1.5B");
}

#[test]
fn running_menu_shows_today_and_each_models_share() {
    let mut s = running();
    s.today = Some(vec![
        totals("qwen-max", 12, 3_400, None, 12),
        totals("mock", 3, 42, Some(0.0), 0),
        totals("not-configured", 1, 0, None, 0),
    ]);
    let menu = build(&s, "0.1.0");
    insta::assert_snapshot!("running_with_today", render(&menu));
    // Stopped: no usage line, whatever the last snapshot held.
    s.status = Status::Stopped;
    assert!(!render(&build(&s, "0.1.0")).contains("Today:"));
}

fn find<'a>(menu: &'a Menu, action: &Action) -> &'a Item {
    fn walk<'a>(items: &'a [Item], action: &Action) -> Option<&'a Item> {
        items.iter().find_map(|i| match i {
            Item::Button { action: a, .. } | Item::Check { action: a, .. } if a == action => {
                Some(i)
            }
            Item::Submenu { items, .. } => walk(items, action),
            _ => None,
        })
    }
    walk(&menu.items, action).unwrap_or_else(|| panic!("no item for {action:?}"))
}

fn enabled(menu: &Menu, action: &Action) -> bool {
    match find(menu, action) {
        Item::Button { enabled, .. } | Item::Check { enabled, .. } => *enabled,
        _ => unreachable!(),
    }
}

fn text(menu: &Menu, action: &Action) -> String {
    match find(menu, action) {
        Item::Button { text, .. } | Item::Check { text, .. } => text.clone(),
        _ => unreachable!(),
    }
}

#[test]
fn the_running_menu_as_the_user_sees_it() {
    insta::assert_snapshot!("running", render(&build(&running(), "0.1.0")));
}

#[test]
fn models_cooling_down_are_marked_with_their_last_error() {
    let mut s = running();
    s.models = vec![
        ModelEntry {
            alias: "gpt-4o".into(),
            providers: vec!["azure"],
            available: true,
            deployments: 2,
            cooling: 1,
            last_error: Some("429: Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit".into()),
        },
        ModelEntry {
            alias: "qwen-max".into(),
            providers: vec!["dashscope"],
            available: true,
            deployments: 1,
            cooling: 1,
            last_error: Some("cannot reach DashScope at https://dashscope.aliyuncs.com:\nconnection refused".into()),
        },
        ModelEntry { last_error: Some("503: overloaded".into()), ..model("gemini", "vertex_ai", true) },
        model("mock", "mock", true),
    ];
    let menu = build(&s, "0.1.0");
    insta::assert_snapshot!("running_with_cooldowns", render(&menu));
    // The error lines are text, not clickable items; clicking the model still copies it.
    assert_eq!(
        text(&menu, &Action::CopyAlias("qwen-max".into())),
        "qwen-max — dashscope (cooling down)"
    );
}

#[test]
fn the_error_menu_as_the_user_sees_it() {
    let s = Snapshot {
        status: Status::Error(
            "config.yaml line 7 column 3 (model_list[0].litellm_params): invalid type: sequence, expected a string"
                .into(),
        ),
        models: Vec::new(),
        master_key: None,
        login: LoginState::Off,
        notice: None,
        config_dir: Some("/home/ann/proj".into()),
        exiting: false,
        today: None,
        offer_cli: false,
    };
    insta::assert_snapshot!("error", render(&build(&s, "0.1.0")));
}

#[test]
fn status_line_per_state() {
    assert_eq!(status_lines(&Status::Stopped), ["Stopped"]);
    assert_eq!(status_lines(&Status::Starting), ["Starting…"]);
    assert_eq!(status_lines(&Status::Stopping), ["Stopping… (finishing open requests)"]);
    assert_eq!(
        status_lines(&running().status),
        ["Running on http://127.0.0.1:4000 · 2 of 3 models ready"]
    );
    assert_eq!(
        status_lines(&Status::Error(
            "port 4000 on 127.0.0.1 is already in use by another program".into()
        )),
        ["Error: port 4000 on 127.0.0.1 is already in use by another program"]
    );
    // Long reasons are wrapped, not cut, up to 4 lines of at most 80 characters.
    let port = "port 4000 on 127.0.0.1 is already in use by ai-proxy 0.1.0 (the menu-bar app, a login service, or another `ai-proxy serve`): use that one or stop it. Or choose another port with --port, LITELLM_PORT or AI_PROXY_PORT";
    let lines = status_lines(&Status::Error(port.into()));
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines.iter().all(|l| l.chars().count() <= MAX_LINE), "{lines:#?}");
    assert_eq!(lines.join(" "), format!("Error: {port}"));
    // Beyond 4 lines the last one says there is more.
    let long = format!("{}\nsecond\n\nthird\nfourth\nfifth", "x".repeat(200));
    let lines = status_lines(&Status::Error(long));
    assert_eq!(lines.len(), MAX_ERROR_LINES, "{lines:#?}");
    assert!(lines.iter().all(|l| l.chars().count() <= MAX_LINE), "{lines:#?}");
    assert_eq!(lines[0], format!("Error: {}", "x".repeat(73)));
    assert_eq!(lines[1], "x".repeat(80));
    assert_eq!(lines[2], "x".repeat(47));
    assert_eq!(lines[3], "second …");
}

#[test]
fn wrapping() {
    assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
    assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
    assert_eq!(wrap("", 3), Vec::<String>::new());
}

#[test]
fn toggle_and_controls_follow_the_state() {
    let mut s = running();
    let m = build(&s, "0.1.0");
    assert_eq!(text(&m, &Action::Toggle), "Stop");
    assert!(
        enabled(&m, &Action::Toggle)
            && enabled(&m, &Action::Restart)
            && enabled(&m, &Action::ReloadConfig)
    );
    assert!(enabled(&m, &Action::CopyBaseUrl) && enabled(&m, &Action::CopyShellExports));
    assert!(enabled(&m, &Action::OpenDashboard));
    assert_eq!(m.icon, Icon::Running);
    assert_eq!(m.tooltip, "AI Proxy: Running on http://127.0.0.1:4000 · 2 of 3 models ready");

    for (status, toggle, toggle_on, icon) in [
        (Status::Stopped, "Start", true, Icon::Stopped),
        (Status::Error("bad".into()), "Start", true, Icon::Error),
        (Status::Starting, "Start", false, Icon::Stopped),
        (Status::Stopping, "Stop", false, Icon::Stopped),
    ] {
        s.status = status.clone();
        let m = build(&s, "0.1.0");
        assert_eq!(text(&m, &Action::Toggle), toggle, "{status:?}");
        assert_eq!(enabled(&m, &Action::Toggle), toggle_on, "{status:?}");
        assert!(!enabled(&m, &Action::Restart), "{status:?}");
        assert!(!enabled(&m, &Action::CopyBaseUrl), "no URL to copy when not running: {status:?}");
        assert!(!enabled(&m, &Action::CopyShellExports), "{status:?}");
        assert!(!enabled(&m, &Action::OpenDashboard), "no dashboard when not running: {status:?}");
        let busy = matches!(status, Status::Starting | Status::Stopping);
        assert_eq!(enabled(&m, &Action::ReloadConfig), !busy, "{status:?}");
        assert_eq!(m.icon, icon, "{status:?}");
    }
}

#[test]
fn exact_clipboard_texts() {
    let s = running();
    let copy = |a: Action| copy_text(&a, &s).map(|t| t.expose().clone());
    assert_eq!(copy(Action::CopyBaseUrl).as_deref(), Some("http://127.0.0.1:4000/v1"));
    assert_eq!(copy(Action::CopyApiKey).as_deref(), Some("sk-it's-$secret"));
    assert_eq!(
        copy(Action::CopyShellExports).as_deref(),
        Some(
            "export OPENAI_BASE_URL='http://127.0.0.1:4000/v1'\n\
             export OPENAI_API_KEY='sk-it'\\''s-$secret'\n\
             export ANTHROPIC_BASE_URL='http://127.0.0.1:4000'\n\
             export ANTHROPIC_AUTH_TOKEN='sk-it'\\''s-$secret'\n"
        )
    );
    assert_eq!(copy(Action::CopyAlias("qwen-max".into())).as_deref(), Some("qwen-max"));
    assert_eq!(copy(Action::Quit), None);
    // The texts that carry the master key are kept out of clipboard history.
    for (a, secret) in [
        (Action::CopyApiKey, true),
        (Action::CopyShellExports, true),
        (Action::CopyBaseUrl, false),
        (Action::CopyAlias("qwen-max".into()), false),
    ] {
        let has_key = copy(a.clone()).is_some_and(|t| t.contains("sk-it"));
        assert_eq!(copies_secret(&a), secret, "{a:?}");
        assert_eq!(has_key, secret, "{a:?}");
    }

    // Without a master key the gateway takes any key; exports still give SDKs one.
    let mut open = running();
    open.master_key = None;
    assert_eq!(copy_text(&Action::CopyApiKey, &open).map(|k| k.expose().clone()), None);
    let exports = copy_text(&Action::CopyShellExports, &open).expect("exports");
    assert!(
        exports.expose().contains("export OPENAI_API_KEY='no-key-required'\n"),
        "{}",
        exports.expose()
    );
    let m = build(&open, "0.1.0");
    assert_eq!(text(&m, &Action::CopyApiKey), "Copy API Key (no master key set)");
    assert!(!enabled(&m, &Action::CopyApiKey));

    // Stopped: nothing to point clients at.
    let mut stopped = running();
    stopped.status = Status::Stopped;
    assert_eq!(copy_text(&Action::CopyBaseUrl, &stopped).map(|k| k.expose().clone()), None);
}

#[test]
fn the_shell_exports_work_in_a_real_shell() {
    let key = "sk-it's-$HOME-`x`\"";
    let script = format!(
        "{}printf '%s|%s|%s|%s' \"$OPENAI_BASE_URL\" \"$OPENAI_API_KEY\" \"$ANTHROPIC_BASE_URL\" \"$ANTHROPIC_AUTH_TOKEN\"",
        shell_exports("http://127.0.0.1:4100", key)
    );
    let out = std::process::Command::new("sh").arg("-c").arg(&script).output().expect("sh runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("http://127.0.0.1:4100/v1|{key}|http://127.0.0.1:4100|{key}")
    );
}

#[test]
fn models_submenu_lists_alias_and_provider_and_copies_the_alias() {
    let m = build(&running(), "0.1.0");
    let sub = m
        .items
        .iter()
        .find_map(|i| match i {
            Item::Submenu { text, enabled, items } => Some((text.clone(), *enabled, items.clone())),
            _ => None,
        })
        .expect("models submenu");
    assert_eq!(sub.0, "Models (3)");
    assert!(sub.1);
    let texts: Vec<(String, Action)> = sub
        .2
        .iter()
        .map(|i| match i {
            Item::Button { text, action, .. } => (text.clone(), action.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("gpt-4o — azure (unavailable)".to_owned(), Action::CopyAlias("gpt-4o".into())),
            ("qwen-max — dashscope".to_owned(), Action::CopyAlias("qwen-max".into())),
            ("mock — mock".to_owned(), Action::CopyAlias("mock".into())),
        ]
    );

    let mut none = running();
    none.models.clear();
    let m = build(&none, "0.1.0");
    assert!(m.items.contains(&Item::Submenu {
        text: "Models".into(),
        enabled: false,
        items: vec![]
    }));
}

#[test]
fn launch_at_login_checkbox_shows_the_reported_state() {
    let mut s = running();
    let checkbox = |s: &Snapshot| match find(&build(s, "0.1.0"), &Action::LaunchAtLogin) {
        Item::Check { text, checked, enabled, .. } => (text.clone(), *checked, *enabled),
        _ => unreachable!(),
    };
    s.login = LoginState::On;
    assert_eq!(checkbox(&s), ("Launch at Login".into(), true, true));
    s.login = LoginState::Off;
    assert_eq!(checkbox(&s), ("Launch at Login".into(), false, true));
    s.login = LoginState::DisabledBySystem;
    assert_eq!(checkbox(&s), ("Launch at Login (disabled in System Settings)".into(), false, true));
    s.login = LoginState::Unavailable("systemctl not found".into());
    assert_eq!(
        checkbox(&s),
        ("Launch at Login (unavailable: systemctl not found)".into(), false, false)
    );
}

#[test]
fn a_notice_shows_under_the_status() {
    let mut s = running();
    s.notice = Some(
        "Reload failed, still serving the previous config: config.yaml line 3: bad\nmore".into(),
    );
    let m = build(&s, "0.1.0");
    assert_eq!(
        m.items[1],
        Item::Text(
            "⚠ Reload failed, still serving the previous config: config.yaml line 3: bad".into()
        )
    );
}

#[test]
fn install_command_line_tool_is_offered_only_when_asked() {
    let mut s = running();
    let has = |s: &Snapshot| {
        build(s, "0.1.0")
            .items
            .iter()
            .any(|i| matches!(i, Item::Button { action: Action::InstallCli, .. }))
    };
    assert!(!has(&s));
    s.offer_cli = true;
    assert!(has(&s));
    assert_eq!(text(&build(&s, "0.1.0"), &Action::InstallCli), "Install Command Line Tool…");
}

#[test]
fn action_ids_round_trip() {
    let all = [
        Action::Toggle,
        Action::Restart,
        Action::ReloadConfig,
        Action::CopyBaseUrl,
        Action::CopyApiKey,
        Action::CopyShellExports,
        Action::CopyAlias("claude-*".into()),
        Action::CopyAlias("model:odd".into()),
        Action::OpenDashboard,
        Action::OpenLogs,
        Action::OpenConfigFolder,
        Action::LaunchAtLogin,
        Action::InstallCli,
        Action::Quit,
    ];
    for a in all {
        assert_eq!(Action::from_id(&a.id()), Some(a.clone()), "{}", a.id());
    }
    assert_eq!(Action::from_id("nope"), None);
}

#[test]
fn about_and_quit() {
    let m = build(&running(), "1.2.3");
    assert!(m.items.contains(&Item::About {
        text: "About AI Proxy".into(),
        name: "AI Proxy".into(),
        version: "1.2.3".into()
    }));
    assert_eq!(text(&m, &Action::Quit), "Quit AI Proxy");
    assert_eq!(m.items.last(), Some(find(&m, &Action::Quit)));
}

#[test]
fn open_commands_per_platform() {
    let log = Path::new("/Users/ann/Library/Logs/ai-proxy/ai-proxy.log");
    assert_eq!(
        open_command(Os::MacOs, log, true),
        ("open".to_owned(), vec!["-a".to_owned(), "Console".to_owned(), log.display().to_string()])
    );
    assert_eq!(
        open_command(Os::MacOs, Path::new("/d"), false),
        ("open".to_owned(), vec!["/d".to_owned()])
    );
    assert_eq!(
        open_command(Os::Linux, Path::new("/l.log"), true),
        ("xdg-open".to_owned(), vec!["/l.log".to_owned()])
    );
}

#[test]
fn the_dashboard_opens_in_the_browser_without_the_key() {
    let s = running();
    let url = dashboard_url(s.url().expect("running"));
    assert_eq!(url, "http://127.0.0.1:4000/ui");
    assert_eq!(dashboard_url("http://127.0.0.1:4000/"), "http://127.0.0.1:4000/ui");
    assert_eq!(open_url_command(Os::MacOs, &url), ("open".to_owned(), vec![url.clone()]));
    assert_eq!(open_url_command(Os::Linux, &url), ("xdg-open".to_owned(), vec![url.clone()]));
    assert!(!url.contains("secret"), "the key stays off the command line");
}

//! Controller tests: every state transition with a real in-process gateway on 127.0.0.1:0,
//! a config "file" the test edits, and a fake login item.

use std::sync::Mutex;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::*;
use crate::config::{self, Env, Source};

const GOOD: &str = "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/echo\ngeneral_settings:\n  master_key: sk-tray-test\n";
const TWO_MODELS: &str = "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/echo\n  - model_name: mock-2\n    litellm_params:\n      model: mock/two\n";
const BROKEN: &str = "model_list:\n  - model_name: [not, a, string]\n";

/// The config file as the loader reads it, and the port it asks for.
#[derive(Clone)]
struct Files {
    text: Arc<Mutex<String>>,
    port: Arc<Mutex<u16>>,
    /// `HOME` for the loaded config (where the request log goes); none by default.
    home: Option<std::path::PathBuf>,
}

impl Files {
    fn new(text: &str) -> Files {
        Files {
            text: Arc::new(Mutex::new(text.to_owned())),
            port: Arc::new(Mutex::new(0)),
            home: None,
        }
    }

    fn write(&self, text: &str) {
        *self.text.lock().expect("lock") = text.to_owned();
    }

    fn loader(&self) -> Loader {
        let f = self.clone();
        Arc::new(move || {
            let text = f.text.lock().expect("lock").clone();
            let env = match &f.home {
                Some(h) => Env::from_vars([("HOME", h.to_string_lossy().into_owned())]),
                None => Env::default(),
            };
            let config = config::load(&text, Source::File("/cfg/config.yaml".into()), env)
                .map_err(|e| e.to_string())?;
            Ok(Loaded {
                egress: crate::egress::Egress::new(&config.env),
                config,
                host: "127.0.0.1".into(),
                port: *f.port.lock().expect("lock"),
                config_dir: Some("/cfg".into()),
            })
        })
    }
}

/// A login item whose state the test controls.
#[derive(Default)]
struct FakeLogin {
    on: Mutex<bool>,
    /// `set_enabled` reports success but nothing changes (a manager that ignores us).
    stuck: bool,
    /// `set_enabled` fails with this message.
    fails: Option<String>,
    unreachable: bool,
    /// Installed but switched off in System Settings: enabling does not turn it on.
    blocked: bool,
}

impl LoginItem for FakeLogin {
    fn state(&self) -> Result<LoginState, String> {
        if self.unreachable {
            return Err("launchctl not found".into());
        }
        Ok(match *self.on.lock().expect("lock") {
            true if self.blocked => LoginState::DisabledBySystem,
            true => LoginState::On,
            false => LoginState::Off,
        })
    }

    fn set_enabled(&self, on: bool) -> Result<(), String> {
        if let Some(e) = &self.fails {
            return Err(e.clone());
        }
        if !self.stuck {
            *self.on.lock().expect("lock") = on;
        }
        Ok(())
    }
}

struct Ui {
    tx: UnboundedSender<Command>,
    rx: UnboundedReceiver<Snapshot>,
    seen: Vec<Status>,
    task: tokio::task::JoinHandle<()>,
}

fn launch(files: &Files, login: Arc<dyn LoginItem>) -> Ui {
    let (tx, cmd_rx) = unbounded_channel();
    let (snap_tx, rx) = unbounded_channel();
    let c = Controller::new(
        files.loader(),
        login,
        Duration::from_secs(5),
        Box::new(move |s| {
            let _ = snap_tx.send(s);
        }),
    );
    let task = tokio::spawn(c.run(cmd_rx));
    Ui { tx, rx, seen: Vec::new(), task }
}

impl Ui {
    fn send(&self, c: Command) {
        self.tx.send(c).expect("controller alive");
    }

    /// The next snapshot that satisfies `pred` (bounded wait); statuses on the way are kept.
    async fn until(&mut self, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let s = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; seen {:?}", self.seen))
                .unwrap_or_else(|| {
                    panic!("controller ended while waiting for {what}; seen {:?}", self.seen)
                });
            if self.seen.last() != Some(&s.status) {
                self.seen.push(s.status.clone());
            }
            if pred(&s) {
                return s;
            }
        }
    }

    async fn running(&mut self) -> (String, Snapshot) {
        let s = self.until("Running", |s| matches!(s.status, Status::Running { .. })).await;
        (s.url().expect("url").to_owned(), s)
    }

    async fn error(&mut self) -> String {
        let s = self.until("Error", |s| matches!(s.status, Status::Error(_))).await;
        match s.status {
            Status::Error(e) => e,
            _ => unreachable!(),
        }
    }

    async fn quit(mut self) {
        self.send(Command::Quit);
        self.until("exiting", |s| s.exiting).await;
        self.task.await.expect("controller task");
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

async fn ready(url: &str) -> bool {
    client()
        .get(format!("{url}/health/readiness"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
}

#[tokio::test]
async fn stopped_running_error_running() {
    let files = Files::new(GOOD);
    let mut ui = launch(&files, Arc::new(FakeLogin::default()));
    let first = ui.until("initial", |_| true).await;
    assert_eq!(first.status, Status::Stopped);
    assert_eq!(first.login, LoginState::Off);

    ui.send(Command::Start);
    let (url, s) = ui.running().await;
    assert!(ready(&url).await, "the gateway answers on {url}");
    assert_eq!(s.status, Status::Running { url: url.clone(), ready: 1, total: 1 });
    assert_eq!(s.master_key.as_ref().map(|k| k.expose().as_str()), Some("sk-tray-test"));
    assert_eq!(s.models.iter().map(|m| m.alias.as_str()).collect::<Vec<_>>(), ["mock"]);
    assert_eq!(s.config_dir.as_deref(), Some(std::path::Path::new("/cfg")));

    // The user breaks the file and restarts: the error shows in the menu, nothing crashes.
    files.write(BROKEN);
    ui.send(Command::Restart);
    let e = ui.error().await;
    assert!(e.starts_with("/cfg/config.yaml"), "{e}");
    assert!(!ready(&url).await, "the old gateway is gone");

    // Start retries after the fix.
    files.write(GOOD);
    ui.send(Command::Start);
    let (url2, _) = ui.running().await;
    assert!(ready(&url2).await);
    assert_eq!(
        ui.seen,
        [
            Status::Stopped,
            Status::Starting,
            Status::Running { url: url.clone(), ready: 1, total: 1 },
            Status::Stopping,
            Status::Stopped,
            Status::Starting,
            Status::Error(e.clone()),
            Status::Starting,
            Status::Running { url: url2.clone(), ready: 1, total: 1 },
        ]
    );
    ui.quit().await;
    assert!(!ready(&url2).await, "Quit stops the gateway");
}

#[tokio::test]
async fn toggle_starts_and_stops_on_the_real_state() {
    let files = Files::new(GOOD);
    let mut ui = launch(&files, Arc::new(FakeLogin::default()));
    ui.send(Command::Toggle);
    let (url, _) = ui.running().await;
    ui.send(Command::Toggle);
    ui.until("Stopped", |s| s.status == Status::Stopped).await;
    assert!(!ready(&url).await);
    // Stop when already stopped is harmless; Stop clears an error.
    files.write(BROKEN);
    ui.send(Command::Toggle);
    ui.error().await;
    ui.send(Command::Stop);
    ui.until("Stopped", |s| s.status == Status::Stopped).await;
    ui.quit().await;
}

#[tokio::test]
async fn reload_with_a_broken_config_keeps_serving_the_previous_one() {
    let files = Files::new(GOOD);
    let mut ui = launch(&files, Arc::new(FakeLogin::default()));
    ui.send(Command::Start);
    let (url, _) = ui.running().await;

    files.write(BROKEN);
    ui.send(Command::Reload);
    let s = ui.until("notice", |s| s.notice.is_some()).await;
    let notice = s.notice.clone().expect("notice");
    assert!(
        notice.starts_with("Reload failed, still serving the previous config: /cfg/config.yaml"),
        "{notice}"
    );
    assert_eq!(s.status, Status::Running { url: url.clone(), ready: 1, total: 1 }, "still running");
    assert!(ready(&url).await, "and still answering");

    // A good config is switched to; the notice goes away.
    files.write(TWO_MODELS);
    ui.send(Command::Reload);
    let s = ui
        .until("running with two models", |s| matches!(s.status, Status::Running { total: 2, .. }))
        .await;
    assert_eq!(s.notice, None);
    assert_eq!(
        s.master_key.as_ref().map(|k| k.expose().as_str()),
        None,
        "the new config has no key"
    );
    assert_eq!(s.models.len(), 2);
    ui.quit().await;
}

#[tokio::test]
async fn reload_while_stopped_only_checks_the_config() {
    let files = Files::new(BROKEN);
    let mut ui = launch(&files, Arc::new(FakeLogin::default()));
    ui.send(Command::Reload);
    let e = ui.error().await;
    assert!(e.contains("config.yaml"), "{e}");
    files.write(TWO_MODELS);
    ui.send(Command::Reload);
    let s = ui.until("Stopped", |s| s.status == Status::Stopped).await;
    assert_eq!(s.models.len(), 2, "the models of the fixed config are listed");
    ui.quit().await;
}

#[tokio::test]
async fn a_taken_port_is_an_error_in_the_menu() {
    let files = Files::new(GOOD);
    let mut first = launch(&files, Arc::new(FakeLogin::default()));
    first.send(Command::Start);
    let (url, _) = first.running().await;
    let port: u16 = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");

    let second_files = Files::new(GOOD);
    *second_files.port.lock().expect("lock") = port;
    let mut second = launch(&second_files, Arc::new(FakeLogin::default()));
    second.send(Command::Start);
    let e = second.error().await;
    assert!(
        e.starts_with(&format!("port {port} on 127.0.0.1 is already in use by ai-proxy")),
        "{e}"
    );
    second.quit().await;
    first.quit().await;
}

#[tokio::test]
async fn launch_at_login_follows_the_real_service_state() {
    // A manager that does what it is told.
    let login = Arc::new(FakeLogin::default());
    let mut ui = launch(&Files::new(GOOD), login.clone());
    ui.until("initial", |_| true).await;
    ui.send(Command::ToggleLaunchAtLogin);
    let s = ui.until("On", |s| s.login == LoginState::On).await;
    assert_eq!(s.notice, None);
    assert!(*login.on.lock().expect("lock"));
    ui.send(Command::ToggleLaunchAtLogin);
    ui.until("Off", |s| s.login == LoginState::Off).await;
    ui.quit().await;

    // A manager that says yes but changes nothing: the checkbox stays unchecked.
    let stuck = Arc::new(FakeLogin { stuck: true, ..FakeLogin::default() });
    let mut ui = launch(&Files::new(GOOD), stuck);
    ui.until("initial", |_| true).await;
    ui.send(Command::ToggleLaunchAtLogin);
    ui.send(Command::Start);
    let s = ui.running().await.1;
    assert_eq!(s.login, LoginState::Off);
    ui.quit().await;

    // A failing manager: the checkbox keeps the real state and the reason is shown.
    let failing = Arc::new(FakeLogin {
        on: Mutex::new(true),
        fails: Some("`launchctl enable gui/501/com.local.ai-proxy` failed: denied".into()),
        ..FakeLogin::default()
    });
    let mut ui = launch(&Files::new(GOOD), failing);
    ui.until("initial", |_| true).await;
    ui.send(Command::ToggleLaunchAtLogin);
    let s = ui.until("notice", |s| s.notice.is_some()).await;
    assert_eq!(s.login, LoginState::On);
    assert_eq!(
        s.notice.as_deref(),
        Some("Launch at Login: `launchctl enable gui/501/com.local.ai-proxy` failed: denied")
    );
    ui.quit().await;

    // Switched off in System Settings: ticking asks to enable it, and when macOS keeps it
    // off the menu says where to turn it on.
    let blocked =
        Arc::new(FakeLogin { on: Mutex::new(true), blocked: true, ..FakeLogin::default() });
    let mut ui = launch(&Files::new(GOOD), blocked.clone());
    let s = ui.until("initial", |_| true).await;
    assert_eq!(s.login, LoginState::DisabledBySystem);
    ui.send(Command::ToggleLaunchAtLogin);
    let s = ui.until("notice", |s| s.notice.is_some()).await;
    assert_eq!(s.login, LoginState::DisabledBySystem);
    assert_eq!(s.notice.as_deref(), Some(super::DISABLED_BY_SYSTEM));
    assert!(*blocked.on.lock().expect("lock"), "asked to turn it on, not off");
    ui.quit().await;

    // No manager at all: the checkbox is disabled with the reason.
    let gone = Arc::new(FakeLogin { unreachable: true, ..FakeLogin::default() });
    let mut ui = launch(&Files::new(GOOD), gone);
    let s = ui.until("initial", |_| true).await;
    assert_eq!(s.login, LoginState::Unavailable("launchctl not found".into()));
    ui.quit().await;
}

#[tokio::test]
async fn dropping_the_ui_side_stops_the_gateway() {
    let files = Files::new(GOOD);
    let mut ui = launch(&files, Arc::new(FakeLogin::default()));
    ui.send(Command::Start);
    let (url, _) = ui.running().await;
    drop(ui.tx);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, ui.rx.recv()).await.expect("bounded") {
            Some(s) if s.exiting => break,
            Some(_) => {}
            None => panic!("controller ended without a final snapshot"),
        }
    }
    assert!(!ready(&url).await);
}

/// An OpenAI-compatible upstream on 127.0.0.1 that answers after `delay`.
async fn slow_upstream(delay: Duration) -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move || async move {
            tokio::time::sleep(delay).await;
            let body = serde_json::json!({
                "id": "chatcmpl-slow", "object": "chat.completion", "created": 1, "model": "slow",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "done slowly"}, "finish_reason": "stop"}]
            });
            ([("content-type", "application/json")], body.to_string())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn chat(url: &str, model: &str) -> (u16, String) {
    let r = client()
        .post(format!("{url}/v1/chat/completions"))
        .json(&serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("the gateway accepts the connection");
    (r.status().as_u16(), r.text().await.expect("body"))
}

#[tokio::test]
async fn reload_switches_config_in_place_while_a_request_is_in_flight() {
    let upstream = slow_upstream(Duration::from_secs(3)).await;
    let slow = format!(
        "  - model_name: slow\n    litellm_params:\n      model: openai/slow\n      api_base: {upstream}\n      api_key: sk-up\n"
    );
    let files = Files::new(&format!(
        "model_list:\n{slow}  - model_name: mock\n    litellm_params:\n      model: mock/echo\n"
    ));
    let mut ui = launch(&files, Arc::new(FakeLogin::default()));
    ui.send(Command::Start);
    let (url, _) = ui.running().await;

    let in_flight = {
        let url = url.clone();
        tokio::spawn(async move { chat(&url, "slow").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_flight.is_finished(), "the slow request is in flight");

    // A second model appears; the port stays open and the address stays the same.
    files.write(&format!("model_list:\n{slow}  - model_name: mock\n    litellm_params:\n      model: mock/echo\n  - model_name: mock-2\n    litellm_params:\n      model: mock/two\n"));
    ui.send(Command::Reload);
    let s =
        ui.until("three models", |s| matches!(s.status, Status::Running { total: 3, .. })).await;
    assert_eq!(s.url(), Some(url.as_str()), "same address");
    let (status, body) = chat(&url, "mock-2").await;
    assert_eq!(status, 200, "the new config answers at once: {body}");
    assert!(!in_flight.is_finished(), "while the old request is still running");

    let (status, body) = in_flight.await.expect("task");
    assert_eq!((status, body.contains("done slowly")), (200, true), "{body}");
    assert_eq!(
        ui.seen,
        [
            Status::Stopped,
            Status::Starting,
            Status::Running { url: url.clone(), ready: 2, total: 2 },
            Status::Running { url: url.clone(), ready: 3, total: 3 },
        ],
        "no stop on the way"
    );
    ui.quit().await;
}

#[tokio::test]
async fn the_model_list_shows_cooldowns_and_the_last_error_while_running() {
    // Deployment 0 answers 429 (tried first: lower order) and cools down; 1 answers.
    let files = Files::new(
        "model_list:\n  - model_name: m\n    litellm_params: {model: mock/one, mock_response: litellm.RateLimitError, order: 1}\n  - model_name: m\n    litellm_params: {model: mock/two, order: 2}\nlitellm_settings:\n  num_retries: 1\nrouter_settings:\n  cooldown_time: 60\n",
    );
    let mut ui = launch(&files, Arc::new(FakeLogin::default()));
    ui.send(Command::Start);
    let (url, s) = ui.running().await;
    assert_eq!((s.models[0].deployments, s.models[0].cooling), (2, 0));
    let (status, body) = chat(&url, "m").await;
    assert_eq!(status, 200, "{body}");
    // No command: the controller reads the list again by itself.
    let s = ui.until("a cooling model", |s| s.models.first().is_some_and(|m| m.cooling == 1)).await;
    let err = s.models[0].last_error.clone().expect("the 429 is shown");
    assert!(err.starts_with("429: mock rate limit error"), "{err}");
    let menu = crate::tray::menu::build(&s, "0.1.0");
    let text = crate::tray::menu::render(&menu);
    assert!(text.contains("m — mock (1 of 2 cooling down)"), "{text}");
    assert!(text.contains("last error: 429: mock rate limit error"), "{text}");
    ui.quit().await;
}

#[tokio::test]
async fn the_menu_shows_todays_usage_from_the_request_log() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut files = Files::new(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: mock/echo\n    model_info:\n      input_cost_per_token: 0.001\n      output_cost_per_token: 0.002\n",
    );
    files.home = Some(home.path().to_owned());
    let mut ui = launch(&files, Arc::new(FakeLogin::default()));
    ui.send(Command::Start);
    let (url, s) = ui.running().await;
    assert_eq!(s.today.as_ref().map(Vec::len).unwrap_or(0), 0, "nothing yet");
    let (status, body) = chat(&url, "m").await;
    assert_eq!(status, 200, "{body}");
    // No command: the controller reads the log again by itself.
    let s = ui
        .until("today's call", |s| {
            s.today.as_ref().is_some_and(|t| t.iter().any(|m| m.model == "m" && m.requests == 1))
        })
        .await;
    let text = crate::tray::menu::render(&crate::tray::menu::build(&s, "0.1.0"));
    assert!(text.contains("Today: 1 request · "), "{text}");
    assert!(text.contains("        today: 1 request · "), "{text}");
    assert!(!text.contains("cost unknown"), "priced by model_info: {text}");
    ui.quit().await;
}

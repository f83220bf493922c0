//! The tray controller (library API) against the DashScope mock: Stop while a stream is
//! running refuses new connections but lets the stream finish.

use std::sync::Arc;
use std::time::Duration;

use ai_proxy::config::{self, Env, Source};
use ai_proxy::tray::controller::{Command, Controller, Loaded, LoginItem};
use ai_proxy::tray::menu::{LoginState, Snapshot, Status};
use serde_json::json;
use tokio::sync::mpsc::unbounded_channel;

use crate::support::{MockUpstream, client, dashscope, sse_data};

struct NoLogin;

impl LoginItem for NoLogin {
    fn state(&self) -> Result<LoginState, String> {
        Ok(LoginState::Off)
    }
    fn set_enabled(&self, _: bool) -> Result<(), String> {
        Ok(())
    }
}

async fn next(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Snapshot>,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(s)) if pred(&s) => return s,
            Ok(Some(_)) => {}
            Ok(None) => panic!("controller ended while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[tokio::test]
async fn stop_during_a_stream_lets_it_finish() {
    let up = MockUpstream::start(dashscope::router());
    let yaml = format!(
        "model_list:\n  - model_name: qwen-trickle\n    litellm_params:\n      model: dashscope/qwen-trickle\n      api_base: {}/compatible-mode/v1\n      api_key: {}\n",
        up.url(),
        dashscope::KEY
    );
    let loader = Arc::new(move || {
        let config =
            config::load(&yaml, Source::Embedded, Env::default()).map_err(|e| e.to_string())?;
        Ok(Loaded {
            egress: ai_proxy::egress::Egress::new(&config.env),
            config,
            host: "127.0.0.1".into(),
            port: 0,
            config_dir: None,
        })
    });
    let (tx, cmd_rx) = unbounded_channel();
    let (snap_tx, mut rx) = unbounded_channel();
    let controller = Controller::new(
        loader,
        Arc::new(NoLogin),
        Duration::from_secs(10),
        Box::new(move |s| {
            let _ = snap_tx.send(s);
        }),
    );
    let task = tokio::spawn(controller.run(cmd_rx));
    tx.send(Command::Start).expect("send");
    let running = next(&mut rx, "Running", |s| matches!(s.status, Status::Running { .. })).await;
    let url = running.url().expect("url").to_owned();

    let mut resp = client()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "qwen-trickle", "stream": true,
                      "messages": [{"role": "user", "content": "one two three four five six"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.expect("read").expect("a first chunk");
    let mut body = String::from_utf8_lossy(&first).into_owned();

    tx.send(Command::Stop).expect("send");
    next(&mut rx, "Stopping", |s| s.status == Status::Stopping).await;
    // New connections are refused while the stream drains.
    assert!(
        client().get(format!("{url}/health/readiness")).send().await.is_err(),
        "a stopping gateway accepts no new connections"
    );
    while let Some(chunk) = resp.chunk().await.expect("the stream is not cut") {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    let text: String = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "Qwen says: one two three four five six");

    next(&mut rx, "Stopped", |s| s.status == Status::Stopped).await;
    tx.send(Command::Quit).expect("send");
    next(&mut rx, "exiting", |s| s.exiting).await;
    task.await.expect("controller");
}

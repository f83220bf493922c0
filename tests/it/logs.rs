//! File logging through the real binary: the start-up line names the log file, request
//! lines land in it, and secrets never do.

use serde_json::json;

use crate::support::{Gateway, client};

#[tokio::test]
async fn serve_logs_to_a_file_in_the_state_folder_without_secrets() {
    let key = "sk-file-log-master-key";
    let gw = Gateway::builder(
        "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/echo\n",
    )
    .env("LITELLM_MASTER_KEY", key)
    .start();
    let status = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "mock", "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .expect("send")
        .status();
    assert_eq!(status, 200);
    let wrong = client()
        .get(gw.url("/v1/models"))
        .bearer_auth("sk-wrong-key-in-a-request")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 401);

    // The harness sets HOME to a temporary folder: logs go to the platform folder in it.
    let folder =
        if cfg!(target_os = "macos") { "Library/Logs/ai-proxy" } else { ".local/state/ai-proxy" };
    let log = gw.dir.path().join(folder).join("ai-proxy.log");
    let text = std::fs::read_to_string(&log).expect("log file written");
    assert!(text.contains("chat model=mock provider=mock status=200"), "the request line: {text}");
    assert!(text.contains("master key from"), "{text}");
    assert!(!text.contains(key), "the master key is never logged:\n{text}");
    assert!(!text.contains("sk-wrong-key-in-a-request"), "client keys are never logged:\n{text}");
    assert!(!text.contains('\u{1b}'), "no terminal colours in the file");
}

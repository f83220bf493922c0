//! What today's clients send and expect, through the real binary: Claude Code's probes and
//! request fields (`HEAD /`, `?beta=true`, adaptive thinking with `output_config.effort`,
//! structured output), server-held threads and `previous_response_id` answered so SDKs fall
//! back to sending the whole conversation, model lists without wildcard patterns, 405s with
//! a body, and client headers never reaching the upstream.

use serde_json::{Value, json};

use crate::support::{Gateway, MockUpstream, client, dashscope};

const KEY: &str = "sk-fidelity-master";

fn start(upstream: &MockUpstream) -> Gateway {
    let base = format!("{}/compatible-mode/v1", upstream.url());
    let cfg = format!(
        "model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/echo\n  - model_name: \"claude-*\"\n    litellm_params:\n      model: mock/claude-stand-in\n  - model_name: qwen-plus\n    litellm_params:\n      model: dashscope/qwen-plus\n      api_base: {base}\n"
    );
    Gateway::builder(&cfg)
        .env("LITELLM_MASTER_KEY", KEY)
        .env("DASHSCOPE_API_KEY", dashscope::KEY)
        .start()
}

async fn messages(gw: &Gateway, path: &str, body: Value) -> (u16, String) {
    let r = client()
        .post(gw.url(path))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "message-threads-2026-08-12,context-1m-2025-08-07")
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn claude_codes_probe_and_beta_query_are_answered() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let head = client().head(gw.url("/")).send().await.expect("head");
    assert_eq!(head.status(), 200);
    let get = client().get(gw.url("/")).send().await.expect("get");
    assert_eq!(get.status(), 200);
    assert_eq!(json_of(&get.text().await.expect("body"))["name"], "ai-proxy");

    let (s, b) = messages(
        &gw,
        "/v1/messages?beta=true",
        json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(json_of(&b)["content"][0]["text"], "You said: hi");
}

#[tokio::test]
async fn wrong_methods_get_405_with_a_body_in_the_dialect() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let r =
        client().get(gw.url("/v1/chat/completions")).bearer_auth(KEY).send().await.expect("get");
    assert_eq!(r.status(), 405);
    let v = json_of(&r.text().await.expect("body"));
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("answers POST")), "{v}");
    let r =
        client().get(gw.url("/v1/messages")).header("x-api-key", KEY).send().await.expect("get");
    assert_eq!(r.status(), 405);
    let v = json_of(&r.text().await.expect("body"));
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn model_lists_name_concrete_aliases_in_either_shape() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let openai = json_of(
        &client()
            .get(gw.url("/v1/models"))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("list")
            .text()
            .await
            .expect("body"),
    );
    let ids: Vec<&str> =
        openai["data"].as_array().expect("data").iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["mock", "qwen-plus"]);
    assert_eq!(openai["object"], "list");
    assert_eq!(openai["wildcard_patterns"], json!(["claude-*"]));

    let anthropic = json_of(
        &client()
            .get(gw.url("/v1/models"))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .expect("list")
            .text()
            .await
            .expect("body"),
    );
    assert_eq!(
        anthropic["data"][0],
        json!({"type": "model", "id": "mock", "display_name": "mock", "created_at": "2023-02-28T18:56:42Z"})
    );
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(anthropic["first_id"], "mock");
    assert_eq!(anthropic["last_id"], "qwen-plus");

    // One model: a name a wildcard matches is served; an unknown one is a 404.
    let one = client()
        .get(gw.url("/v1/models/claude-opus-4-5"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("get");
    assert_eq!(one.status(), 200);
    assert_eq!(json_of(&one.text().await.expect("body"))["id"], "claude-opus-4-5");
    let none =
        client().get(gw.url("/v1/models/gpt-nope")).bearer_auth(KEY).send().await.expect("get");
    assert_eq!(none.status(), 404);
}

#[tokio::test]
async fn adaptive_thinking_effort_and_structured_output_reach_the_upstream() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let (s, b) = messages(
        &gw,
        "/v1/messages",
        json!({
            "model": "qwen-plus", "max_tokens": 2000, "stream": true,
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
            "messages": [{"role": "user", "content": "think about it"}]
        }),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("\"type\":\"thinking_delta\""), "Qwen thought: {b}");
    // message_start carries an estimate of the input, not 0.
    let start = b
        .lines()
        .find(|l| l.contains("\"message_start\"") && l.starts_with("data: "))
        .expect("message_start");
    let start = json_of(start.trim_start_matches("data: "));
    assert!(start["message"]["usage"]["input_tokens"].as_u64().is_some_and(|n| n > 0), "{start}");
    let sent = up.last();
    let body = sent.json();
    assert_eq!(body["enable_thinking"], true, "{body}");
    assert_eq!(body["thinking_budget"], 16384, "{body}");
    // The client's Anthropic headers stay here.
    assert!(sent.header("anthropic-beta").is_none() && sent.header("anthropic-version").is_none());
    assert!(sent.header("x-api-key").is_none());

    let schema =
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let (s, b) = messages(
        &gw,
        "/v1/messages",
        json!({
            "model": "qwen-plus", "max_tokens": 200,
            "output_config": {"format": {"type": "json_schema", "schema": schema}},
            "messages": [{"role": "user", "content": "Ann"}]
        }),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let body = up.last().json();
    assert_eq!(body["response_format"]["type"], "json_schema", "{body}");
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
    assert!(body.get("enable_thinking").is_none(), "no thinking asked: {body}");
}

#[tokio::test]
async fn max_tokens_over_the_models_ceiling_is_lowered_not_refused() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let (s, b) = messages(
        &gw,
        "/v1/messages",
        json!({"model": "qwen-plus", "max_tokens": 64000, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(up.last().json()["max_tokens"], 32768, "qwen-plus writes at most 32,768 tokens");
}

#[tokio::test]
async fn threads_are_answered_so_sdks_replay_and_max_tokens_is_required() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let turn = |thread: Value| json!({"model": "mock", "max_tokens": 50, "thread": thread, "messages": [{"role": "user", "content": "hi"}]});
    let (s, b) = messages(&gw, "/v1/messages", turn(json!({"type": "create"}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = messages(
        &gw,
        "/v1/messages",
        turn(json!({"type": "continue", "previous_message_id": "msg_01abc"})),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    let v = json_of(&b);
    assert_eq!(v["error"]["type"], "not_found_error");
    assert_eq!(v["error"]["details"]["error_code"], "thread_not_found");
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("msg_01abc")), "{v}");
    let (s, _) = messages(&gw, "/v1/messages", turn(json!({"type": "fork"}))).await;
    assert_eq!(s, 400);

    let (s, b) = messages(
        &gw,
        "/v1/messages",
        json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(json_of(&b)["error"]["message"], "max_tokens: Field required");
    // count_tokens takes no max_tokens.
    let (s, b) = messages(
        &gw,
        "/v1/messages/count_tokens",
        json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn an_unknown_previous_response_is_openais_not_found_code() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let r = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth(KEY)
        .json(&json!({"model": "mock", "input": "hi", "previous_response_id": "resp_123"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let v = json_of(&r.text().await.expect("body"));
    assert_eq!(v["error"]["code"], "previous_response_not_found");
    assert_eq!(v["error"]["param"], "previous_response_id");
    assert!(
        v["error"]["message"].as_str().is_some_and(|m| m.contains("'resp_123' not found")),
        "{v}"
    );
}

#[tokio::test]
async fn compaction_works_without_server_state() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let post = |path: &'static str, body: Value| {
        let url = gw.url(path);
        async move {
            let r = client().post(url).bearer_auth(KEY).json(&body).send().await.expect("send");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    // Codex's remote compaction: a streamed /v1/responses whose input ends with a trigger
    // gets exactly one `compaction` output item, then response.completed.
    let (s, b) = post(
        "/v1/responses",
        json!({"model": "qwen-plus", "stream": true, "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}],
            "input": [{"type": "message", "role": "user", "content": "fix the build"}, {"type": "compaction_trigger"}]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let items: Vec<Value> = b
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(json_of)
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| e["item"].clone())
        .collect();
    assert_eq!(items.len(), 1, "{b}");
    assert_eq!(items[0]["type"], "compaction");
    assert!(b.contains("response.completed"), "{b}");
    let sent = up.last().json();
    assert!(sent.get("tools").is_none(), "a summary needs no tools: {sent}");
    let content = items[0]["encrypted_content"].as_str().expect("content").to_owned();

    // The item sent back: the upstream sees the summary as a message.
    let (s, b) = post(
        "/v1/responses",
        json!({"model": "qwen-plus", "input": [{"type": "compaction", "encrypted_content": content}, {"type": "message", "role": "user", "content": "go on"}]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let sent = up.last().json();
    let first = sent["messages"][0]["content"].as_str().expect("text");
    assert!(first.starts_with("Summary of the earlier conversation (compacted):\n"), "{sent}");

    // The /v1/responses/compact endpoint: the user's messages, then the compaction item.
    let (s, b) = post(
        "/v1/responses/compact",
        json!({"model": "mock", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the build"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]}
        ]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let v = json_of(&b);
    assert_eq!(v["object"], "response.compaction");
    let kinds: Vec<&str> = v["output"]
        .as_array()
        .expect("output")
        .iter()
        .map(|i| i["type"].as_str().unwrap_or("message"))
        .collect();
    assert_eq!(kinds, ["message", "compaction"], "{v}");
    assert_eq!(v["output"][0]["role"], "user");
}

#[tokio::test]
async fn silent_streams_get_keep_alives_in_each_dialect() {
    let up = MockUpstream::start(dashscope::router());
    let base = format!("{}/compatible-mode/v1", up.url());
    // `qwen-stall` sends two frames, then nothing for 30 s: the stream timeout (2 s) ends it,
    // and keep-alives go out every 0.3 s meanwhile.
    let cfg = format!(
        "model_list:\n  - model_name: stall\n    litellm_params:\n      model: dashscope/qwen-stall\n      api_base: {base}\n      stream_timeout: 2\ngeneral_settings:\n  stream_keep_alive_interval: 0.3\n"
    );
    let gw = Gateway::builder(&cfg).env("DASHSCOPE_API_KEY", dashscope::KEY).start();
    let ask = |path: &'static str, body: Value| {
        let url = gw.url(path);
        async move {
            client().post(url).json(&body).send().await.expect("send").text().await.expect("body")
        }
    };
    let user = json!([{"role": "user", "content": "hi"}]);
    let openai =
        ask("/v1/chat/completions", json!({"model": "stall", "stream": true, "messages": user}))
            .await;
    assert!(openai.matches(": keep-alive\n\n").count() >= 2, "{openai}");
    let anthropic = ask(
        "/v1/messages",
        json!({"model": "stall", "stream": true, "max_tokens": 20, "messages": user}),
    )
    .await;
    assert!(
        anthropic.matches("event: ping\ndata: {\"type\":\"ping\"}\n\n").count() >= 2,
        "{anthropic}"
    );
    let start = anthropic.find("event: message_start").expect("message_start");
    assert!(
        start < anthropic.find("event: ping").expect("ping"),
        "message_start comes first: {anthropic}"
    );
    let responses =
        ask("/v1/responses", json!({"model": "stall", "stream": true, "input": "hi"})).await;
    assert!(responses.matches(": keep-alive\n\n").count() >= 2, "{responses}");
    // The silence still ends with the stream timeout's error, not as a complete answer.
    assert!(openai.contains("sent nothing for") && !openai.contains("[DONE]"), "{openai}");
}

#[tokio::test]
async fn an_upstream_slow_to_answer_at_all_gets_the_stream_started_with_keep_alives() {
    let up = MockUpstream::start(dashscope::router());
    let base = format!("{}/compatible-mode/v1", up.url());
    // `qwen-slow` sends no response head for 3 s. With `timeout: 1` the call then fails:
    // after the stream began, that is an error event, not a 504.
    let cfg = format!(
        "model_list:\n  - model_name: slow\n    litellm_params:\n      model: dashscope/qwen-slow\n      api_base: {base}\n  - model_name: too-slow\n    litellm_params:\n      model: dashscope/qwen-slow\n      api_base: {base}\n      timeout: 1\ngeneral_settings:\n  stream_keep_alive_interval: 0.3\n"
    );
    let gw = Gateway::builder(&cfg).env("DASHSCOPE_API_KEY", dashscope::KEY).start();
    let ask = |path: &'static str, body: Value| {
        let url = gw.url(path);
        async move {
            let r = client().post(url).json(&body).send().await.expect("send");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    let user = json!([{"role": "user", "content": "hi"}]);
    let (s, openai) =
        ask("/v1/chat/completions", json!({"model": "slow", "stream": true, "messages": user}))
            .await;
    assert_eq!(s, 200);
    assert!(openai.starts_with(": keep-alive\n\n"), "{openai}");
    assert!(openai.contains("says: ") && openai.ends_with("data: [DONE]\n\n"), "{openai}");

    let (s, anthropic) = ask(
        "/v1/messages",
        json!({"model": "slow", "stream": true, "max_tokens": 20, "messages": user}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(anthropic.starts_with("event: message_start"), "{anthropic}");
    assert!(
        anthropic.contains("event: ping") && anthropic.contains("event: message_stop"),
        "{anthropic}"
    );
    assert_eq!(anthropic.matches("event: message_start").count(), 1, "{anthropic}");

    let (s, failed) =
        ask("/v1/chat/completions", json!({"model": "too-slow", "stream": true, "messages": user}))
            .await;
    assert_eq!(s, 200);
    assert!(failed.starts_with(": keep-alive"), "{failed}");
    assert!(
        failed.contains("\"error\"")
            && failed.contains("did not answer within 1s")
            && !failed.contains("[DONE]"),
        "{failed}"
    );
    let log = gw.stderr_with("model=too-slow");
    assert!(log.contains("stream_error="), "{log}");
}

//! The Anthropic Messages API through the real binary: the mock model and the DashScope mock
//! (its real wire format, streamed tool calls included), errors in Anthropic's shape.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Gateway, MockUpstream, client, dashscope};

const KEY: &str = "sk-anthropic-test-master";

fn start(upstream: &MockUpstream) -> Gateway {
    let base = format!("{}/compatible-mode/v1", upstream.url());
    let cfg = format!(
        r#"
model_list:
  - model_name: mock
    litellm_params:
      model: mock/echo
  - model_name: "claude-*"
    litellm_params:
      model: mock/claude-stand-in
  - model_name: claude-opus-exact
    litellm_params:
      model: dashscope/qwen-max
      api_base: {base}
  - model_name: qwen-max
    litellm_params:
      model: dashscope/qwen-max
      api_base: {base}
  - model_name: qwen-plus
    litellm_params:
      model: dashscope/qwen-plus
      api_base: {base}
  - model_name: qwen-429
    litellm_params:
      model: dashscope/qwen-429
      api_base: {base}
  - model_name: qwen-break
    litellm_params:
      model: dashscope/qwen-break
      api_base: {base}
"#
    );
    Gateway::builder(&cfg)
        .env("LITELLM_MASTER_KEY", KEY)
        .env("DASHSCOPE_API_KEY", dashscope::KEY)
        .start()
}

async fn post(gw: &Gateway, path: &str, body: Value) -> (u16, String) {
    let r = client()
        .post(gw.url(path))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
        )
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

/// `(event name, data)` pairs of an Anthropic SSE body; checks that `event:` matches `type`.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name =
                e.lines().find_map(|l| l.strip_prefix("event: ")).expect("event line").to_owned();
            let data =
                json_of(e.lines().find_map(|l| l.strip_prefix("data: ")).expect("data line"));
            assert_eq!(data["type"], name.as_str(), "{e}");
            (name, data)
        })
        .collect()
}

/// Content blocks accumulated from stream events (tool inputs parsed).
fn accumulate(evs: &[(String, Value)]) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for (name, d) in evs {
        match name.as_str() {
            "content_block_start" => {
                blocks.push(d["content_block"].clone());
                parts.push(String::new());
            }
            "content_block_delta" => {
                let i = d["index"].as_u64().expect("index") as usize;
                let delta = &d["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let t = blocks[i]["text"].as_str().unwrap_or_default().to_owned();
                        blocks[i]["text"] = json!(t + delta["text"].as_str().unwrap_or_default());
                    }
                    Some("thinking_delta") => {
                        let t = blocks[i]["thinking"].as_str().unwrap_or_default().to_owned();
                        blocks[i]["thinking"] =
                            json!(t + delta["thinking"].as_str().unwrap_or_default());
                    }
                    Some("input_json_delta") => {
                        parts[i].push_str(delta["partial_json"].as_str().unwrap_or_default())
                    }
                    other => panic!("unexpected delta {other:?}"),
                }
            }
            "content_block_stop" => {
                let i = d["index"].as_u64().expect("index") as usize;
                if blocks[i]["type"] == "tool_use" && !parts[i].is_empty() {
                    blocks[i]["input"] = json_of(&parts[i]);
                }
            }
            _ => {}
        }
    }
    blocks
}

fn weather_tools() -> Value {
    json!([
        {"name": "get_weather", "description": "Weather for a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}}}
    ])
}

#[tokio::test]
async fn mock_model_answers_in_anthropic_shape_with_the_alias() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    // Claude Code posts to `/v1/messages?beta=true`.
    for path in ["/v1/messages", "/messages", "/v1/messages?beta=true"] {
        let (status, body) = post(
            &gw,
            path,
            json!({"model": "claude-sonnet-4-5-20250929", "max_tokens": 100, "system": "be brief",
                   "messages": [{"role": "user", "content": "hello there"}]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let v = json_of(&body);
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(
            v["model"], "claude-sonnet-4-5-20250929",
            "the wildcard alias the client asked for"
        );
        assert!(v["id"].as_str().expect("id").starts_with("msg_"));
        assert_eq!(v["content"], json!([{"type": "text", "text": "You said: hello there"}]));
        assert_eq!(v["stop_reason"], "end_turn");
        assert_eq!(v["stop_sequence"], Value::Null);
        assert_eq!(v["usage"]["output_tokens"], 4);
        assert!(v["usage"]["input_tokens"].as_u64().expect("input") > 0);
    }
    // An exact alias wins over the `claude-*` wildcard.
    let (status, body) = post(
        &gw,
        "/v1/messages",
        json!({"model": "claude-opus-exact", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["content"][0]["text"], "Qwen says: hi");
}

#[tokio::test]
async fn mock_stream_has_anthropics_event_sequence() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let (status, body) = post(
        &gw,
        "/v1/messages",
        json!({"model": "mock", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "one two three"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let evs = events(&body);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[names.len() - 3..], ["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(evs[0].1["message"]["model"], "mock");
    assert_eq!(accumulate(&evs), vec![json!({"type": "text", "text": "You said: one two three"})]);
    let delta = &evs[evs.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn mock_tool_round_trip_streamed_and_not() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let first = json!({"model": "mock", "max_tokens": 100, "tools": weather_tools(),
                       "messages": [{"role": "user", "content": "Paris"}]});
    let (status, body) = post(&gw, "/v1/messages", first.clone()).await;
    assert_eq!(status, 200, "{body}");
    let v = json_of(&body);
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][0], json!({"type": "text", "text": "Calling get_weather."}));
    let call = &v["content"][1];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "Paris"}));

    let mut streamed = first.clone();
    streamed["stream"] = json!(true);
    let (_, body) = post(&gw, "/v1/messages", streamed).await;
    let evs = events(&body);
    assert_eq!(
        accumulate(&evs),
        v["content"].as_array().expect("content").clone(),
        "stream = non-stream"
    );
    let json_deltas = evs.iter().filter(|(_, d)| d["delta"]["type"] == "input_json_delta").count();
    assert!(json_deltas >= 2, "arguments arrive in fragments: {body}");

    let id = call["id"].as_str().expect("id");
    let mut second = first;
    second["messages"] = json!([
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": v["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "18C and sunny"}]}
    ]);
    let (status, body) = post(&gw, "/v1/messages", second).await;
    assert_eq!(status, 200, "{body}");
    let v = json_of(&body);
    assert_eq!(v["content"][0]["text"], "The get_weather tool returned: 18C and sunny");
    assert_eq!(v["stop_reason"], "end_turn");
}

#[tokio::test]
async fn dashscope_streamed_tool_calls_and_ids_round_trip() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let first = json!({"model": "qwen-max", "max_tokens": 500, "stream": true, "tools": weather_tools(),
                       "tool_choice": {"type": "auto"},
                       "messages": [{"role": "user", "content": "杭州"}]});
    let (status, body) = post(&gw, "/v1/messages", first.clone()).await;
    assert_eq!(status, 200, "{body}");
    let evs = events(&body);
    let blocks = accumulate(&evs);
    assert_eq!(blocks.len(), 3, "text, then two tool calls: {body}");
    assert_eq!(blocks[0], json!({"type": "text", "text": "I'll use the tools."}));
    assert_eq!(blocks[1]["name"], "get_weather");
    assert_eq!(blocks[1]["input"], json!({"city": "杭州"}));
    assert_eq!(blocks[2]["name"], "get_time");
    assert_eq!(blocks[2]["input"], json!({"tz": "杭州"}));
    let stop = evs.iter().find(|(n, _)| n == "message_delta").expect("message_delta");
    assert_eq!(stop.1["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        stop.1["usage"],
        json!({"input_tokens": 22, "output_tokens": 17, "cache_read_input_tokens": 0})
    );
    let sent = up.last().json();
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(sent["tool_choice"], "auto");

    let ids: Vec<&str> = blocks[1..].iter().map(|b| b["id"].as_str().expect("id")).collect();
    let mut second = first;
    second["messages"] = json!([
        {"role": "user", "content": "杭州"},
        {"role": "assistant", "content": blocks},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": ids[0], "content": "sunny"},
            {"type": "tool_result", "tool_use_id": ids[1], "content": [{"type": "text", "text": "noon"}]}]}
    ]);
    let (status, body) = post(&gw, "/v1/messages", second).await;
    assert_eq!(status, 200, "the mock checks tool_call_ids like DashScope: {body}");
    assert_eq!(accumulate(&events(&body))[0]["text"], "Qwen got: sunny; noon");
    let sent = up.last().json();
    let msgs = sent["messages"].as_array().expect("messages");
    assert_eq!(msgs[1]["tool_calls"][0]["id"], ids[0]);
    assert_eq!(msgs[2]["tool_call_id"], ids[0]);
    assert_eq!(msgs[3]["tool_call_id"], ids[1]);

    // An id the gateway never handed out is refused by the upstream, and the 400 comes back
    // in Anthropic's shape.
    let bad = json!({"model": "qwen-max", "max_tokens": 10, "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_other", "content": "?"}]}]});
    let (status, body) = post(&gw, "/v1/messages", bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json_of(&body)["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn thinking_becomes_qwen_enable_thinking_and_thinking_blocks() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let (status, body) = post(
        &gw,
        "/v1/messages",
        json!({"model": "qwen-plus", "max_tokens": 4000, "stream": true, "top_k": 20,
               "thinking": {"type": "enabled", "budget_tokens": 2048},
               "messages": [{"role": "user", "content": "why"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let blocks = accumulate(&events(&body));
    assert_eq!(blocks[0]["type"], "thinking");
    assert_eq!(blocks[0]["thinking"], "Let me think.");
    assert_eq!(blocks[1], json!({"type": "text", "text": "Qwen says: why"}));
    let sent = up.last().json();
    assert_eq!(sent["enable_thinking"], true);
    assert_eq!(sent["thinking_budget"], 2048);
    assert_eq!(sent["top_k"], 20);
    assert!(sent.get("reasoning_effort").is_none(), "DashScope rejects reasoning_effort: {sent}");

    // Not streamed by the client: DashScope still only thinks on streams, so the gateway
    // streams upstream and the answer keeps its thinking block.
    let (status, body) = post(
        &gw,
        "/v1/messages",
        json!({"model": "qwen-plus", "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2048},
               "messages": [{"role": "user", "content": "why"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v = json_of(&body);
    assert_eq!(v["content"][0]["type"], "thinking", "{body}");
    assert_eq!(v["content"][0]["thinking"], "Let me think.");
    assert_eq!(v["content"][1], json!({"type": "text", "text": "Qwen says: why"}));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(up.last().json()["stream"], true);
}

#[tokio::test]
async fn errors_come_in_anthropics_shape() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let check = |status: u16, body: &str, want_status: u16, want_type: &str| {
        assert_eq!(status, want_status, "{body}");
        let v = json_of(body);
        assert_eq!(v["type"], "error", "{body}");
        assert_eq!(v["error"]["type"], want_type, "{body}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    };
    let msg =
        json!({"model": "mock", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});

    let r = client().post(gw.url("/v1/messages")).json(&msg).send().await.expect("send");
    let s = r.status().as_u16();
    check(s, &r.text().await.expect("body"), 401, "authentication_error");
    let r = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", "sk-wrong")
        .json(&msg)
        .send()
        .await
        .expect("send");
    let s = r.status().as_u16();
    check(s, &r.text().await.expect("body"), 401, "authentication_error");

    let r = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", KEY)
        .header("content-type", "application/json")
        .body(r#"{"model": "mock", "messages": ["#)
        .send()
        .await
        .expect("send");
    let s = r.status().as_u16();
    check(s, &r.text().await.expect("body"), 400, "invalid_request_error");

    let (s, b) = post(&gw, "/v1/messages", json!({"model": "mock", "max_tokens": 1})).await;
    check(s, &b, 400, "invalid_request_error");
    assert!(b.contains("messages"), "{b}");

    let (s, b) = post(&gw, "/v1/messages", json!({"model": "gpt-nope", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]})).await;
    check(s, &b, 400, "invalid_request_error");
    assert!(b.contains("gpt-nope"), "{b}");

    // Server tools are left out (the model answers without them); Anthropic's built-in
    // client tools, whose definitions only its models carry, are refused.
    let mut web = msg.clone();
    web["tools"] = json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]);
    let (s, b) = post(&gw, "/v1/messages", web).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(json_of(&b)["content"][0]["text"], "You said: x");
    let mut bash = msg.clone();
    bash["tools"] = json!([{"type": "bash_20250124", "name": "bash"}]);
    let (s, b) = post(&gw, "/v1/messages", bash).await;
    check(s, &b, 400, "invalid_request_error");
    assert!(b.contains("bash"), "{b}");

    let (s, b) = post(&gw, "/v1/messages", json!({"model": "qwen-429", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})).await;
    check(s, &b, 429, "rate_limit_error");

    let (s, b) = post(&gw, "/v1/nothing-here", json!({})).await;
    assert_eq!(s, 404, "{b}");
}

#[tokio::test]
async fn a_stream_failing_midway_ends_with_an_error_event() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let fut = post(
        &gw,
        "/v1/messages",
        json!({"model": "qwen-break", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "a b c"}]}),
    );
    let (status, body) = tokio::time::timeout(Duration::from_secs(15), fut).await.expect("no hang");
    assert_eq!(status, 200);
    let evs = events(&body);
    assert_eq!(evs.first().map(|(n, _)| n.as_str()), Some("message_start"));
    let (name, data) = evs.last().expect("events");
    assert_eq!(name, "error", "{body}");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(!body.contains("message_stop"), "an error is not a normal end: {body}");
}

#[tokio::test]
async fn count_tokens_estimates_locally() {
    let up = MockUpstream::start(dashscope::router());
    let gw = start(&up);
    let short = json!({"model": "claude-haiku-4-5-20251001", "messages": [{"role": "user", "content": "Hello, world!"}]});
    let (s, b) = post(&gw, "/v1/messages/count_tokens", short).await;
    assert_eq!(s, 200, "{b}");
    // o200k_base: "Hello, world!" is 4 tokens, + 3 for the message + 3 reply priming.
    assert_eq!(json_of(&b), json!({"input_tokens": 10}));

    let long = json!({"model": "qwen-max", "system": "You are a helpful assistant.", "tools": weather_tools(),
                      "messages": [{"role": "user", "content": "Hello, world!"}]});
    let (s, b) = post(&gw, "/v1/messages/count_tokens", long).await;
    assert_eq!(s, 200, "{b}");
    assert!(json_of(&b)["input_tokens"].as_u64().expect("n") > 30, "{b}");
    assert!(up.requests().is_empty(), "counting does not call the upstream");

    let (s, b) =
        post(&gw, "/v1/messages/count_tokens", json!({"model": "nope", "messages": []})).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(json_of(&b)["type"], "error");
}

#[tokio::test]
async fn claude_names_on_an_azure_reasoning_model_get_reasoning_effort() {
    let up = MockUpstream::start(crate::support::azure::router());
    let cfg = format!(
        r#"
model_list:
  - model_name: "claude-*"
    litellm_params:
      model: azure/gpt-5-mini
      api_base: {}
      api_key: {}
      api_version: "2025-04-01-preview"
"#,
        up.url(),
        crate::support::azure::KEY
    );
    let gw = Gateway::builder(&cfg).env("LITELLM_MASTER_KEY", KEY).start();
    for stream in [false, true] {
        let (status, body) = post(
            &gw,
            "/v1/messages",
            json!({"model": "claude-opus-4-1-20250805", "max_tokens": 20000, "temperature": 1, "top_k": 5,
                   "stream": stream, "thinking": {"type": "enabled", "budget_tokens": 12000},
                   "messages": [{"role": "user", "content": "hello azure"}]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let text = if stream {
            let evs = events(&body);
            assert_eq!(evs.last().map(|(n, _)| n.as_str()), Some("message_stop"), "{body}");
            accumulate(&evs)
                .iter()
                .filter_map(|b| b["text"].as_str().map(str::to_owned))
                .collect::<String>()
        } else {
            let v = json_of(&body);
            assert_eq!(v["model"], "claude-opus-4-1-20250805");
            v["content"]
                .as_array()
                .expect("content")
                .iter()
                .filter_map(|b| b["text"].as_str().map(str::to_owned))
                .collect()
        };
        assert!(!text.is_empty(), "{body}");
        let sent = up.last().json();
        assert_eq!(sent["reasoning_effort"], "medium", "{sent}");
        assert_eq!(sent["max_completion_tokens"], 20000, "{sent}");
        assert!(sent.get("max_tokens").is_none() && sent.get("top_k").is_none(), "{sent}");
    }
}

#[tokio::test]
async fn thinking_on_a_model_without_reasoning_is_dropped_not_refused() {
    let up = MockUpstream::start(crate::support::azure::router());
    let cfg = format!(
        "model_list:\n  - model_name: \"claude-*\"\n    litellm_params:\n      model: azure/gpt-4o\n      api_base: {}\n      api_key: {}\n",
        up.url(),
        crate::support::azure::KEY
    );
    let gw = Gateway::builder(&cfg).env("LITELLM_MASTER_KEY", KEY).start();
    let (status, body) = post(
        &gw,
        "/v1/messages",
        json!({"model": "claude-sonnet-4-5", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024},
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sent = up.last().json();
    assert!(sent.get("reasoning_effort").is_none(), "{sent}");
    assert_eq!(sent["max_tokens"], 2000, "{sent}");
}

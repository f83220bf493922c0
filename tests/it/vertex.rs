//! The Vertex AI provider through the real binary, against the mock Google OAuth endpoint and
//! the strict mock Vertex (`support::google`): both credential kinds, token caching, refresh
//! and single flight, the 401 retry, chat / stream / tools / thought signatures, embeddings,
//! and the error mappings.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::google::{self, MockState};
use crate::support::{Gateway, MockUpstream, client, sse_data};

const KEY: &str = "sk-vertex-test-key";

struct Setup {
    up: MockUpstream,
    state: Arc<MockState>,
    creds: tempfile::TempDir,
}

fn setup() -> Setup {
    let state = Arc::new(MockState::default());
    let up = MockUpstream::start(google::router_with(state.clone()));
    Setup { up, state, creds: tempfile::tempdir().expect("tmp") }
}

impl Setup {
    fn token_uri(&self) -> String {
        format!("{}/token", self.up.url())
    }

    /// A service-account key file registered with the mock.
    fn sa_file(&self) -> String {
        let path = self.creds.path().join("sa.json");
        std::fs::write(
            &path,
            self.state.service_account(&self.token_uri(), "gateway@proj.iam.gserviceaccount.com"),
        )
        .expect("write key");
        path.to_string_lossy().into_owned()
    }

    /// A gcloud config dir with an ADC file for a user.
    fn adc_dir(&self, refresh_token: &str) -> String {
        let dir = self.creds.path().join("gcloud");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("application_default_credentials.json"),
            google::authorized_user(&self.token_uri(), refresh_token),
        )
        .expect("write adc");
        dir.to_string_lossy().into_owned()
    }

    fn config(&self) -> String {
        let base = self.up.url();
        let model = |alias: &str, model: &str, extra: &str| {
            format!(
                "  - model_name: {alias}\n    litellm_params:\n      model: vertex_ai/{model}\n      api_base: {base}\n      vertex_project: test-project\n{extra}"
            )
        };
        let mut c = String::from("model_list:\n");
        c += &model("gemini-flash", "gemini-2.5-flash", "");
        c += &model("gemini-flash-2", "gemini-2.5-flash", "      vertex_location: europe-west4\n");
        c += &model("gemini-3-pro", "gemini-3-pro-preview", "      vertex_location: global\n");
        c += &model("gemini-403", "gemini-403", "");
        c += &model("gemini-404", "gemini-404", "");
        c += &model("text-embedding-005", "text-embedding-005", "");
        c += &model("gemini-embedding", "gemini-embedding-001", "");
        c += "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n";
        c
    }
}

async fn post(gw: &Gateway, path: &str, body: Value) -> (u16, String) {
    let r = client().post(gw.url(path)).bearer_auth(KEY).json(&body).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#",
                           "properties": {"city": {"type": "string"}, "unit": {"anyOf": [{"enum": ["celsius", "fahrenheit"]}, {"type": "null"}]}},
                           "required": ["city"]}}}])
}

/// Stream chunks (without `[DONE]`) as JSON.
fn chunks(body: &str) -> Vec<Value> {
    let data = sse_data(body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    data[..data.len() - 1].iter().map(|d| json_of(d)).collect()
}

#[tokio::test]
async fn service_account_chat_uses_jwt_grant_and_one_cached_token() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let (status, body) = post(&gw, "/v1/chat/completions", chat("gemini-flash", "hello")).await;
    assert_eq!(status, 200, "{body}");
    let v = json_of(&body);
    assert_eq!(v["model"], "gemini-flash");
    assert_eq!(v["choices"][0]["message"]["content"], "Gemini says: hello");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 12);
    assert_eq!(v["usage"]["completion_tokens"], 13, "candidates + thoughts");
    assert_eq!(v["usage"]["completion_tokens_details"]["reasoning_tokens"], 5);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 4);

    let sent = s.up.last();
    assert_eq!(
        sent.uri,
        "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(sent.header("authorization"), Some("Bearer ya29.mock-sa-1"));
    assert_eq!(sent.header("x-goog-user-project"), None, "service accounts bill their own project");

    // Another call and another deployment with the same credential: no new token.
    let (status, _) = post(&gw, "/v1/chat/completions", chat("gemini-flash-2", "again")).await;
    assert_eq!(status, 200);
    assert!(s.up.last().uri.contains("/locations/europe-west4/"));
    let (status, _) = post(&gw, "/v1/chat/completions", chat("gemini-flash", "third")).await;
    assert_eq!(status, 200);
    assert_eq!(s.state.token_requests(), 1, "one token for the credential, cached");
    let stderr = gw.stderr();
    assert!(!stderr.contains("ya29."), "tokens are never logged");
    assert!(!stderr.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn concurrent_first_requests_share_one_token_fetch() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let calls =
        (0..8).map(|i| post(&gw, "/v1/chat/completions", chat("gemini-flash", &format!("n{i}"))));
    for (status, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(s.state.token_requests(), 1, "single flight");
}

#[tokio::test]
async fn gcloud_adc_user_refreshes_with_quota_project_and_retries_a_401_once() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("CLOUDSDK_CONFIG", &s.adc_dir(google::REFRESH_TOKEN))
        .start();
    let (status, body) = post(&gw, "/v1/chat/completions", chat("gemini-flash", "hi")).await;
    assert_eq!(status, 200, "{body}");
    let sent = s.up.last();
    assert_eq!(sent.header("authorization"), Some("Bearer ya29.mock-user-1"));
    assert_eq!(sent.header("x-goog-user-project"), Some("quota-project"));

    // Google revokes the token: the gateway refreshes once and the call still succeeds.
    s.state.revoke_all();
    let (status, body) =
        post(&gw, "/v1/chat/completions", chat("gemini-flash", "after revoke")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.state.token_requests(), 2);
    let seen = s.state.seen_tokens.lock().expect("lock").clone();
    assert_eq!(seen, vec!["ya29.mock-user-1", "ya29.mock-user-1", "ya29.mock-user-2"]);
}

#[tokio::test]
async fn tokens_near_expiry_are_refreshed_before_use() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("CLOUDSDK_CONFIG", &s.adc_dir(google::SHORT_REFRESH_TOKEN))
        .start();
    for i in 0..2 {
        let (status, body) =
            post(&gw, "/v1/chat/completions", chat("gemini-flash", &format!("q{i}"))).await;
        assert_eq!(status, 200, "{body}");
    }
    // 60 s tokens are inside the 5 min refresh margin: each call gets a fresh one.
    assert_eq!(s.state.token_requests(), 2);
    let seen = s.state.seen_tokens.lock().expect("lock").clone();
    assert_eq!(seen, vec!["ya29.mock-user-1", "ya29.mock-user-2"]);
}

#[tokio::test]
async fn a_revoked_gcloud_login_says_to_log_in_again_and_a_new_login_is_picked_up() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("CLOUDSDK_CONFIG", &s.adc_dir("1//0revoked"))
        .start();
    let (status, body) = post(&gw, "/v1/chat/completions", chat("gemini-flash", "hi")).await;
    assert_eq!(status, 502, "{body}");
    let msg = json_of(&body)["error"]["message"].as_str().expect("message").to_owned();
    assert!(msg.contains("invalid_grant"), "{msg}");
    assert!(msg.contains("gcloud auth application-default login"), "{msg}");
    assert!(!msg.contains("1//0revoked"), "the refresh token is not echoed");

    // The user logs in again (gcloud rewrites the ADC file): no restart needed.
    s.adc_dir(google::REFRESH_TOKEN);
    let (status, body) = post(&gw, "/v1/chat/completions", chat("gemini-flash", "hi again")).await;
    assert_eq!(status, 200, "{body}");
    assert!(gw.stderr().contains("Google credentials changed on disk"), "{}", gw.stderr());
}

#[tokio::test]
async fn missing_credentials_make_the_model_unavailable_with_the_fix() {
    let s = setup();
    let gw = Gateway::builder(&s.config()).env("LITELLM_MASTER_KEY", KEY).start();
    let (status, body) = post(&gw, "/v1/chat/completions", chat("gemini-flash", "hi")).await;
    assert_eq!(status, 503, "{body}");
    let msg = json_of(&body)["error"]["message"].as_str().expect("message").to_owned();
    assert!(msg.contains("gcloud auth application-default login"), "{msg}");
    assert!(msg.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{msg}");
    let ready = gw.readiness().await;
    assert!(ready.to_string().contains("gcloud auth application-default login"), "{ready}");
}

#[tokio::test]
async fn vertex_credentials_inline_and_unsupported_types() {
    let s = setup();
    let inline = google::authorized_user(&s.token_uri(), google::REFRESH_TOKEN);
    let model = |alias: &str, creds: &str| {
        format!(
            "  - model_name: {alias}\n    litellm_params:\n      model: vertex_ai/gemini-2.5-flash\n      api_base: {}\n      vertex_project: p\n      vertex_credentials: '{creds}'\n",
            s.up.url()
        )
    };
    let gw = Gateway::builder(&format!("model_list:\n{}", model("g", &inline))).start();
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&chat("g", "inline"))
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 200);
    assert_eq!(s.up.last().header("x-goog-user-project"), Some("quota-project"));

    // Workload identity federation / impersonation files are refused, naming the type.
    let ext = model("ext", r#"{"type": "external_account", "audience": "x"}"#);
    let err = Gateway::builder(&format!("model_list:\n{ext}"))
        .try_start()
        .err()
        .expect("refused at start");
    assert!(err.contains("external_account"), "{err}");
}

#[tokio::test]
async fn stream_relays_text_and_usage() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let mut req = chat("gemini-flash", "stream this please");
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    req["reasoning_effort"] = json!("low");
    let (status, body) = post(&gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 200, "{body}");
    assert!(s.up.last().uri.ends_with(":streamGenerateContent?alt=sse"));
    let sent = s.up.last().json();
    assert_eq!(
        sent["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingBudget": 1024})
    );
    let cs = chunks(&body);
    assert_eq!(cs[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String =
        cs.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Gemini says: stream this please");
    let reasoning: String =
        cs.iter().filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str()).collect();
    assert_eq!(reasoning, "**Planning** I should answer briefly.");
    let ids: std::collections::HashSet<&str> = cs.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids.len(), 1, "one id for the whole stream");
    let finish: Vec<&Value> =
        cs.iter().map(|c| &c["choices"][0]["finish_reason"]).filter(|f| !f.is_null()).collect();
    assert_eq!(finish, vec![&json!("stop")]);
    let last = cs.last().expect("usage chunk");
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 25);
}

#[tokio::test]
async fn tool_calls_and_thought_signatures_survive_two_turns() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    for stream in [false, true] {
        let mut messages =
            vec![json!({"role": "user", "content": "What is the weather in Tokyo and Paris?"})];
        let mut req = json!({"model": "gemini-3-pro", "messages": messages, "tools": weather_tool(), "stream": stream});
        let (status, body) = post(&gw, "/v1/chat/completions", req.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert!(s.up.last().uri.contains("/locations/global/"));
        let (calls, finish) = if stream {
            // Reassemble tool calls from deltas as an OpenAI client does.
            let mut calls: Vec<Value> = Vec::new();
            let mut finish = Value::Null;
            for c in chunks(&body) {
                for tc in c["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                    let i = tc["index"].as_u64().expect("index") as usize;
                    if calls.len() <= i {
                        calls.push(json!({"id": tc["id"], "type": "function", "function": {"name": tc["function"]["name"], "arguments": ""}}));
                    }
                    let args = calls[i]["function"]["arguments"].as_str().unwrap_or("").to_owned()
                        + tc["function"]["arguments"].as_str().unwrap_or("");
                    calls[i]["function"]["arguments"] = json!(args);
                }
                if !c["choices"][0]["finish_reason"].is_null() {
                    finish = c["choices"][0]["finish_reason"].clone();
                }
            }
            (calls, finish)
        } else {
            let v = json_of(&body);
            (
                v["choices"][0]["message"]["tool_calls"].as_array().expect("tool_calls").clone(),
                v["choices"][0]["finish_reason"].clone(),
            )
        };
        assert_eq!(finish, "tool_calls", "stream={stream}");
        assert_eq!(calls.len(), 2, "parallel calls, stream={stream}");
        let args: Value =
            serde_json::from_str(calls[1]["function"]["arguments"].as_str().expect("args"))
                .expect("json args");
        assert_eq!(args, json!({"city": "Paris", "unit": "celsius"}));

        // Turn two: the client sends the calls back with results.
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
        for (c, result) in calls.iter().zip(["{\"temp\": 18}", "sunny"]) {
            messages.push(json!({"role": "tool", "tool_call_id": c["id"], "content": result}));
        }
        req["messages"] = json!(messages);
        let (status, body) = post(&gw, "/v1/chat/completions", req).await;
        assert_eq!(status, 200, "stream={stream}: {body}");
        let sent = s.up.last().json();
        let model_turn = &sent["contents"][1];
        assert_eq!(model_turn["role"], "model");
        assert_eq!(
            model_turn["parts"][0]["thoughtSignature"],
            google::signature_for("get_weather"),
            "the real signature came back"
        );
        let results = &sent["contents"][2]["parts"];
        assert_eq!(
            results[0]["functionResponse"],
            json!({"name": "get_weather", "response": {"temp": 18}})
        );
        assert_eq!(
            results[1]["functionResponse"],
            json!({"name": "get_weather", "response": {"output": "sunny"}})
        );
        let text = if stream {
            chunks(&body)
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
                .collect::<String>()
        } else {
            json_of(&body)["choices"][0]["message"]["content"].as_str().expect("text").to_owned()
        };
        assert!(text.starts_with("The weather: "), "{text}");
    }
}

#[tokio::test]
async fn thought_signatures_survive_two_tool_turns_over_the_messages_api_too() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let tools: Vec<Value> = weather_tool()
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| {
            let f = &t["function"];
            json!({"name": f["name"], "description": f["description"], "input_schema": f["parameters"]})
        })
        .collect();
    for stream in [false, true] {
        let mut messages =
            vec![json!({"role": "user", "content": "What is the weather in Tokyo and Paris?"})];
        let req = |messages: &Vec<Value>| json!({"model": "gemini-3-pro", "max_tokens": 500, "stream": stream, "tools": tools, "messages": messages});
        let (status, body) = post(&gw, "/v1/messages", req(&messages)).await;
        assert_eq!(status, 200, "{body}");
        // The tool_use blocks, from the answer or reassembled from the stream's events.
        let blocks: Vec<Value> = if stream {
            let mut blocks: Vec<Value> = Vec::new();
            for data in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
                let ev = json_of(data);
                match ev["type"].as_str() {
                    Some("content_block_start") => blocks.push(ev["content_block"].clone()),
                    Some("content_block_delta") if ev["delta"]["type"] == "input_json_delta" => {
                        let b = blocks.last_mut().expect("open block");
                        let so_far =
                            b.get("partial").and_then(Value::as_str).unwrap_or("").to_owned();
                        b["partial"] =
                            json!(so_far + ev["delta"]["partial_json"].as_str().unwrap_or(""));
                    }
                    _ => {}
                }
            }
            blocks
                .into_iter()
                .filter(|b| b["type"] == "tool_use")
                .map(|mut b| {
                    let input: Value = serde_json::from_str(b["partial"].as_str().unwrap_or("{}"))
                        .expect("input json");
                    b["input"] = input;
                    b.as_object_mut().expect("object").remove("partial");
                    b
                })
                .collect()
        } else {
            json_of(&body)["content"]
                .as_array()
                .expect("content")
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .cloned()
                .collect()
        };
        assert_eq!(blocks.len(), 2, "stream={stream}: {body}");
        messages.push(json!({"role": "assistant", "content": blocks}));
        messages.push(json!({"role": "user", "content": blocks.iter().zip(["{\"temp\": 18}", "sunny"]).map(|(b, r)| {
            json!({"type": "tool_result", "tool_use_id": b["id"], "content": r})
        }).collect::<Vec<_>>()}));
        let (status, body) = post(&gw, "/v1/messages", req(&messages)).await;
        assert_eq!(status, 200, "stream={stream}: {body}");
        let sent = s.up.last().json();
        assert_eq!(
            sent["contents"][1]["parts"][0]["thoughtSignature"],
            google::signature_for("get_weather"),
            "the signature came back through the tool_use id, stream={stream}"
        );
    }
}

#[tokio::test]
async fn images_json_mode_and_schemas_reach_gemini_in_its_format() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let req = json!({"model": "gemini-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]});
    let (status, body) = post(&gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body)["choices"][0]["message"]["content"],
        "Gemini says: what is this [1 image(s) seen]"
    );
    assert_eq!(
        s.up.last().json()["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
    );

    let req = json!({"model": "gemini-flash", "messages": [{"role": "user", "content": "json please"}],
                     "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema":
                        {"type": "object", "additionalProperties": false, "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}}}});
    let (status, body) = post(&gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 200, "{body}");
    let content =
        json_of(&body)["choices"][0]["message"]["content"].as_str().expect("text").to_owned();
    assert_eq!(json_of(&content)["answer"], 42);
    let sent = s.up.last().json();
    assert_eq!(sent["generationConfig"]["responseMimeType"], "application/json");
    assert_eq!(
        sent["generationConfig"]["responseSchema"]["properties"]["answer"]["type"],
        "INTEGER"
    );
}

#[tokio::test]
async fn errors_map_with_hints() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let (status, body) = post(&gw, "/v1/chat/completions", chat("gemini-403", "hi")).await;
    assert_eq!(status, 403, "{body}");
    let e = &json_of(&body)["error"];
    assert_eq!(e["type"], "PERMISSION_DENIED");
    let msg = e["message"].as_str().expect("m");
    assert!(
        msg.starts_with("Permission 'aiplatform.endpoints.predict' denied"),
        "Google's message first: {msg}"
    );
    assert!(msg.contains("Vertex AI API is enabled for project `test-project`"), "{msg}");

    let (status, body) = post(&gw, "/v1/chat/completions", chat("gemini-404", "hi")).await;
    assert_eq!(status, 404, "{body}");
    let msg = json_of(&body)["error"]["message"].as_str().expect("m").to_owned();
    assert!(msg.contains("was not found"), "{msg}");
    assert!(msg.contains("vertex_location: global"), "{msg}");

    for stream in [false, true] {
        let mut req = chat("gemini-flash", "this is blocked");
        req["stream"] = json!(stream);
        let (status, body) = post(&gw, "/v1/chat/completions", req).await;
        assert_eq!(status, 400, "stream={stream}: {body}");
        let e = &json_of(&body)["error"];
        assert_eq!(e["code"], "content_filter");
        assert!(e["message"].as_str().expect("m").contains("PROHIBITED_CONTENT"), "{e}");
    }

    // A request Gemini cannot take is a 400 from the gateway, not a bad upstream call.
    let req = json!({"model": "gemini-flash", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_x", "content": "1"}]});
    let (status, body) = post(&gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("does not match a tool call"), "{body}");
}

#[tokio::test]
async fn embeddings_via_predict_with_dimensions() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let (status, body) = post(
        &gw,
        "/v1/embeddings",
        json!({"model": "text-embedding-005", "input": ["one two", "three"], "dimensions": 4}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v = json_of(&body);
    assert_eq!(v["model"], "text-embedding-005");
    assert_eq!(v["data"].as_array().expect("data").len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"].as_array().expect("vec").len(), 4);
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let sent = s.up.last();
    assert!(sent.uri.ends_with("/models/text-embedding-005:predict"), "{}", sent.uri);
    assert_eq!(sent.json()["parameters"], json!({"outputDimensionality": 4}));

    // gemini-embedding-001 takes one text per call; base64 as the OpenAI SDK asks.
    let before = s.up.requests().len();
    let (status, body) = post(&gw, "/v1/embeddings", json!({"model": "gemini-embedding", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 3})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.up.requests().len() - before, 2);
    let v = json_of(&body);
    assert_eq!(v["data"][1]["index"], 1);
    let b64 = v["data"][0]["embedding"].as_str().expect("base64 string");
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.decode(b64).expect("b64").len(),
        12,
        "3 f32s"
    );
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_the_stream_with_an_error() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let mut req = chat("gemini-flash", "fail midway through");
    req["stream"] = json!(true);
    let (status, body) = post(&gw, "/v1/chat/completions", req).await;
    assert_eq!(status, 200, "the stream had started: {body}");
    let data = sse_data(&body);
    let first = json_of(&data[0]);
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let last = json_of(data.last().expect("events"));
    assert_eq!(last["error"]["message"], "The service is currently unavailable.", "{body}");
    assert_eq!(last["error"]["code"], "503");

    // MAX_TOKENS maps to `length`.
    let (status, body) =
        post(&gw, "/v1/chat/completions", chat("gemini-flash", "a long story")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn token_and_model_requests_go_through_the_deployments_proxy() {
    // The "proxy" is a second mock: an HTTP forward proxy receives absolute-form requests and
    // this one answers them itself. The token endpoint and Vertex in the config are the first
    // mock, which must see nothing.
    let direct = setup();
    let proxy_state = Arc::new(MockState::default());
    let proxy = MockUpstream::start(google::router_with(proxy_state.clone()));
    let key =
        proxy_state.service_account(&direct.token_uri(), "proxied@proj.iam.gserviceaccount.com");
    let key_path = direct.creds.path().join("proxied.json");
    std::fs::write(&key_path, key).expect("write key");
    let cfg = format!(
        "model_list:\n  - model_name: g\n    litellm_params:\n      model: vertex_ai/gemini-2.5-flash\n      api_base: {}\n      vertex_project: test-project\n      vertex_credentials: {}\n      http_proxy: {}\n",
        direct.up.url(),
        key_path.display(),
        proxy.url()
    );
    let gw = Gateway::builder(&cfg).start();
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&chat("g", "via proxy"))
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert!(direct.up.requests().is_empty(), "nothing bypassed the proxy");
    let uris: Vec<String> = proxy.requests().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(
        uris,
        [
            format!("{}/token", direct.up.url()),
            format!(
                "{}/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
                direct.up.url()
            ),
        ]
    );
    assert_eq!(proxy_state.token_requests(), 1);
}

#[tokio::test]
async fn anthropic_count_tokens_uses_vertex_count_tokens() {
    let s = setup();
    let gw = Gateway::builder(&s.config())
        .env("LITELLM_MASTER_KEY", KEY)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &s.sa_file())
        .start();
    let body = json!({
        "model": "gemini-flash",
        "system": "be brief",
        "messages": [{"role": "user", "content": "one two three four five"}]
    });
    let (status, text) = post(&gw, "/v1/messages/count_tokens", body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(json_of(&text), json!({"input_tokens": 7}), "the mock counts 5 + 2 words");
    let sent = s.up.last();
    assert!(sent.uri.ends_with("/models/gemini-2.5-flash:countTokens"), "{}", sent.uri);
    assert_eq!(sent.header("authorization"), Some("Bearer ya29.mock-sa-1"));
}

//! Responses ⇄ hub: requests item by item, completions, and the stream state machine
//! (event order, sequence numbers, function calls after text, failures), plus a proptest that
//! any cut of a text stream gives back the text.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::wire::openai::{ChatChunk, ChatCompletion, ChatRequest, Content};
use crate::wire::responses::ResponsesRequest;

fn req(v: Value) -> ResponsesRequest {
    serde_json::from_value(v).expect("request")
}

fn hub(v: Value) -> ChatRequest {
    to_hub(req(v)).expect("translates").0
}

#[test]
fn a_string_input_and_instructions_become_system_and_user_messages() {
    let h = hub(
        json!({"model": "m", "instructions": "Be brief.", "input": "hi", "max_output_tokens": 50,
        "reasoning": {"effort": "low", "summary": "auto"}, "temperature": 0.2, "store": false, "include": ["reasoning.encrypted_content"]}),
    );
    let v = serde_json::to_value(&h).expect("json");
    assert_eq!(
        v,
        json!({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            "max_tokens": 50, "temperature": 0.2, "reasoning_effort": "low"})
    );
}

#[test]
fn a_tool_loop_in_items_becomes_assistant_tool_calls_and_tool_messages() {
    let h = hub(json!({"model": "m", "input": [
        {"role": "developer", "content": "Use tools."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in "}, {"type": "input_text", "text": "Paris?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_a", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call", "call_id": "call_b", "name": "time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "noon"}]}
    ], "tools": [{"type": "function", "name": "weather", "description": "d", "parameters": {"type": "object"}, "strict": true}],
      "tool_choice": {"type": "function", "name": "weather"}, "parallel_tool_calls": false}));
    let v = serde_json::to_value(&h).expect("json");
    assert_eq!(
        v["messages"],
        json!([
            {"role": "system", "content": "Use tools."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}}]},
            {"role": "tool", "content": "sunny", "tool_call_id": "call_a"},
            {"role": "tool", "content": "noon", "tool_call_id": "call_b"}
        ])
    );
    assert_eq!(
        v["tools"],
        json!([{"type": "function", "function": {"name": "weather", "description": "d", "parameters": {"type": "object"}, "strict": true}}])
    );
    assert_eq!(v["tool_choice"], json!({"type": "function", "function": {"name": "weather"}}));
    assert_eq!(v["parallel_tool_calls"], false);
}

#[test]
fn images_and_json_schema_map_to_their_chat_forms() {
    let h = hub(json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}]}],
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": true}}}));
    let v = serde_json::to_value(&h).expect("json");
    assert_eq!(
        v["messages"][0]["content"],
        json!([{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}])
    );
    assert_eq!(
        v["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}})
    );
}

#[test]
fn what_the_hub_cannot_do_is_refused_with_the_parameter() {
    let err = |v: Value| to_hub(req(v)).expect_err("refused");
    let e = err(json!({"model": "m", "input": "hi", "previous_response_id": "resp_1"}));
    assert_eq!(e.param, "previous_response_id");
    assert!(e.message.contains("ai-proxy keeps no responses"), "{}", e.message);
    let e = err(
        json!({"model": "m", "input": "hi", "tools": [{"type": "function", "description": "no name"}]}),
    );
    assert_eq!(
        (e.param.as_str(), e.message.as_str()),
        ("tools[0].name", "tools[0]: a function tool needs a name")
    );
    let e = err(json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}));
    assert_eq!(e.param, "input[0].type");
    assert!(e.message.contains("`item_reference`"), "{}", e.message);
    let e = err(
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
    );
    assert_eq!(e.param, "input[0].content[0].type");
    let e = err(json!({"model": "m", "instructions": "only this"}));
    assert_eq!(e.param, "input");
    let e = err(json!({"model": "m", "input": "x", "tool_choice": "sometimes"}));
    assert_eq!(e.param, "tool_choice");
}

const APPLY_PATCH: &str = "start: begin_patch hunk+ end_patch";

fn custom_tools_request(input: Value) -> (ChatRequest, Echo) {
    to_hub(req(json!({"model": "m", "input": input, "tool_choice": {"type": "custom", "name": "apply_patch"},
        "tools": [{"type": "custom", "name": "apply_patch", "description": "Edit files.", "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH}}]})))
    .expect("translates")
}

#[test]
fn custom_tools_are_functions_with_one_input_string_both_ways() {
    let (h, echo) = custom_tools_request(json!([
        {"role": "user", "content": "fix it"},
        {"type": "custom_tool_call", "call_id": "call_p", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"}
    ]));
    assert_eq!(
        echo.names,
        [ToolName {
            upstream: "apply_patch".into(),
            name: "apply_patch".into(),
            namespace: None,
            custom: true
        }]
    );
    let v = serde_json::to_value(&h).expect("json");
    assert_eq!(
        v["tools"][0]["function"],
        json!({"name": "apply_patch", "description": format!("Edit files.\n\nThe input must follow this grammar:\n{APPLY_PATCH}"),
            "parameters": {"type": "object", "properties": {"input": {"type": "string", "description": "The tool's whole input, as free-form text"}}, "required": ["input"]}})
    );
    assert_eq!(v["tool_choice"], json!({"type": "function", "function": {"name": "apply_patch"}}));
    assert_eq!(
        v["messages"][1]["tool_calls"][0]["function"],
        json!({"name": "apply_patch", "arguments": "{\"input\":\"*** Begin Patch\"}"})
    );
    assert_eq!(
        v["messages"][2],
        json!({"role": "tool", "content": "Done!", "tool_call_id": "call_p"})
    );

    // The model's call comes back as a custom_tool_call with the input unwrapped.
    let c = completion(
        json!({"id": "x", "created": 1, "model": "up", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
        "tool_calls": [{"id": "call_q", "type": "function", "function": {"name": "apply_patch", "arguments": "{\"input\": \"*** Begin Patch\\n*** End Patch\"}"}}]}}]}),
    );
    let r = from_hub(c, "alias", &echo);
    assert_eq!(
        r["output"],
        json!([{"id": "ctc_0_resp_x", "type": "custom_tool_call", "status": "completed", "call_id": "call_q", "name": "apply_patch", "input": "*** Begin Patch\n*** End Patch"}])
    );

    let mut s = StreamState::new("alias", echo);
    let mut all = s.on_chunk(chunk(json!({"tool_calls": [{"index": 0, "id": "call_q", "type": "function", "function": {"name": "apply_patch", "arguments": "{\"input\": \"*** Be"}}]}), None));
    all.extend(s.on_chunk(chunk(
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "gin Patch\"}"}}]}),
        Some("tool_calls"),
    )));
    all.extend(s.finish());
    assert_eq!(
        names(&all),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(all[4].0["input"], "*** Begin Patch");
}

#[test]
fn namespaces_are_flattened_and_hosted_tools_left_out_as_codex_sends_them() {
    let (h, echo) = to_hub(req(json!({"model": "m", "input": "hi", "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "sub-agents", "tools": [
            {"type": "function", "name": "close_agent", "parameters": {"type": "object"}}]},
        {"type": "web_search", "external_web_access": false},
        {"type": "image_generation"}
    ]})))
    .expect("translates");
    let names: Vec<&str> = h.tools.iter().flatten().map(|t| t.function.name.as_str()).collect();
    assert_eq!(names, ["exec_command", "multi_agent_v1__close_agent"]);
    assert_eq!(echo.dropped_tools, ["web_search", "image_generation"]);

    // A call of the namespaced function comes back with the client's name and namespace,
    // and goes upstream again under the function name.
    let c = completion(
        json!({"id": "x", "created": 1, "model": "up", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
        "tool_calls": [{"id": "call_n", "type": "function", "function": {"name": "multi_agent_v1__close_agent", "arguments": "{}"}}]}}]}),
    );
    let item = from_hub(c, "alias", &echo)["output"][0].clone();
    assert_eq!(
        item,
        json!({"id": "fc_0_resp_x", "type": "function_call", "status": "completed", "call_id": "call_n", "name": "close_agent", "namespace": "multi_agent_v1", "arguments": "{}"})
    );
    let mut back = item.clone();
    back.as_object_mut().map(|o| o.remove("id"));
    let h = hub(
        json!({"model": "m", "input": [{"role": "user", "content": "hi"}, back, {"type": "function_call_output", "call_id": "call_n", "output": "closed"}]}),
    );
    assert_eq!(
        h.messages[1].tool_calls.as_ref().map(|c| c[0].function.name.as_str()),
        Some("multi_agent_v1__close_agent")
    );
}

fn completion(v: Value) -> ChatCompletion {
    serde_json::from_value(v).expect("completion")
}

#[test]
fn a_completion_becomes_reasoning_message_and_function_call_items() {
    let c = completion(
        json!({"id": "chatcmpl-abc", "object": "chat.completion", "created": 7, "model": "up",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Let me check.", "reasoning_content": "thinking",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "prompt_tokens_details": {"cached_tokens": 4}}}),
    );
    let r = from_hub(c, "alias", &Echo::default());
    assert_eq!(r["id"], "resp_abc");
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["model"], "alias");
    assert_eq!(r["created_at"], 7);
    assert_eq!(
        r["output"],
        json!([
            {"id": "rs_resp_abc", "type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking"}]},
            {"id": "msg_resp_abc", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
            {"id": "fc_0_resp_abc", "type": "function_call", "status": "completed", "call_id": "call_1", "name": "weather", "arguments": "{}"}
        ])
    );
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15})
    );

    let cut = completion(
        json!({"id": "x", "created": 1, "model": "up", "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "trunc"}}]}),
    );
    let r = from_hub(cut, "alias", &Echo::default());
    assert_eq!(
        (r["status"].clone(), r["incomplete_details"].clone()),
        (json!("incomplete"), json!({"reason": "max_output_tokens"}))
    );
}

fn chunk(delta: Value, finish: Option<&str>) -> ChatChunk {
    serde_json::from_value(
        json!({"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 9, "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
    )
    .expect("chunk")
}

fn names(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.name().to_owned()).collect()
}

#[test]
fn a_stream_relays_reasoning_then_text_then_sends_function_calls_whole() {
    let mut s = StreamState::new("alias", Echo::default());
    let mut all = Vec::new();
    all.extend(s.on_chunk(chunk(json!({"role": "assistant", "content": ""}), None)));
    all.extend(s.on_chunk(chunk(json!({"reasoning_content": "Let me"}), None)));
    all.extend(s.on_chunk(chunk(json!({"reasoning_content": " think."}), None)));
    all.extend(s.on_chunk(chunk(json!({"content": "Calling "}), None)));
    all.extend(s.on_chunk(chunk(json!({"content": "tools."}), None)));
    // Fragments of two calls, interleaved.
    all.extend(s.on_chunk(chunk(json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"ci"}}]}), None)));
    all.extend(s.on_chunk(chunk(json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}}]}), None)));
    all.extend(s.on_chunk(chunk(json!({"tool_calls": [{"index": 0, "id": "", "function": {"arguments": "ty\":\"Paris\"}"}}]}), None)));
    all.extend(s.on_chunk(chunk(json!({}), Some("tool_calls"))));
    all.extend(
        s.on_chunk(
            serde_json::from_value(
                json!({"id": "chatcmpl-s1", "created": 9, "model": "up", "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}),
            )
            .expect("usage chunk"),
        ),
    );
    all.extend(s.finish());
    assert!(s.is_ended());
    assert_eq!(
        names(&all),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.0["sequence_number"], json!(i), "{:?}", e.0);
    }
    let done = &all.last().expect("completed").0["response"];
    assert_eq!(done["id"], "resp_s1");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["usage"]["total_tokens"], 7);
    assert_eq!(done["output"][0]["summary"][0]["text"], "Let me think.");
    assert_eq!(done["output"][1]["content"][0]["text"], "Calling tools.");
    assert_eq!(
        done["output"][2],
        json!({"id": "fc_0_resp_s1", "type": "function_call", "status": "completed", "call_id": "call_a", "name": "weather", "arguments": "{\"city\":\"Paris\"}"})
    );
    assert_eq!(done["output"][3]["call_id"], "call_b");
    // Output indexes follow the items.
    let text_delta = all.iter().find(|e| e.name() == "response.output_text.delta").expect("delta");
    assert_eq!(text_delta.0["output_index"], 1);
}

#[test]
fn a_failure_mid_stream_ends_with_response_failed() {
    let mut s = StreamState::new("alias", Echo::default());
    let mut all = s.on_chunk(chunk(json!({"content": "Hel"}), None));
    all.extend(s.on_error("server_error", "upstream dropped the connection"));
    assert_eq!(
        names(&all),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.failed"
        ]
    );
    let failed = &all.last().expect("failed").0["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        json!({"code": "server_error", "message": "upstream dropped the connection"})
    );
    assert!(
        s.on_chunk(chunk(json!({"content": "more"}), None)).is_empty(),
        "nothing after the end"
    );
    assert!(s.finish().is_empty());
}

#[test]
fn an_empty_upstream_still_gives_a_complete_response() {
    let mut s = StreamState::new("alias", Echo::default());
    let all = s.finish();
    assert_eq!(names(&all), ["response.created", "response.in_progress", "response.completed"]);
}

proptest! {
    /// However the text is cut into chunks, the deltas and the final response give it back.
    #[test]
    fn any_cut_of_a_text_stream_gives_back_the_text(text in "\\PC{1,80}", cuts in proptest::collection::vec(0usize..80, 0..10)) {
        let chars: Vec<char> = text.chars().collect();
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (chars.len() + 1)).collect();
        at.push(0);
        at.push(chars.len());
        at.sort_unstable();
        at.dedup();
        let mut s = StreamState::new("alias", Echo::default());
        let mut all = Vec::new();
        for w in at.windows(2) {
            let piece: String = chars[w[0]..w[1]].iter().collect();
            all.extend(s.on_chunk(chunk(json!({"content": piece}), None)));
        }
        all.extend(s.finish());
        let deltas: String = all.iter().filter(|e| e.name() == "response.output_text.delta").filter_map(|e| e.0["delta"].as_str().map(str::to_owned)).collect();
        prop_assert_eq!(&deltas, &text);
        let done = &all.last().expect("completed").0["response"];
        prop_assert_eq!(done["output"][0]["content"][0]["text"].as_str(), Some(text.as_str()));
        for (i, e) in all.iter().enumerate() {
            prop_assert_eq!(e.0["sequence_number"].as_u64(), Some(i as u64));
        }
    }
}

#[test]
fn a_compaction_trigger_asks_for_a_summary_without_tools() {
    let (h, echo) = to_hub(req(json!({"model": "m", "instructions": "You are Codex.",
        "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}],
        "tool_choice": "auto",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the build"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
            {"type": "compaction_trigger"}
        ]})))
    .expect("translates");
    assert!(echo.compaction);
    assert_eq!((h.tools.is_none(), h.tool_choice.is_none()), (true, true));
    let last = h.messages.last().expect("a message");
    assert_eq!(last.role, "user");
    assert!(
        last.content.as_ref().map(Content::text).is_some_and(|t| t.contains("handoff summary"))
    );
}

#[test]
fn a_compaction_answer_is_one_compaction_item_whose_summary_comes_back_as_a_message() {
    let echo = Echo { compaction: true, ..Echo::default() };
    let c = completion(
        json!({"id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Goal: fix the build. Done: ran make."}, "finish_reason": "stop"}]}),
    );
    let r = from_hub(c, "m", &echo);
    let output = r["output"].as_array().expect("output");
    assert_eq!(output.len(), 1, "{r}");
    assert_eq!(output[0]["type"], "compaction");
    let content = output[0]["encrypted_content"].as_str().expect("content");
    assert_eq!(decode_compaction(content).as_deref(), Some("Goal: fix the build. Done: ran make."));

    // Streamed: no text deltas, the item whole at the end, then response.completed.
    let mut s = StreamState::new("m", echo);
    let mut all = s.on_chunk(chunk(json!({"content": "Goal: fix "}), None));
    all.extend(s.on_chunk(chunk(json!({"content": "the build."}), Some("stop"))));
    all.extend(s.finish());
    assert_eq!(
        names(&all),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let done = &all[3].0["item"];
    assert_eq!(
        decode_compaction(done["encrypted_content"].as_str().expect("str")).as_deref(),
        Some("Goal: fix the build.")
    );

    // Sent back in a later request, it is the summary as a user message; OpenAI's own
    // compactions (opaque) are left out and reported.
    let (h, echo) = to_hub(req(json!({"model": "m", "input": [
        {"type": "message", "role": "user", "content": "fix the build"},
        {"type": "compaction", "encrypted_content": content},
        {"type": "compaction_summary", "encrypted_content": "gAAAAB-opaque"},
        {"type": "message", "role": "user", "content": "go on"}
    ]})))
    .expect("translates");
    let texts: Vec<String> =
        h.messages.iter().filter_map(|m| m.content.as_ref().map(Content::text)).collect();
    assert_eq!(
        texts[1],
        "Summary of the earlier conversation (compacted):\nGoal: fix the build. Done: ran make."
    );
    assert_eq!(texts.len(), 3);
    assert_eq!(echo.dropped_items, ["input[2] (compaction_summary, not made by ai-proxy)"]);
    assert!(!echo.compaction);
}

//! One chat completion folded from a chunk stream. Some upstreams offer a feature only on
//! streams (DashScope thinking: "parameter.enable_thinking must be set to false for
//! non-streaming calls"); the provider then streams and a non-streaming client still gets
//! the single `chat.completion` it asked for. Pure: chunks in, completion out.
//!
//! Per choice index: `content` and `reasoning_content` are concatenated, tool calls are
//! merged by their index (the first non-empty id and name win, argument fragments are
//! appended), the last `finish_reason` wins. `id`, `created`, `model` and the system
//! fingerprint come from the first chunk that has them; `usage` from the chunk that has it
//! (the final `choices: []` chunk of `include_usage`).

use serde_json::{Map, Value};

use crate::wire::openai::{
    ChatChunk, ChatCompletion, Choice, Content, FunctionCall, Message, ToolCall, ToolCallDelta,
};

#[derive(Debug, Default)]
pub struct Collector {
    completion: ChatCompletion,
    choices: Vec<ChoiceSoFar>,
}

#[derive(Debug, Default)]
struct ChoiceSoFar {
    index: u32,
    role: Option<String>,
    content: Option<String>,
    reasoning: Option<String>,
    tool_calls: ToolCallParts,
    finish_reason: Option<String>,
    extra: Map<String, Value>,
}

impl Collector {
    pub fn push(&mut self, chunk: ChatChunk) {
        let c = &mut self.completion;
        if c.id.is_empty() {
            c.id = chunk.id;
        }
        if c.created == 0 {
            c.created = chunk.created;
        }
        if c.model.is_empty() {
            c.model = chunk.model;
        }
        if c.system_fingerprint.is_none() {
            c.system_fingerprint = chunk.system_fingerprint;
        }
        if chunk.usage.is_some() {
            c.usage = chunk.usage.map(|u| *u);
        }
        for choice in chunk.choices {
            let pos = match self.choices.iter().position(|s| s.index == choice.index) {
                Some(p) => p,
                None => {
                    self.choices
                        .push(ChoiceSoFar { index: choice.index, ..ChoiceSoFar::default() });
                    self.choices.len() - 1
                }
            };
            let so_far = &mut self.choices[pos];
            let d = choice.delta;
            if so_far.role.is_none() {
                so_far.role = d.role;
            }
            append(&mut so_far.content, d.content);
            append(&mut so_far.reasoning, d.reasoning_content);
            for call in d.tool_calls.into_iter().flatten() {
                so_far.tool_calls.push(call);
            }
            if choice.finish_reason.is_some() {
                so_far.finish_reason = choice.finish_reason;
            }
            so_far.extra.extend(choice.extra);
        }
    }

    pub fn finish(self) -> ChatCompletion {
        let mut completion = self.completion;
        completion.object = "chat.completion".to_owned();
        let mut choices: Vec<Choice> = self
            .choices
            .into_iter()
            .map(|s| {
                let tool_calls = s.tool_calls.finish();
                Choice {
                    index: s.index,
                    message: Message {
                        role: s.role.unwrap_or_else(|| "assistant".to_owned()),
                        content: Some(Content::Text(s.content.unwrap_or_default())),
                        reasoning_content: s.reasoning,
                        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                        ..Message::default()
                    },
                    finish_reason: s.finish_reason,
                    logprobs: None,
                    extra: s.extra,
                }
            })
            .collect();
        choices.sort_by_key(|c| c.index);
        completion.choices = choices;
        completion
    }
}

/// Tool calls assembled from their stream fragments, by index: the first non-empty id and
/// name win, argument fragments are appended (shared with `translate::responses`' stream).
#[derive(Debug, Default)]
pub struct ToolCallParts(Vec<(u32, ToolCall)>);

impl ToolCallParts {
    pub fn push(&mut self, call: ToolCallDelta) {
        let at = match self.0.iter().position(|(i, _)| *i == call.index) {
            Some(p) => p,
            None => {
                let empty = ToolCall {
                    id: String::new(),
                    kind: String::new(),
                    function: FunctionCall::default(),
                    extra: Map::new(),
                };
                self.0.push((call.index, empty));
                self.0.len() - 1
            }
        };
        let merged = &mut self.0[at].1;
        if let Some(id) = call.id.filter(|s| !s.is_empty())
            && merged.id.is_empty()
        {
            merged.id = id;
        }
        if let Some(kind) = call.kind.filter(|s| !s.is_empty()) {
            merged.kind = kind;
        }
        if let Some(f) = call.function {
            if let Some(name) = f.name.filter(|s| !s.is_empty())
                && merged.function.name.is_empty()
            {
                merged.function.name = name;
            }
            merged.function.arguments.push_str(f.arguments.as_deref().unwrap_or_default());
        }
    }

    /// The calls in the order they first appeared (`type` defaulted to `function`; an id the
    /// upstream never sent stays empty).
    pub fn finish(self) -> Vec<ToolCall> {
        self.0
            .into_iter()
            .map(|(_, mut call)| {
                if call.kind.is_empty() {
                    call.kind = "function".to_owned();
                }
                call
            })
            .collect()
    }
}

fn append(to: &mut Option<String>, piece: Option<String>) {
    if let Some(p) = piece {
        to.get_or_insert_with(String::new).push_str(&p);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn chunk(v: Value) -> ChatChunk {
        serde_json::from_value(v).expect("chunk")
    }

    fn frame(delta: Value, finish: Option<&str>) -> ChatChunk {
        chunk(
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1726132850, "model": "qwen-plus",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}], "usage": null}),
        )
    }

    #[test]
    fn a_dashscope_thinking_stream_folds_into_one_completion() {
        let mut c = Collector::default();
        c.push(frame(json!({"content": "", "role": "assistant"}), None));
        c.push(frame(json!({"content": null, "reasoning_content": "Let me"}), None));
        c.push(frame(json!({"content": null, "reasoning_content": " think."}), None));
        c.push(frame(json!({"content": "Qwen "}), None));
        c.push(frame(json!({"content": "says."}), None));
        c.push(frame(json!({"content": ""}), Some("stop")));
        c.push(chunk(json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1726132850, "model": "qwen-plus", "choices": [],
            "usage": {"prompt_tokens": 22, "completion_tokens": 17, "total_tokens": 39}})));
        let out = serde_json::to_value(c.finish()).expect("json");
        assert_eq!(
            out,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1726132850, "model": "qwen-plus",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Qwen says.", "reasoning_content": "Let me think."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 22, "completion_tokens": 17, "total_tokens": 39}})
        );
    }

    #[test]
    fn tool_call_fragments_merge_by_index_keeping_the_first_id_and_name() {
        let mut c = Collector::default();
        c.push(frame(json!({"role": "assistant", "content": "I'll use the tools."}), None));
        c.push(frame(json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Han"}}]}), None));
        c.push(frame(json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}), None));
        c.push(frame(json!({"tool_calls": [{"index": 0, "id": "", "type": "function", "function": {"arguments": "gzhou\"}"}}]}), None));
        c.push(frame(json!({}), Some("tool_calls")));
        let done = c.finish();
        let calls = done.choices[0].message.tool_calls.clone().expect("calls");
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].function.name.as_str()),
            ("call_a", "get_weather")
        );
        assert_eq!(calls[0].function.arguments, "{\"city\": \"Hangzhou\"}");
        assert_eq!((calls[1].id.as_str(), calls[1].kind.as_str()), ("call_b", "function"));
        assert_eq!(done.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            done.choices[0].message.reasoning_content, None,
            "no reasoning field when none streamed"
        );
    }

    proptest! {
        /// However the text is cut into chunks, the folded answer is the text.
        #[test]
        fn any_cut_of_the_text_folds_back_to_it(text in "\\PC{0,60}", reasoning in "\\PC{0,40}", cuts in proptest::collection::vec(0usize..60, 0..8)) {
            let pieces = |s: &str| {
                let chars: Vec<char> = s.chars().collect();
                let mut at: Vec<usize> = cuts.iter().map(|c| c % (chars.len() + 1)).collect();
                at.push(0);
                at.push(chars.len());
                at.sort_unstable();
                at.dedup();
                at.windows(2).map(|w| chars[w[0]..w[1]].iter().collect::<String>()).collect::<Vec<_>>()
            };
            let mut c = Collector::default();
            for p in pieces(&reasoning) {
                c.push(frame(json!({"reasoning_content": p}), None));
            }
            for p in pieces(&text) {
                c.push(frame(json!({"content": p}), None));
            }
            c.push(frame(json!({}), Some("stop")));
            let done = c.finish();
            prop_assert_eq!(done.choices[0].message.content.as_ref().map(Content::text), Some(text.clone()));
            let expected_reasoning = (!reasoning.is_empty()).then(|| reasoning.clone());
            prop_assert_eq!(done.choices[0].message.reasoning_content.clone(), expected_reasoning);
        }
    }
}

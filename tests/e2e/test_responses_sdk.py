"""The official `openai` Python SDK's Responses API (`client.responses`) against the real
gateway: text, streaming events, a function-tool round trip (mock model and the DashScope
mock, which streams tool-call arguments in fragments), reasoning, and the errors."""

import json

import openai
import pytest

from conftest import DASHSCOPE_KEY, MASTER_KEY


def config(mocks: str) -> str:
    return f"""
model_list:
  - model_name: mock
    litellm_params:
      model: mock/echo
  - model_name: qwen-max
    litellm_params:
      model: dashscope/qwen-max
      api_base: {mocks}/compatible-mode/v1
  - model_name: qwen-plus
    litellm_params:
      model: dashscope/qwen-plus
      api_base: {mocks}/compatible-mode/v1
  - model_name: qwen-break
    litellm_params:
      model: dashscope/qwen-break
      api_base: {mocks}/compatible-mode/v1
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def client(gateway, mocks):
    gw = gateway(config(mocks), LITELLM_MASTER_KEY=MASTER_KEY, DASHSCOPE_API_KEY=DASHSCOPE_KEY)
    c = openai.OpenAI(base_url=gw.base + "/v1", api_key=MASTER_KEY, max_retries=0)
    c.gateway = gw
    return c


def test_text_answer_with_instructions(client):
    r = client.responses.create(model="mock", instructions="Be brief.", input="你好")
    assert r.output_text == "You said: 你好"
    assert r.model == "mock"
    assert r.status == "completed"
    assert r.id.startswith("resp_")
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > 0


def test_stream_events_in_order(client):
    events = list(client.responses.create(model="qwen-max", input="stream me", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Qwen says: stream me"
    final = events[-1].response
    assert final.output_text == text
    assert final.usage.total_tokens == 39


def test_sdk_stream_helper_and_function_tool_round_trip(client):
    # The SDK's own accumulator (client.responses.stream) over DashScope's fragmented tool calls.
    with client.responses.stream(model="qwen-max", input="Hangzhou", tools=[WEATHER]) as stream:
        for _ in stream:
            pass
        first = stream.get_final_response()
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Hangzhou"}

    # Send the conversation back with the tool's output (no server-side state: store=False).
    follow = client.responses.create(
        model="qwen-max",
        store=False,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Hangzhou"},
            *[o.model_dump(exclude_none=True) for o in first.output],
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 24°C"},
        ],
    )
    assert follow.output_text == "Qwen got: sunny, 24°C"


def test_reasoning_comes_back_as_a_summary(client):
    r = client.responses.create(model="mock", input="plan it", reasoning={"effort": "high"})
    kinds = [o.type for o in r.output]
    assert kinds == ["reasoning", "message"]
    assert r.output[0].summary[0].text == "Thinking about: plan it"
    # DashScope thinks only on streams: the gateway streams upstream and still answers whole.
    r = client.responses.create(model="qwen-plus", input="think", reasoning={"effort": "low"})
    assert r.output[0].summary[0].text == "Let me think."
    assert r.output_text == "Qwen says: think"


def test_errors_map_to_sdk_exceptions(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="mock", input="hi", previous_response_id="resp_abc")
    assert "keeps no responses" in str(e.value)
    # Hosted tools only OpenAI can run are left out, not refused (Codex always sends web_search).
    r = client.responses.create(model="mock", input="hi", tools=[{"type": "web_search"}])
    assert r.output_text == "You said: hi"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="no-such-model", input="hi")
    bad = openai.OpenAI(base_url=client.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model="mock", input="x")


def test_a_stream_that_breaks_ends_with_response_failed(client):
    events = list(client.responses.create(model="qwen-break", input="a b c", stream=True))
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert events[-1].response.error.message

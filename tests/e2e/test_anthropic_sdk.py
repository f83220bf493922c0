"""The official `anthropic` Python SDK against the real gateway's /v1/messages: the mock
model (tool calls and reasoning included) and a mock DashScope speaking its real wire
format (streamed tool-call fragments)."""

import base64
import time

import anthropic
import pytest

from conftest import DASHSCOPE_KEY, MASTER_KEY

# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {"name": "get_time", "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}}},
]


def config(mocks: str) -> str:
    return f"""
model_list:
  - model_name: mock
    litellm_params:
      model: mock/echo
  - model_name: "claude-*"
    litellm_params:
      model: mock/claude-stand-in
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


@pytest.fixture
def client(gateway, mocks):
    gw = gateway(config(mocks), LITELLM_MASTER_KEY=MASTER_KEY, DASHSCOPE_API_KEY=DASHSCOPE_KEY)
    c = anthropic.Anthropic(base_url=gw.base, api_key=MASTER_KEY, max_retries=0)
    c.gateway = gw
    return c


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK warns about dated model names
def test_create_with_a_claude_model_name_and_bearer_token(client):
    # Claude Code's ANTHROPIC_AUTH_TOKEN sends `Authorization: Bearer`.
    bearer = anthropic.Anthropic(base_url=client.gateway.base, auth_token=MASTER_KEY, max_retries=0)
    for c in (client, bearer):
        m = c.messages.create(
            model="claude-sonnet-4-5-20250929",
            max_tokens=100,
            system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "hello there"}],
        )
        assert m.type == "message"
        assert m.model == "claude-sonnet-4-5-20250929"
        assert m.content[0].type == "text"
        assert m.content[0].text == "You said: hello there"
        assert m.stop_reason == "end_turn"
        assert m.usage.output_tokens == 4


def test_stream_collects_text_and_thinking(client):
    with client.messages.stream(
        model="mock",
        max_tokens=200,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "count to three"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "You said: count to three"
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Thinking about: count to three"
    assert final.stop_reason == "end_turn"


def tool_round_trip(client, model, expect_final):
    messages = [{"role": "user", "content": "Paris"}]
    with client.messages.stream(model=model, max_tokens=300, tools=TOOLS, messages=messages) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    calls = [b for b in first.content if b.type == "tool_use"]
    assert calls, first
    assert calls[0].name == "get_weather"
    assert calls[0].input == {"city": "Paris"}
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": c.id, "content": f"result {i}"} for i, c in enumerate(calls)
            ],
        }
    )
    final = client.messages.create(model=model, max_tokens=300, tools=TOOLS, messages=messages)
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == expect_final
    return calls


def test_full_tool_round_trip_with_the_mock_model(client):
    calls = tool_round_trip(client, "mock", "The get_weather tool returned: result 0")
    assert len(calls) == 1


def test_full_tool_round_trip_with_dashscope_streamed_fragments(client):
    calls = tool_round_trip(client, "qwen-max", "Qwen got: result 0; result 1")
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert calls[1].input == {"tz": "Paris"}


def test_the_sdks_default_tool_runner_works_through_threads(client):
    """The tool runner holds its conversation in a server-side thread by default (beta
    `message-threads`): the gateway keeps none, answers `continue` with `thread_not_found`,
    and the SDK replays the whole conversation, so every turn still has its history."""
    seen = []

    @anthropic.beta_tool
    def get_weather(city: str) -> str:
        """Weather for a city"""
        seen.append(city)
        return f"sunny in {city}"

    runner = client.beta.messages.tool_runner(
        model="mock",
        max_tokens=200,
        tools=[get_weather],
        messages=[{"role": "user", "content": "Paris"}],
    )
    replies = list(runner)
    assert seen == ["Paris"], seen
    assert replies[0].stop_reason == "tool_use"
    assert replies[-1].stop_reason == "end_turn"
    assert replies[-1].content[0].text == "The get_weather tool returned: sunny in Paris"
    # The second turn was refused once as a continued thread, then replayed whole. (Log
    # lines arrive on the gateway's stderr after the answers: wait for them, bounded.)
    deadline = time.monotonic() + 5
    while True:
        log = "".join(client.gateway.stderr_lines)
        done = log.count("model=mock provider=mock status=200") >= 2 and "POST /v1/messages 404" in log
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert log.count("model=mock provider=mock status=200") >= 2, log
    assert "POST /v1/messages 404" in log, log


def test_messages_parse_gets_structured_output(client):
    """`output_config.format` (what `messages.parse` sends) becomes the upstream's
    `response_format`; the mock echoes, so this checks the request is accepted and parsed."""
    m = client.messages.create(
        model="mock",
        max_tokens=200,
        messages=[{"role": "user", "content": "hello"}],
        extra_body={
            "output_config": {
                "format": {
                    "type": "json_schema",
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                }
            }
        },
    )
    assert m.stop_reason == "end_turn"


def test_images_base64_and_url(client):
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "describe"},
    ]
    m = client.messages.create(model="mock", max_tokens=50, messages=[{"role": "user", "content": content}])
    assert m.content[0].text == "You said: describe"
    # The DashScope mock echoes the OpenAI-shaped content it received.
    m = client.messages.create(model="qwen-max", max_tokens=50, messages=[{"role": "user", "content": content}])
    assert "data:image/png;base64," + PNG in m.content[0].text
    assert "https://example.com/cat.png" in m.content[0].text


def test_errors_map_to_sdk_exceptions(client):
    bad = anthropic.Anthropic(base_url=client.gateway.base, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        bad.messages.create(model="mock", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["error"]["type"] == "authentication_error"

    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert "no-such-model" in str(e.value)

    # Anthropic's server tools are left out (the model answers without them); its built-in
    # client tools, whose definitions only its models carry, are refused.
    m = client.messages.create(
        model="mock",
        max_tokens=5,
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
        messages=[{"role": "user", "content": "news"}],
    )
    assert m.stop_reason in ("end_turn", "max_tokens")
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(
            model="mock",
            max_tokens=5,
            tools=[{"type": "bash_20250124", "name": "bash"}],
            messages=[{"role": "user", "content": "ls"}],
        )
    assert "bash" in str(e.value)

    with pytest.raises(anthropic.NotFoundError):
        client.post("/v1/no-such-endpoint", body={}, cast_to=object)


def test_stream_failure_raises_instead_of_hanging(client):
    with pytest.raises(anthropic.APIError):
        with client.with_options(timeout=15).messages.stream(
            model="qwen-break", max_tokens=50, messages=[{"role": "user", "content": "a b c d"}]
        ) as stream:
            for _ in stream:
                pass


def test_count_tokens(client):
    r = client.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "Hello, world!"}])
    assert r.input_tokens == 10
    r = client.messages.count_tokens(
        model="qwen-max", tools=TOOLS, system="You are helpful.", messages=[{"role": "user", "content": "Hello, world!"}]
    )
    assert r.input_tokens > 30


def test_claude_names_on_azure_with_thinking_and_content_filter(gateway, mocks):
    """Claude Code's setup against the Azure mock: `claude-*` on a gpt-5 reasoning
    deployment (thinking becomes reasoning_effort), and Azure's content-filter 400 as
    Anthropic's BadRequestError."""
    cfg = f"""
model_list:
  - model_name: "claude-*"
    litellm_params:
      model: azure/gpt-5-mini
      api_base: {mocks}/
      api_key: azure-test-key
  - model_name: filtered
    litellm_params:
      model: azure/filtered
      api_base: {mocks}/
      api_key: azure-test-key
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""
    gw = gateway(cfg, LITELLM_MASTER_KEY=MASTER_KEY)
    c = anthropic.Anthropic(base_url=gw.base, auth_token=MASTER_KEY, max_retries=0)
    with c.messages.stream(
        model="claude-opus-4-1-20250805",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "hello"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Azure gpt-5-mini says: hello"
    assert final.model == "claude-opus-4-1-20250805"
    assert final.stop_reason == "end_turn"
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="filtered", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["type"] == "error"
    assert "content management policy" in e.value.body["error"]["message"]

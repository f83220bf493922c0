"""Claude upstreams with the official `anthropic` Python SDK: the SDK talks to the real
gateway, which relays `/v1/messages` to the mock Anthropic API (`anthropic/`) and the mock
Vertex AI (`vertex_ai/claude-*`, tokens from the mock Google OAuth endpoint) unchanged; and
the SDK's own `AnthropicVertex` client talks to the Vertex mock directly, a second check that
the mock speaks the wire format Vertex AI's real clients send."""

import json
import urllib.request

import anthropic
import pytest

from conftest import MASTER_KEY

ANTHROPIC_KEY = "sk-ant-mock-key"
SIGNATURE_PREFIX = "EqMockSignature"

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def post_json(url: str) -> dict:
    req = urllib.request.Request(url, method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def gw(gateway, mocks, tmp_path):
    req = urllib.request.Request(f"{mocks}/test/service-account", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as r:
        (tmp_path / "sa.json").write_bytes(r.read())
    config = f"""model_list:
  - model_name: sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_base: {mocks}
  - model_name: vertex-sonnet
    litellm_params:
      model: vertex_ai/claude-sonnet-4-5@20250929
      api_base: {mocks}
      vertex_project: e2e-project
      vertex_location: global
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""
    return gateway(
        config,
        LITELLM_MASTER_KEY=MASTER_KEY,
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "sa.json"),
    )


@pytest.fixture
def client(gw):
    return anthropic.Anthropic(base_url=gw.base, api_key=MASTER_KEY, max_retries=0)


@pytest.mark.parametrize("model", ["sonnet", "vertex-sonnet"])
def test_thinking_signature_and_cache_control_round_trip(client, model):
    first = client.messages.create(
        model=model,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hello"}],
    )
    thinking, text = first.content
    assert thinking.type == "thinking" and thinking.signature.startswith(SIGNATURE_PREFIX)
    assert text.text == "Claude says: hello"
    assert first.usage.cache_read_input_tokens == 1000
    # The signed thinking block goes back as the SDK holds it; the mock refuses it otherwise.
    second = client.messages.create(
        model=model,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": "again"},
        ],
    )
    assert second.content[-1].text == "Claude says: again"


@pytest.mark.parametrize("model", ["sonnet", "vertex-sonnet"])
def test_stream_with_tool_use(client, model):
    with client.messages.stream(
        model=model,
        max_tokens=1024,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "what is the weather"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Claude says: what is the weather"
    assert final.stop_reason == "tool_use"
    tool = final.content[-1]
    assert tool.type == "tool_use" and tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert final.usage.output_tokens == 9


def test_betas_and_count_tokens(client):
    r = client.beta.messages.create(
        model="sonnet",
        max_tokens=64,
        betas=["interleaved-thinking-2025-05-14"],
        messages=[{"role": "user", "content": "beta"}],
    )
    assert r.content[0].text == "Claude says: beta"
    n = client.messages.count_tokens(model="sonnet", messages=[{"role": "user", "content": "count me"}])
    assert n.input_tokens == 41


def test_upstream_errors_reach_the_sdk_as_its_exceptions(client):
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(
            model="sonnet",
            max_tokens=64,
            messages=[{"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "forged"}]},
                      {"role": "user", "content": "hi"}],
        )
    assert "Invalid `signature`" in str(e.value)


def test_anthropic_vertex_client_speaks_the_mocks_wire_format(mocks):
    token = post_json(f"{mocks}/test/access-token")["access_token"]
    vertex = anthropic.AnthropicVertex(
        region="global", project_id="e2e-project", access_token=token, base_url=f"{mocks}/v1", max_retries=0
    )
    r = vertex.messages.create(
        model="claude-sonnet-4-5@20250929",
        max_tokens=256,
        messages=[{"role": "user", "content": "straight to vertex"}],
    )
    assert r.content[0].text == "Claude says: straight to vertex"
    assert r.model == "claude-sonnet-4-5@20250929"
    with vertex.messages.stream(
        model="claude-sonnet-4-5@20250929",
        max_tokens=256,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "stream it"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature.startswith(SIGNATURE_PREFIX)
    assert final.content[1].text == "Claude says: stream it"

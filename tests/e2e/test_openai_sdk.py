"""The official `openai` Python SDK against the real gateway: the mock model and a mock
DashScope speaking its real wire format."""

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
  - model_name: qwen-limited
    litellm_params:
      model: dashscope/qwen-max
      api_base: {mocks}/compatible-mode/v1
      rpm: 1
  - model_name: qwen-break
    litellm_params:
      model: dashscope/qwen-break
      api_base: {mocks}/compatible-mode/v1
  - model_name: text-embedding-v3
    litellm_params:
      model: dashscope/text-embedding-v3
      api_base: {mocks}/compatible-mode/v1
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""


@pytest.fixture
def client(gateway, mocks):
    gw = gateway(config(mocks), LITELLM_MASTER_KEY=MASTER_KEY, DASHSCOPE_API_KEY=DASHSCOPE_KEY)
    c = openai.OpenAI(base_url=gw.base + "/v1", api_key=MASTER_KEY, max_retries=0)
    c.gateway = gw
    return c


def test_chat_with_mock_model(client):
    r = client.chat.completions.create(model="mock", messages=[{"role": "user", "content": "你好"}])
    assert r.choices[0].message.content == "You said: 你好"
    assert r.model == "mock"
    assert r.usage.total_tokens > 0


def test_stream_with_mock_model_and_usage(client):
    stream = client.chat.completions.create(
        model="mock",
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: stream me please"
    assert chunks[-1].usage.completion_tokens == 5


def test_dashscope_chat_and_reasoning_stream(client):
    r = client.chat.completions.create(model="qwen-max", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Qwen says: hi"
    assert r.model == "qwen-max"

    stream = client.chat.completions.create(
        model="qwen-plus",
        messages=[{"role": "user", "content": "think"}],
        stream=True,
        extra_body={"enable_thinking": True},
    )
    reasoning, text = "", ""
    for chunk in stream:
        delta = chunk.choices[0].delta
        reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
        text += delta.content or ""
    assert reasoning == "Let me think."
    assert text == "Qwen says: think"

    # DashScope thinks only on streams; a non-streaming call still gets the reasoning.
    r = client.chat.completions.create(
        model="qwen-plus",
        messages=[{"role": "user", "content": "think"}],
        reasoning_effort="high",
    )
    assert r.choices[0].message.content == "Qwen says: think"
    assert (r.choices[0].message.model_extra or {}).get("reasoning_content") == "Let me think."
    assert r.usage.total_tokens == 39


def test_embeddings(client):
    r = client.embeddings.create(model="text-embedding-v3", input=["a", "b"], dimensions=2)
    assert [d.embedding for d in r.data] == [[0.5, 0.5], [0.5, 0.5]]


def test_mock_embeddings_in_base64_decode_to_the_float_vectors(client):
    """The SDKs ask for base64 embeddings by default; the mock answers in that encoding and the
    decoded vector equals the float one."""
    # No encoding_format: the SDK asks for base64 and decodes it itself.
    decoded = client.embeddings.create(model="mock", input=["hello"], dimensions=8)
    floats = client.embeddings.create(model="mock", input=["hello"], dimensions=8, encoding_format="float")
    assert len(decoded.data[0].embedding) == 8
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)
    raw = client.embeddings.with_raw_response.create(
        model="mock", input=["hello"], dimensions=8, encoding_format="base64"
    )
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)


def test_structured_output_parses_on_the_mock_model(client):
    """`chat.completions.parse` (json_schema response_format, as instructor and LangChain use
    it) gets a JSON value of the schema from the mock."""
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int
        tags: list[str]

    r = client.chat.completions.parse(
        model="mock", messages=[{"role": "user", "content": "Ann"}], response_format=Person
    )
    person = r.choices[0].message.parsed
    assert person == Person(name="Ann", age=1, tags=[])

    r = client.chat.completions.create(
        model="mock",
        messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_object"},
    )
    import json

    assert json.loads(r.choices[0].message.content) == {"answer": "You said: hi"}


def test_errors_map_to_sdk_exceptions(client):
    bad = openai.OpenAI(base_url=client.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="mock", messages=[{"role": "user", "content": "x"}])
    assert "invalid API key" in str(e.value)

    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert "Available models: mock, qwen-max" in str(e.value)

    client.chat.completions.create(model="qwen-limited", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="qwen-limited", messages=[{"role": "user", "content": "x"}])
    assert e.value.response.headers["retry-after"].isdigit()


def test_stream_failure_raises_instead_of_hanging(client):
    stream = client.with_options(timeout=15).chat.completions.create(
        model="qwen-break", messages=[{"role": "user", "content": "a b c d"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass

"""The official `openai` Python SDK against the real gateway routing to the mock Azure OpenAI,
authenticated as a service principal through the mock Entra ID: chat, reasoning models,
streams (Azure's prompt-filter first chunk), embeddings, content-filter errors, and the SDK's
own AzureOpenAI client on the gateway's Azure-style paths."""

import openai
import pytest

from conftest import MASTER_KEY

TENANT = "contoso-tenant"
CLIENT_ID = "ai-proxy-app"
CLIENT_SECRET = "sp-secret-value"


def config(mocks: str) -> str:
    def entry(alias, deployment, extra=""):
        return f"""
  - model_name: {alias}
    litellm_params:
      model: azure/{deployment}
      api_base: {mocks}/
      {extra}
"""

    return (
        "model_list:"
        + entry("gpt-4o", "gpt-4o", 'api_version: "2024-10-21"')
        + entry("gpt-5-mini", "gpt-5-mini")
        + entry("gpt-4.1-v1", "gpt-4.1", "api_version: v1")
        + entry("text-embedding-3-small", "text-embedding-3-small")
        + entry("filtered", "filtered")
        + """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""
    )


@pytest.fixture
def gw(gateway, mocks):
    return gateway(
        config(mocks),
        LITELLM_MASTER_KEY=MASTER_KEY,
        AZURE_TENANT_ID=TENANT,
        AZURE_CLIENT_ID=CLIENT_ID,
        AZURE_CLIENT_SECRET=CLIENT_SECRET,
        AZURE_AUTHORITY_HOST=mocks,
    )


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=gw.base + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_chat(client, gw):
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "Azure gpt-4o says: hello"
    assert r.model == "gpt-4o"
    assert r.usage.total_tokens == 21
    assert CLIENT_SECRET not in gw.stderr


def test_v1_api_deployment(client):
    r = client.chat.completions.create(model="gpt-4.1-v1", messages=[{"role": "user", "content": "v1"}])
    assert r.choices[0].message.content == "Azure gpt-4.1 says: v1"


def test_reasoning_model_takes_max_tokens_and_reports_reasoning_tokens(client):
    r = client.chat.completions.create(
        model="gpt-5-mini",
        messages=[{"role": "user", "content": "think"}],
        max_tokens=50,
        reasoning_effort="low",
    )
    assert r.choices[0].message.content == "Azure gpt-5-mini says: think"
    assert r.usage.completion_tokens_details.reasoning_tokens == 64

    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": "x"}], temperature=0.2
        )
    assert "only supports temperature=1" in str(e.value)


def test_stream_survives_the_prompt_filter_chunk(client):
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "stream it"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content_chunks = [c for c in chunks if c.choices]
    # Only the final usage chunk has no choices; Azure's empty first chunk is folded away.
    assert len(content_chunks) == len(chunks) - 1
    assert chunks[-1].usage.total_tokens == 21
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert text == "Azure gpt-4o says: stream it"
    assert content_chunks[0].model_extra["prompt_filter_results"][0]["prompt_index"] == 0


def test_embeddings(client):
    # The SDK asks for base64 by default and decodes it.
    r = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=3)
    assert [len(d.embedding) for d in r.data] == [3, 3]
    assert r.data[1].embedding == pytest.approx([0.1, 0.2, 0.3], rel=1e-6)
    r = client.embeddings.create(model="text-embedding-3-small", input="a", encoding_format="float")
    assert len(r.data[0].embedding) == 8
    assert r.model == "text-embedding-3-small"


def test_content_filter_error_keeps_azure_details(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="filtered", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "content_filter"
    inner = e.value.body["innererror"]
    assert inner["content_filter_result"]["violence"]["filtered"] is True


def test_azure_sdk_client_on_deployment_paths(gw):
    az = openai.AzureOpenAI(
        azure_endpoint=gw.base, api_key=MASTER_KEY, api_version="2024-10-21", max_retries=0
    )
    r = az.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "az"}])
    assert r.choices[0].message.content == "Azure gpt-4o says: az"
    e = az.embeddings.create(model="text-embedding-3-small", input="a", dimensions=2)
    assert len(e.data[0].embedding) == 2

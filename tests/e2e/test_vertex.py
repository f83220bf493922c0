"""The official `openai` Python SDK through the real gateway to the mock Vertex AI (strict
Gemini wire format) and the mock Google OAuth endpoint: chat, streaming, tool calling over two
turns (streaming and not, Gemini 3 thought signatures included), an image, JSON mode and
embeddings, with both gcloud ADC (authorized_user) and service-account credentials."""

import json
import urllib.request

import openai
import pytest

from conftest import MASTER_KEY

CLIENT_ID = "764086051850-mock.apps.googleusercontent.com"
CLIENT_SECRET = "d-FL95Q19q7MQmFpd7hHD0Ty"
REFRESH_TOKEN = "1//0mock-refresh-token"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "city": {"type": "string"},
                "unit": {"anyOf": [{"enum": ["celsius", "fahrenheit"]}, {"type": "null"}]},
            },
            "required": ["city"],
        },
    },
}


def config(mocks: str) -> str:
    def model(alias, name, location=""):
        loc = f"\n      vertex_location: {location}" if location else ""
        return f"""
  - model_name: {alias}
    litellm_params:
      model: vertex_ai/{name}
      api_base: {mocks}
      vertex_project: e2e-project{loc}"""

    return (
        "model_list:"
        + model("gemini-flash", "gemini-2.5-flash")
        + model("gemini-3-pro", "gemini-3-pro-preview", "global")
        + model("text-embedding-005", "text-embedding-005")
        + "\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"
    )


@pytest.fixture(params=["adc", "service_account"])
def client(request, gateway, mocks, tmp_path):
    env = {"LITELLM_MASTER_KEY": MASTER_KEY}
    if request.param == "adc":
        # gcloud's application-default credentials, pointing token_uri at the mock.
        gcloud = tmp_path / "gcloud"
        gcloud.mkdir()
        (gcloud / "application_default_credentials.json").write_text(
            json.dumps(
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "quota_project_id": "e2e-quota",
                    "refresh_token": REFRESH_TOKEN,
                    "token_uri": f"{mocks}/token",
                    "type": "authorized_user",
                }
            )
        )
        env["CLOUDSDK_CONFIG"] = str(gcloud)
    else:
        req = urllib.request.Request(f"{mocks}/test/service-account", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as r:
            key = r.read()
        path = tmp_path / "sa.json"
        path.write_bytes(key)
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(path)
    gw = gateway(config(mocks), **env)
    return openai.OpenAI(base_url=gw.base + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_chat(client):
    r = client.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "你好"}])
    assert r.choices[0].message.content == "Gemini says: 你好"
    assert r.model == "gemini-flash"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens_details.reasoning_tokens == 5
    assert r.usage.prompt_tokens_details.cached_tokens == 4


def test_stream_with_reasoning_and_usage(client):
    stream = client.chat.completions.create(
        model="gemini-flash",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
        reasoning_effort="low",
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Gemini says: stream me"
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning.startswith("**Planning**")
    assert chunks[-1].usage.total_tokens == 25


def _weather_turn_two(client, messages, calls, stream):
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in calls
            ],
        }
    )
    for c in calls:
        messages.append({"role": "tool", "tool_call_id": c["id"], "content": json.dumps({"temp_c": 18, "city": json.loads(c["arguments"])["city"]})})
    if not stream:
        r = client.chat.completions.create(model="gemini-3-pro", messages=messages, tools=[WEATHER_TOOL])
        return r.choices[0].message.content
    s = client.chat.completions.create(model="gemini-3-pro", messages=messages, tools=[WEATHER_TOOL], stream=True)
    return "".join(c.choices[0].delta.content or "" for c in s if c.choices)


def test_tool_round_trip_with_thought_signatures(client):
    messages = [{"role": "user", "content": "What is the weather in Tokyo and Paris?"}]
    r = client.chat.completions.create(model="gemini-3-pro", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto")
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [{"id": t.id, "name": t.function.name, "arguments": t.function.arguments} for t in choice.message.tool_calls]
    assert [json.loads(c["arguments"])["city"] for c in calls] == ["Tokyo", "Paris"]
    answer = _weather_turn_two(client, messages, calls, stream=False)
    assert answer.startswith("The weather: ")
    assert "Paris" in answer


def test_tool_round_trip_streaming(client):
    messages = [{"role": "user", "content": "What is the weather in Oslo and Rome?"}]
    stream = client.chat.completions.create(model="gemini-3-pro", messages=messages, tools=[WEATHER_TOOL], stream=True)
    calls, finish = {}, None
    for chunk in stream:
        if not chunk.choices:
            continue
        ch = chunk.choices[0]
        for tc in ch.delta.tool_calls or []:
            c = calls.setdefault(tc.index, {"id": tc.id, "name": tc.function.name, "arguments": ""})
            c["arguments"] += tc.function.arguments or ""
        finish = ch.finish_reason or finish
    assert finish == "tool_calls"
    ordered = [calls[i] for i in sorted(calls)]
    assert [json.loads(c["arguments"]) for c in ordered] == [
        {"city": "Oslo", "unit": "celsius"},
        {"city": "Rome", "unit": "celsius"},
    ]
    answer = _weather_turn_two(client, messages, ordered, stream=True)
    assert answer.startswith("The weather: ")


def test_image(client):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    r = client.chat.completions.create(
        model="gemini-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                ],
            }
        ],
    )
    assert r.choices[0].message.content == "Gemini says: describe [1 image(s) seen]"


def test_json_mode(client):
    r = client.chat.completions.create(
        model="gemini-flash",
        messages=[{"role": "user", "content": "answer in json"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(r.choices[0].message.content)["answer"] == 42


def test_embeddings(client):
    r = client.embeddings.create(model="text-embedding-005", input=["hello world", "bye"], dimensions=8)
    assert [d.index for d in r.data] == [0, 1]
    assert len(r.data[0].embedding) == 8
    assert r.usage.prompt_tokens == 3


def test_blocked_prompt_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "this is blocked"}])
    assert "PROHIBITED_CONTENT" in str(e.value)

"""The official Node SDKs, `openai` and `@anthropic-ai/sdk` (exact versions in
node/package-lock.json), against the real gateway: each test runs one case of
node/openai_sdk.mjs or node/anthropic_sdk.mjs (`node SCRIPT BASE_URL KEY CASE`) and asserts on
the JSON it prints. The packages come from where scripts/test-deps installs them (outside the
clone, in a folder named after the lock file's hash); a missing node or package is a failure,
never a skip."""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import DASHSCOPE_KEY, MASTER_KEY

NODE_DIR = pathlib.Path(__file__).parent / "node"
LOCK = NODE_DIR / "package-lock.json"
CACHE = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
# The folder scripts/test-deps installs into (AI_PROXY_NODE_SDKS to use another).
SDKS = pathlib.Path(
    os.environ.get("AI_PROXY_NODE_SDKS")
    or CACHE / f"ai-proxy-test/node-sdks-{hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]}"
)


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
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""


@pytest.fixture
def node(gateway, mocks, tmp_path):
    """run(script, case) -> the JSON the case printed, against a fresh gateway."""
    node_bin = shutil.which("node")
    if node_bin is None:
        pytest.fail("node is not on PATH: scripts/test-deps installs Node.js (Debian packages nodejs npm)", pytrace=False)
    for package in ("openai", "@anthropic-ai/sdk", "zod"):
        if not (SDKS / "node_modules" / package / "package.json").exists():
            pytest.fail(
                f"{SDKS}/node_modules/{package} is missing: scripts/test-deps installs the Node SDKs "
                f"of {LOCK.relative_to(LOCK.parents[3])} (set AI_PROXY_NODE_SDKS to use another folder)",
                pytrace=False,
            )
    gw = gateway(config(mocks), LITELLM_MASTER_KEY=MASTER_KEY, DASHSCOPE_API_KEY=DASHSCOPE_KEY)

    def run(script: str, case: str):
        done = subprocess.run(
            [node_bin, str(NODE_DIR / script), gw.base, MASTER_KEY, case],
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AI_PROXY_NODE_SDKS": str(SDKS)},
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{script} {case} exited {done.returncode}:\n{done.stderr}\n{done.stdout}"
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


def pinned(package: str) -> str:
    return json.loads(LOCK.read_text())["packages"][f"node_modules/{package}"]["version"]


def test_the_installed_sdks_are_the_pinned_versions(node):
    assert node("openai_sdk.mjs", "version")["version"] == pinned("openai")
    assert node("anthropic_sdk.mjs", "version")["version"] == pinned("@anthropic-ai/sdk")


# ---- openai ----------------------------------------------------------------------------


def test_openai_chat_plain_streamed_and_the_stream_helper(node):
    r = node("openai_sdk.mjs", "chat")
    assert r["text"] == "You said: 你好 from node"
    assert r["model"] == "mock"
    assert r["finish_reason"] == "stop"
    assert r["usage"]["total_tokens"] > 0
    assert r["stream"]["text"] == "You said: 你好 from node"
    assert r["stream"]["usage"]["completion_tokens"] == 5
    assert r["helper_text"] == "You said: 你好 from node"


def test_openai_chat_on_the_dashscope_mock_with_reasoning(node):
    r = node("openai_sdk.mjs", "dashscope")
    assert r["text"] == "Qwen says: hi"
    assert r["model"] == "qwen-max"
    assert r["stream"]["text"] == "Qwen says: stream please"
    assert r["thinking"] == {"text": "Qwen says: think", "reasoning": "Let me think.", "usage": None}


def test_openai_embeddings_default_base64_decode_to_the_float_vector(node):
    """The Node SDK asks for base64 when no encoding is given and decodes it itself: the
    vector it returns must be the one `encoding_format: "float"` gets."""
    r = node("openai_sdk.mjs", "embeddings")
    assert r["sent_encoding"] == ["base64", "float", "base64"]
    assert len(r["decoded"]) == 8
    assert r["decoded"] == pytest.approx(r["floats"], rel=1e-6)
    assert r["raw_type"] == "string"


def test_openai_parse_with_a_zod_schema_and_json_mode(node):
    r = node("openai_sdk.mjs", "parse")
    assert r["sent_format"] == "json_schema"
    assert r["parsed"] == {"name": "Ann", "age": 1, "tags": []}
    assert r["json_object"] == {"answer": "You said: hi"}


def test_openai_run_tools_loops_on_mock_and_on_dashscope_fragments(node):
    r = node("openai_sdk.mjs", "run_tools")
    assert r["mock"] == "The get_weather tool returned: sunny in Paris"
    # The DashScope mock calls both tools, arguments streamed in fragments.
    assert r["qwen"] == "Qwen got: sunny in Rome; noon in Rome"
    assert r["calls"] == [["get_weather", "Paris"], ["get_weather", "Rome"], ["get_time", "Rome"]]


def test_openai_errors_are_the_sdks_exceptions(node):
    r = node("openai_sdk.mjs", "errors")
    assert r["wrong_key"]["name"] == "AuthenticationError"
    assert r["wrong_key"]["status"] == 401
    assert r["unknown_model"]["name"] == "BadRequestError"
    assert "Available models: mock" in r["unknown_model"]["message"]


# ---- @anthropic-ai/sdk -----------------------------------------------------------------


def test_anthropic_create_with_a_claude_name_by_key_and_by_bearer_token(node):
    r = node("anthropic_sdk.mjs", "create")
    for auth in ("api_key", "auth_token"):
        m = r[auth]
        assert m["type"] == "message"
        assert m["model"] == "claude-sonnet-4-5"
        assert m["content"] == [{"type": "text", "text": "You said: hello from node"}]
        assert m["stop_reason"] == "end_turn"


def test_anthropic_stream_with_thinking_and_from_dashscope(node):
    r = node("anthropic_sdk.mjs", "stream")
    assert r["text"] == "You said: count to three"
    assert r["blocks"] == ["thinking", "text"]
    assert r["thinking"] == "Thinking about: count to three"
    assert r["stop_reason"] == "end_turn"
    assert r["qwen_text"] == "Qwen says: hi"


def test_anthropic_tool_runner_recovers_from_thread_not_found_like_the_python_sdk(node):
    """`client.beta.messages.toolRunner` runs over a server-side message thread by default.
    The gateway keeps none: turn 2 (`thread: continue`, only the new message, no tools) is
    answered 404 `thread_not_found`, and the SDK sends the whole history again under a new
    thread, exactly as the Python SDK does. On `mock` and streamed on the DashScope mock."""
    r = node("anthropic_sdk.mjs", "tool_runner")
    assert r["calls"] == ["Paris"]
    assert [m["stop_reason"] for m in r["replies"]] == ["tool_use", "end_turn"]
    assert r["replies"][-1]["content"] == [{"type": "text", "text": "The get_weather tool returned: sunny in Paris"}]
    assert r["stream_calls"] == ["Rome"]
    assert r["stream_replies"][-1]["content"] == [{"type": "text", "text": "Qwen got: sunny in Rome"}]
    for turns in (r["turns"], r["stream_turns"]):
        assert all(t["threads_beta"] for t in turns), turns
        assert [(t["thread"]["type"], t["status"], t["error_code"]) for t in turns] == [
            ("create", 200, None),
            ("continue", 404, "thread_not_found"),
            ("create", 200, None),
        ], turns
        # The continue sent only the tool result; the replay, the whole history and the tools.
        assert [t["messages"] for t in turns] == [1, 1, 3], turns
        assert turns[2]["tools"] == ["get_weather"], turns


def test_anthropic_messages_parse_with_a_zod_schema(node):
    r = node("anthropic_sdk.mjs", "parse")
    assert r["sent_format"] == "json_schema"
    assert r["parsed"] == {"name": "Ann", "age": 1, "tags": []}


def test_anthropic_errors_are_the_sdks_exceptions(node):
    r = node("anthropic_sdk.mjs", "errors")
    assert r["wrong_key"]["name"] == "AuthenticationError"
    assert r["wrong_key"]["body"]["error"]["type"] == "authentication_error"
    assert r["unknown_model"]["name"] == "BadRequestError"
    assert r["unknown_model"]["body"]["type"] == "error"

"""Claude Code (the real CLI, from npm, version in claude-code-version.txt) against the
gateway's Anthropic Messages API: `claude -p` with ANTHROPIC_BASE_URL at ai-proxy, its
default model name served by a `claude-*` alias mapped to the mock, a temporary HOME and
working folder, and the variables that turn off its traffic to anywhere else (telemetry,
error reports, auto-update, other non-essential calls; checked by hand under strace: with
them it connects to 127.0.0.1 only).

Claude Code offers the `Bash` tool alone (`--tools Bash`, allowed with `--allowedTools`): its
default list starts with `Agent`, which the mock would call again and again (each call starts
a sub-agent). The mock calls Bash with the prompt as the command, Claude Code runs it and
sends the output back, and the mock's answer quotes it: one whole tool round trip through
/v1/messages (streamed, with Claude Code's mid-conversation system messages, adaptive
thinking, cache_control and its deferred-tool placeholder)."""

import json
import os
import pathlib
import subprocess
import time

import pytest

from conftest import MASTER_KEY

VERSION = (pathlib.Path(__file__).parent / "claude-code-version.txt").read_text().strip()
CACHE = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
# Where scripts/test-deps installs it (AI_PROXY_CLAUDE_CODE to use another).
CLAUDE = pathlib.Path(
    os.environ.get("AI_PROXY_CLAUDE_CODE") or CACHE / f"ai-proxy-test/claude-code-{VERSION}/node_modules/.bin/claude"
)

CONFIG = """
model_list:
  - model_name: "claude-*"
    litellm_params:
      model: mock/claude-stand-in
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""

# Claude Code's documented switches for everything but the model calls.
QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


def claude(gw, tmp_path, prompt, auth):
    if not CLAUDE.exists():
        pytest.fail(
            f"{CLAUDE} is missing: scripts/test-deps installs Claude Code from npm (set AI_PROXY_CLAUDE_CODE to use another)",
            pytrace=False,
        )
    home = tmp_path / "claude-home"
    work = tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "ANTHROPIC_BASE_URL": gw.base, **QUIET, **auth}
    done = subprocess.run(
        [str(CLAUDE), "-p", prompt, "--output-format", "json", "--tools", "Bash", "--allowedTools", "Bash"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard, not a performance bound: a run takes about a second
    )
    try:
        done.result = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"claude -p printed no JSON result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}", pytrace=False)
    return done


def wait_for_log(gw, line, count):
    """The gateway's request lines arrive on its stderr on another thread: wait, bounded."""
    deadline = time.monotonic() + 5
    while gw.stderr.count(line) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return gw.stderr


@pytest.mark.parametrize("auth_var", ["ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"])
def test_claude_p_runs_a_tool_round_trip_through_the_gateway(gateway, tmp_path, auth_var):
    gw = gateway(CONFIG, LITELLM_MASTER_KEY=MASTER_KEY)
    done = claude(gw, tmp_path, "echo claude-code-through-ai-proxy", {auth_var: MASTER_KEY})
    r = done.result
    assert done.returncode == 0, done.stdout + done.stderr
    assert r["is_error"] is False, r
    assert r["subtype"] == "success", r
    # Turn 1: the mock calls Bash with the prompt; Claude Code runs it. Turn 2: the answer.
    assert r["num_turns"] == 2, r
    assert r["result"] == "The Bash tool returned: claude-code-through-ai-proxy", r
    # Its default model name reached the `claude-*` alias.
    [model] = r["modelUsage"]
    assert model.startswith("claude-"), r
    line = f"messages model={model} provider=mock status=200 stream"
    log = wait_for_log(gw, line, 2)
    assert log.count(line) == 2, log
    assert "POST /v1/messages 4" not in log, log  # nothing refused (tool_reference, placeholder, …)
    assert MASTER_KEY not in log


def test_claude_p_with_a_wrong_key_stops_at_once_with_an_auth_error(gateway, tmp_path):
    """The gateway's 401 carries `x-should-retry: false`, so Claude Code gives up after one
    request instead of retrying for minutes."""
    gw = gateway(CONFIG, LITELLM_MASTER_KEY=MASTER_KEY)
    done = claude(gw, tmp_path, "hello", {"ANTHROPIC_AUTH_TOKEN": "sk-wrong-key"})
    r = done.result
    assert done.returncode != 0, r
    assert r["is_error"] is True, r
    assert r["api_error_status"] == 401, r
    assert "invalid API key" in r["result"], r
    log = wait_for_log(gw, "POST /v1/messages 401", 1)
    assert log.count("POST /v1/messages 401") == 1, log
    assert "status=200" not in log, log

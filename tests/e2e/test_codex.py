"""Codex CLI (the real one, from npm, version in codex-version.txt) against the
gateway's Responses API: `codex exec` with a provider pointing at ai-proxy and the `mock`
model. The mock calls Codex's first tool (`exec_command`) with the prompt as the command;
Codex runs it, sends the output back as a `function_call_output`, and the mock's answer
quotes it: one whole agent turn through /v1/responses (streaming, a hosted `web_search` tool
left out, a `namespace` tool flattened, the tool call and its output round-tripped)."""

import os
import pathlib
import subprocess
import time

import pytest

from conftest import MASTER_KEY

VERSION = (pathlib.Path(__file__).parent / "codex-version.txt").read_text().strip()
CACHE = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
# Where scripts/test-deps installs it (AI_PROXY_CODEX to use another).
CODEX = pathlib.Path(os.environ.get("AI_PROXY_CODEX") or CACHE / f"ai-proxy-test/codex-{VERSION}/node_modules/.bin/codex")

CONFIG = """
model_list:
  - model_name: mock
    litellm_params:
      model: mock/echo
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""


def test_codex_exec_runs_a_tool_through_the_responses_api(gateway, tmp_path):
    if not CODEX.exists():
        pytest.fail(f"{CODEX} is missing: scripts/test-deps installs Codex CLI from npm (set AI_PROXY_CODEX to use another)", pytrace=False)
    gw = gateway(CONFIG, LITELLM_MASTER_KEY=MASTER_KEY)
    home = tmp_path / "codex-home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text(
        f"""model = "mock"
model_provider = "aiproxy"

[model_providers.aiproxy]
name = "ai-proxy"
base_url = "{gw.base}/v1"
env_key = "AI_PROXY_KEY"
wire_api = "responses"
"""
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "CODEX_HOME": str(home),
        "AI_PROXY_KEY": MASTER_KEY,
    }
    done = subprocess.run(
        [str(CODEX), "exec", "--skip-git-repo-check", "echo codex-through-ai-proxy"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Calling exec_command." in out, out
    # Codex ran the command and the model's final answer quotes the tool output.
    assert "The exec_command tool returned:" in out, out
    assert out.count("codex-through-ai-proxy") >= 2, out
    # The request log lines are read from the gateway's stderr on another thread: wait a little.
    line = "responses model=mock provider=mock status=200 stream"
    deadline = time.monotonic() + 5
    while gw.stderr.count(line) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    log = gw.stderr
    assert log.count(line) >= 2, log
    assert MASTER_KEY not in log

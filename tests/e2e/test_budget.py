"""A spent `max_budget` as the official SDKs see it: a RateLimitError at once (no retries:
the gateway says `x-should-retry: false`), with LiteLLM's "crossed budget" wording."""

import time

import anthropic
import openai

from conftest import MASTER_KEY

CONFIG = """
model_list:
  - model_name: capped
    litellm_params:
      model: mock/echo
      max_budget: 0.000001
      budget_duration: 1d
    model_info:
      input_cost_per_token: 0.000002
      output_cost_per_token: 0.000008
"""


def test_a_spent_budget_is_a_rate_limit_error_without_retries(gateway):
    gw = gateway(CONFIG, LITELLM_MASTER_KEY=MASTER_KEY)
    # The SDK's default retries are on: a retried 429 would take seconds.
    client = openai.OpenAI(base_url=gw.base + "/v1", api_key=MASTER_KEY, max_retries=2)
    first = client.chat.completions.create(
        model="capped", messages=[{"role": "user", "content": "hi"}]
    )
    assert first.choices[0].message.content == "You said: hi"

    try:
        client.chat.completions.create(model="capped", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("the second call should be over budget")
    except openai.RateLimitError as e:
        assert e.status_code == 429
        assert e.body["type"] == "budget_exceeded", e.body
        assert "crossed budget" in e.body["message"], e.body
        assert int(e.response.headers["retry-after"]) > 0
    # One request, not three: every retry would be a request log line of its own (all
    # written before the SDK gave up; the pipe is read by a thread, so wait for it).
    refused = []
    for _ in range(50):
        refused = [l for l in gw.stderr.splitlines() if "model=capped" in l and "status=429" in l]
        if refused:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    refused = [l for l in gw.stderr.splitlines() if "model=capped" in l and "status=429" in l]
    assert len(refused) == 1, "the SDK retried a spent budget:\n" + "\n".join(refused)

    claude = anthropic.Anthropic(base_url=gw.base, api_key=MASTER_KEY, max_retries=2)
    try:
        claude.messages.create(
            model="capped", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
        raise AssertionError("over budget in the Anthropic dialect too")
    except anthropic.RateLimitError as e:
        assert e.status_code == 429
        assert "crossed budget" in e.body["error"]["message"], e.body

"""The dashboard at /ui in headless Chromium (Debian package `chromium`) against the real
binary: a few calls through the official SDK (one failing upstream), then the page's DOM
after its script ran (`--dump-dom`) and a screenshot whose pixels show the chart."""

import html
import json
import os
import pathlib
import shutil
import struct
import subprocess
import time
import urllib.request
import zlib

import openai
import pytest

from conftest import DASHSCOPE_KEY, MASTER_KEY

WIDTH, HEIGHT = 1280, 1400
# The chart's first colour (app.js PALETTE[0]): the bars of the alphabetically first model.
FIRST_COLOUR = (0x3B, 0x6F, 0xD8)
WRONG_UPSTREAM_KEY = "sk-wrong-dashscope-key-9173"


def chromium() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.fail(
            "chromium is not installed: the dashboard is tested in headless Chromium "
            "(Debian package `chromium`; scripts/test-deps installs it)",
            pytrace=False,
        )
    return path


def run_chromium(tmp_path: pathlib.Path, url: str, *mode: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{time.monotonic_ns()}"
    args = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--force-color-profile=srgb",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        # Let the page's fetches finish before the DOM is dumped or the screenshot taken.
        "--virtual-time-budget=15000",
        *mode,
        url,
    ]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done


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
  - model_name: qwen-badkey
    litellm_params:
      model: dashscope/qwen-max
      api_base: {mocks}/compatible-mode/v1
      api_key: {WRONG_UPSTREAM_KEY}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""


def get_json(base: str, path: str):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {MASTER_KEY}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


@pytest.fixture
def used_gateway(gateway, mocks):
    """A gateway with four calls in its request log: two to the mock, one to DashScope and one
    refused by DashScope (wrong upstream key)."""
    gw = gateway(config(mocks), LITELLM_MASTER_KEY=MASTER_KEY, DASHSCOPE_API_KEY=DASHSCOPE_KEY)
    client = openai.OpenAI(base_url=gw.base + "/v1", api_key=MASTER_KEY, max_retries=0)
    for model in ["mock", "mock", "qwen-max"]:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="qwen-badkey", messages=[{"role": "user", "content": "hi"}]
        )
    # Rows are written off the request path: wait (bounded) until all four are in.
    for _ in range(100):
        if get_json(gw.base, "/usage")["total"]["requests"] >= 4:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the request log never showed the four calls")
    return gw


def test_dashboard_renders_usage_log_and_deployments(used_gateway, tmp_path):
    done = run_chromium(
        tmp_path,
        used_gateway.base + f"/ui#key={MASTER_KEY}",
        "--dump-dom",
        "--enable-logging=stderr",
        "--v=0",
    )
    dom = done.stdout
    # The page's console: nothing refused by the CSP, no script error, no warning.
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], "\n".join(console)
    text = html.unescape(dom)
    assert 'data-state="ready"' in dom, f"the page did not finish loading:\n{dom[:3000]}"
    # Per-model table: every model with calls, the failed one flagged with its error.
    for model in ["mock", "qwen-max", "qwen-badkey"]:
        assert f'<tr data-model="{model}"' in dom, model
    assert '<tr data-model="qwen-badkey" class="has-failures">' in dom
    # The request log: four rows, the failed call with DashScope's (redacted) error.
    assert dom.count("data-request-id=") == 4, dom
    assert dom.count('class="failed"') == 1
    assert "Incorrect API key provided" in text
    assert WRONG_UPSTREAM_KEY not in text and MASTER_KEY not in text
    # The chart: SVG bars for each model, drawn by the script.
    assert 'id="chart-svg"' in dom
    for model in ["mock", "qwen-max", "qwen-badkey"]:
        assert f'class="bar" data-model="{model}"' in dom, model
    # Deployments from /health/readiness.
    assert dom.count('<tr data-state="ready">') == 3
    assert "dashscope/qwen-max" in dom


def test_dashboard_filters(used_gateway, tmp_path):
    """Filters from the query string: failed calls only, one model, today."""
    base = used_gateway.base + "/ui"
    dom = run_chromium(tmp_path, base + f"?failed=1#key={MASTER_KEY}", "--dump-dom").stdout
    assert 'data-state="ready"' in dom, dom[:3000]
    assert dom.count("data-request-id=") == 1
    assert dom.count('class="failed"') == 1
    assert "Incorrect API key provided" in html.unescape(dom)

    dom = run_chromium(
        tmp_path, base + f"?model=mock&window=day&metric=tokens#key={MASTER_KEY}", "--dump-dom"
    ).stdout
    assert 'data-state="ready"' in dom, dom[:3000]
    assert dom.count("data-request-id=") == 2
    assert 'class="failed"' not in dom
    log_table = dom.split('id="log"')[1].split('id="deployments"')[0]
    assert "Incorrect API key provided" not in html.unescape(log_table)


def test_dashboard_asks_for_the_key(used_gateway, tmp_path):
    dom = run_chromium(tmp_path, used_gateway.base + "/ui", "--dump-dom").stdout
    assert 'data-state="login"' in dom, dom[:3000]
    assert '<section id="login">' in dom, "the login form is shown"
    assert "data-request-id=" not in dom and 'id="chart-svg"' not in dom

    dom = run_chromium(tmp_path, used_gateway.base + "/ui#key=sk-not-the-key", "--dump-dom").stdout
    assert 'data-state="login"' in dom
    assert "That key was refused" in html.unescape(dom)


def test_dashboard_screenshot_shows_the_chart(used_gateway, tmp_path):
    shot = tmp_path / "dashboard.png"
    run_chromium(
        tmp_path, used_gateway.base + f"/ui#key={MASTER_KEY}", f"--screenshot={shot}"
    )
    assert shot.exists(), "chromium wrote no screenshot"
    width, height, pixels = read_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    colours = {}
    for p in pixels:
        colours[p] = colours.get(p, 0) + 1
    assert len(colours) > 50, f"the screenshot is (nearly) blank: {len(colours)} colours"
    # The first model's bar: a solid block of the chart's first colour.
    assert colours.get(FIRST_COLOUR, 0) > 200, "no chart bar in the first colour"


def read_png(data: bytes):
    """Width, height and RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
    assert header, "PNG without IHDR"
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    pixels = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        pixels.extend(tuple(line[i : i + 3]) for i in range(0, stride, bpp))
        prev = line
    return width, height, pixels

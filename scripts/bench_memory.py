#!/usr/bin/env python3
"""Gateway memory with big upstream bodies: peak and settled RSS of `ai-proxy serve`.

A stdlib-only fake OpenAI-compatible upstream on 127.0.0.1 serves a big non-streaming
completion (`--size-mb` of answer text), a big error body (500 with `--error-mb` of text)
and a big completion for the Anthropic dialect; the gateway under test is started on a free
port with `openai/` deployments pointing at it. For each scenario the peak RSS is reset
(`/proc/PID/clear_refs` 5), one request is sent, and VmHWM (peak) and VmRSS (1 s after the
answer) are read from `/proc/PID/status`. Then a burst of `--burst` big completions, four at
a time, and the RSS left once it settles.

    scripts/bench_memory.py --bin target/release/ai-proxy [--size-mb 30] [--error-mb 50]

Linux only (reads /proc). Not part of scripts/test; figures in BENCHMARKS.md.
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def completion_body(size_mb):
    words = "lorem ipsum dolor sit amet, consectetur adipiscing elit. "
    text = (words * (size_mb * 1024 * 1024 // len(words) + 1))[: size_mb * 1024 * 1024]
    return json.dumps(
        {
            "id": "chatcmpl-big",
            "object": "chat.completion",
            "created": 1732800000,
            "model": "big",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
    ).encode()


def upstream(args):
    big = completion_body(args.size_mb)
    err = b"x" * (args.error_mb * 1024 * 1024)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("content-length") or 0)
            self.rfile.read(n)
            status, body = (500, err) if self.path.startswith("/err/") else (200, big)
            self.send_response(status)
            self.send_header("content-type", "application/json" if status == 200 else "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the gateway stopped reading: what a bounded read does

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024
    return out


def post(base, path, body, timeout=120):
    req = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, len(r.read())
    except urllib.error.HTTPError as e:
        return e.code, len(e.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/ai-proxy")
    ap.add_argument("--size-mb", type=int, default=30)
    ap.add_argument("--error-mb", type=int, default=50)
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--extra-env", action="append", default=[], help="NAME=VALUE for the gateway")
    args = ap.parse_args()

    srv = upstream(args)
    up = f"http://127.0.0.1:{srv.server_address[1]}"
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "config.yaml")
    with open(cfg, "w") as f:
        f.write(
            "model_list:\n"
            f"  - model_name: big\n    litellm_params:\n      model: openai/big\n      api_base: {up}/ok/v1\n"
            f"  - model_name: err\n    litellm_params:\n      model: openai/err\n      api_base: {up}/err/v1\n"
        )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "AI_PROXY_LOG_DIR": "off", "RUST_LOG": "warn"}
    env.update(kv.split("=", 1) for kv in args.extra_env)
    proc = subprocess.Popen(
        [args.bin, "serve", "--config", cfg, "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        base = None
        for line in proc.stdout:
            if "listening on " in line:
                base = line.split("listening on ")[1].split()[0]
                break
        if base is None:
            sys.exit("the gateway did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        time.sleep(0.5)
        print(f"idle: VmRSS {status(proc.pid)['VmRSS']:.1f} MiB")

        msgs = [{"role": "user", "content": "hi"}]
        scenarios = [
            (f"{args.size_mb} MB completion, /v1/chat/completions", "/v1/chat/completions", {"model": "big", "messages": msgs}),
            (f"{args.size_mb} MB completion, /v1/messages", "/v1/messages", {"model": "big", "max_tokens": 10, "messages": msgs}),
            (f"{args.error_mb} MB error body", "/v1/chat/completions", {"model": "err", "messages": msgs}),
        ]
        for name, path, body in scenarios:
            with open(f"/proc/{proc.pid}/clear_refs", "w") as f:
                f.write("5")
            t = time.time()
            code, size = post(base, path, body)
            took = time.time() - t
            peak = status(proc.pid)["VmHWM"]
            time.sleep(1)
            print(f"{name}: HTTP {code}, {size} bytes to the client in {took:.2f} s; peak VmHWM {peak:.1f} MiB, VmRSS 1 s later {status(proc.pid)['VmRSS']:.1f} MiB")

        with open(f"/proc/{proc.pid}/clear_refs", "w") as f:
            f.write("5")
        with ThreadPoolExecutor(4) as ex:
            codes = list(ex.map(lambda _: post(base, "/v1/chat/completions", scenarios[0][2])[0], range(args.burst)))
        peak = status(proc.pid)["VmHWM"]
        time.sleep(1)
        after = status(proc.pid)["VmRSS"]
        time.sleep(4)
        print(
            f"burst of {args.burst} x {args.size_mb} MB completions, 4 at a time (statuses {sorted(set(codes))}): "
            f"peak VmHWM {peak:.1f} MiB, VmRSS 1 s later {after:.1f} MiB, 5 s later {status(proc.pid)['VmRSS']:.1f} MiB"
        )
    finally:
        proc.terminate()
        proc.wait(10)
        srv.shutdown()


if __name__ == "__main__":
    main()

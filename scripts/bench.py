"""Whole-process benchmark driver (run it through scripts/bench, which installs the tools).

Starts, on 127.0.0.1 ports chosen at run time: an nginx mock upstream (fixed OpenAI chat
completion), the Rust streaming/Gemini mock (examples/bench_mock.rs), nginx as a plain
reverse proxy with a keepalive upstream pool, this gateway (target/release/ai-proxy) and
LiteLLM's proxy (one worker), all configured for the same upstreams. Then sends the same
load to each: wrk (closed loop, concurrency 1/16/64/256), oha (open loop at a fixed rate),
examples/bench_streams.rs (streaming TTFB, per-chunk arrival, 1,000 open streams). Every
scenario is bounded in time; every process is stopped at the end.

Writes results.json, results.md and latency.png into --out.
"""

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release"
MASTER_KEY = "sk-bench-1234"
CONCURRENCY = [1, 16, 64, 256]

OPENAI_COMPLETION = (
    '{"id":"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012","object":"chat.completion","created":1732800000,'
    '"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench_mock","choices":[{"index":0,'
    '"message":{"role":"assistant","content":"Hello! This is a fixed response from the benchmark mock '
    'upstream. It is long enough to look like a real short answer from a chat model.","refusal":null},'
    '"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":25,"completion_tokens":28,'
    '"total_tokens":53,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
    '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,'
    '"rejected_prediction_tokens":0}}}'
)


def chat_body(model, stream=False):
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence."},
        ],
        "max_tokens": 64,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


def messages_body(model):
    return json.dumps(
        {
            "model": model,
            "max_tokens": 64,
            "system": "You are a helpful assistant.",
            "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
        },
        separators=(",", ":"),
    )


def gemini_body():
    return json.dumps(
        {
            "contents": [{"role": "user", "parts": [{"text": "Say hello in one short sentence."}]}],
            "systemInstruction": {"parts": [{"text": "You are a helpful assistant."}]},
            "generationConfig": {"maxOutputTokens": 64, "temperature": 0.2},
        },
        separators=(",", ":"),
    )


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes and memory


class Proc:
    """A child process we started; stopped (by its own pid) at the end."""

    def __init__(self, name, argv, cwd=None, env=None, stdout=None, stderr=None):
        self.name = name
        self.p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)


def tree_pids(pid):
    """pid and all its descendants (LiteLLM may run uvicorn workers as children)."""
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for c in children:
        out += tree_pids(int(c))
    return out


def status_kib(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pid):
    return sum(status_kib(p, "VmRSS") for p in tree_pids(pid)) / 1024.0


def hwm_mib(pid):
    return sum(status_kib(p, "VmHWM") for p in tree_pids(pid)) / 1024.0


def cpu_seconds(pid):
    """user+system CPU of the process tree so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / tick


def http_get(addr, path, timeout=2.0):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def http_post(addr, path, body, headers, timeout=10.0):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("POST", path, body=body.encode(), headers={"content-type": "application/json", **headers})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_ready(addr, path, deadline_s, proc=None):
    """Poll GET path until 200; seconds from now, or None on timeout."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline_s:
        if proc is not None and proc.p.poll() is not None:
            return None
        try:
            status, _ = http_get(addr, path, timeout=1.0)
            if status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.001)
    return None


def read_listen_line(proc, deadline_s):
    """The gateway / mock print `listening on http://ADDR` on stdout."""
    t0 = time.time()
    while time.time() - t0 < deadline_s:
        line = proc.p.stdout.readline()
        if not line:
            break
        m = re.search(rb"listening on http://(\S+)", line)
        if m:
            return m.group(1).decode()
    raise RuntimeError(f"{proc.name} did not print its address")


# ---------------------------------------------------------------- load generators


WRK_LUA = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50_us\\":%d,\\"p90_us\\":%d,\\"p99_us\\":%d,\\"max_us\\":%d,\\"mean_us\\":%.1f}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


class Load:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.oha = str(Path(args.tools) / "tools" / "bin" / "oha")
        self.n = 0

    def wrk(self, url, body, headers, conc, seconds, procs):
        """Closed loop: `conc` connections, each sending the next request when the last answered."""
        self.n += 1
        hdr = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in {"Content-Type": "application/json", **headers}.items())
        script = self.workdir / f"wrk{self.n}.lua"
        script.write_text(WRK_LUA.format(body=body, headers=hdr))
        cpu0 = {n: cpu_seconds(p.pid) for n, p in procs.items()}
        argv = ["wrk", "-t1", f"-c{conc}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        cpu1 = {n: cpu_seconds(p.pid) for n, p in procs.items()}
        m = re.search(r"WRKJSON (\{.*\})", out.stdout)
        if not m:
            raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
        r = json.loads(m.group(1))
        errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
        secs = r["duration_us"] / 1e6
        res = {
            "tool": "wrk",
            "concurrency": conc,
            "seconds": round(secs, 2),
            "requests": r["requests"],
            "errors": errors,
            "rps": round(r["requests"] / secs, 1),
            "p50_ms": r["p50_us"] / 1000,
            "p90_ms": r["p90_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000,
            "max_ms": r["max_us"] / 1000,
        }
        if r["requests"]:
            res["cpu_us_per_req"] = {n: round((cpu1[n] - cpu0[n]) / r["requests"] * 1e6, 1) for n in procs}
        return res

    def oha_rate(self, url, body, headers, rate, seconds, procs):
        """Open loop: requests started at a fixed rate; latency counted from the scheduled start."""
        argv = [
            self.oha, "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-q", str(rate),
            "--latency-correction", "-c", "64", "-m", "POST", "-T", "application/json", "-d", body,
        ]
        for k, v in headers.items():
            argv += ["-H", f"{k}: {v}"]
        argv.append(url)
        cpu0 = {n: cpu_seconds(p.pid) for n, p in procs.items()}
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        cpu1 = {n: cpu_seconds(p.pid) for n, p in procs.items()}
        if out.returncode != 0:
            raise RuntimeError(f"oha failed: {out.stderr}")
        j = json.loads(out.stdout)
        pct = j["latencyPercentiles"]
        summ = j["summary"]
        ok = sum(v for k, v in j.get("statusCodeDistribution", {}).items() if k.startswith("2"))
        total = ok + sum(v for k, v in j.get("statusCodeDistribution", {}).items() if not k.startswith("2"))
        errors = sum(j.get("errorDistribution", {}).values()) + (total - ok)
        res = {
            "tool": "oha",
            "rate": rate,
            "seconds": seconds,
            "requests": total,
            "errors": errors,
            "rps": round(summ["requestsPerSec"], 1),
            "p50_ms": pct["p50"] * 1000,
            "p90_ms": pct["p90"] * 1000,
            "p99_ms": pct["p99"] * 1000,
            "max_ms": summ["slowest"] * 1000,
        }
        if total:
            res["cpu_us_per_req"] = {n: round((cpu1[n] - cpu0[n]) / total * 1e6, 1) for n in procs}
        return res

    def py_rate(self, addr, path, body, headers, rate, seconds, procs, workers=64):
        """Open loop without oha: a Python scheduler starts requests at a fixed rate on a pool
        of threads, each with a kept-alive connection; latency is counted from the scheduled
        start (as oha's --latency-correction does), so a stall shows as latency, not as a
        lower rate. Costs the machine more CPU than oha: compare runs made with one tool."""
        import concurrent.futures
        import threading

        host, port = addr.rsplit(":", 1)
        local = threading.local()
        lock = threading.Lock()
        lat, errs = [], [0]
        payload = body.encode()
        hdrs = {"Content-Type": "application/json", **headers}

        def one(due):
            ok = False
            try:
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
                    local.conn = conn
                conn.request("POST", path, body=payload, headers=hdrs)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                if getattr(local, "conn", None) is not None:
                    local.conn.close()
                local.conn = None
            done = time.perf_counter()
            with lock:
                lat.append(done - due)
                if not ok:
                    errs[0] += 1

        n = int(rate * seconds)
        cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        t0 = time.perf_counter() + 0.05
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for i in range(n):
                due = t0 + i / rate
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)
                pool.submit(one, due)
        elapsed = time.perf_counter() - t0
        cpu1 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        lat.sort()

        def pct(q):
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000

        return {
            "tool": "python",
            "rate": rate,
            "seconds": seconds,
            "requests": n,
            "errors": errs[0],
            "rps": round(n / elapsed, 1),
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": lat[-1] * 1000,
            "cpu_us_per_req": {name: round((cpu1[name] - cpu0[name]) / n * 1e6, 1) for name in procs},
        }

    def streams_latency(self, url, body, headers, requests):
        argv = [str(RELEASE / "examples" / "bench_streams"), "latency", url, body, str(requests)]
        argv += [f"{k}: {v}" for k, v in headers.items()]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"bench_streams failed: {out.stderr.strip()}")
        return json.loads(out.stdout)

    def streams_hold(self, url, body, headers, streams, target_pid):
        """Open `streams` streams at once; sample the target's RSS while they are all open."""
        argv = [str(RELEASE / "examples" / "bench_streams"), "hold", url, body, str(streams)]
        argv += [f"{k}: {v}" for k, v in headers.items()]
        before = rss_mib(target_pid)
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = before
        open_rss = None
        try:
            # bench_streams writes `all-open N` on stderr once every stream has its first event.
            line = p.stderr.readline()
            open_rss = rss_mib(target_pid)
            peak = max(peak, open_rss)
            while p.poll() is None:
                peak = max(peak, rss_mib(target_pid))
                time.sleep(0.05)
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        if p.returncode != 0:
            raise RuntimeError(f"bench_streams hold failed: {err.strip()}")
        res = json.loads(out)
        res.update(
            {
                "signal": line.strip(),
                "rss_before_mib": round(before, 1),
                "rss_all_open_mib": round(open_rss, 1) if open_rss is not None else None,
                "rss_peak_sampled_mib": round(peak, 1),
                "rss_after_mib": round(rss_mib(target_pid), 1),
            }
        )
        return res


# ---------------------------------------------------------------- the targets


def start_nginx(name, workdir, body_conf, workers):
    prefix = workdir / name
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process on;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  tcp_nodelay on;
{body_conf}
}}
"""
    )
    proc = Proc(name, ["nginx", "-p", str(prefix), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc


def wait_port(port, deadline_s=10):
    t0 = time.time()
    while time.time() - t0 < deadline_s:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def gateway_config(nginx_mock, rust_mock):
    return f"""# generated by scripts/bench
model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: http://{nginx_mock}/v1
      api_key: sk-mock
  - model_name: bench-stream
    litellm_params:
      model: openai/bench-s20-i5
      api_base: http://{rust_mock}/v1
      api_key: sk-mock
  - model_name: bench-hold
    litellm_params:
      model: openai/bench-s25-i200
      api_base: http://{rust_mock}/v1
      api_key: sk-mock
general_settings:
  master_key: {MASTER_KEY}
"""


def gemini_gateway_config(rust_mock, creds):
    return f"""# generated by scripts/bench: the OpenAI -> Gemini (Vertex AI) translation path
model_list:
  - model_name: bench-gemini
    litellm_params:
      model: vertex_ai/bench-gemini
      vertex_project: bench-project
      vertex_location: us-central1
      vertex_credentials: {creds}
      api_base: http://{rust_mock}
general_settings:
  master_key: {MASTER_KEY}
"""


def write_service_account(workdir, rust_mock):
    """A service-account file whose token_uri is the mock (key made here with openssl)."""
    key = workdir / "sa.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
        check=True, capture_output=True,
    )
    sa = {
        "type": "service_account",
        "project_id": "bench-project",
        "private_key_id": "bench-key-1",
        "private_key": key.read_text(),
        "client_email": "bench@bench-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"http://{rust_mock}/token",
    }
    path = workdir / "sa.json"
    path.write_text(json.dumps(sa))
    return path


def command_line():
    """How this run was started, as the user typed it: scripts/bench adds `--tools DIR`
    itself (and the user may have given it too), so every `--tools DIR` is left out."""
    argv, kept = sys.argv[1:], []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--tools":
            skip = True
        elif not a.startswith("--tools="):
            kept.append(a)
    return " ".join(["scripts/bench", *kept])


def gateway_env(home, **extra):
    """The environment of a gateway under test: none of the user's gateway settings, and
    `home` (created) as its own HOME, so its request log, state and log files never land in
    (or are slowed by) the user's own ~/.local/state/ai-proxy, nor in another gateway's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LITELLM_", "AI_PROXY", "OPENAI_", "DASHSCOPE_", "XDG_"))}
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    env.update({"HOME": str(home), "NO_PROXY": "127.0.0.1,localhost"})
    env.update(extra)
    return env


def start_gateway(workdir, name, config_text):
    cfg = workdir / f"{name}.yaml"
    cfg.write_text(config_text)
    env = gateway_env(workdir / f"{name}.home")
    stderr = open(workdir / f"{name}.stderr.log", "wb")
    proc = Proc(
        name,
        [str(RELEASE / "ai-proxy"), "serve", "--config", str(cfg), "--port", "0"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=stderr,
    )
    addr = read_listen_line(proc, 30)
    return proc, addr


def exec_to_ready(workdir, config_text, runs):
    """Seconds from exec to the first 200 on /health/readiness, over `runs` fresh starts."""
    cfg = workdir / "ready.yaml"
    cfg.write_text(config_text)
    times = []
    for _ in range(runs):
        port = free_port()
        t0 = time.perf_counter()
        p = Proc("ready", [str(RELEASE / "ai-proxy"), "serve", "--config", str(cfg), "--port", str(port)],
                 cwd=workdir, env=gateway_env(workdir / "ready.home"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            dt = wait_ready(f"127.0.0.1:{port}", "/health/readiness", 10, p)
            if dt is not None:
                times.append(time.perf_counter() - t0)
        finally:
            p.stop()
    times.sort()
    return {
        "runs": runs,
        "ok": len(times),
        "p50_ms": round(times[len(times) // 2] * 1000, 1) if times else None,
        "min_ms": round(times[0] * 1000, 1) if times else None,
        "max_ms": round(times[-1] * 1000, 1) if times else None,
    }


def start_litellm(args, workdir, nginx_mock, rust_mock):
    cfg = workdir / "litellm.yaml"
    cfg.write_text(
        f"""model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: http://{nginx_mock}/v1
      api_key: sk-mock
  - model_name: bench-stream
    litellm_params:
      model: openai/bench-s20-i5
      api_base: http://{rust_mock}/v1
      api_key: sk-mock
general_settings:
  master_key: {MASTER_KEY}
"""
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM_", "OPENAI_"))}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
                "DISABLE_SCHEMA_UPDATE": "true"})
    litellm = Path(args.tools) / "venv" / "bin" / "litellm"
    t0 = time.perf_counter()
    proc = Proc("litellm", [str(litellm), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
                            "--num_workers", "1"],
                cwd=workdir, env=env, stdout=open(workdir / "litellm.log", "wb"), stderr=subprocess.STDOUT)
    addr = f"127.0.0.1:{port}"
    dt = wait_ready(addr, "/health/readiness", 120, proc)
    if dt is None:
        proc.stop()
        raise RuntimeError(f"LiteLLM did not become ready; see {workdir / 'litellm.log'}")
    return proc, addr, time.perf_counter() - t0


# ---------------------------------------------------------------- run


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = status_kib_file("/proc/meminfo", "MemTotal")
    try:
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rustc = "?"
    def ver(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "rustc": rustc,
        "nginx": ver(["nginx", "-v"]),
        "wrk": ver(["wrk", "-v"]),
        "load_avg_at_start": os.getloadavg(),
        "git": subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip(),
    }


def write_report(out_dir, stem, report, render):
    """`stem`.json (the report) and `stem`.md (`render(report)`, also printed) in `out_dir`."""
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    md = render(report)
    (out_dir / f"{stem}.md").write_text(md)
    print(md)
    log(f"wrote {out_dir}/{stem}.json and {stem}.md")


def status_kib_file(path, field):
    for line in Path(path).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", default=".bench")
    ap.add_argument("--out", default=str(ROOT / "target" / "bench" / "latest"))
    ap.add_argument("--quick", action="store_true", help="1 s per scenario, to check the harness")
    ap.add_argument("--skip-litellm", action="store_true")
    ap.add_argument("--publish", action="store_true", help="copy the results into benches/results/")
    ap.add_argument("--callgrind", action="store_true", help="instruction counts per request instead of load")
    ap.add_argument("--binary", help="with --callgrind, --soak, --fd-lockout or --request-log: the ai-proxy binary to run "
                                     "(default: the profiling build for --callgrind, the release build otherwise)")
    ap.add_argument("--soak", action="store_true",
                    help="a long run at a fixed rate, sampling the gateway's RSS and open fds instead of the comparison")
    ap.add_argument("--soak-seconds", type=float, default=600.0, help="with --soak: how long (default 600)")
    ap.add_argument("--soak-rate", type=float, default=100.0, help="with --soak: requests per second (default 100)")
    ap.add_argument("--soak-sample", type=float, default=5.0, help="with --soak: seconds between samples (default 5)")
    ap.add_argument("--request-log", action="store_true",
                    help="the request log's cost: one gateway with it on, one with disable_spend_logs, "
                         "alternating fixed-rate runs (oha)")
    ap.add_argument("--log-rate", type=float, default=1000.0, help="with --request-log: requests per second")
    ap.add_argument("--log-seconds", type=float, default=10.0, help="with --request-log: seconds per run")
    ap.add_argument("--log-rounds", type=int, default=5, help="with --request-log: runs per gateway")
    ap.add_argument("--log-python", action="store_true",
                    help="with --request-log: drive the load from Python instead of oha (also the fallback when oha is missing)")
    ap.add_argument("--ab", nargs=2, metavar=("A", "B"),
                    help="wall-clock A/B of two ai-proxy binaries (wrk, alternating rounds, a fresh gateway per run)")
    ap.add_argument("--ab-rounds", type=int, default=10, help="with --ab: rounds, each running both (default 10)")
    ap.add_argument("--ab-seconds", type=int, default=5, help="with --ab: seconds per run (default 5)")
    ap.add_argument("--ab-concurrency", type=int, default=64, help="with --ab: wrk connections (default 64)")
    ap.add_argument("--ab-scenario", choices=sorted(AB_SCENARIOS), default="chat",
                    help="with --ab: chat (OpenAI chat, verbatim) or messages (Anthropic -> OpenAI); default chat")
    ap.add_argument("--fd-lockout", action="store_true",
                    help="300 idle sockets against a gateway whose open-file limit is 256: is a client still served?")
    args = ap.parse_args()
    args.tools = str(Path(args.tools).resolve())
    if args.callgrind:
        callgrind(args)
        return
    if args.soak:
        soak(args)
        return
    if args.fd_lockout:
        fd_lockout(args)
        return
    if args.request_log:
        request_log(args)
        return
    if args.ab:
        ab(args)
        return

    secs = 1 if args.quick else 4
    rate_secs = 2 if args.quick else 5
    stream_reqs = 10 if args.quick else 40
    hold_streams = 1000
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ai-proxy-bench-"))
    procs = []
    results = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command_line(),
        "machine": machine(),
        "settings": {"seconds_per_closed_loop_run": secs, "seconds_per_rate_run": rate_secs,
                     "stream_requests": stream_reqs, "hold_streams": hold_streams},
        "targets": {},
        "scenarios": {},
        "notes": [],
    }
    t_start = time.time()
    try:
        # Upstreams.
        mock_port = free_port()
        nginx_mock = start_nginx(
            "nginx-mock", workdir,
            f"""  server {{
    listen 127.0.0.1:{mock_port} backlog=4096;
    location / {{ default_type application/json; return 200 '{OPENAI_COMPLETION}'; }}
  }}""",
            workers=1,
        )
        procs.append(nginx_mock)
        wait_port(mock_port)
        nginx_mock_addr = f"127.0.0.1:{mock_port}"
        rust_mock = Proc("rust-mock", [str(RELEASE / "examples" / "bench_mock")], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
        procs.append(rust_mock)
        rust_mock_addr = read_listen_line(rust_mock, 10)

        # nginx as a plain reverse proxy: one server per upstream, keepalive pools, no buffering
        # for the streaming one.
        px_port, px_stream_port = free_port(), free_port()
        nginx_proxy = start_nginx(
            "nginx-proxy", workdir,
            f"""  upstream mock {{ server {nginx_mock_addr}; keepalive 512; }}
  upstream rustmock {{ server {rust_mock_addr}; keepalive 512; }}
  server {{
    listen 127.0.0.1:{px_port} backlog=4096;
    location / {{ proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
  server {{
    listen 127.0.0.1:{px_stream_port} backlog=4096;
    location / {{ proxy_pass http://rustmock; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_buffering off; }}
  }}""",
            workers="auto",
        )
        procs.append(nginx_proxy)
        wait_port(px_port)
        wait_port(px_stream_port)

        # This gateway.
        gw_cfg = gateway_config(nginx_mock_addr, rust_mock_addr)
        gateway, gw_addr = start_gateway(workdir, "gateway", gw_cfg)
        procs.append(gateway)
        if wait_ready(gw_addr, "/health/readiness", 10, gateway) is None:
            raise RuntimeError("gateway not ready")
        auth = {"Authorization": f"Bearer {MASTER_KEY}"}
        status, body = http_post(gw_addr, "/v1/chat/completions", chat_body("bench"), auth)
        if status != 200:
            raise RuntimeError(f"gateway smoke request: HTTP {status} {body[:300]!r}")
        time.sleep(0.5)
        gw_idle_after_one = rss_mib(gateway.pid)

        results["targets"]["gateway"] = {"idle_rss_mib_after_first_request": round(gw_idle_after_one, 1)}
        results["exec_to_ready"] = {"gateway": exec_to_ready(workdir, gw_cfg, 5 if args.quick else 20)}
        # Idle RSS of a fresh `serve` that has answered nothing but /health/readiness.
        fresh, fresh_addr = start_gateway(workdir, "gateway-idle", gw_cfg)
        try:
            wait_ready(fresh_addr, "/health/readiness", 10, fresh)
            time.sleep(0.5)
            results["targets"]["gateway"]["idle_rss_mib"] = round(rss_mib(fresh.pid), 1)
            # RSS is mostly the binary's own code and read-only data mapped from the page
            # cache (file-backed, clean, shared); the process's own memory is the anonymous
            # part, which is what macOS's memory footprint counts.
            results["targets"]["gateway"]["idle_rss_anon_mib"] = round(status_kib(fresh.pid, "RssAnon") / 1024.0, 1)
            results["targets"]["gateway"]["idle_rss_file_mib"] = round(status_kib(fresh.pid, "RssFile") / 1024.0, 1)
        finally:
            fresh.stop()

        litellm = litellm_addr = None
        if not args.skip_litellm:
            log("starting LiteLLM (one worker)")
            litellm, litellm_addr, ready_s = start_litellm(args, workdir, nginx_mock_addr, rust_mock_addr)
            procs.append(litellm)
            results["exec_to_ready"]["litellm"] = {"runs": 1, "ok": 1, "p50_ms": round(ready_s * 1000, 1)}
            status, body = http_post(litellm_addr, "/v1/chat/completions", chat_body("bench"), auth)
            if status != 200:
                raise RuntimeError(f"LiteLLM smoke request: HTTP {status} {body[:300]!r}")
            time.sleep(1.0)
            results["targets"]["litellm"] = {"idle_rss_mib": round(rss_mib(litellm.pid), 1)}
        else:
            results["notes"].append("LiteLLM skipped (--skip-litellm)")

        load = Load(args, workdir)
        watched = {"nginx-mock": nginx_mock, "rust-mock": rust_mock, "nginx-proxy": nginx_proxy, "gateway": gateway}
        if litellm:
            watched["litellm"] = litellm

        # ---- non-streaming chat, closed loop
        chat = {
            "direct": (f"http://{nginx_mock_addr}/v1/chat/completions", chat_body("bench"), {}),
            "nginx": (f"http://127.0.0.1:{px_port}/v1/chat/completions", chat_body("bench"), {}),
            "gateway": (f"http://{gw_addr}/v1/chat/completions", chat_body("bench"), auth),
        }
        if litellm:
            chat["litellm"] = (f"http://{litellm_addr}/v1/chat/completions", chat_body("bench"), auth)
        sc = results["scenarios"]["chat"] = {}
        for name, (url, body, hdrs) in chat.items():
            log(f"chat closed loop: {name}")
            load.wrk(url, body, hdrs, 16, 1, watched)  # warm-up, not recorded
            sc[name] = {}
            for c in CONCURRENCY:
                # LiteLLM answers ~45 req/s: give it long enough for requests to complete.
                cell = max(secs, 10 if not args.quick else 3) if name == "litellm" else secs
                sc[name][str(c)] = load.wrk(url, body, hdrs, c, cell, watched)
                log(f"  c={c}: {sc[name][str(c)]['rps']} req/s p50 {sc[name][str(c)]['p50_ms']:.3f} ms")
        # The Rust mock answers the same JSON: shown so the choice of mock is visible.
        sc["direct-rust-mock"] = {
            "64": load.wrk(f"http://{rust_mock_addr}/v1/chat/completions", chat_body("bench"), {}, 64, secs, watched)
        }

        # ---- fixed rate, open loop (LiteLLM cannot sustain it: ~45 req/s)
        rate = 1000
        sr = results["scenarios"]["fixed_rate"] = {"rate": rate}
        if Path(load.oha).exists():
            for name in ("direct", "nginx", "gateway"):
                url, body, hdrs = chat[name]
                log(f"fixed rate {rate}/s: {name}")
                sr[name] = load.oha_rate(url, body, hdrs, rate, rate_secs, watched)
        else:
            results["notes"].append(f"fixed-rate scenario not run: {load.oha} is missing")
            del results["scenarios"]["fixed_rate"]

        # ---- streaming: TTFB and per-chunk arrival, one stream at a time
        ss = results["scenarios"]["stream"] = {}
        stream_targets = {
            "direct": (f"http://{rust_mock_addr}/v1/chat/completions", chat_body("bench-s20-i5", True), {}),
            "nginx": (f"http://127.0.0.1:{px_stream_port}/v1/chat/completions", chat_body("bench-s20-i5", True), {}),
            "gateway": (f"http://{gw_addr}/v1/chat/completions", chat_body("bench-stream", True), auth),
        }
        if litellm:
            stream_targets["litellm"] = (f"http://{litellm_addr}/v1/chat/completions",
                                         chat_body("bench-stream", True), auth)
        for name, (url, body, hdrs) in stream_targets.items():
            log(f"streaming latency: {name}")
            ss[name] = load.streams_latency(url, body, hdrs, stream_reqs)

        # ---- Anthropic -> OpenAI (client speaks /v1/messages, upstream is the OpenAI mock)
        anth_hdrs = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
        sa = results["scenarios"]["anthropic_to_openai"] = {}
        st, body = http_post(gw_addr, "/v1/messages", messages_body("bench"), anth_hdrs)
        if st == 200:
            for c in (1, 64):
                log(f"anthropic->openai c={c}")
                sa[str(c)] = load.wrk(f"http://{gw_addr}/v1/messages", messages_body("bench"), anth_hdrs, c, secs,
                                      watched)
            if litellm:
                sa["litellm_1"] = load.wrk(f"http://{litellm_addr}/v1/messages", messages_body("bench"), anth_hdrs, 1,
                                           secs, watched)
        else:
            sa["not_available"] = f"not available in this build: POST /v1/messages answered HTTP {st}: " \
                                  f"{body[:200].decode(errors='replace')}"
            log(sa["not_available"])

        # ---- OpenAI -> Gemini (Vertex AI) through its own gateway instance
        sg = results["scenarios"]["openai_to_gemini"] = {}
        creds = write_service_account(workdir, rust_mock_addr)
        try:
            gem, gem_addr = start_gateway(workdir, "gateway-gemini", gemini_gateway_config(rust_mock_addr, creds))
            procs.append(gem)
            st, body = http_post(gem_addr, "/v1/chat/completions", chat_body("bench-gemini"), auth)
        except RuntimeError as e:
            gem, st, body = None, 0, str(e).encode()
        if st == 200:
            gwatched = dict(watched, **{"gateway-gemini": gem})
            url = f"http://{rust_mock_addr}/v1/projects/bench-project/locations/us-central1/publishers/google/models/bench-gemini:generateContent"
            for c in (1, 64):
                log(f"openai->gemini c={c}")
                sg[f"direct_{c}"] = load.wrk(url, gemini_body(), {}, c, secs, gwatched)
                sg[str(c)] = load.wrk(f"http://{gem_addr}/v1/chat/completions", chat_body("bench-gemini"), auth, c,
                                      secs, gwatched)
        else:
            sg["not_available"] = f"not available in this build: the vertex_ai deployment answered HTTP {st}: " \
                                  f"{body[:300].decode(errors='replace')}"
            log(sg["not_available"])
        if gem is not None:
            gem.stop()

        # ---- 1,000 concurrent open streams (25 chunks, 200 ms apart: each stream lasts ~5 s)
        log(f"{hold_streams} concurrent open streams through the gateway")
        hold = load.streams_hold(f"http://{gw_addr}/v1/chat/completions", chat_body("bench-hold", True), auth,
                                 hold_streams, gateway.pid)
        hold["gateway_vmhwm_mib"] = round(hwm_mib(gateway.pid), 1)
        results["scenarios"]["open_streams"] = hold

        results["targets"]["gateway"]["peak_rss_mib"] = round(hwm_mib(gateway.pid), 1)
        results["targets"]["gateway"]["rss_at_end_mib"] = round(rss_mib(gateway.pid), 1)
        results["targets"]["nginx-proxy"] = {"peak_rss_mib": round(hwm_mib(nginx_proxy.pid), 1)}
        results["targets"]["nginx-mock"] = {"peak_rss_mib": round(hwm_mib(nginx_mock.pid), 1)}
        if litellm:
            results["targets"]["litellm"]["peak_rss_mib"] = round(hwm_mib(litellm.pid), 1)
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results["wall_seconds"] = round(time.time() - t_start, 1)
    results["machine"]["load_avg_at_end"] = os.getloadavg()

    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    md = render_markdown(results)
    (out_dir / "results.md").write_text(md)
    chart(results, out_dir / "latency.png")
    print(md)
    log(f"wrote {out_dir}/results.json, results.md, latency.png in {results['wall_seconds']} s")
    if args.publish:
        dest = ROOT / "benches" / "results"
        dest.mkdir(parents=True, exist_ok=True)
        for f in ("results.json", "results.md", "latency.png"):
            shutil.copy(out_dir / f, dest / f)
        log(f"published to {dest}")


# ---------------------------------------------------------------- callgrind (instruction counts)


def callgrind(args):
    """Instructions per request of the gateway (profiling build under callgrind): the
    difference between runs of N1 and N2 requests, so start-up and shutdown cancel out."""
    binary = Path(args.binary).resolve() if args.binary else ROOT / "target" / "profiling" / "ai-proxy"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ai-proxy-callgrind-"))
    procs = []
    n1, n2 = 200, 1200
    report = {"binary": str(binary), "n1": n1, "n2": n2, "scenarios": {}}
    try:
        mock = Proc("rust-mock", [str(binary.parent / "examples" / "bench_mock")], stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL)
        procs.append(mock)
        mock_addr = read_listen_line(mock, 10)
        cfg = workdir / "cg.yaml"
        cfg.write_text(gateway_config(mock_addr, mock_addr).replace("bench-s20-i5", "bench-s20-i0"))
        auth = {"Authorization": f"Bearer {MASTER_KEY}"}
        anth = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
        scenarios = {
            "chat": ("/v1/chat/completions", chat_body("bench"), auth),
            "chat_stream_20_chunks": ("/v1/chat/completions", chat_body("bench-stream", True), auth),
            "anthropic_messages": ("/v1/messages", messages_body("bench"), anth),
        }
        for name, (path, body, hdrs) in scenarios.items():
            irs = {}
            for n in (n1, n2):
                cg_out = workdir / f"callgrind.{name}.{n}.out"
                env = gateway_env(workdir / f"{name}.{n}.home", RUST_LOG="warn")
                p = Proc("gw-cg", ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_out}",
                                   str(binary), "serve", "--config", str(cfg), "--port", "0", "--grace-seconds", "1"],
                         cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                try:
                    addr = read_listen_line(p, 120)
                    if wait_ready(addr, "/health/readiness", 60, p) is None:
                        raise RuntimeError("gateway under callgrind not ready")
                    st, resp = http_post(addr, path, body, hdrs, timeout=60)
                    if st != 200:
                        irs = None
                        report["scenarios"][name] = f"not available in this build: HTTP {st}: " \
                                                    f"{resp[:200].decode(errors='replace')}"
                        break
                    # A fixed number of requests, one at a time on one kept-alive connection:
                    # only the count matters here, not the pace.
                    host, port = addr.rsplit(":", 1)
                    conn = http.client.HTTPConnection(host, int(port), timeout=60)
                    for _ in range(n):
                        conn.request("POST", path, body=body.encode(),
                                     headers={"content-type": "application/json", **hdrs})
                        r = conn.getresponse()
                        r.read()
                        if r.status != 200:
                            raise RuntimeError(f"{name}: HTTP {r.status} under callgrind")
                    conn.close()
                finally:
                    p.stop()
                irs[n] = callgrind_total(cg_out)
                if n == n2:
                    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=99", str(cg_out)],
                                         capture_output=True, text=True)
                    (out_dir / f"callgrind-{name}.txt").write_text(ann.stdout)
                    excl = subprocess.run(["callgrind_annotate", "--threshold=95", str(cg_out)],
                                          capture_output=True, text=True)
                    (out_dir / f"callgrind-{name}-self.txt").write_text(excl.stdout)
            if irs:
                per = (irs[n2] - irs[n1]) / (n2 - n1)
                report["scenarios"][name] = {"instructions_per_request": round(per), "total_ir": irs}
                log(f"{name}: {per:,.0f} instructions per request")
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    (out_dir / "callgrind.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def callgrind_total(path):
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


# ---------------------------------------------------------------- reporting


def fmt(x, digits=3):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def render_markdown(r):
    sc = r["scenarios"]
    m = r["machine"]
    lines = [
        f"Run {r['started_utc']} (`{m['git']}`), {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB, "
        f"Linux {m['kernel']}, {m['rustc']}, {m['nginx']}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}; whole run {r['wall_seconds']} s.",
        "",
        f"Command: `{r['command']}`",
        "",
        "### Non-streaming chat, closed loop (wrk, 1 thread, "
        f"{r['settings']['seconds_per_closed_loop_run']} s per cell)",
        "",
        "| target | concurrency | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors | CPU µs/req (target) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    chat = sc["chat"]
    cpu_name = {"direct": "nginx-mock", "nginx": "nginx-proxy", "gateway": "gateway", "litellm": "litellm"}
    for name in ("direct", "nginx", "gateway", "litellm"):
        if name not in chat:
            continue
        for c in CONCURRENCY:
            x = chat[name][str(c)]
            d = chat["direct"][str(c)]
            done = x["requests"] > 0
            added50 = x["p50_ms"] - d["p50_ms"] if name != "direct" and done else None
            added99 = x["p99_ms"] - d["p99_ms"] if name != "direct" and done else None
            cpu = x.get("cpu_us_per_req", {}).get(cpu_name[name])
            lines.append(
                f"| {name} | {c} | {x['rps']:.0f} | {fmt(x['p50_ms'])} | {fmt(x['p99_ms'])} | {fmt(added50)} | "
                f"{fmt(added99)} | {x['errors']} | {fmt(cpu, 1)} |"
            )
    rm = chat.get("direct-rust-mock", {}).get("64")
    if rm:
        lines += ["", f"Mock check: the Rust mock answers {rm['rps']:.0f} req/s at concurrency 64 "
                      f"(the nginx mock: {chat['direct']['64']['rps']:.0f} req/s)."]
    fr = sc.get("fixed_rate", {})
    if fr:
        lines += [
            "",
            f"### Fixed rate {fr['rate']} req/s, open loop (oha -q {fr['rate']} --latency-correction, "
            f"{r['settings']['seconds_per_rate_run']} s)",
            "",
            "| target | achieved req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in ("direct", "nginx", "gateway"):
            x = fr[name]
            d = fr["direct"]
            a50 = x["p50_ms"] - d["p50_ms"] if name != "direct" else None
            a99 = x["p99_ms"] - d["p99_ms"] if name != "direct" else None
            lines.append(f"| {name} | {x['rps']:.0f} | {fmt(x['p50_ms'])} | {fmt(x['p99_ms'])} | {fmt(a50)} | "
                         f"{fmt(a99)} | {x['errors']} |")
    ss = sc.get("stream", {})
    if ss:
        lines += [
            "",
            f"### Streaming, one stream at a time ({r['settings']['stream_requests']} streams of 21 events, 5 ms "
            "apart, plus the final frame)",
            "",
            "| target | TTFB p50 ms | TTFB p99 ms | added TTFB p50 ms | chunk transit p50 / p99 ms | "
            "added per chunk p50 / p99 ms | last event p50 ms | events / reads carrying events |",
            "|---|---|---|---|---|---|---|---|",
        ]
        d = ss["direct"]
        for name in ("direct", "nginx", "gateway", "litellm"):
            if name not in ss:
                continue
            x = ss[name]
            added = x["ttfb_ms_p50"] - d["ttfb_ms_p50"] if name != "direct" else None
            t50, t99 = x.get("chunk_transit_ms_p50"), x.get("chunk_transit_ms_p99")
            a50 = a99 = None
            if name != "direct" and t50 is not None and d.get("chunk_transit_ms_p50") is not None:
                a50, a99 = t50 - d["chunk_transit_ms_p50"], t99 - d["chunk_transit_ms_p99"]
            last = x["event_arrival_ms_p50"][-1] if x["event_arrival_ms_p50"] else None
            lines.append(f"| {name} | {fmt(x['ttfb_ms_p50'])} | {fmt(x['ttfb_ms_p99'])} | {fmt(added)} | "
                         f"{fmt(t50)} / {fmt(t99)} ({x.get('stamped_chunks', 0)} chunks) | {fmt(a50)} / {fmt(a99)} | "
                         f"{fmt(last, 2)} | {x['events']} / {x['reads_with_events']} |")
    lines += ["", "### Translation paths", ""]
    sa = sc.get("anthropic_to_openai", {})
    if "not_available" in sa:
        lines.append(f"- Anthropic → OpenAI: {sa['not_available']}")
    elif sa:
        for c in ("1", "64"):
            x, d = sa[c], chat["direct"][c]
            lines.append(f"- Anthropic → OpenAI (`/v1/messages` → OpenAI mock), concurrency {c}: {x['rps']:.0f} req/s, "
                         f"p50 {fmt(x['p50_ms'])} ms (added {fmt(x['p50_ms'] - d['p50_ms'])}), p99 {fmt(x['p99_ms'])} ms, "
                         f"{x['errors']} errors")
        if "litellm_1" in sa:
            x = sa["litellm_1"]
            lines.append(f"- LiteLLM `/v1/messages`, concurrency 1: {x['rps']:.0f} req/s, p50 {fmt(x['p50_ms'])} ms")
    sg = sc.get("openai_to_gemini", {})
    if "not_available" in sg:
        lines.append(f"- OpenAI → Gemini: {sg['not_available']}")
    elif sg:
        for c in ("1", "64"):
            x, d = sg[c], sg[f"direct_{c}"]
            lines.append(f"- OpenAI → Gemini (Vertex mock), concurrency {c}: {x['rps']:.0f} req/s "
                         f"(mock direct {d['rps']:.0f}), p50 {fmt(x['p50_ms'])} ms (added {fmt(x['p50_ms'] - d['p50_ms'])}), "
                         f"p99 {fmt(x['p99_ms'])} ms, {x['errors']} errors")
    h = sc.get("open_streams")
    if h:
        lines += ["", "### Open streams", "",
                  f"{h['streams']} concurrent streams through the gateway (25 chunks 200 ms apart): {h['opened']} open "
                  f"after {h['all_open_ms']:.0f} ms, {h['completed']} completed, errors {h['errors'] or 'none'}; "
                  f"gateway RSS {h['rss_before_mib']} MiB before, {h['rss_all_open_mib']} MiB with all open, "
                  f"{h['rss_peak_sampled_mib']} MiB sampled peak, VmHWM {h['gateway_vmhwm_mib']} MiB."]
    t = r["targets"]
    e = r.get("exec_to_ready", {})
    lines += ["", "### Footprint and start-up", "", "| | gateway | LiteLLM | nginx proxy |", "|---|---|---|---|"]
    lt = t.get("litellm", {})
    lines.append(f"| idle RSS MiB | {t['gateway'].get('idle_rss_mib')} | {lt.get('idle_rss_mib', 'n/a')} | |")
    if t["gateway"].get("idle_rss_anon_mib") is not None:
        lines.append(f"| of which anonymous / file-backed MiB | {t['gateway']['idle_rss_anon_mib']} / "
                     f"{t['gateway']['idle_rss_file_mib']} | | |")
    lines.append(f"| peak RSS MiB (VmHWM, whole run) | {t['gateway'].get('peak_rss_mib')} | "
                 f"{lt.get('peak_rss_mib', 'n/a')} | {t.get('nginx-proxy', {}).get('peak_rss_mib')} |")
    g = e.get("gateway", {})
    lines.append(f"| exec → 200 on /health/readiness ms | p50 {g.get('p50_ms')} (min {g.get('min_ms')}, max "
                 f"{g.get('max_ms')}, {g.get('runs')} runs) | {e.get('litellm', {}).get('p50_ms', 'n/a')} | |")
    lines += ["", "### Targets (issue #9)", ""] + targets(r)
    for n in r.get("notes", []):
        lines.append(f"\nNote: {n}")
    return "\n".join(lines) + "\n"


def targets(r):
    """Each target of the issue with the measured value and whether it was met."""
    sc, t, e = r["scenarios"], r["targets"], r.get("exec_to_ready", {})
    rows = ["| target | measured | met |", "|---|---|---|"]

    def row(name, measured, ok):
        rows.append(f"| {name} | {measured} | {'n/a' if ok is None else ('yes' if ok else '**no**')} |")

    chat = sc["chat"]
    g64, n64 = chat["gateway"]["64"]["rps"], chat["nginx"]["64"]["rps"]
    row("throughput at concurrency 64 ≥ nginx reverse proxy", f"{g64:.0f} vs {n64:.0f} req/s ({g64 / n64:.2f}×)",
        g64 >= n64)
    if "litellm" in chat and chat["litellm"]["64"]["rps"] > 0:
        l64 = chat["litellm"]["64"]["rps"]
        row("throughput at concurrency 64 ≥ 100× LiteLLM", f"{g64:.0f} vs {l64:.1f} req/s ({g64 / l64:.0f}×)",
            g64 >= 100 * l64)
    fr = sc.get("fixed_rate")
    if fr:
        a50 = fr["gateway"]["p50_ms"] - fr["direct"]["p50_ms"]
        a99 = fr["gateway"]["p99_ms"] - fr["direct"]["p99_ms"]
        row(f"added p50 at {fr['rate']} req/s ≤ 0.2 ms", f"{a50:.3f} ms", a50 <= 0.2)
        row(f"added p99 at {fr['rate']} req/s ≤ 1 ms", f"{a99:.3f} ms", a99 <= 1.0)
    else:
        row("added p50 / p99 at 1,000 req/s", "not measured (oha missing)", None)
    a1 = chat["gateway"]["1"]["p50_ms"] - chat["direct"]["1"]["p50_ms"]
    row("added p50 at concurrency 1 ≤ 0.1 ms", f"{a1:.3f} ms", a1 <= 0.1)
    ss = sc.get("stream", {})
    if "gateway" in ss:
        at = ss["gateway"]["ttfb_ms_p50"] - ss["direct"]["ttfb_ms_p50"]
        row("streaming: added time to first byte ≤ 1 ms (p50)", f"{at:.3f} ms", at <= 1.0)
        g, d = ss["gateway"], ss["direct"]
        unbatched = g["reads_with_events"] >= d["reads_with_events"]
        per = (g.get("chunk_transit_ms_p50") or 0) - (d.get("chunk_transit_ms_p50") or 0)
        row("streaming: chunks relayed without batching",
            f"{g['events']} events in {g['reads_with_events']} reads (direct: {d['reads_with_events']}); "
            f"added per chunk p50 {per:.3f} ms", unbatched)
    idle = t["gateway"].get("idle_rss_mib")
    if idle is not None:
        row("idle RSS of `serve` ≤ 15 MB", f"{idle * 1.048576:.1f} MB ({idle} MiB)", idle * 1.048576 <= 15)
    h = sc.get("open_streams")
    if h and h.get("rss_peak_sampled_mib") is not None:
        peak = max(h["rss_peak_sampled_mib"], h.get("gateway_vmhwm_mib") or 0)
        ok = h["opened"] == h["streams"] and peak * 1.048576 <= 100
        row(f"{h['streams']} concurrent open streams ≤ 100 MB RSS",
            f"{peak * 1.048576:.1f} MB ({peak} MiB, {h['opened']} open, {h['completed']} completed)", ok)
    g = e.get("gateway", {})
    if g.get("p50_ms") is not None:
        row("exec to ready ≤ 50 ms", f"p50 {g['p50_ms']} ms (min {g['min_ms']}, max {g['max_ms']})",
            g["p50_ms"] <= 50)
    return rows


def chart(r, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no chart")
        return
    chat = r["scenarios"]["chat"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    styles = {"direct": ("direct to mock", "tab:gray"), "nginx": ("nginx reverse proxy", "tab:green"),
              "gateway": ("ai-proxy", "tab:blue"), "litellm": ("LiteLLM 1 worker", "tab:red")}
    for name, (label, color) in styles.items():
        if name not in chat:
            continue
        xs = CONCURRENCY
        ax1.plot(xs, [chat[name][str(c)]["p50_ms"] for c in xs], "o-", color=color, label=f"{label} p50")
        ax1.plot(xs, [chat[name][str(c)]["p99_ms"] for c in xs], "x--", color=color, alpha=0.6, label=f"{label} p99")
        ax2.plot(xs, [chat[name][str(c)]["rps"] for c in xs], "o-", color=color, label=label)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(CONCURRENCY)
        ax.set_xticklabels([str(c) for c in CONCURRENCY])
        ax.set_xlabel("concurrent connections")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set_ylabel("latency ms (log)")
    ax1.set_title("non-streaming chat latency")
    ax2.set_ylabel("requests/s (log)")
    ax2.set_title("throughput")
    ax1.legend(fontsize=6, ncol=2)
    ax2.legend(fontsize=7)
    fig.suptitle(f"{r['machine']['nproc']} CPUs, loopback, {r['started_utc']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------- soak (flat RSS and fds)


SOAK_MIX = (
    # (weight, path, body model, stream, headers kind)
    (4, "/v1/chat/completions", "bench", False, "openai"),
    (2, "/v1/chat/completions", "bench-stream", True, "openai"),
    (2, "/v1/messages", "bench", False, "anthropic"),
    (2, "/v1/chat/completions", "mock", False, "openai"),
)


def soak_config(rust_mock):
    return f"""# generated by scripts/bench --soak
model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: http://{rust_mock}/v1
      api_key: sk-mock
  - model_name: bench-stream
    litellm_params:
      model: openai/bench-s20-i5
      api_base: http://{rust_mock}/v1
      api_key: sk-mock
  - model_name: mock
    litellm_params:
      model: mock/soak
general_settings:
  master_key: {MASTER_KEY}
"""


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def soak_sample(pid, t0):
    return {
        "t_s": round(time.time() - t0, 1),
        "rss_mib": round(status_kib(pid, "VmRSS") / 1024.0, 2),
        "fds": fd_count(pid),
        "threads": status_kib(pid, "Threads"),
    }


def soak(args):
    """The gateway against the Rust mock upstream (and its built-in mock model) at a fixed
    request rate for --soak-seconds: a mix of plain, streaming and Anthropic calls, one in
    ten on a new connection. Samples RSS, open fds and threads every --soak-sample seconds."""
    import concurrent.futures
    import threading

    binary = Path(args.binary).resolve() if args.binary else RELEASE / "ai-proxy"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ai-proxy-soak-"))
    procs = []
    report = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command_line(),
        "machine": machine(),
        "binary": str(binary),
        "seconds": args.soak_seconds,
        "rate": args.soak_rate,
        "mix": [{"weight": w, "path": p, "model": m, "stream": st} for w, p, m, st, _ in SOAK_MIX],
    }
    try:
        mock = Proc("rust-mock", [str(binary.parent / "examples" / "bench_mock")], stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL)
        procs.append(mock)
        mock_addr = read_listen_line(mock, 10)
        cfg = workdir / "soak.yaml"
        cfg.write_text(soak_config(mock_addr))
        env = gateway_env(workdir / "home", RUST_LOG="warn", AI_PROXY_LOG_DIR="off")
        gw = Proc("gateway", [str(binary), "serve", "--config", str(cfg), "--port", "0"], cwd=workdir, env=env,
                  stdout=subprocess.PIPE, stderr=open(workdir / "gateway.stderr.log", "wb"))
        procs.append(gw)
        addr = read_listen_line(gw, 30)
        if wait_ready(addr, "/health/readiness", 10, gw) is None:
            raise RuntimeError("gateway not ready")
        host, port = addr.rsplit(":", 1)
        bodies = []
        for w, path, model, stream, kind in SOAK_MIX:
            if kind == "anthropic":
                hdrs = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
                body = messages_body(model)
            else:
                hdrs = {"Authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
                body = chat_body(model, stream)
            bodies += [(path, body.encode(), hdrs)] * w
        local = threading.local()
        counts = {"ok": 0, "errors": 0, "new_connections": 0}
        errors = {}
        lock = threading.Lock()

        def one(i):
            path, body, hdrs = bodies[i % len(bodies)]
            fresh = i % 10 == 0
            conn = None if fresh else getattr(local, "conn", None)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request("POST", path, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
                ok = r.status == 200 and (b"[DONE]" in data or not body.endswith(b'"stream":true}') )
                if fresh:
                    conn.close()
                else:
                    local.conn = conn
                with lock:
                    counts["ok" if ok else "errors"] += 1
                    counts["new_connections"] += fresh
                    if not ok:
                        errors[f"HTTP {r.status}"] = errors.get(f"HTTP {r.status}", 0) + 1
            except (OSError, http.client.HTTPException) as e:
                if conn is not None:
                    conn.close()
                local.conn = None
                with lock:
                    counts["errors"] += 1
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1

        # Warm-up: a few seconds at the rate, not sampled.
        samples = []
        late = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            warm = 5.0
            total = warm + args.soak_seconds
            t0 = time.time()
            i = 0
            next_sample = t0 + warm
            pending = set()
            log(f"soak: {args.soak_rate:g} req/s for {args.soak_seconds:g} s (+{warm:g} s warm-up) against {addr}")
            while True:
                now = time.time()
                if now - t0 >= total:
                    break
                if now >= next_sample:
                    samples.append(soak_sample(gw.pid, t0 + warm))
                    if len(samples) % 12 == 1:
                        s = samples[-1]
                        log(f"  t={s['t_s']:.0f}s rss={s['rss_mib']} MiB fds={s['fds']} threads={s['threads']} "
                            f"ok={counts['ok']} errors={counts['errors']}")
                    next_sample += args.soak_sample
                due = t0 + i / args.soak_rate
                if due > now:
                    time.sleep(min(due - now, max(0.0, next_sample - now)))
                    continue
                if now - due > 0.1:
                    late += 1
                pending = {f for f in pending if not f.done()}
                pending.add(pool.submit(one, i))
                i += 1
            concurrent.futures.wait(pending, timeout=60)
        samples.append(soak_sample(gw.pid, t0 + warm))
        # The load is over: what the gateway holds once idle.
        time.sleep(3)
        after = soak_sample(gw.pid, t0 + warm)
        elapsed = time.time() - t0 - warm
        keys = ("rss_mib", "fds", "threads")
        report.update({
            "requests": i,
            "ok": counts["ok"],
            "errors": counts["errors"],
            "error_kinds": errors,
            "new_connections": counts["new_connections"],
            "started_late_over_100ms": late,
            "achieved_rate": round(i / (elapsed + 5.0), 1),
            "start": samples[0],
            "end": samples[-1],
            "max": {k: max(s[k] for s in samples) for k in keys},
            "min": {k: min(s[k] for s in samples) for k in keys},
            "idle_after": after,
            "gateway_vmhwm_mib": round(status_kib(gw.pid, "VmHWM") / 1024.0, 2),
            "samples": samples,
        })
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    write_report(out_dir, "soak", report, render_soak)


def render_soak(r):
    lines = [
        f"Soak: `{r['command']}` ({r['started_utc']}, {r['machine']['nproc']} cores, git {r['machine'].get('git', '?')})",
        "",
        f"{r['requests']} requests at {r['rate']:g}/s for {r['seconds']:g} s ({r['ok']} ok, {r['errors']} errors"
        f"{' ' + json.dumps(r['error_kinds']) if r['error_kinds'] else ''}, {r['new_connections']} on new connections, "
        f"{r['started_late_over_100ms']} started >100 ms late)",
        "",
        "| | RSS (MiB) | open fds | threads |",
        "|---|---:|---:|---:|",
    ]
    for name, s in (("start", r["start"]), ("end", r["end"]), ("max", r["max"]), ("min", r["min"]),
                    ("idle, 3 s after", r["idle_after"])):
        lines.append(f"| {name} | {s['rss_mib']} | {s['fds']} | {s['threads']} |")
    lines.append("")
    lines.append(f"Peak RSS (VmHWM): {r['gateway_vmhwm_mib']} MiB; {len(r['samples'])} samples.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- request log on vs off (issue #19)


def request_log(args):
    """The request log's cost on the request path: two gateways on the same Rust mock
    upstream, one with the log on (the default: a SQLite file in its own state folder) and
    one with `disable_spend_logs: true`, each driven by oha at the same fixed rate for
    `--log-rounds` runs, alternating which goes first, so drift of a shared machine hits both
    alike. Reports per run and the median of the runs; checks that the logging gateway logged
    every call."""
    oha = Path(args.tools) / "tools" / "bin" / "oha"
    tool = "oha" if oha.exists() and not args.log_python else "python"
    binary = Path(args.binary).resolve() if args.binary else RELEASE / "ai-proxy"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ai-proxy-log-bench-"))
    procs = []
    rate, secs, rounds = args.log_rate, args.log_seconds, args.log_rounds
    report = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command_line(),
        "machine": machine(),
        "binary": str(binary), "tool": tool, "rate": rate, "seconds_per_run": secs, "rounds": rounds,
        "runs": {"log_on": [], "log_off": []},
    }
    try:
        mock = Proc("rust-mock", [str(binary.parent / "examples" / "bench_mock")], stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL)
        procs.append(mock)
        mock_addr = read_listen_line(mock, 10)
        gateways = {}
        for name, extra in (("log_on", ""), ("log_off", "  disable_spend_logs: true\n")):
            home = workdir / name
            home.mkdir()
            cfg = home / "config.yaml"
            cfg.write_text(
                "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n"
                f"      api_base: http://{mock_addr}/v1\n      api_key: sk-mock\n"
                f"general_settings:\n  master_key: {MASTER_KEY}\n{extra}")
            # Its own state folder (the request log) and no log file: only the SQLite log differs.
            env = gateway_env(home, AI_PROXY_LOG_DIR="off")
            proc = Proc(name, [str(binary), "serve", "--config", str(cfg), "--port", "0"],
                        cwd=home, env=env, stdout=subprocess.PIPE,
                        stderr=open(home / "stderr.log", "wb"))
            procs.append(proc)
            gateways[name] = (proc, read_listen_line(proc, 30))
        body = chat_body("bench")
        hdrs = {"Authorization": f"Bearer {MASTER_KEY}"}
        load = Load(args, workdir)

        def run(addr, proc, seconds):
            if tool == "oha":
                return load.oha_rate(f"http://{addr}/v1/chat/completions", body, hdrs, rate, seconds,
                                     {"gateway": proc})
            return load.py_rate(addr, "/v1/chat/completions", body, hdrs, rate, seconds, {"gateway": proc})

        for name, (proc, addr) in gateways.items():
            log(f"warm-up: {name}")
            run(addr, proc, 2)
        for r in range(rounds):
            order = ["log_on", "log_off"] if r % 2 == 0 else ["log_off", "log_on"]
            for name in order:
                proc, addr = gateways[name]
                log(f"round {r + 1}/{rounds}: {name} at {rate:g}/s for {secs:g} s")
                report["runs"][name].append(run(addr, proc, secs))
        # Every call the logging gateway answered is in its log (none dropped).
        proc, addr = gateways["log_on"]
        sent = sum(run["requests"] for run in report["runs"]["log_on"])
        req = urllib.request.Request(f"http://{addr}/usage",
                                     headers={"Authorization": f"Bearer {MASTER_KEY}"})
        logged = None
        for _ in range(100):
            with urllib.request.urlopen(req, timeout=10) as resp:
                usage = json.load(resp)
            logged = usage["total"]["requests"]
            if logged >= sent:
                break
            time.sleep(0.1)
        report["log_on_check"] = {"calls_sent_in_timed_runs": sent, "rows_logged_incl_warmup": logged,
                                  "not_logged": usage.get("not_logged")}
        report["gateway_vmhwm_mib"] = {n: round(status_kib(p.pid, "VmHWM") / 1024.0, 2)
                                       for n, (p, _) in gateways.items()}
        db = workdir / "log_on" / ".local" / "state" / "ai-proxy" / "usage.sqlite3"
        report["log_file_bytes"] = db.stat().st_size if db.exists() else None
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {}
    for name, runs in report["runs"].items():
        def med(key, runs=runs):
            vals = sorted(run[key] for run in runs)
            return round(vals[len(vals) // 2], 3)
        cpu = sorted(run["cpu_us_per_req"]["gateway"] for run in runs if "cpu_us_per_req" in run)
        summary[name] = {"p50_ms": med("p50_ms"), "p90_ms": med("p90_ms"), "p99_ms": med("p99_ms"),
                         "rps": med("rps"), "errors": sum(run["errors"] for run in runs),
                         "gateway_cpu_us_per_req": cpu[len(cpu) // 2] if cpu else None}
    report["median"] = summary
    write_report(out_dir, "request-log", report, render_request_log)


def render_request_log(r):
    m = r["machine"]
    lines = [
        f"Request log on vs off: `{r['command']}` ({r['started_utc']}, {m['nproc']} cores, git {m.get('git', '?')})",
        "",
        f"{r['tool']} at {r['rate']:g} req/s, {r['seconds_per_run']:g} s per run, {r['rounds']} runs per gateway "
        "(alternating); medians of the runs:",
        "",
        "| gateway | achieved req/s | p50 ms | p90 ms | p99 ms | errors | gateway CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("log_on", "request log on (default)"), ("log_off", "`disable_spend_logs: true`")):
        s = r["median"][name]
        lines.append(f"| {label} | {s['rps']} | {s['p50_ms']:.3f} | {s['p90_ms']:.3f} | {s['p99_ms']:.3f} | "
                     f"{s['errors']} | {s['gateway_cpu_us_per_req']} |")
    lines += ["", "Per run (p50 / p99 ms):", ""]
    for name in ("log_on", "log_off"):
        runs = ", ".join(f"{x['p50_ms']:.3f} / {x['p99_ms']:.3f}" for x in r["runs"][name])
        lines.append(f"- {name}: {runs}")
    c = r["log_on_check"]
    lines += ["", f"Logged: {c['rows_logged_incl_warmup']} rows (timed runs sent {c['calls_sent_in_timed_runs']}, "
              f"plus the warm-up), not logged (queue full): {c['not_logged']}; log file "
              f"{r['log_file_bytes']} bytes. Peak RSS (MiB): {r['gateway_vmhwm_mib']}."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- wall-clock A/B of two builds


def find_bench_mock(binary):
    """The Rust mock upstream: next to the binary (`target/<profile>/examples/`), else the
    release or profiling build's."""
    for d in (Path(binary).resolve().parent, RELEASE, RELEASE.parent / "profiling"):
        m = d / "examples" / "bench_mock"
        if m.exists():
            return m
    raise SystemExit("no bench_mock example found: build it with "
                     "`cargo build --release --locked --example bench_mock` (or --profile profiling)")


AB_SCENARIOS = {
    # OpenAI chat to an OpenAI-compatible upstream (the verbatim path).
    "chat": lambda: ("/v1/chat/completions", chat_body("bench"), {"Authorization": f"Bearer {MASTER_KEY}"}),
    # Anthropic Messages translated to OpenAI chat and back.
    "messages": lambda: ("/v1/messages", messages_body("bench"),
                         {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}),
}


def ab(args):
    """Two gateway binaries on this machine's wall clock, on one `--ab-scenario`: `wrk` closed loop at
    `--ab-concurrency` for `--ab-seconds` after a 1 s warm-up, a fresh gateway per run, both
    builds in every round and the order swapped each round, so the drift of a shared VM hits
    both alike. Reports each build's CPU µs per request (the gateway's user + system time over
    the requests it answered) and req/s, per round and as medians, and in how many rounds B
    was the cheaper. Instruction counts (`--callgrind`) do not show scheduling: a change that
    moves when a task is polled is judged here."""
    if shutil.which("wrk") is None:
        raise SystemExit("--ab needs wrk on PATH (Debian: apt-get install wrk)")
    names = ("A", "B")
    bins = [Path(b).resolve() for b in args.ab]
    for b in bins:
        if not b.exists():
            raise SystemExit(f"--ab: no such binary: {b}")
    mock_bin = find_bench_mock(bins[0])
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ai-proxy-ab-"))
    conc, secs, rounds = args.ab_concurrency, args.ab_seconds, args.ab_rounds
    report = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command_line(),
        "machine": machine(),
        "binaries": {n: str(b) for n, b in zip(names, bins)},
        "scenario": args.ab_scenario, "concurrency": conc, "seconds_per_run": secs, "rounds": rounds,
        "runs": {n: [] for n in names},
    }
    mock = Proc("rust-mock", [str(mock_bin)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        mock_addr = read_listen_line(mock, 10)
        cfg = workdir / "ab.yaml"
        cfg.write_text(gateway_config(mock_addr, mock_addr))
        path, body, hdrs = AB_SCENARIOS[args.ab_scenario]()
        load = Load(args, workdir)
        for r in range(rounds):
            order = list(zip(names, bins))
            if r % 2:
                order.reverse()
            for name, binary in order:
                env = gateway_env(workdir / f"home-{r}-{name}")
                gw = Proc(name, [str(binary), "serve", "--config", str(cfg), "--port", "0"], cwd=workdir,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                try:
                    addr = read_listen_line(gw, 30)
                    if wait_ready(addr, "/health/readiness", 10, gw) is None:
                        raise RuntimeError(f"{name} ({binary}) did not become ready")
                    url = f"http://{addr}{path}"
                    load.wrk(url, body, hdrs, conc, 1, {"gateway": gw})
                    run = load.wrk(url, body, hdrs, conc, secs, {"gateway": gw})
                finally:
                    gw.stop()
                if run["errors"] or not run["requests"]:
                    raise RuntimeError(f"{name}: {run['errors']} errors in {run['requests']} requests")
                report["runs"][name].append({"round": r, "rps": run["rps"], "p50_ms": run["p50_ms"],
                                             "cpu_us_per_req": run["cpu_us_per_req"]["gateway"]})
                log(f"round {r + 1}/{rounds} {name}: {run['rps']:.0f} req/s, "
                    f"{run['cpu_us_per_req']['gateway']} CPU µs/req")
    finally:
        mock.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report["median"] = {n: {"cpu_us_per_req": statistics.median(x["cpu_us_per_req"] for x in report["runs"][n]),
                            "rps": statistics.median(x["rps"] for x in report["runs"][n])} for n in names}
    report["b_cheaper_rounds"] = sum(b["cpu_us_per_req"] < a["cpu_us_per_req"]
                                     for a, b in zip(report["runs"]["A"], report["runs"]["B"]))
    write_report(out_dir, "ab", report, render_ab)


def render_ab(r):
    m = r["machine"]
    a, b = r["median"]["A"], r["median"]["B"]
    lines = [
        f"A/B: `{r['command']}` ({r['started_utc']}, {m['nproc']} cores, git {m.get('git', '?')})",
        "",
        f"Scenario `{r['scenario']}`; wrk, {r['concurrency']} connections, {r['seconds_per_run']:g} s per run "
        "after a 1 s warm-up, "
        f"a fresh gateway per run, {r['rounds']} rounds with the order swapped each round.",
        "",
        "| build | binary | CPU µs/req (median) | req/s (median) |",
        "|---|---|---:|---:|",
        f"| A | `{r['binaries']['A']}` | {a['cpu_us_per_req']:.1f} | {a['rps']:.0f} |",
        f"| B | `{r['binaries']['B']}` | {b['cpu_us_per_req']:.1f} | {b['rps']:.0f} |",
        "",
        f"B / A CPU per request: {b['cpu_us_per_req'] / a['cpu_us_per_req']:.3f}; "
        f"B cheaper in {r['b_cheaper_rounds']} of {r['rounds']} rounds.",
        "",
        "Per round, CPU µs/req (A / B): "
        + ", ".join(f"{x['cpu_us_per_req']} / {y['cpu_us_per_req']}" for x, y in zip(r["runs"]["A"], r["runs"]["B"])),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- fd lock-out (issue #13)


def fd_lockout(args, idle=300, limit=256):
    """The gateway with an open-file limit of `limit` (soft and hard, as `ulimit -n 256`)
    and `idle` sockets opened to it that send nothing: is a real client still answered, and
    how long does it wait?"""
    import resource

    binary = Path(args.binary).resolve() if args.binary else RELEASE / "ai-proxy"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ai-proxy-fds-"))
    cfg = workdir / "fds.yaml"
    cfg.write_text(f"model_list:\n  - model_name: mock\n    litellm_params:\n      model: mock/x\n"
                   f"general_settings:\n  master_key: {MASTER_KEY}\n")
    env = gateway_env(workdir / "home", RUST_LOG="info", AI_PROXY_LOG_DIR="off")

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    err_path = workdir / "gateway.stderr.log"
    gw = subprocess.Popen([str(binary), "serve", "--config", str(cfg), "--port", "0"], cwd=workdir, env=env,
                          stdout=subprocess.PIPE, stderr=open(err_path, "wb"), preexec_fn=low_limit,
                          start_new_session=True)
    proc = Proc.__new__(Proc)
    proc.name, proc.p = "gateway", gw
    socks = []
    report = {"binary": str(binary), "open_file_limit": limit, "idle_sockets": idle}
    try:
        addr = read_listen_line(proc, 30)
        host, port = addr.rsplit(":", 1)
        for _ in range(idle):
            s = socket.create_connection((host, int(port)), timeout=5)
            socks.append(s)
        time.sleep(1.0)
        report["gateway_fds_with_idle_sockets"] = fd_count(gw.pid)
        body = chat_body("mock")
        hdrs = {"Authorization": f"Bearer {MASTER_KEY}"}
        t0 = time.perf_counter()
        try:
            status, data = http_post(addr, "/v1/chat/completions", body, hdrs, timeout=60)
            report["client_status"] = status
        except OSError as e:
            report["client_status"] = f"failed: {e}"
        report["client_seconds"] = round(time.perf_counter() - t0, 3)
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        report["idle_sockets_closed_by_gateway"] = closed
        report["gateway_fds_after"] = fd_count(gw.pid)
    finally:
        for s in socks:
            s.close()
        proc.stop()
    log_text = err_path.read_text(errors="replace")
    report["limit_log_lines"] = [line for line in log_text.splitlines() if "connection limit reached" in line][:3]
    report["accept_errors"] = sum("cannot accept" in line for line in log_text.splitlines())
    shutil.rmtree(workdir, ignore_errors=True)
    (out_dir / "fd-lockout.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

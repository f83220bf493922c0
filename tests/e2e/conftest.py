"""Fixtures for end-to-end tests: the real ai-proxy binary and the Rust mock upstreams,
driven by the official Python SDKs. Nothing is skipped: a missing binary is a failure."""

import os
import pathlib
import queue
import subprocess
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BINARY = TARGET / "debug" / "ai-proxy"
MOCKS = TARGET / "debug" / "examples" / "mock_upstreams"
MASTER_KEY = "sk-e2e-master-key"
DASHSCOPE_KEY = "sk-dashscope-test"


def _require(path: pathlib.Path, build: str) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `{build}` first (scripts/test does)", pytrace=False)


class Process:
    """A child process whose stdout announces `listening on http://ADDR`."""

    def __init__(self, args, env=None, cwd=None):
        self.stderr_lines = []
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=cwd,
        )
        lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout, lines), daemon=True).start()
        threading.Thread(target=self._collect, daemon=True).start()
        try:
            while True:
                line = lines.get(timeout=20)
                if line is None:
                    raise RuntimeError(f"{args[0]} exited: {''.join(self.stderr_lines)}")
                if "listening on " in line:
                    self.base = line.split("listening on ", 1)[1].split()[0]
                    break
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"{args[0]} did not start: {''.join(self.stderr_lines)}")

    @staticmethod
    def _pump(stream, q):
        for line in stream:
            q.put(line)
        q.put(None)

    def _collect(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    @property
    def stderr(self):
        return "".join(self.stderr_lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def mocks():
    _require(MOCKS, "cargo build --examples")
    p = Process([str(MOCKS)])
    yield p.base
    p.stop()


@pytest.fixture
def gateway(tmp_path):
    """Factory: gateway(config_text, **env) -> base URL of a running gateway."""
    _require(BINARY, "cargo build")
    started = []

    def start(config: str, **env):
        cfg = tmp_path / f"config{len(started)}.yaml"
        cfg.write_text(config)
        full_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "RUST_LOG": "info"}
        full_env.update(env)
        p = Process(
            [str(BINARY), "serve", "--config", str(cfg), "--host", "127.0.0.1", "--port", "0"],
            env=full_env,
            cwd=tmp_path,
        )
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()

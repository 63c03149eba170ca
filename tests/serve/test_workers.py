"""`archon-compile serve --workers N`: several processes on one port, each answering; none left behind."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from archon_compile.serve import workers as multi
from archon_compile.testing import FakeOpenAIServer
from tests.serve.test_serve import free_port, wait_healthy

pytestmark = pytest.mark.skipif(not multi.supported(), reason="--workers needs Linux SO_REUSEPORT")


def serve_cmd(port: int, upstream: str, workers: int = 2) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from archon_compile.cli import main; main()",
        "serve",
        "single-model",
        "--port",
        str(port),
        "--lm",
        "openai/fake",
        "--api-base",
        upstream,
        "--no-cache",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]


@contextmanager
def served(upstream: str, workers: int = 2) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    cmd = serve_cmd(port, upstream, workers)
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, timeout_s=300)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def pids_answering(base: str, connections: int = 24) -> set[int]:
    """Each GET on a fresh connection: the kernel picks a worker per connection by its addresses."""
    pids = set()
    for _ in range(connections):
        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        try:
            conn.request("GET", "/health")
            pids.add(int(conn.getresponse().getheader("X-Worker-Pid", "0")))
        finally:
            conn.close()
    return pids


def children(pid: int) -> set[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in kids.read_text().split()} if kids.exists() else set()


def alive(pid: int) -> bool:
    """Any of its threads still there. A killed process's main thread shows as a zombie until its other
    threads have exited too, and only then are its files (its listening socket) closed."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    for task in tasks:
        try:
            if Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                return True
        except FileNotFoundError:
            continue
    return False


def wait_gone(pids: set[int], timeout_s: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def wait_answering(base: str, count: int, timeout_s: float = 300) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while len(pids := pids_answering(base)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return pids


def test_two_workers_both_answer_and_ctrl_c_stops_all():
    with (
        FakeOpenAIServer(lambda body: f"echo {body['messages'][-1]['content']}") as upstream,
        served(upstream.url) as (base, proc),
    ):
        pids = wait_answering(base, 2)
        kids = children(proc.pid)  # the workers and multiprocessing's resource tracker
        assert len(pids) == 2 and pids <= kids, "both workers, children of the command"
        for q in ("a", "b", "c", "d"):
            body = {"model": "single-model", "messages": [{"role": "user", "content": q}]}
            reply = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30)
            assert reply.json()["choices"][0]["message"]["content"] == f"echo {q}"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        assert proc.wait(timeout=60) == 0
        assert not wait_gone(kids), "no process outlives the command"


def test_a_dead_worker_is_replaced_and_workers_exit_when_the_parent_is_killed():
    with FakeOpenAIServer(lambda body: "ok") as upstream, served(upstream.url) as (base, proc):
        first = wait_answering(base, 2)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        assert not wait_gone({victim})
        now = wait_answering(base, 2)
        assert len(now) == 2 and victim not in now and len(now & first) == 1, "replaced"
        kids = children(proc.pid)
        proc.kill()  # no chance to stop them: each notices that its parent is gone
        proc.wait(timeout=30)
        assert not wait_gone(kids), "orphaned workers"


def test_a_taken_port_is_one_error_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            serve_cmd(port, "http://127.0.0.1:9/v1"), capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_load_bench_compares_worker_counts_in_one_run():
    """bench/serve_load.py --workers 1,2 at a tiny size: every answer right, once, from each server."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "serve_load.py"
    cmd = [sys.executable, str(bench), "--requests", "12", "--clients", "4", "--latency", "0.01"]
    proc = subprocess.Popen(
        [*cmd, "--workers", "1,2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=280)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the bench and its servers (whose workers follow them)
            proc.communicate()
    assert proc.returncode == 0, out
    assert out.count("12 correct, 0 wrong answers, 0 errors {}, 0 not sent") == 2
    assert "--- serve --workers 2" in out and "2 workers" in out.splitlines()[-1]

"""Load benchmark for `archon-compile serve`: many concurrent clients, no request lost or mixed up.

A FakeOpenAIServer answers every LM call after `--latency` seconds with text derived from the question.
`archon-compile serve` runs in a subprocess on 127.0.0.1 (its own interpreter, as in production), with
every model of the program retargeted to the fake, which runs in a third process (so clients and fake
do not share one interpreter lock, and the harness does not limit what it measures). `--clients`
concurrent clients send `--requests` requests, each with a unique question, within `--time-cap` seconds;
every answer must be the one derived from its own question, and the upstream must have seen each question
exactly once per LM call. It prints the server's CPU per LM call (its own process's CPU time, so the
figure holds on a busy machine where the throughput is set by what else runs).

    python bench/serve_load.py                          # 640 requests, 64 clients, 200 ms per LM call
    python bench/serve_load.py --program programs/x.json --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

import archon_compile as ac
from archon_compile.testing import FakeOpenAIServer

# 3 samples -> 1 fuser: 4 LM calls in 2 layers per query (the shape of a small Mixture-of-Agents).
DEFAULT_SPEC: dict[str, Any] = {
    "name": "bench-moa",
    "description": "serve_load benchmark: 3 samples, then a fuser",
    "layers": [
        [{"type": "generator", "model": "openai/fake", "samples": 3, "temperature": 0.7}],
        [{"type": "fuser", "model": "openai/fake", "temperature": 0.7}],
    ],
}


def respond(body: dict[str, Any]) -> str:
    """Every call of the architecture answers from the question, so the final answer names it too."""
    return f"reply to {body['messages'][-1]['content']}"


def question(i: int) -> str:
    return f"q{i:05d}: what is {i} squared?"


def cpu_seconds(pid: int) -> float | None:
    """CPU time of the server process (Linux /proc), so its cost per request is known even on a busy
    machine where throughput is set by what else runs."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_upstream(latency: float, conn: Connection) -> None:
    """The fake upstream's process: sends its URL, serves until told the load is over, then sends the
    question of every call it saw."""
    with FakeOpenAIServer(respond, latency_s=latency) as upstream:
        conn.send(upstream.url)
        conn.recv()
        conn.send([r["messages"][-1]["content"] for r in upstream.requests])


@dataclass
class Upstream:
    url: str
    pid: int
    conn: Connection

    def seen(self) -> Counter[str]:
        self.conn.send("done")
        return Counter(self.conn.recv())


@contextmanager
def upstream_process(latency: float) -> Iterator[Upstream]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(
        target=run_upstream, args=(latency, child), daemon=True
    )
    proc.start()
    try:
        assert proc.pid is not None
        yield Upstream(parent.recv(), proc.pid, parent)
    finally:
        proc.kill()
        proc.join(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    program: Path, upstream: str, port: int, args: argparse.Namespace
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-c",
        "from archon_compile.cli import main; main()",
        "serve",
        str(program),
        "--port",
        str(port),
        "--lm",
        "openai/fake",
        "--api-base",
        upstream,
        "--no-cache",
        "--concurrency",
        str(args.clients),
        "--lm-concurrency",
        str(args.lm_concurrency),
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.Popen(cmd, env=env)


async def wait_ready(
    http: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes], model: str
) -> None:
    """Health first, then one warm-up query (the first call imports the LM client)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited before it was ready")
        try:
            async with http.get(f"{base}/health") as resp:
                if resp.status == 200:
                    break
        except aiohttp.ClientError:
            await asyncio.sleep(0.2)
    body = {"model": model, "messages": [{"role": "user", "content": "warm-up"}]}
    async with http.post(f"{base}/v1/chat/completions", json=body) as warm:
        warm.raise_for_status()


@dataclass
class LoadResult:
    """What the clients saw, and what the two processes spent while they ran."""

    answers: dict[int, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    not_sent: int = 0
    wall_s: float = 0.0
    bench_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    upstream_cpu_s: float | None = None


async def load(base: str, model: str, args: argparse.Namespace, proc: subprocess.Popen[bytes]) -> LoadResult:
    # aiohttp, not httpx: httpx's client CPU per request was the harness's own bottleneck at 64 clients.
    connector = aiohttp.TCPConnector(limit=args.clients)
    result = LoadResult()
    timeout = aiohttp.ClientTimeout(total=90)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await wait_ready(http, base, proc, model)
        pending = list(range(args.requests))
        deadline = time.monotonic() + args.time_cap

        async def client() -> None:
            while pending and time.monotonic() < deadline:
                i = pending.pop()
                start = time.perf_counter()
                body = {"model": model, "messages": [{"role": "user", "content": question(i)}]}
                try:
                    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
                        status, data = resp.status, await resp.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.errors[type(exc).__name__] += 1
                    continue
                result.latencies.append(time.perf_counter() - start)
                if status != 200:
                    result.errors[f"HTTP {status}"] += 1
                    continue
                result.answers[i] = json.loads(data)["choices"][0]["message"]["content"]

        start, server_cpu, own_cpu = time.perf_counter(), cpu_seconds(proc.pid), time.process_time()
        await asyncio.gather(*(client() for _ in range(args.clients)))
        result.wall_s = time.perf_counter() - start
        result.bench_cpu_s = time.process_time() - own_cpu
        server_cpu_end = cpu_seconds(proc.pid)
        if server_cpu is not None and server_cpu_end is not None:
            result.server_cpu_s = server_cpu_end - server_cpu
        result.not_sent = len(pending)
    return result


def report(
    result: LoadResult, spec: ac.ArchitectureSpec, seen: Counter[str], args: argparse.Namespace
) -> bool:
    """Print the numbers; True when every request came back once, right, and in time."""
    depth, calls = len(spec.layers), spec.calls_per_query()
    wrong = [i for i, a in result.answers.items() if a != f"reply to {question(i)}"]
    upstream_mismatch = [i for i in result.answers if seen[question(i)] != calls]
    ok = len(result.answers) - len(wrong)
    print(f"program {spec.name}: {calls} LM calls in {depth} layers per query, {args.latency:g}s each")
    print(
        f"{args.clients} clients, {args.requests} requests: {ok} correct, {len(wrong)} wrong answers, "
        f"{sum(result.errors.values())} errors {dict(result.errors)}, {result.not_sent} not sent "
        f"(time cap {args.time_cap:g}s)"
    )
    print(f"upstream: {sum(seen.values())} calls; {len(upstream_mismatch)} questions not seen {calls} times")
    lat = sorted(result.latencies)
    if lat:
        print(
            f"throughput {ok / result.wall_s:.1f} requests/s over {result.wall_s:.1f}s (ideal "
            f"{args.clients / (depth * args.latency):.0f}/s at {depth} x {args.latency:g}s per query); "
            f"latency p50 {statistics.median(lat):.2f}s, p95 {lat[int(0.95 * (len(lat) - 1))]:.2f}s, "
            f"max {lat[-1]:.2f}s"
        )
    if result.server_cpu_s is not None and result.answers:
        n = len(result.answers)
        upstream = (
            ""
            if result.upstream_cpu_s is None
            else f", fake upstream {result.upstream_cpu_s / n * 1e3:.1f} ms"
        )
        print(
            f"server CPU per LM call {result.server_cpu_s / (n * calls) * 1000:.2f} ms (target <= 1); "
            f"CPU per request: server {result.server_cpu_s / n * 1000:.1f} ms "
            f"({result.server_cpu_s / result.wall_s:.0%} of one core), clients "
            f"{result.bench_cpu_s / n * 1000:.1f} ms{upstream}; load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores"
        )
    return not (wrong or upstream_mismatch or result.errors or result.not_sent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--program", type=Path, help="spec or artifact (default: 3 samples -> fuser)")
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per upstream LM call")
    parser.add_argument("--time-cap", type=float, default=120.0, help="stop sending after this many seconds")
    parser.add_argument("--lm-concurrency", type=int, default=512, help="the server's LM calls in flight")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        program = args.program or Path(tmp) / "bench-moa.json"
        if args.program is None:
            program.write_text(json.dumps(DEFAULT_SPEC))
        spec = ac.load(program, cache=False).spec
        with upstream_process(args.latency) as upstream:
            port = free_port()
            proc = start_server(program, upstream.url, port, args)
            upstream_cpu = cpu_seconds(upstream.pid)
            try:
                result = asyncio.run(load(f"http://127.0.0.1:{port}", spec.name, args, proc))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            end_cpu = cpu_seconds(upstream.pid)
            if upstream_cpu is not None and end_cpu is not None:
                result.upstream_cpu_s = end_cpu - upstream_cpu
            seen = upstream.seen()
    return 0 if report(result, spec, seen, args) else 1


if __name__ == "__main__":
    sys.exit(main())

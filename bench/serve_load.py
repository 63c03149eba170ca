"""Load benchmark for `archon-compile serve`: many concurrent clients, no request lost or mixed up.

A FakeOpenAIServer answers every LM call after `--latency` seconds with text derived from the question.
`archon-compile serve` runs in a subprocess on 127.0.0.1 (its own interpreter, as in production), with
every model of the program retargeted to the fake, which runs in a third process (so clients and fake
do not share one interpreter lock, and the harness does not limit what it measures). `--clients`
concurrent clients send `--requests` requests, each with a unique question, within `--time-cap` seconds;
every answer must be the one derived from its own question, and the upstream must have seen each question
exactly once per LM call. It prints the server's CPU per LM call (the CPU time of its processes, so the
figure holds on a busy machine where the throughput is set by what else runs), and beside it the CPU of
the bench's own clients and fake upstream, which share the machine's cores with the server.

`--workers 1,2` runs the same load against `serve --workers 1`, then `--workers 2`, in one run, and prints
the throughput ratio: a valid comparison only on a machine with nothing else running.

    python bench/serve_load.py                          # 640 requests, 64 clients, 200 ms per LM call
    python bench/serve_load.py --workers 1,2            # one server process, then two on the one port
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


def question(i: int, run: int = 0) -> str:
    """Unique per request and per run, so each run's answers and upstream calls are checked apart."""
    return f"r{run}q{i:05d}: what is {i} squared?"


def cpu_seconds(pid: int) -> float | None:
    """CPU time of a process and of its live children (Linux /proc): a server with --workers is a
    supervisor and its workers. Per process, so its cost per request is known even on a busy machine
    where throughput is set by what else runs."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(kid)) or 0.0 for kid in kids)


def run_upstream(latency: float, conn: Connection) -> None:
    """The fake upstream's process: sends its URL, then, each time it is asked, the question of every
    call it saw so far."""
    with FakeOpenAIServer(respond, latency_s=latency) as upstream:
        conn.send(upstream.url)
        while conn.recv() == "seen":
            conn.send([r["messages"][-1]["content"] for r in upstream.requests])


@dataclass
class Upstream:
    url: str
    pid: int
    conn: Connection

    def seen(self) -> Counter[str]:
        self.conn.send("seen")
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
    program: Path, upstream: str, port: int, workers: int, args: argparse.Namespace
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
        "--workers",
        str(workers),
    ]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.Popen(cmd, env=env)


async def wait_ready(base: str, proc: subprocess.Popen[bytes], model: str, workers: int) -> None:
    """Every worker answering /health (each fresh connection may reach another one; a worker still
    starting gets none of the clients' connections), then warm-up queries on fresh connections, enough
    to reach every worker (the first call imports the LM client)."""
    deadline = time.monotonic() + 300
    pids: set[str] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
        while len(pids) < workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server exited or did not start {workers} workers: {len(pids)} answer")
            try:
                async with fresh.get(f"{base}/health") as resp:
                    pids.add(resp.headers.get("X-Worker-Pid", ""))
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)

        async def warm(n: int) -> None:
            body = {"model": model, "messages": [{"role": "user", "content": f"warm-up {n}"}]}
            async with fresh.post(f"{base}/v1/chat/completions", json=body) as resp:
                resp.raise_for_status()

        await asyncio.gather(*(warm(n) for n in range(8 * workers)))


@dataclass
class LoadResult:
    """What the clients saw, and what the server, the clients and the upstream spent while they ran."""

    workers: int
    run: int
    answers: dict[int, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    not_sent: int = 0
    wall_s: float = 0.0
    bench_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    upstream_cpu_s: float | None = None


async def load(
    base: str,
    model: str,
    args: argparse.Namespace,
    proc: subprocess.Popen[bytes],
    upstream_pid: int,
    result: LoadResult,
) -> None:
    await wait_ready(base, proc, model, result.workers)
    # aiohttp, not httpx: httpx's client CPU per request was the harness's own bottleneck at 64 clients.
    connector = aiohttp.TCPConnector(limit=args.clients)
    timeout = aiohttp.ClientTimeout(total=90)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        pending = list(range(args.requests))
        deadline = time.monotonic() + args.time_cap

        async def client() -> None:
            while pending and time.monotonic() < deadline:
                i = pending.pop()
                start = time.perf_counter()
                body = {"model": model, "messages": [{"role": "user", "content": question(i, result.run)}]}
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

        start, own_cpu = time.perf_counter(), time.process_time()
        server_cpu, upstream_cpu = cpu_seconds(proc.pid), cpu_seconds(upstream_pid)
        await asyncio.gather(*(client() for _ in range(args.clients)))
        result.wall_s = time.perf_counter() - start
        result.bench_cpu_s = time.process_time() - own_cpu
        server_cpu_end, upstream_cpu_end = cpu_seconds(proc.pid), cpu_seconds(upstream_pid)
        if server_cpu is not None and server_cpu_end is not None:
            result.server_cpu_s = server_cpu_end - server_cpu
        if upstream_cpu is not None and upstream_cpu_end is not None:
            result.upstream_cpu_s = upstream_cpu_end - upstream_cpu
        result.not_sent = len(pending)


def report(
    result: LoadResult, spec: ac.ArchitectureSpec, seen: Counter[str], args: argparse.Namespace
) -> bool:
    """Print one run's numbers; True when every request came back once, right, and in time."""
    depth, calls = len(spec.layers), spec.calls_per_query()
    wrong = [i for i, a in result.answers.items() if a != f"reply to {question(i, result.run)}"]
    upstream_mismatch = [i for i in result.answers if seen[question(i, result.run)] != calls]
    ok = len(result.answers) - len(wrong)
    print(f"--- serve --workers {result.workers}")
    print(
        f"{args.clients} clients, {args.requests} requests: {ok} correct, {len(wrong)} wrong answers, "
        f"{sum(result.errors.values())} errors {dict(result.errors)}, {result.not_sent} not sent "
        f"(time cap {args.time_cap:g}s)"
    )
    print(f"upstream: {len(upstream_mismatch)} questions not seen {calls} times")
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
            f"({result.server_cpu_s / result.wall_s:.0%} of one core), bench clients "
            f"{result.bench_cpu_s / n * 1000:.1f} ms{upstream}; load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores"
        )
    return not (wrong or upstream_mismatch or result.errors or result.not_sent)


def measure(
    program: Path,
    spec: ac.ArchitectureSpec,
    upstream: Upstream,
    workers: int,
    run: int,
    args: argparse.Namespace,
) -> LoadResult:
    """One load against a fresh `serve --workers N`."""
    port = free_port()
    proc = start_server(program, upstream.url, port, workers, args)
    result = LoadResult(workers, run)
    try:
        asyncio.run(load(f"http://127.0.0.1:{port}", spec.name, args, proc, upstream.pid, result))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return result


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
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1],
        help="server processes, or a comma list of counts to compare in one run (e.g. 1,2)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        program = args.program or Path(tmp) / "bench-moa.json"
        if args.program is None:
            program.write_text(json.dumps(DEFAULT_SPEC))
        spec = ac.load(program, cache=False).spec
        print(
            f"program {spec.name}: {spec.calls_per_query()} LM calls in {len(spec.layers)} layers per query, "
            f"{args.latency:g}s each"
        )
        with upstream_process(args.latency) as upstream:
            results = [measure(program, spec, upstream, n, run, args) for run, n in enumerate(args.workers)]
            seen = upstream.seen()
    ok = [report(result, spec, seen, args) for result in results]
    if len(results) > 1:
        rates = {r.workers: len(r.answers) / r.wall_s for r in results}
        base = rates[results[0].workers]
        ratios = ", ".join(f"{n} workers {rate / base:.2f}x" for n, rate in rates.items())
        print(f"throughput relative to {results[0].workers} worker(s): {ratios}")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())

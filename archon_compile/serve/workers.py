"""Several server processes behind one port: `archon-compile serve --workers N`.

One server process is one event loop, so it uses one core. Here each worker is a whole server (its own
program, LM clients, limits and in-memory cache) bound to the same port with SO_REUSEPORT, so the kernel
spreads connections over the workers evenly; with one socket shared by all, whichever process wakes
first takes the connection, which can pile them onto one. The disk LM cache (SQLite in WAL mode) is
the one thing they share.

The parent only supervises: it starts the workers (a fresh interpreter each), starts another when one
dies, and on SIGINT or SIGTERM asks each to finish its requests and exit. Workers run in their own
session, so a terminal's Ctrl-C reaches the parent alone and shutdown happens once, in order; a worker
whose parent disappears (even by SIGKILL) exits by itself, so none is left behind.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.synchronize import Event
from typing import Any

from archon_compile.serve.app import ServeOptions
from archon_compile.serve.runner import listening_socket

__all__ = ["WorkerConfig", "run_workers", "supported"]

logger = logging.getLogger("archon_compile.serve")


def supported() -> bool:
    """Only Linux balances connections over SO_REUSEPORT sockets (BSD and macOS give them to one)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to build its server; pickled to each worker (the key never sits in argv or env)."""

    program: str
    load: dict[str, Any]  # keyword arguments of `archon_compile.load`
    options: ServeOptions
    host: str
    port: int
    log_level: str


@dataclass
class _Worker:
    process: SpawnProcess
    ready: Event


def run_workers(config: WorkerConfig, workers: int) -> int:
    """Serve with `workers` processes until SIGINT or SIGTERM; the exit status (1 when a worker could not
    start). Raises OSError when the port cannot be bound."""
    # Bound but never listening: it holds the port (and picks one for port 0) without taking connections.
    reserve = listening_socket(config.host, config.port, reuse_port=True)
    config = replace(config, port=reserve.getsockname()[1])
    ctx = multiprocessing.get_context("spawn")
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    previous_fd = signal.set_wakeup_fd(wake_w.fileno())
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    running: list[_Worker] = []
    try:
        running.extend(_start(ctx, config) for _ in range(workers))
        return _supervise(ctx, config, running, wake_r)
    finally:
        _stop(running, wake_r, grace_s=config.options.timeout_s + 10)
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for s in (reserve, wake_r, wake_w):
            s.close()


def _start(ctx: SpawnContext, config: WorkerConfig) -> _Worker:
    ready = ctx.Event()
    process = ctx.Process(target=_work, args=(config, ready), name="archon-compile-serve-worker")
    process.start()
    return _Worker(process, ready)


def _supervise(ctx: SpawnContext, config: WorkerConfig, running: list[_Worker], wake: socket.socket) -> int:
    """Until a signal arrives (0), or a worker exits before it could serve (1: its error is in the log)."""
    while True:
        by_sentinel = {w.process.sentinel: i for i, w in enumerate(running)}
        fired = wait([wake, *by_sentinel])
        if wake in fired:
            wake.recv(64)
            return 0
        for i in (by_sentinel[s] for s in fired if isinstance(s, int)):
            dead = running[i]
            dead.process.join()
            if not dead.ready.is_set():
                logger.error("a worker exited with code %s before serving; stopping", dead.process.exitcode)
                return 1
            logger.warning(
                "worker %s exited with code %s; starting another", dead.process.pid, dead.process.exitcode
            )
            running[i] = _start(ctx, config)


def _stop(running: list[_Worker], wake: socket.socket, grace_s: float) -> None:
    """SIGTERM to each worker (uvicorn then answers what it has in flight); a second signal to the parent,
    or `grace_s` seconds, and the rest are killed."""
    for w in running:
        if w.process.is_alive():
            w.process.terminate()
    pending = {w.process.sentinel: w.process for w in running if w.process.is_alive()}
    deadline = time.monotonic() + grace_s
    while pending:
        fired = wait([wake, *pending], timeout=max(0.0, deadline - time.monotonic()))
        if not fired or wake in fired:
            break
        for sentinel in fired:
            if isinstance(sentinel, int):
                pending.pop(sentinel).join()
    for process in pending.values():
        process.kill()
    for w in running:
        w.process.join()


def _work(config: WorkerConfig, ready: Event) -> None:
    """One worker: load the program, bind the shared port, serve until SIGTERM or the parent is gone."""
    os.setsid()
    import uvicorn

    import archon_compile as ac
    from archon_compile.serve.app import create_app

    program = ac.load(config.program, **config.load)
    sock = listening_socket(config.host, config.port, reuse_port=True)
    uv = uvicorn.Config(create_app(program, config.options), log_level=config.log_level, lifespan="off")
    server = uvicorn.Server(uv)
    threading.Thread(target=_exit_with_parent, args=(server,), daemon=True).start()
    ready.set()
    server.run(sockets=[sock])


def _exit_with_parent(server: Any) -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        server.should_exit = True

"""One pool of HTTP clients for every direct-route endpoint, with one TLS context for the process.

An `httpx.AsyncClient` is bound to the event loop that opened its connections, so the pool keeps clients
per loop (a program runs on its background loop for sync calls and on users' loops for `acall`). Within a
loop, all endpoints share the same few clients (httpx keys connections by origin), and every client shares
one `ssl.SSLContext`: building a context loads the CA bundle, tens of milliseconds each, which was most of
a cold start when each endpoint built 16 clients with their own.

httpx scans its whole pool on every request, so one pool of hundreds of connections costs more CPU than
the calls themselves under load; a few small pools used round-robin keep that scan short (measured with
64 concurrent server clients: 11.6 -> 100 requests/s). Clients are created on first use.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import threading

import anyio
import httpx

TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=600.0)  # the runtime's timeout is tighter
SHARDS = 16
LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16)


class _LoopClients:
    def __init__(self) -> None:
        self.clients: list[httpx.AsyncClient | None] = [None] * SHARDS
        self.turn = itertools.count()


class Pool:
    """Per event loop, `SHARDS` clients handed out round-robin; clients of closed loops are dropped (their
    sockets die with them)."""

    def __init__(self) -> None:
        self._loops: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None

    def tls(self) -> ssl.SSLContext:
        """The process's one TLS context (system CAs via certifi, as httpx's default)."""
        with self._lock:
            if self._ssl is None:
                import certifi

                self._ssl = ssl.create_default_context(cafile=certifi.where())
            return self._ssl

    async def warm(self) -> None:
        """Set-up the first request would otherwise pay inside its latency: the TLS context (built off the
        event loop), and anyio's asyncio backend, which httpcore loads on its first connection (any anyio
        call loads it; a few tens of milliseconds)."""
        if self._ssl is None:
            await asyncio.to_thread(self.tls)
            await anyio.sleep(0)

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        verify = self.tls()
        with self._lock:
            shards = self._loops.get(loop)
            if shards is None:
                for stale in [lp for lp in self._loops if lp.is_closed()]:
                    del self._loops[stale]
                shards = self._loops[loop] = _LoopClients()
            i = next(shards.turn) % SHARDS
            made = shards.clients[i]
            if made is None:
                made = shards.clients[i] = httpx.AsyncClient(
                    timeout=TIMEOUT, limits=LIMITS, trust_env=False, verify=verify
                )
            return made


POOL = Pool()

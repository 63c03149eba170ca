"""One pool of HTTP sessions for every direct-route endpoint, with one TLS context for the process.

aiohttp rather than httpx because the client's CPU per call is most of a busy server's CPU: measured on
this project's fake upstream, httpx 0.28 costs 0.7-0.85 ms of CPU per chat-completions POST and aiohttp
0.2 ms, which is what lets `serve` stay under 1 ms of CPU per LM call (bench/serve_load.py).

- A session is bound to the event loop that opened its connections, and a program runs on its background
  loop for sync calls and on users' loops for `acall`, so the pool keeps one session per loop; within a
  loop all endpoints share it (connections are keyed by origin).
- Every session shares one `ssl.SSLContext`: building a context loads the CA bundle, tens of milliseconds
  each, which was most of a cold start when each endpoint built its own.
- Sessions of loops that have closed are dropped when the next one is made, and every session at exit:
  their sockets died with their loop, so they are marked closed without awaiting anything (aiohttp's
  `close()` is a coroutine that needs the dead loop; the connector's synchronous `_close` is the only way
  to stop its finaliser reporting "Unclosed connector").
- No redirects, no proxies from the environment, no client-side total timeout (the runtime's is tighter).
"""

from __future__ import annotations

import asyncio
import atexit
import ssl
import threading

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=600.0)


class Pool:
    """Per event loop, one aiohttp session made on first use."""

    def __init__(self) -> None:
        self._loops: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        atexit.register(self.close_all)

    def tls(self) -> ssl.SSLContext:
        """The process's one TLS context (system CAs via certifi)."""
        with self._lock:
            if self._ssl is None:
                import certifi

                self._ssl = ssl.create_default_context(cafile=certifi.where())
            return self._ssl

    async def warm(self) -> None:
        """Set-up the first request would otherwise pay inside its latency: the TLS context, built off the
        event loop."""
        if self._ssl is None:
            await asyncio.to_thread(self.tls)

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        context = self.tls()
        with self._lock:
            session = self._loops.get(loop)
            if session is None:
                for stale in [lp for lp in self._loops if lp.is_closed()]:
                    _discard(self._loops.pop(stale))
                connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60.0, ssl=context)
                session = aiohttp.ClientSession(connector=connector, timeout=TIMEOUT, trust_env=False)
                self._loops[loop] = session
            return session

    def close_all(self) -> None:
        with self._lock:
            for session in self._loops.values():
                _discard(session)
            self._loops.clear()


def _discard(session: aiohttp.ClientSession) -> None:
    connector = session.connector
    session.detach()
    if connector is not None:
        connector._close()


POOL = Pool()

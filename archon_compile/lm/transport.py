"""The HTTP transport of the direct OpenAI-compatible route: one pooled aiohttp session per event loop.

aiohttp rather than httpx because the client's CPU per call is most of a busy server's CPU: measured on
this project's fake upstream, httpx 0.28 costs 0.7-0.85 ms of CPU per chat-completions POST and aiohttp
0.2 ms, which is what lets `serve` stay under 1 ms of CPU per LM call (bench/serve_load.py).

- A session is bound to the loop that opened its connections, and a program is called both from its
  background loop (sync calls) and from users' loops (`acall`), so each loop gets its own.
- Sessions of loops that have closed are dropped when the next one is made, and every session at exit:
  their sockets died with their loop, so they are marked closed without awaiting anything (aiohttp's
  `close()` is a coroutine that needs the dead loop; the connector's synchronous `_close` is the only way
  to stop it reporting "Unclosed connector" from its finaliser).
- No redirects, no proxies from the environment, no client-side total timeout (the runtime's is tighter).
"""

from __future__ import annotations

import asyncio
import atexit
import threading

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=600.0)


class Sessions:
    """One aiohttp.ClientSession per event loop, made on first use."""

    def __init__(self) -> None:
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._lock = threading.Lock()
        atexit.register(self.close_all)

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        with self._lock:
            session = self._sessions.get(loop)
            if session is None:
                for stale in [lp for lp in self._sessions if lp.is_closed()]:
                    _discard(self._sessions.pop(stale))
                connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60.0)
                session = aiohttp.ClientSession(connector=connector, timeout=TIMEOUT, trust_env=False)
                self._sessions[loop] = session
            return session

    def close_all(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                _discard(session)
            self._sessions.clear()


def _discard(session: aiohttp.ClientSession) -> None:
    connector = session.connector
    session.detach()
    if connector is not None:
        connector._close()


SESSIONS = Sessions()

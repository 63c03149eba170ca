"""LM backends. Importing this package imports httpx without two optional extras it would otherwise load.

httpx imports its command-line tool (`httpx._main`: click, rich, pygments) whenever those are installed,
and httpcore imports `h2` (HTTP/2) whenever it is installed: together about 0.3-0.6 s of a 1-call `run`
(`python -X importtime`), for code this package never uses. Both are optional imports guarded by
`except ImportError` in those libraries, so they are made to fail once, during this import only: the
`sys.modules` entries are removed right after, so a later `import h2` or an HTTP/2 connection still works
(httpcore imports its HTTP/2 module again when a connection negotiates it); only `httpx.main` (the CLI
entry point, which runs in its own process) and `httpcore.AsyncHTTP2Connection` keep their stand-ins.
Nothing happens when httpx or httpcore was imported before.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules and "httpcore" not in sys.modules:
    _skipped = [name for name in ("httpx._main", "h2") if name not in sys.modules]
    for _name in _skipped:
        sys.modules[_name] = None  # type: ignore[assignment]  # makes `import _name` raise ImportError
    try:
        import httpcore  # noqa: F401  # httpx imports it only when the first client is made
        import httpx  # noqa: F401
    finally:
        for _name in _skipped:
            if _name in sys.modules and sys.modules[_name] is None:
                del sys.modules[_name]

"""The runtime between components and LMs: `calls` (`Runtime.call`: cache, concurrency limit, timeouts,
retries, parse retries), `cache` (memory + SQLite), `trace` (per-call records and usage), `history` (the
last calls' prompts and replies) and `stream` (the final answer on its way to a streaming consumer).

Nothing is imported here, so `import archon_compile.runtime.cache` does not load the call machinery.
"""

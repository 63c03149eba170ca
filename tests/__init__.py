"""The tests, one folder per package of archon_compile; cross-cutting behaviour at the top."""

"""Default limits that both the library and the CLI name (kept here so the CLI imports nothing heavy)."""

DEFAULT_MAX_CALLS_PER_QUERY = 1000
"""Architectures costing more LM calls per query (first attempts, no retries) are refused before any
call. ArchonSpace's largest architecture with the paper's ranges costs about a tenth of this."""

"""The root of every error archon-compile raises on purpose, as `DSPyError` and `OptunaError` are theirs.

`except ac.ArchonError` catches them all; each subclass keeps its builtin base (ValueError for bad input,
RuntimeError for a run that cannot go on) so existing handlers keep working. Subclasses live beside the
code that raises them, except `SpecError`: both `spec.py` and the construction rules below it
(`rules.py`, whose `ConstructionError` is a SpecError) raise it. The public ones are re-exported from
`archon_compile`.
"""

from __future__ import annotations


class ArchonError(Exception):
    """Something archon-compile cannot do; the message says what and, where it can, what to change."""


class SpecError(ArchonError, ValueError):
    """A spec file that cannot be read or validated; the message names the file and the field."""

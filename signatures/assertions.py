"""Executable assertions out of an LM's answer: what a unit-test generator for code must return.

Small models wrap assertions in prose, numbering, backticks or code fences ("1. `assert f([]) == 0`"), and
such a line is a SyntaxError when run. `extract_assertions` takes the statements out of every fenced block
and every line, strips numbering, bullets, labels and backticks, and keeps a test only when it compiles and
contains an `assert`. It never raises: LLM output is untrusted.
"""

from __future__ import annotations

import ast
import re
import warnings

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PREFIX = re.compile(
    r"^\s*(?:[-*\u2022]\s+|\(?\d{1,3}[.):]\s*|\[\d{1,3}\]\s*|(?:test(?:\s*case)?\s*\d*|example\s*\d*)\s*[:.-]\s*)",
    re.IGNORECASE,
)
_INLINE = re.compile(r"`([^`\n]+)`")
MAX_TEST_CHARS = 2000


def compiles_to_assertion(source: str) -> bool:
    """True when `source` is valid Python holding at least one `assert` statement."""
    if not source.strip() or len(source) > MAX_TEST_CHARS:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for `assert (x, "msg")`
            tree = ast.parse(source)
            compile(tree, "<unit test>", "exec")
    except Exception:  # SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError...
        return False
    return any(isinstance(node, ast.Assert) for node in ast.walk(tree))


def _block_statements(body: str) -> list[str]:
    """The top-level statements of a fenced block that hold an assert (whole block unparseable: lines).

    A definition is never kept whole: run after the candidate, `def test_f(): assert ...` never runs its
    asserts (a vacuous pass), and `def f(...)` wrapping them would also replace the candidate's own `f`.
    Its asserts are taken out instead, as is the body of an `if __name__ == "__main__":` guard.
    """
    try:
        tree = ast.parse(body)
    except Exception:
        return body.splitlines()
    found = []
    for node in tree.body:
        nodes = [n for n in ast.walk(node) if isinstance(n, ast.Assert)] if _wraps(node) else [node]
        if any(isinstance(n, ast.Assert) for n in ast.walk(node)):
            found += [s for s in (ast.get_source_segment(body, n) for n in nodes) if s]
    return found


def _wraps(node: ast.stmt) -> bool:
    """A definition or a `__main__` guard: statements whose asserts do not run as written."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    return isinstance(node, ast.If) and "__name__" in ast.dump(node.test)


def _line_candidates(line: str) -> list[str]:
    """A prose line's possible tests: its inline code spans, else the line without its list prefix."""
    spans = [s.strip() for s in _INLINE.findall(line)]
    if spans:
        return spans
    return [_PREFIX.sub("", line, count=1).strip().strip("`").strip()]


def extract_assertions(text: str, limit: int) -> list[str]:
    """Up to `limit` distinct compiling assertions: those in code blocks first, then those on other lines."""
    candidates: list[str] = []
    outside = _FENCE.sub("\n", text)
    for match in _FENCE.finditer(text):
        for statement in _block_statements(match.group(2)):
            candidates += _line_candidates(statement) if "\n" not in statement else [statement]
    for line in outside.splitlines():
        candidates += _line_candidates(line)
    tests: list[str] = []
    for c in candidates:
        c = c.strip()
        if c not in tests and compiles_to_assertion(c):
            tests.append(c)
        if len(tests) >= limit:
            break
    return tests

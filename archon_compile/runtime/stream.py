"""The final answer on its way to a streaming consumer (`Program.astream`, `serve`'s `stream=True`).

Parsers strip the answer, so the stream drops leading blanks and holds trailing blanks back until more
text follows: the deltas then concatenate to exactly the answer the Prediction carries. Once visible
text has left, it cannot be taken back, so the runtime never retries a call that has sent some (the
query fails instead), and `Program.astream` checks the final answer against what was sent.
"""

from __future__ import annotations

from collections.abc import Callable

from archon_compile.errors import ArchonError


class StreamBroken(ArchonError, RuntimeError):
    """The answer differs from the text already streamed (a call failed mid-stream, or a fallback)."""


class AnswerStream:
    """Receives the final component's text deltas; `emit` gets the visible ones in order."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._held = ""
        self.sent = ""

    def write(self, delta: str) -> None:
        if not delta:
            return
        text = self._held + delta
        visible = text.rstrip()
        self._held = text[len(visible) :]
        if not self.sent:
            visible = visible.lstrip()
        if visible:
            self.sent += visible
            self._emit(visible)

    def finish(self, answer: str) -> str:
        """What the answer has beyond the streamed text (all of it when the last component could not
        stream, or a cached answer was replayed); refuses an answer the stream contradicts."""
        if not answer.startswith(self.sent):
            raise StreamBroken(
                f"the answer changed after {len(self.sent)} characters had been streamed "
                "(its call failed mid-stream, or a fallback replaced it)"
            )
        rest = answer[len(self.sent) :]
        self.sent = answer
        return rest

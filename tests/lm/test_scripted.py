"""ScriptedLM's text helpers: rules see every message; `last_user_text` is the question alone."""

from __future__ import annotations

import asyncio

from archon_compile.lm.base import LMRequest, Message
from archon_compile.lm.scripted import ScriptedLM, last_user_text, request_text

REQUEST = LMRequest(
    model="m",
    messages=(
        Message(role="system", content="Answer in French."),
        Message(role="user", content="Capital of Italy?"),
        Message(role="assistant", content="Rome"),
        Message(role="user", content="And of Spain?"),
    ),
)


def test_last_user_text_is_the_last_user_message_only() -> None:
    assert last_user_text(REQUEST) == "And of Spain?"
    assert last_user_text(REQUEST.model_copy(update={"messages": (REQUEST.messages[0],)})) == ""


def test_rules_match_every_message() -> None:
    assert request_text(REQUEST).splitlines() == [m.content for m in REQUEST.messages]
    lm = ScriptedLM([(r"in French.*Spain", "Madrid"), (r".*", "?")])
    assert asyncio.run(lm.complete(REQUEST)).text == "Madrid"
    by_question = ScriptedLM(lambda r: last_user_text(r).upper())
    assert asyncio.run(by_question.complete(REQUEST)).text == "AND OF SPAIN?"

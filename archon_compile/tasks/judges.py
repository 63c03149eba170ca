"""LLM judges: the project's own judge prompts, total verdict parsers, and both-orders pairwise judging.

Three verdict kinds, after the benchmarks ARCHON reports:
- a single-answer rating `[[1..10]]` (MT-Bench, optionally against a reference answer);
- a pairwise verdict `[[A]]`, `[[B]]` or `[[tie]]` (MT-Bench pairwise, AlpacaEval);
- a five-way verdict `[[A>>B]]`, `[[A>B]]`, `[[A=B]]`, `[[B>A]]`, `[[B>>A]]` (Arena-Hard).

Pairwise verdicts are always asked in both orders (program first, then baseline first) and the program's
points are averaged (win 1, tie 1/2, loss 0), so a judge that always prefers one position scores 1/2.

A judge call goes through a `Runtime` (cache, retries, parse retries). A verdict that stays unparseable
after the parse retries is recorded as the Score's `error` (with value 0 for that judgement), never as a
silent tie. What the judge cost is returned apart, in `Score.judge_usage`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from archon_compile.lm.base import LMRequest, Message
from archon_compile.parsed import Parsed
from archon_compile.runtime.calls import CallFailed
from archon_compile.runtime.trace import Trace, Usage
from archon_compile.tasks.base import Judge, Score

T = TypeVar("T")
Turn = tuple[str, str]
"""One exchange: (user message, assistant answer)."""

SYSTEM = (
    "You are a careful and impartial evaluator of answers written by AI assistants. You judge "
    "substance: correctness first, then helpfulness, relevance, depth and clarity."
)

_FAIRNESS = (
    "Do not let the length of an answer, its position, or the assistant's name sway you; a longer "
    "answer is better only when the extra text adds value."
)

RATING_INSTRUCTIONS = (
    "Rate the assistant's answer to the final user message of the conversation below. {ref}"
    + _FAIRNESS
    + " First justify your rating in a few sentences, then give the rating, an integer from 1 (useless) "
    "to 10 (excellent), in exactly this form on the last line: [[rating]], for example [[6]]."
)

PAIR_INSTRUCTIONS = (
    "Two AI assistants answered the same conversation. Compare their answers to the final user message "
    "and decide which one serves the user better. {ref}"
    + _FAIRNESS
    + " Explain your comparison briefly, then end with exactly one verdict on the last line: [[A]] if "
    "assistant A is better, [[B]] if assistant B is better, or [[tie]] if they are equally good."
)

FIVE_WAY_INSTRUCTIONS = (
    "Two AI assistants answered the same user prompt. Before reading their answers, work out your own "
    "answer to the prompt. Then compare each assistant's answer with yours: point out mistakes, "
    "inaccuracies and missing information, and weigh how helpful, relevant and concise each is. {ref}"
    + _FAIRNESS
    + " End with exactly one verdict label on the last line: [[A>>B]] (A is much better), [[A>B]] (A is "
    "slightly better), [[A=B]] (about equal), [[B>A]] (B is slightly better) or [[B>>A]] (B is much "
    "better)."
)

_REF_CLAUSE = (
    "A reference answer is given; use it to check correctness, and treat an answer that "
    "contradicts it on the facts or the result as wrong. "
)

RATING_MAX_TOKENS = 1024
PAIR_MAX_TOKENS = 1024
FIVE_WAY_MAX_TOKENS = 2048


# ---------------------------------------------------------------------------------------------------
# Parsers: total functions of any text. The last well-formed verdict wins (judges often quote the
# format before giving their own verdict).

_RATING = re.compile(r"\[\[\s*(\d{1,3}(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]")
_PAIR = re.compile(r"\[\[\s*(A|B|tie)\s*\]\]", re.IGNORECASE)
_FIVE = re.compile(r"\[\[\s*([AB])\s*(>>|<<|>|<|=)\s*([AB])\s*\]\]", re.IGNORECASE)

PAIR_LABELS = {1: "A", 0: "tie", -1: "B"}
FIVE_LABELS = {2: "A>>B", 1: "A>B", 0: "A=B", -1: "B>A", -2: "B>>A"}


def parse_rating(text: str) -> Parsed[float | None]:
    """A rating in [1, 10] from the last `[[x]]`; fallback None (not ok) when there is none."""
    for m in reversed(list(_RATING.finditer(text))):
        value = float(m.group(1))
        if 1.0 <= value <= 10.0:
            return Parsed(value)
    return Parsed(None, ok=False, note="no [[rating]] between 1 and 10")


def parse_pair(text: str) -> Parsed[int | None]:
    """A's advantage from the last `[[A]]`/`[[B]]`/`[[tie]]`: 1, -1 or 0; fallback None (not ok)."""
    matches = list(_PAIR.finditer(text))
    if not matches:
        return Parsed(None, ok=False, note="no [[A]], [[B]] or [[tie]] verdict")
    label = matches[-1].group(1).upper()
    return Parsed({"A": 1, "B": -1}.get(label, 0))


def parse_five_way(text: str) -> Parsed[int | None]:
    """A's advantage in -2..2 from the last five-way label (`[[B<A]]` reads as `[[A>B]]`); fallback None."""
    for m in reversed(list(_FIVE.finditer(text))):
        left, op, right = m.group(1).upper(), m.group(2), m.group(3).upper()
        if left == right:
            continue
        strength = {">>": 2, ">": 1, "=": 0, "<": -1, "<<": -2}[op]
        return Parsed(strength if left == "A" else -strength)
    return Parsed(None, ok=False, note="no [[A>>B]]/[[A>B]]/[[A=B]]/[[B>A]]/[[B>>A]] verdict")


# ---------------------------------------------------------------------------------------------------
# Prompts


def render_transcript(turns: Sequence[Turn], who: str = "Assistant") -> str:
    """A conversation as text; the final user message is marked so the judge knows what to judge."""
    parts = []
    for i, (user, answer) in enumerate(turns, 1):
        mark = " (final message)" if i == len(turns) and len(turns) > 1 else ""
        parts.append(f"### User{mark}:\n{user}\n\n### {who}:\n{answer}")
    return "\n\n".join(parts)


def _reference_block(reference: str | None) -> str:
    return (
        f"\n\n<|reference answer to the final message|>\n{reference}\n<|end of reference|>"
        if reference
        else ""
    )


def rating_prompt(turns: Sequence[Turn], reference: str | None = None) -> list[Message]:
    instructions = RATING_INSTRUCTIONS.format(ref=_REF_CLAUSE if reference else "")
    body = (
        f"{instructions}\n\n<|conversation|>\n{render_transcript(turns)}\n<|end of conversation|>"
        f"{_reference_block(reference)}"
    )
    return [Message(role="system", content=SYSTEM), Message(role="user", content=body)]


def pair_prompt(
    a: Sequence[Turn], b: Sequence[Turn], reference: str | None = None, *, five_way: bool = False
) -> list[Message]:
    """A and B each with their own conversation (in a multi-turn task each saw its own earlier answers)."""
    template = FIVE_WAY_INSTRUCTIONS if five_way else PAIR_INSTRUCTIONS
    instructions = template.format(ref=_REF_CLAUSE if reference else "")
    body = (
        f"{instructions}\n\n<|conversation with assistant A|>\n{render_transcript(a, 'Assistant A')}\n"
        f"<|end of conversation with assistant A|>\n\n<|conversation with assistant B|>\n"
        f"{render_transcript(b, 'Assistant B')}\n<|end of conversation with assistant B|>"
        f"{_reference_block(reference)}"
    )
    return [Message(role="system", content=SYSTEM), Message(role="user", content=body)]


# ---------------------------------------------------------------------------------------------------
# Calling the judge


@dataclass(frozen=True)
class Judgement(Generic[T]):
    """One judge call: the parsed verdict (None on failure), the judge's text, an error, what it cost."""

    value: T | None
    text: str
    usage: Usage
    error: str | None = None


async def call_judge(
    judge: Judge,
    messages: Sequence[Message],
    parse: Callable[[str], Parsed[T | None]],
    *,
    component: str,
    max_tokens: int,
) -> Judgement[T]:
    """One judge call at temperature 0 through the judge's runtime (`Component.ask` is the components'
    counterpart, with a signature); failures become `error`, never raise."""
    trace = Trace()
    request = LMRequest(
        model=judge.model,
        api_base=judge.api_base,
        messages=tuple(messages),
        temperature=0.0,
        max_tokens=max_tokens,
    )
    try:
        out = await judge.runtime.call(
            request, parse, component=component, trace=trace, fallback="verdict recorded as an error"
        )
    except CallFailed as exc:
        return Judgement(None, "", trace.usage(), f"judge call failed: {exc}")
    if not out.ok or out.value is None:
        attempts = judge.runtime.policy.parse_retries + 1
        note = parse(out.text).note
        return Judgement(
            None,
            out.text,
            trace.usage(),
            f"unparseable judge verdict after {attempts} attempt(s) ({note}): {out.text[-200:]!r}",
        )
    return Judgement(out.value, out.text, trace.usage())


async def rate(judge: Judge, turns: Sequence[Turn], reference: str | None = None) -> Score:
    """A single-answer 1-10 rating of the last turn; `value` is rating / 10 (x10 gives MT-Bench's scale)."""
    j = await call_judge(
        judge,
        rating_prompt(turns, reference),
        parse_rating,
        component="judge:rating",
        max_tokens=RATING_MAX_TOKENS,
    )
    verdict = f"[[{j.value:g}]]" if j.value is not None else None
    return Score(
        value=(j.value or 0.0) / 10.0, verdict=verdict, explanation=j.text, error=j.error, judge_usage=j.usage
    )


def points(advantage: int) -> float:
    """The points of the side whose advantage this is: win 1, tie 1/2, loss 0."""
    return 1.0 if advantage > 0 else 0.5 if advantage == 0 else 0.0


async def both_orders(
    judge: Judge,
    program: Sequence[Turn],
    baseline: Sequence[Turn],
    reference: str | None = None,
    *,
    five_way: bool = False,
) -> Score:
    """Judge program vs baseline twice, program as A and then as B; `value` is the program's mean points.

    An order whose verdict is unusable counts 0 for the program and sets `error` (never a silent tie).
    """
    parse = parse_five_way if five_way else parse_pair
    labels = FIVE_LABELS if five_way else PAIR_LABELS
    kind = "five-way" if five_way else "pair"
    max_tokens = FIVE_WAY_MAX_TOKENS if five_way else PAIR_MAX_TOKENS
    orders = (("A", program, baseline), ("B", baseline, program))
    first, second = await asyncio.gather(
        *(
            call_judge(
                judge,
                pair_prompt(a, b, reference, five_way=five_way),
                parse,
                component=f"judge:{kind}:program-as-{side}",
                max_tokens=max_tokens,
            )
            for side, a, b in orders
        )
    )
    orders = [("program=A", first, 1), ("program=B", second, -1)]
    value = sum(points(sign * j.value) for _, j, sign in orders if j.value is not None) / 2
    verdict = "; ".join(
        f"{name}: [[{labels[j.value]}]]" if j.value is not None else f"{name}: error" for name, j, _ in orders
    )
    explanation = "\n\n".join(f"--- {name} ---\n{j.text}" for name, j, _ in orders)
    errors = [f"{name}: {j.error}" for name, j, _ in orders if j.error]
    return Score(
        value=value,
        verdict=verdict,
        explanation=explanation,
        error="; ".join(errors) if errors else None,
        judge_usage=first.usage + second.usage,
    )


def combine(scores: Sequence[Score], labels: Sequence[str]) -> Score:
    """Per-turn scores as one: the mean value, verdicts and errors labelled by turn, usage summed (a
    single-turn score is returned as it is)."""
    if len(scores) == 1:
        return scores[0]
    usage = Usage()
    for s in scores:
        usage = usage + s.judge_usage
    errors = [f"{label}: {s.error}" for label, s in zip(labels, scores, strict=True) if s.error]
    return Score(
        value=sum(s.value for s in scores) / len(scores),
        verdict=" | ".join(
            f"{label}: {s.verdict or 'error'}" for label, s in zip(labels, scores, strict=True)
        ),
        explanation="\n\n".join(
            f"=== {label} ===\n{s.explanation or ''}" for label, s in zip(labels, scores, strict=True)
        ),
        error="; ".join(errors) if errors else None,
        judge_usage=usage,
    )

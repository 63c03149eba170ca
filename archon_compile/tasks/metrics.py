"""Answer extraction and matching for the reference-based tasks: pure functions that never raise on any text.

Every matcher returns a `Match`: whether the answer is correct, what was extracted from it, and a note that
records how it was decided (and any fallback taken), so a surprising score can be explained from the results.

- math: the final answer is the last `\\boxed{...}` (nested braces) or the last "The answer is ..."; it is
  compared with the reference symbolically by `math-verify`, falling back to normalised strings when
  math-verify cannot parse either side or fails.
- gsm8k: the last number of the answer (commas, `$`, a trailing period; a `#### 42` reference) with a
  relative tolerance of 1e-6.
- exact match: case, accents, punctuation, the articles a/an/the and whitespace removed.
- multiple choice: the option letter ("B", "(B)", "Answer: B", "the answer is B") or the option's own text.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from archon_compile.answers import (
    answer_text,
    extract_math_answer,
    extract_number,
    normalise_math,
    normalise_text,
    stated_letter,
)
from archon_compile.tasks.base import Item, Judge, Score

REL_TOLERANCE = 1e-6
_MATH_TIMEOUT_S = 5


class Match(BaseModel):
    """A matcher's verdict: correct or not, what it read from the answer, and how it decided."""

    correct: bool
    extracted: str | None = None
    note: str = ""


# --------------------------------------------------------------------------------------------------
# Exact match


def exact_match(answer: str, references: str | Sequence[str]) -> Match:
    """The answer equals a reference after `normalise_text`. The whole answer is tried, then its first
    non-empty line (base models continue past the answer), each without a leading "Answer:" label."""
    refs = [references] if isinstance(references, str) else list(references)
    wanted = {normalise_text(r) for r in refs} - {""}
    lines = [line for line in answer.splitlines() if line.strip()]
    tries = [answer] + lines[:1]
    for attempt, note in zip(tries, ("whole answer", "first line"), strict=False):
        got = answer_text(attempt)
        if got in wanted:
            return Match(correct=True, extracted=got, note=f"normalised match ({note})")
    extracted = answer_text(tries[-1]) if lines else ""
    return Match(correct=False, extracted=extracted, note="no normalised match")


# --------------------------------------------------------------------------------------------------
# Math


def math_match(answer: str, reference: str) -> Match:
    """Whether the solution's final answer equals the reference: symbolically (math-verify), falling
    back to normalised strings; the note says which decided."""
    extracted = extract_math_answer(answer)
    if extracted is None:
        return Match(correct=False, note="no final answer (no \\boxed{} and no 'The answer is')")
    same_text = normalise_math(extracted) == normalise_math(reference)
    symbolic, why = _verify(reference, extracted)
    if symbolic is None:
        return Match(
            correct=same_text,
            extracted=extracted,
            note=f"math-verify unavailable ({why}); normalised string comparison",
        )
    if symbolic:
        return Match(correct=True, extracted=extracted, note="math-verify: equivalent")
    return Match(
        correct=same_text,
        extracted=extracted,
        note="normalised strings equal" if same_text else "math-verify: not equivalent",
    )


def _verify(gold: str, prediction: str) -> tuple[bool | None, str]:
    """math-verify's verdict, or (None, why) when it cannot decide. Its timeouts use SIGALRM, which only
    the main thread may set, so elsewhere it runs without a timeout."""
    try:
        from math_verify import parse, verify

        timeout = _MATH_TIMEOUT_S if threading.current_thread() is threading.main_thread() else 0
        gold_parsed = parse(f"\\boxed{{{gold}}}", parsing_timeout=timeout)
        pred_parsed = parse(f"\\boxed{{{prediction}}}", parsing_timeout=timeout)
        if not gold_parsed or not pred_parsed:
            side = "reference" if not gold_parsed else "answer"
            return None, f"could not parse the {side}"
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout)), ""
    except Exception as exc:  # a third-party parser on untrusted text: any failure means "undecided"
        return None, f"{type(exc).__name__}"


# --------------------------------------------------------------------------------------------------
# GSM8K


def _as_float(value: float) -> float | None:
    try:
        return float(value)
    except OverflowError:  # an int too large for a float
        return None


def numbers_equal(a: float, b: float, rel_tol: float = REL_TOLERANCE) -> bool:
    return abs(a - b) <= rel_tol * max(1.0, abs(b))


def number_match(answer: str, reference: str | float) -> Match:
    """GSM8K: the answer's number equals the reference's (a `#### 42` solution or a plain number)."""
    expected = _as_float(reference) if isinstance(reference, int | float) else extract_number(reference)
    if expected is None:
        return Match(correct=False, note=f"the reference holds no number: {str(reference)[-80:]!r}")
    got = extract_number(answer)
    if got is None:
        return Match(correct=False, note="no number in the answer")
    return Match(
        correct=numbers_equal(got, expected),
        extracted=f"{got:g}",
        note=f"numeric comparison with {expected:g} (relative tolerance {REL_TOLERANCE:g})",
    )


# --------------------------------------------------------------------------------------------------
# Multiple choice


def letters(n: int) -> str:
    return string.ascii_uppercase[: min(n, 26)]


def choice_index(answer: str, options: Sequence[str]) -> tuple[int | None, str]:
    """The option the answer picks (0-based) and how it was read; (None, why) when it picks none or
    several. Tried in order: a stated letter ("Answer: B", "the answer is (B)"), a bare or leading letter
    ("B", "(B)", "B. Paris"), the text of exactly one option, a single parenthesised letter anywhere."""
    valid = letters(len(options))
    if not valid:
        return None, "the item has no options"
    letter, how = stated_letter(answer, valid)
    if letter is not None:
        return valid.index(letter), how
    text = answer.strip()
    norm = normalise_text(text)
    texts = [normalise_text(o) for o in options]
    exact = [i for i, t in enumerate(texts) if t and t == norm]
    if len(exact) == 1:
        return exact[0], "option text"
    contained = [i for i, t in enumerate(texts) if t and re.search(rf"(?<!\w){re.escape(t)}(?!\w)", norm)]
    contained = [i for i in contained if not any(j != i and texts[i] in texts[j] for j in contained)]
    if len(contained) == 1:
        return contained[0], "option text in the answer"
    marked = set(re.findall(rf"\(({valid})\)", text))
    if len(marked) == 1:
        return valid.index(marked.pop()), "parenthesised letter"
    return None, "no single option found" if not contained else "several options mentioned"


def choice_match(answer: str, options: Sequence[str], targets: Sequence[int]) -> Match:
    """The answer picks one of the target options (0-based indices)."""
    picked, how = choice_index(answer, options)
    if picked is None:
        return Match(correct=False, note=how)
    return Match(correct=picked in set(targets), extracted=letters(len(options))[picked], note=how)


# --------------------------------------------------------------------------------------------------
# As task metrics


class MatchMetric:
    """A Metric scoring the last answer with a matcher of `(answer, item) -> Match`: 1 when correct."""

    def __init__(self, name: str, match: Callable[[str, Item], Match]) -> None:
        self.name = name
        self.match = match

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score:
        result = self.match(answers[-1] if answers else "", item)
        return to_score(result)


def to_score(result: Match) -> Score:
    verdict = "correct" if result.correct else "incorrect"
    extracted = f"extracted {result.extracted!r}; " if result.extracted is not None else ""
    return Score(value=float(result.correct), verdict=verdict, explanation=extracted + result.note)


def reference_list(reference: Any) -> list[str]:
    """A reference as a list of strings (one string, or several acceptable answers)."""
    if isinstance(reference, list | tuple):
        return [str(r) for r in reference]
    return [] if reference is None else [str(reference)]

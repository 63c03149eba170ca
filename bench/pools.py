"""A simulated model pool with known per-item correctness, shared by the two search benchmarks.

Item i asks "Q{i}: ..." and its one right answer is "ans-{i}". Every decision below is a deterministic
function of its inputs through a keyed hash `u(...)` in [0, 1), so an architecture's score on a set of
items is exact and reproducible, and any call can be replayed.

- Generator: sample s of model m is right iff  rho * d_i + (1 - rho) * u(m, i, s) < skill_m, where d_i
  is item i's difficulty, shared by every model, so errors are correlated (hard items defeat most
  models; `rho`, RHO by default, sets how much). A wrong sample says "wrong-{i}-a" (the popular
  mistake) with probability POPULAR, otherwise "wrong-{i}-b" or "wrong-{i}-c": a majority of wrong
  samples can outvote the right one.
- Belief: what model m thinks of answer c to item i in a judging role: the truth iff
  rho * d_i + (1 - rho) * u(m, role, i, c) < judge_m (hard items are hard to judge too), otherwise
  the opposite; the same belief whenever m sees c for item i in that role.
- Critic: one block per candidate; "Weaknesses: probably wrong" when it believes the candidate wrong.
- Ranker: orders candidates by (believed right, not flagged by a critique, votes for that answer),
  ties keeping the input order.
- Fuser: drops candidates flagged by a critique (unless all are); with probability fuse_m (per item,
  inputs and sample) returns the most frequent remaining answer, ties to the first seen, otherwise
  the first remaining candidate.
- Verifier: reasoning, then "[Correct]" or "[Incorrect]" from its belief.
- Unit tests: the generator writes the requested number of tests; the evaluator passes all of them
  when it believes the candidate right, and fails all otherwise.
- Anything else (a prompt the pool does not recognise) gets "I do not know", which is never right.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from archon_compile.lm.base import LMRequest
from archon_compile.lm.scripted import ScriptedLM
from archon_compile.signatures.critique import CritiqueSignature
from archon_compile.signatures.fuse import Fuse
from archon_compile.signatures.rank import Rank
from archon_compile.signatures.unit_tests import EvaluateUnitTests, GenerateUnitTests
from archon_compile.signatures.verify import Verify, VerifyReasoning
from archon_compile.tasks.base import Item, Task

RHO = 0.5
POPULAR = 0.6
UNKNOWN = "I do not know"

_ITEM = re.compile(r"\bQ(\d+):")
_ANSWER = r"(ans-\d+|wrong-\d+-[a-c]|I do not know)"
_CANDIDATE = re.compile(rf"(?m)^\[(\d+)\]\n{_ANSWER}$")
_FLAGGED = re.compile(r"Critique of \[(\d+)\]:\nStrengths: [^\n]*\nWeaknesses: probably wrong")
_SINGLE = re.compile(rf"Response:\n{_ANSWER}")
_TEST_LINE = re.compile(r"(?m)^\d+\. ")

# Distinctive parts of each component's instructions (taken from the signatures, so they cannot drift).
_CRITIC = CritiqueSignature.instructions[:40]
_RANKER = Rank.instructions[:40]
_FUSER = Fuse.instructions[:40]
_VERDICT = Verify.instructions[:40]
_REASONING = VerifyReasoning.instructions[:40]
_UT_WRITE = GenerateUnitTests.instructions.split("{n}", 1)[1][:30]
_UT_CHECK = EvaluateUnitTests.instructions[:40]


class SimModel(BaseModel):
    """One simulated model: how well it answers, judges and fuses (probabilities, see the module doc)."""

    model_config = ConfigDict(frozen=True)

    name: str
    skill: float = Field(ge=0.0, le=1.0)
    judge: float = Field(ge=0.0, le=1.0)
    fuse: float = Field(ge=0.0, le=1.0)


POOL: tuple[SimModel, ...] = (
    SimModel(name="sim-1", skill=0.62, judge=0.45, fuse=0.5),
    SimModel(name="sim-2", skill=0.58, judge=0.62, fuse=0.9),
    SimModel(name="sim-3", skill=0.55, judge=0.55, fuse=0.7),
    SimModel(name="sim-4", skill=0.52, judge=0.66, fuse=0.6),
    SimModel(name="sim-5", skill=0.48, judge=0.50, fuse=0.8),
    SimModel(name="sim-6", skill=0.45, judge=0.52, fuse=0.4),
    SimModel(name="sim-7", skill=0.40, judge=0.40, fuse=0.5),
    SimModel(name="sim-8", skill=0.35, judge=0.58, fuse=0.3),
)
"""Different strengths per role: the best generator judges poorly, the best judge generates modestly."""


def pool_models(n: int) -> tuple[SimModel, ...]:
    """The first `n` models of POOL; past 8, more models with strengths drawn by `u` (in [0.3, 0.6))."""
    extra = tuple(
        SimModel(name=f"sim-{k}", **{a: 0.3 + 0.3 * u(a, k) for a in ("skill", "judge", "fuse")})
        for k in range(len(POOL) + 1, n + 1)
    )
    return (POOL + extra)[:n]


def u(*key: object) -> float:
    """A uniform number in [0, 1) determined by `key` (stable across processes, unlike `hash`)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def right(i: int) -> str:
    return f"ans-{i}"


def succeeds(i: int, ability: float, *key: object, rho: float = RHO) -> bool:
    """The shared law of every attempt: item i's difficulty plus the attempt's own luck, against ability."""
    return rho * u("difficulty", i) + (1 - rho) * u(*key) < ability


def generate(m: SimModel, i: int, s: int, rho: float = RHO) -> str:
    if succeeds(i, m.skill, "gen", m.name, i, s, rho=rho):
        return right(i)
    if u("mistake", m.name, i, s) < POPULAR:
        return f"wrong-{i}-a"
    return f"wrong-{i}-{'b' if u('which', m.name, i, s) < 0.5 else 'c'}"


def believes_right(m: SimModel, role: str, i: int, answer: str, rho: float = RHO) -> bool:
    truth = answer == right(i)
    return truth if succeeds(i, m.judge, "belief", m.name, role, i, answer, rho=rho) else not truth


def majority(answers: Sequence[str]) -> str:
    """The most frequent answer; ties go to the one seen first (Counter keeps insertion order)."""
    return Counter(answers).most_common(1)[0][0]


class SimPool:
    """The pool's models as ScriptedLMs (`lms()`), and the task they are scored on (`task(n)`); `rho` is
    the weight of the items' shared difficulty in every attempt (0: independent errors)."""

    def __init__(self, models: Sequence[SimModel] = POOL, rho: float = RHO) -> None:
        self.models = {m.name: m for m in models}
        self.rho = rho

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def lms(self) -> dict[str, ScriptedLM]:
        """Fresh LMs, so that `lm.calls` counts only what one run sends."""
        return {name: ScriptedLM(lambda r, name=name: self.answer(name, r)) for name in self.models}

    def answer(self, name: str, request: LMRequest) -> str:
        m = self.models[name]
        text = "\n".join(msg.content for msg in request.messages)
        found = _ITEM.search(text)
        if found is None:
            return UNKNOWN
        i = int(found.group(1))
        if _CRITIC in text:
            return _critique(m, i, _candidates(text), self.rho)
        if _RANKER in text:
            return _rank(m, i, _candidates(text), _flagged(text), self.rho)
        if _FUSER in text:
            return _fuse(m, i, _candidates(text), _flagged(text), request.sample_index)
        if _VERDICT in text:
            return "[Correct]" if believes_right(m, "verify", i, _single(text), self.rho) else "[Incorrect]"
        if _REASONING in text:
            return "The response states a specific answer; checking it against the query."
        if _UT_WRITE in text:
            n = int(re.search(r"Write (\d+) short", text).group(1))  # type: ignore[union-attr]
            return "\n".join(f"{k}. The answer names the right value ({k})." for k in range(1, n + 1))
        if _UT_CHECK in text:
            verdict = "[Passed]" if believes_right(m, "unit_test", i, _single(text), self.rho) else "[Failed]"
            tests = len(_TEST_LINE.findall(text.split("Unit tests:", 1)[-1]))
            return "\n".join(f"{k}. {verdict}" for k in range(1, tests + 1))
        return generate(m, i, request.sample_index, self.rho)

    def task(self, n: int, name: str = "simulated", first: int = 0) -> Task:
        """n single-turn items (i = first, first + 1, ...) scored by exact match with "ans-{i}"."""
        items = [
            Item(id=f"q{i}", turns=[f"Q{i}: what is the answer?"], reference=right(i))
            for i in range(first, first + n)
        ]
        return Task(name, items, lambda item, answer: answer.strip() == item.reference)


def _candidates(text: str) -> list[str]:
    return [m.group(2) for m in _CANDIDATE.finditer(text.split("Responses:", 1)[-1])]


def _flagged(text: str) -> set[int]:
    return {int(m.group(1)) - 1 for m in _FLAGGED.finditer(text)}


def _single(text: str) -> str:
    found = _SINGLE.search(text)
    return found.group(1) if found else UNKNOWN


def _critique(m: SimModel, i: int, candidates: list[str], rho: float) -> str:
    blocks = []
    for k, c in enumerate(candidates, 1):
        ok = believes_right(m, "critic", i, c, rho)
        weakness = "none" if ok else "probably wrong"
        blocks.append(f"[{k}]\nStrengths: {'plausible' if ok else 'none'}\nWeaknesses: {weakness}")
    return "\n\n".join(blocks)


def _rank(m: SimModel, i: int, candidates: list[str], flagged: set[int], rho: float) -> str:
    votes = Counter(candidates)

    def key(k: int) -> tuple[bool, bool, int]:
        c = candidates[k]
        return (not believes_right(m, "rank", i, c, rho), k in flagged, -votes[c])

    return " > ".join(f"[{k + 1}]" for k in sorted(range(len(candidates)), key=key))


def _fuse(m: SimModel, i: int, candidates: list[str], flagged: set[int], sample: int) -> str:
    kept = [c for k, c in enumerate(candidates) if k not in flagged] or candidates
    if not kept:
        return UNKNOWN
    if u("fuse", m.name, i, tuple(candidates), tuple(sorted(flagged)), sample) < m.fuse:
        return majority(kept)
    return kept[0]

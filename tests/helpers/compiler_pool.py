"""A scripted model pool whose best architecture is known, for the compiler's tests.

Item i asks "Q{i}" and its answer is "ans-{i}". Sample s of model:
- `good` is wrong (a distinct wrong answer) when (i + s) % 3 == 0: alone, 2/3 of items are right, but
  any 3 consecutive samples hold exactly one wrong answer, so a majority over >= 3 samples is always right;
- `okay` is right only when (i + s) % 4 == 0, and always gives the same wrong answer otherwise;
- `bad` always gives the same wrong answer.
So mixing in `okay` or `bad` lets their consistent wrong answers outvote `good` on some items.
As a fuser, `good` returns the most frequent answer among the candidates (a majority fuser) and the
others return the first candidate. The known best: `good` alone with >= 3 samples, then a voter or the
`good` fuser; it scores 1.0 where the best single model scores about 0.67.
"""

from __future__ import annotations

import re
from collections import Counter

from archon_compile.signatures.critique import CritiqueSignature
from archon_compile.signatures.fuse import Fuse
from archon_compile.signatures.rank import Rank

from archon_compile.lm.base import LMRequest
from archon_compile.lm.scripted import ScriptedLM
from archon_compile.tasks.base import Item, Task

MODELS = ["okay", "bad", "good"]
_ANSWER = re.compile(r"ans-\d+|wrong-\S+|I do not know")


def _item(request: LMRequest) -> int:
    found = re.search(r"Q(\d+)", request.messages[-1].content) or re.search(
        r"Q(\d+)", "\n".join(m.content for m in request.messages)
    )
    return int(found.group(1)) if found else -1


def _candidates(request: LMRequest) -> list[str]:
    text = "\n".join(m.content for m in request.messages)
    block = text.split("Responses:", 1)[1] if "Responses:" in text else ""
    return _ANSWER.findall(block)


def answer(model: str, request: LMRequest) -> str:
    text = "\n".join(m.content for m in request.messages)
    if Rank.instructions[:40] in text:
        return "[1] > [2]"
    if CritiqueSignature.instructions[:40] in text:
        return "[1]\nStrengths: fine\nWeaknesses: none"
    if Fuse.instructions[:40] in text:
        found = _candidates(request)
        if not found:
            return "I do not know"
        return Counter(found).most_common(1)[0][0] if model == "good" else found[0]
    i, s = _item(request), request.sample_index
    if model == "good":
        return f"wrong-good-{i}-{s}" if (i + s) % 3 == 0 else f"ans-{i}"
    if model == "okay":
        return f"ans-{i}" if (i + s) % 4 == 0 else f"wrong-okay-{i}"
    return f"wrong-bad-{i}"


def pool(latency_s: float = 0.0) -> dict[str, ScriptedLM]:
    return {
        m: ScriptedLM(lambda r, m=m: answer(m, r), latency_s=latency_s, price_per_token=1e-6) for m in MODELS
    }


def task(n: int = 30) -> Task:
    items = [Item(id=f"q{i}", turns=[f"Q{i}: what is the answer?"], reference=f"ans-{i}") for i in range(n)]
    return Task("known-best", items, lambda item, ans: ans.strip() == item.reference)


def sent(lms: dict[str, ScriptedLM]) -> int:
    return sum(lm.calls for lm in lms.values())

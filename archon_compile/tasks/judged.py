"""The judge-based benchmarks of ARCHON: MT-Bench, AlpacaEval 2.0 and Arena-Hard-Auto.

| task | Hub path | config | split | fields used |
|---|---|---|---|---|
| mt_bench | HuggingFaceH4/mt_bench_prompts | - | train | prompt, prompt_id, category, reference |
| alpaca_eval | tatsu-lab/alpaca_eval | alpaca_eval_gpt4_baseline | eval | instruction, output, generator |
| arena_hard | lmarena-ai/arena-hard-auto-v0.1 | - | train | question_id, turns (or prompt), category |

Local files (`--data`) may instead use FastChat's MT-Bench `question.jsonl` (question_id, category, turns,
reference?), AlpacaEval's JSON (instruction, output) or Arena-Hard's `question.jsonl`. `tatsu-lab/alpaca_eval`
is published with a loading script that recent `datasets` releases refuse; download its
`alpaca_eval_gpt4_baseline.json` and pass it with `--data` if the Hub load fails.

Metrics (the judge is any model string; see `tasks/judges.py`):
- `mt_bench`: a 1-10 rating per turn (the second turn judged with the program's own first answer in the
  conversation); math/reasoning/coding questions are judged against a reference answer when one is known
  (`references=` file, else the data's own `reference` field). `value` = mean rating / 10. With
  `baseline=` (a FastChat/Arena-Hard model-answer JSONL), pairwise per turn instead, both orders.
- `alpaca_eval`: pairwise against the dataset's reference outputs, both orders; `value` is the win rate
  (wins + ties/2). The summary adds `lc_win_rate`, a simplified length-controlled win rate (see
  `length_controlled_win_rate`); it is not the official AlpacaEval 2.0 LC number.
- `arena_hard`: five-way verdict against baseline answers, both orders; `value` is wins + ties/2 (a slight
  and a strong win both count 1: Arena-Hard's leaderboard weights strong verdicts 3x in a Bradley-Terry
  fit; the verdicts are kept in the results to recompute it). Baseline answers come from the data
  (`baseline` field) or from `baseline=` (Arena-Hard's `model_answer/<model>.jsonl`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from archon_compile.tasks import judges
from archon_compile.tasks.base import Item, ItemResult, Judge, Score, Task
from archon_compile.tasks.data import DataError, HubSource, load_records, read_file
from archon_compile.tasks.registry import register

MT_BENCH_HUB = HubSource(path="HuggingFaceH4/mt_bench_prompts", split="train")
ALPACA_EVAL_HUB = HubSource(path="tatsu-lab/alpaca_eval", name="alpaca_eval_gpt4_baseline", split="eval")
ARENA_HARD_HUB = HubSource(path="lmarena-ai/arena-hard-auto-v0.1", split="train")
NEEDS_REFERENCE = frozenset({"math", "reasoning", "coding"})
"""MT-Bench categories whose answers are judged against a reference answer."""

_NO_JUDGE = "this metric needs a judge model (pass judge=... / --judge MODEL)"


# ---------------------------------------------------------------------------------------------------
# Metrics


def _transcript(item: Item, answers: Sequence[str]) -> list[judges.Turn]:
    return list(zip(item.turns, answers, strict=False))


def _reference(item: Item, turn: int) -> str | None:
    refs = item.reference if isinstance(item.reference, list) else None
    return refs[turn] if refs and turn < len(refs) and refs[turn] else None


class Rating:
    """A 1-10 judge rating of every turn; `value` is the mean rating / 10."""

    name = "judge rating 1-10 per turn (value = mean / 10)"

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score:
        if judge is None:
            return Score(value=0.0, error=_NO_JUDGE)
        turns = _transcript(item, answers)
        scores = await asyncio.gather(
            *(judges.rate(judge, turns[: i + 1], _reference(item, i)) for i in range(len(turns)))
        )
        return judges.combine(scores, [f"turn {i + 1}" for i in range(len(scores))])


class Pairwise:
    """Program vs the baseline answers in `item.meta["baseline"]`, every turn, both orders."""

    def __init__(self, five_way: bool = False) -> None:
        self.five_way = five_way
        kind = "five-way verdict" if five_way else "pairwise A/B/tie"
        self.name = f"{kind} vs baseline, both orders (wins + ties/2)"

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score:
        if judge is None:
            return Score(value=0.0, error=_NO_JUDGE)
        mine = _transcript(item, answers)
        theirs = _transcript(item, item.meta["baseline"])
        scores = await asyncio.gather(
            *(
                judges.both_orders(
                    judge, mine[: i + 1], theirs[: i + 1], _reference(item, i), five_way=self.five_way
                )
                for i in range(len(mine))
            )
        )
        return judges.combine(scores, [f"turn {i + 1}" for i in range(len(scores))])


class AlpacaPairwise(Pairwise):
    """Pairwise vs AlpacaEval's reference outputs; the summary adds the length-controlled win rate."""

    def summarise(self, results: Sequence[ItemResult], items: Mapping[str, Item]) -> dict[str, float]:
        rows = [
            (r.score.value, len(r.answers[-1]), len(items[r.item_id].meta["baseline"][-1]))
            for r in results
            if r.score is not None and r.score.error is None and r.answers
        ]
        lc = length_controlled_win_rate(rows)
        return {} if lc is None else {"lc_win_rate": lc}


def length_controlled_win_rate(rows: Sequence[tuple[float, int, int]], min_items: int = 10) -> float | None:
    """The win rate predicted at equal lengths by a logistic fit of preference on length difference.

    Each row is (preference for the program in [0, 1], program answer length, baseline answer length).
    The model is p = sigmoid(a + b * tanh(d / sd(d))) with d the length difference, fitted by Newton's
    method on the (fractional) log-likelihood with a small ridge penalty; the result is sigmoid(a). It
    follows AlpacaEval 2.0's idea without its instruction-difficulty term. None with fewer than
    `min_items` rows.
    """
    if len(rows) < min_items:
        return None
    diffs = [p - b for _, p, b in rows]
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / len(diffs)) or 1.0
    xs = [math.tanh(d / sd) for d in diffs]
    ys = [y for y, _, _ in rows]
    a = b = 0.0
    ridge = 1e-3
    for _ in range(50):
        ps = [1 / (1 + math.exp(-(a + b * x))) for x in xs]
        ga = sum(y - p for y, p in zip(ys, ps, strict=True)) - ridge * a
        gb = sum((y - p) * x for y, p, x in zip(ys, ps, xs, strict=True)) - ridge * b
        w = [p * (1 - p) for p in ps]
        haa = sum(w) + ridge
        hab = sum(wi * x for wi, x in zip(w, xs, strict=True))
        hbb = sum(wi * x * x for wi, x in zip(w, xs, strict=True)) + ridge
        det = haa * hbb - hab * hab
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = max(-30.0, min(30.0, a + da)), max(-30.0, min(30.0, b + db))
        if abs(da) + abs(db) < 1e-10:
            break
    return 1 / (1 + math.exp(-a))


# ---------------------------------------------------------------------------------------------------
# Data


def _pick(record: Mapping[str, Any], names: Sequence[str], where: str) -> Any:
    """The first of `names` the record has; a clear error naming the record otherwise."""
    for name in names:
        if name in record and record[name] is not None:
            return record[name]
    raise DataError(f"{where}: lacks field {' or '.join(names)} (it has: {', '.join(map(str, record))})")


def _texts(value: Any, where: str) -> list[str]:
    """Turns given as a string, a list of strings, or a list of {"content": ...} messages."""
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        text = v.get("content") if isinstance(v, Mapping) else v
        if not isinstance(text, str):
            raise DataError(f"{where}: expected text turns (strings or {{'content': ...}}), got {v!r:.80}")
        out.append(text)
    if not out:
        raise DataError(f"{where}: no turns")
    return out


def read_answers(path: str | Path) -> dict[str, list[str]]:
    """Answers per question id from a FastChat / Arena-Hard model-answer JSONL (`question_id`,
    `choices[0].turns`), or records with `question_id`/`id` and `turns`/`answers`/`answer`/`output`."""
    answers: dict[str, list[str]] = {}
    for index, record in enumerate(read_file(Path(path)), start=1):
        where = f"{path}: record {index}"
        qid = str(_pick(record, ("question_id", "uid", "id"), where))
        choices = record.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            answers[qid] = _texts(_pick(choices[0], ("turns",), f"{where}: choices[0]"), where)
        else:
            answers[qid] = _texts(_pick(record, ("turns", "answers", "answer", "output"), where), where)
    return answers


def _attach(items: list[Item], answers: Mapping[str, list[str]], key: str, source: str) -> list[Item]:
    """Put each item's answers from `answers` under `key`, failing on the first item without enough."""
    missing = [i.id for i in items if len(answers.get(i.id, [])) < len(i.turns)]
    if missing:
        raise DataError(
            f"{source}: no answer (for every turn) to question id(s) {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}"
        )
    if key == "reference":
        return [i.model_copy(update={"reference": answers[i.id]}) for i in items]
    return [i.model_copy(update={"meta": {**i.meta, key: answers[i.id]}}) for i in items]


def mt_bench_items(
    data: str | None, references: str | None = None, baseline: str | None = None
) -> list[Item]:
    """MT-Bench questions from FastChat's question.jsonl or the Hub, with references and baseline answers."""
    source = data or f"Hub dataset {MT_BENCH_HUB.describe()}"
    items = []
    for index, r in enumerate(load_records("mt_bench", data, MT_BENCH_HUB), start=1):
        where = f"{source}: record {index}"
        category = str(r.get("category", ""))
        ref = r.get("reference") if category in NEEDS_REFERENCE else None
        items.append(
            Item(
                id=str(_pick(r, ("question_id", "prompt_id", "id"), where)),
                turns=_texts(_pick(r, ("turns", "prompt"), where), where),
                reference=_texts(ref, where) if ref else None,
                meta={"category": category},
            )
        )
    if references:
        refs = read_answers(references)
        needed = [i for i in items if i.meta["category"] in NEEDS_REFERENCE and i.id in refs]
        by_id = {i.id: i for i in _attach(needed, refs, "reference", references)}
        items = [by_id.get(i.id, i) for i in items]
    return _attach(items, read_answers(baseline), "baseline", baseline) if baseline else items


def alpaca_eval_items(data: str | None) -> list[Item]:
    records = load_records("alpaca_eval", data, ALPACA_EVAL_HUB, fields=("instruction", "output"))
    return [
        Item(
            id=str(r.get("id", index)),
            turns=[str(r["instruction"])],
            meta={
                "baseline": [str(r["output"])],
                "baseline_generator": r.get("generator"),
                "dataset": r.get("dataset"),
            },
        )
        for index, r in enumerate(records)
    ]


def arena_hard_items(data: str | None, baseline: str | None = None) -> list[Item]:
    """Arena-Hard prompts; baseline answers from the records' `baseline` field or the `baseline` file."""
    source = data or f"Hub dataset {ARENA_HARD_HUB.describe()}"
    items = []
    for index, r in enumerate(load_records("arena_hard", data, ARENA_HARD_HUB), start=1):
        where = f"{source}: record {index}"
        meta: dict[str, Any] = {"category": r.get("category"), "cluster": r.get("cluster")}
        if r.get("baseline") is not None:
            meta["baseline"] = _texts(r["baseline"], where)
        items.append(
            Item(
                id=str(_pick(r, ("question_id", "uid", "id"), where)),
                turns=_texts(_pick(r, ("turns", "prompt"), where), where),
                meta=meta,
            )
        )
    if baseline:
        return _attach(items, read_answers(baseline), "baseline", baseline)
    if any("baseline" not in i.meta for i in items):
        raise DataError(
            f"{source}: arena_hard needs baseline answers: give every record a `baseline` "
            f"field, or pass a baseline answer file (Arena-Hard's model_answer/<model>.jsonl) "
            f"with --baseline FILE"
        )
    return items


# ---------------------------------------------------------------------------------------------------
# Tasks


def mt_bench(data: str | None = None, *, references: str | None = None, baseline: str | None = None) -> Task:
    """MT-Bench: single 1-10 ratings per turn, or pairwise vs `baseline` answers (both orders)."""
    return Task(
        "mt_bench",
        lambda: mt_bench_items(data, references, baseline),
        Pairwise() if baseline else Rating(),
        needs_judge=True,
        size=80,
        source=data or MT_BENCH_HUB.path,
        description="80 two-turn questions (writing, roleplay, reasoning, math, coding, ...)",
    )


def alpaca_eval(data: str | None = None) -> Task:
    """AlpacaEval 2.0: 805 instructions, pairwise vs the reference outputs (win rate, simplified LC)."""
    return Task(
        "alpaca_eval",
        lambda: alpaca_eval_items(data),
        AlpacaPairwise(),
        needs_judge=True,
        size=805,
        source=data or ALPACA_EVAL_HUB.path,
        description="805 instructions vs GPT-4 Turbo reference outputs",
    )


def arena_hard(data: str | None = None, *, baseline: str | None = None) -> Task:
    """Arena-Hard-Auto: 500 hard prompts, five-way verdict vs baseline answers, both orders."""
    return Task(
        "arena_hard",
        lambda: arena_hard_items(data, baseline),
        Pairwise(five_way=True),
        needs_judge=True,
        size=500,
        source=data or ARENA_HARD_HUB.path,
        description="500 hard prompts from Chatbot Arena vs baseline answers",
    )


BUILDERS: dict[str, Callable[..., Task]] = {
    "mt_bench": mt_bench,
    "alpaca_eval": alpaca_eval,
    "arena_hard": arena_hard,
}
"""The judged tasks with their keyword options (`references=`, `baseline=`), for the CLI."""

for _name, _builder in BUILDERS.items():
    register(_name)(_builder)

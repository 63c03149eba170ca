"""`mmlu`: MMLU's 57 subjects of four-option multiple-choice questions (test split, 14,042), accuracy by
option matching (`metrics.choice_match`: a stated or leading letter, or the text of exactly one option).
"""

from __future__ import annotations

from typing import Any

from archon_compile.tasks.base import Item, Task
from archon_compile.tasks.data import DataError, HubSource, load_records
from archon_compile.tasks.metrics import MatchMetric, choice_match, letters
from archon_compile.tasks.registry import register

MMLU_HUB = HubSource(path="cais/mmlu", name="all", split="test", revision="main")
MMLU_FIELDS = ("question", "choices", "answer")


def _answer_index(record: dict[str, Any], n: int, index: int) -> int:
    """The correct option, 0-based, from an index or a letter."""
    answer = record["answer"]
    if isinstance(answer, str) and answer.strip().upper() in letters(n):
        return letters(n).index(answer.strip().upper())
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < n:
        return answer
    raise DataError(
        f"mmlu record {index + 1}: `answer` must be an option index 0-{n - 1} or a letter, got {answer!r}"
    )


def mmlu_item(record: dict[str, Any], index: int) -> Item:
    choices = record["choices"]
    if not isinstance(choices, list) or not 2 <= len(choices) <= 26:
        raise DataError(f"mmlu record {index + 1}: `choices` must be a list of 2-26 options")
    options = [str(c) for c in choices]
    listed = "\n".join(f"{letter}. {o}" for letter, o in zip(letters(len(options)), options, strict=True))
    subject = str(record.get("subject") or "").replace("_", " ")
    intro = f"The following is a multiple-choice question about {subject}.\n\n" if subject else ""
    return Item(
        id=f"mmlu/{index}",
        turns=[
            f"{intro}{str(record['question']).strip()}\n{listed}\n"
            "Answer with the letter of the correct option."
        ],
        reference=[_answer_index(record, len(options), index)],
        meta={"options": options, "subject": record.get("subject")},
    )


@register("mmlu")
def mmlu(data: str | None = None) -> Task:
    def load() -> list[Item]:
        records = load_records("mmlu", data, MMLU_HUB, fields=MMLU_FIELDS)
        return [mmlu_item(r, i) for i, r in enumerate(records)]

    return Task(
        "mmlu",
        load,
        MatchMetric(
            "accuracy", lambda answer, item: choice_match(answer, item.meta["options"], item.reference)
        ),
        size=None if data else 14042,
        description="MMLU: four-option questions on 57 subjects; accuracy by option matching",
        source=data or f"Hub: {MMLU_HUB.describe()}",
    )

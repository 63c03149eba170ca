"""The `mbpp` and `mmlu` tasks on local fixtures: items, metrics (MBPP's tests executed in the sandbox,
MMLU's options matched), bad records named, and the offline error that says how to pass a file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from archon_compile.tasks import registry
from archon_compile.tasks.base import Task
from archon_compile.tasks.data import DataError, DatasetUnavailable

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"


def score(task: Task, index: int, answer: str) -> float:
    return asyncio.run(task.metric.score(task.items()[index], [answer], None)).value


@pytest.fixture(scope="module")
def mbpp() -> Task:
    return registry.get("mbpp", data=str(FIXTURES / "mbpp.jsonl"))


@pytest.fixture(scope="module")
def mmlu() -> Task:
    return registry.get("mmlu", data=str(FIXTURES / "mmlu.jsonl"))


def test_both_tasks_are_registered() -> None:
    assert {"mbpp", "mmlu"} <= set(registry.names())


def test_mbpp_query_shows_the_first_test_and_asks_for_a_code_block(mbpp: Task) -> None:
    items = mbpp.items()
    assert [i.id for i in items] == ["mbpp/2", "mbpp/3"] and mbpp.answers_are_code
    query = items[0].turns[0]
    assert "shared elements" in query and "assert set(similar_elements((3, 4, 5, 6)" in query
    assert "```python" in query


def test_mbpp_pass_at_1_runs_every_test_in_the_sandbox(mbpp: Task) -> None:
    reference = json.loads((FIXTURES / "mbpp.jsonl").read_text().splitlines()[1])["code"]
    assert score(mbpp, 1, f"Here:\n```python\n{reference}\n```") == 1.0
    wrong_on_10 = "```python\ndef is_not_prime(n):\n    return n > 20\n```"  # the 1st and 3rd tests pass
    assert score(mbpp, 1, wrong_on_10) == 0.0
    assert score(mbpp, 0, "```python\ndef similar_elements(a, b):\n    return (4, 5)\n```") == 0.0
    result = asyncio.run(mbpp.metric.score(mbpp.items()[0], ["no code"], None))
    assert result.value == 0.0 and result.explanation


def test_mbpp_bad_test_list_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": 1, "prompt": "p", "test_list": []}) + "\n")
    with pytest.raises(DataError, match=r"mbpp record 1: `test_list` must be a non-empty list"):
        registry.get("mbpp", data=str(bad)).items()


def test_mmlu_items_list_lettered_options(mmlu: Task) -> None:
    items = mmlu.items()
    assert len(items) == 3 and items[0].reference == [1] and items[1].reference == [1]
    assert "A. Berlin\nB. Paris\nC. Rome\nD. Madrid" in items[0].turns[0]
    assert "about geography" in items[0].turns[0] and "elementary mathematics" in items[1].turns[0]


@pytest.mark.parametrize(
    ("index", "answer", "value"),
    [
        (0, "B", 1.0),
        (0, "The answer is (B).", 1.0),
        (0, "Paris", 1.0),
        (0, "A", 0.0),
        (2, "C. Carbon dioxide", 1.0),
        (2, "I am not sure", 0.0),
    ],
)
def test_mmlu_accuracy_by_option_matching(mmlu: Task, index: int, answer: str, value: float) -> None:
    assert score(mmlu, index, answer) == value


def test_mmlu_bad_answer_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "choices": ["a", "b"], "answer": 7}) + "\n")
    with pytest.raises(DataError, match=r"mmlu record 1: `answer` must be an option index 0-1 or a letter"):
        registry.get("mmlu", data=str(bad)).items()


@pytest.mark.parametrize(
    ("name", "needed"),
    [
        ("mbpp", ("google-research-datasets/mbpp", "config sanitized", "task_id, prompt, test_list")),
        ("mmlu", ("cais/mmlu", "config all", "question, choices, answer")),
    ],
)
def test_offline_the_error_names_the_dataset_and_how_to_pass_a_file(
    name: str, needed: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(DatasetUnavailable) as info:
        registry.get(name).items()
    for part in (*needed, "--data FILE"):
        assert part in str(info.value)

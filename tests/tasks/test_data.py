"""Dataset loading (every local format, errors naming file and line, the fast offline failure) and the
built-in reference tasks loaded from fixture files."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import sys
import time
from pathlib import Path

import pytest

import archon_compile as ac
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks.data import DataError, DatasetUnavailable, HubSource, hub_cached, load_records

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"
CAPITALS = [
    {"id": "FR", "country": "France", "capital": "Paris"},
    {"id": "CO", "country": "Colombia", "capital": "Bogotá"},
    {"id": "JP", "country": "Japan", "capital": "Tokyo"},
]
FIELDS = ("country", "capital")


def load(path: Path | str) -> list[dict[str, object]]:
    return load_records("capitals", str(path), None, fields=FIELDS)


# ---------------------------------------------------------------------------------------------------
# Local formats


@pytest.mark.parametrize("name", ["capitals.jsonl", "capitals.json", "capitals_wrapped.json", "capitals.csv"])
def test_text_formats_read_the_same_records(name: str) -> None:
    assert load(FIXTURES / name) == CAPITALS


def test_gzipped_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "capitals.jsonl.gz"
    path.write_bytes(gzip.compress((FIXTURES / "capitals.jsonl").read_bytes()))
    assert load(path) == CAPITALS


def test_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "capitals.parquet"
    pq.write_table(pa.Table.from_pylist(CAPITALS), path)
    assert load(path) == CAPITALS


def test_bad_json_names_file_and_line() -> None:
    with pytest.raises(DataError, match=r"bad_line3\.jsonl: line 3: bad JSON"):
        load(FIXTURES / "bad_line3.jsonl")


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        (
            "a.jsonl",
            '{"country": "x", "capital": "y"}\n\n[1, 2]\n',
            r"a\.jsonl: line 3: expected a JSON object",
        ),
        ("b.json", '{"rows": []}', r"b\.json: expected a JSON list of objects"),
        ("c.json", '[{"country": "x", "capital": "y"}, 3]', r"c\.json: record 2: expected a JSON object"),
        ("d.json", '[\n{"country": "x",\n "capital": }\n]', r"d\.json: line 3: bad JSON"),
        ("e.csv", "country,capital\nFrance,Paris\nPeru,Lima,extra\n", r"e\.csv: line 3: more values"),
        ("f.csv", "", r"f\.csv: line 1: expected a header row"),
        ("g.jsonl", "\n\n", r"g\.jsonl: the file holds no records"),
        ("h.txt", "France,Paris", r"h\.txt: unsupported file type; use \.jsonl"),
        ("i.parquet", "not parquet", r"i\.parquet: not a readable Parquet file"),
    ],
)
def test_bad_files_are_named_with_what_is_expected(
    tmp_path: Path, name: str, content: str, pattern: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=pattern):
        load(path)


def test_missing_file() -> None:
    with pytest.raises(DataError, match=r"nope\.jsonl: no such file"):
        load(FIXTURES / "nope.jsonl")


def test_missing_field_names_record_and_expected_fields(tmp_path: Path) -> None:
    path = tmp_path / "caps.jsonl"
    path.write_text('{"country": "France", "capital": "Paris"}\n{"country": "Peru", "city": "Lima"}\n')
    with pytest.raises(
        DataError, match=r"caps\.jsonl: record 2 lacks field\(s\) capital \(it has: country, city\)"
    ):
        load(path)


# ---------------------------------------------------------------------------------------------------
# The Hub, offline


GSM8K = HubSource(path="openai/gsm8k", name="main", split="test")


def _offline_error(fields: tuple[str, ...] = ("question", "answer")) -> tuple[str, float]:
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailable) as info:
        load_records("gsm8k", None, GSM8K, fields=fields)
    return str(info.value), time.perf_counter() - start


def test_offline_mode_fails_fast_with_how_to_pass_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    message, seconds = _offline_error()
    assert seconds < 1.0
    for needed in (
        "openai/gsm8k",
        "config main",
        "split test",
        "HF_HUB_OFFLINE",
        "--data FILE",
        "question, answer",
        "archon_compile.tasks.get('gsm8k', data=FILE)",
    ):
        assert needed in message


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    message, seconds = _offline_error()
    assert seconds < 1.0
    assert "Hub is unreachable" in message and "openai/gsm8k" in message and "--data FILE" in message


def test_hub_cache_detection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    assert not hub_cached("openai/gsm8k")
    (tmp_path / "hub" / "datasets--openai--gsm8k").mkdir(parents=True)
    assert hub_cached("openai/gsm8k")
    assert not hub_cached("openai/other")


class FakeDatasets:
    """Stands in for the `datasets` module (slow to import, and no Hub here): records its calls."""

    def __init__(self, result: list[dict[str, object]] | Exception) -> None:
        self.result = result
        self.calls: list[tuple[object, ...]] = []

    def load_dataset(self, path: str, name: str | None, *, split: str, revision: str | None) -> object:
        self.calls.append((path, name, split, revision))
        if isinstance(self.result, Exception):
            raise self.result
        return iter(self.result)


@pytest.fixture
def reachable_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr("archon_compile.tasks.data.hub_reachable", lambda: True)


@pytest.mark.usefixtures("reachable_hub")
def test_hub_load_passes_source_and_checks_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDatasets([{"question": "1+1?", "answer": "#### 2"}, {"question": "2+2?"}])
    monkeypatch.setitem(sys.modules, "datasets", fake)
    hub = HubSource(path="openai/gsm8k", name="main", split="test", revision="abc123")
    with pytest.raises(
        DataError,
        match=r"Hub dataset openai/gsm8k, config main, split test, revision abc123: "
        r"record 2 lacks field\(s\) answer",
    ):
        load_records("gsm8k", None, hub, fields=("question", "answer"))
    assert fake.calls == [("openai/gsm8k", "main", "test", "abc123")]
    fake.result = [{"question": "1+1?", "answer": "#### 2"}]
    assert load_records("gsm8k", None, hub, fields=("question", "answer")) == fake.result


@pytest.mark.usefixtures("reachable_hub")
def test_hub_library_errors_become_dataset_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", FakeDatasets(FileNotFoundError("no such dataset")))
    with pytest.raises(
        DatasetUnavailable, match=r"openai/gsm8k.*\(FileNotFoundError: no such dataset\); pass a"
    ):
        load_records("gsm8k", None, GSM8K, fields=("question", "answer"))


def test_no_hub_source_and_no_file() -> None:
    with pytest.raises(DatasetUnavailable, match=r"task 'x' has no Hub dataset; pass a local .* fields a, b"):
        load_records("x", None, None, fields=("a", "b"))


def test_registry_tasks_without_data_fail_offline_with_the_task_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    for name in ("math", "gsm8k", "mix_eval", "mix_eval_hard"):
        task = ac.tasks.get(name)  # listing and getting load nothing
        with pytest.raises(DatasetUnavailable, match=rf"task '{name}' needs the Hub dataset"):
            task.items()


# ---------------------------------------------------------------------------------------------------
# The built-in tasks


def test_capitals_is_real_fixed_and_sized() -> None:
    task = ac.tasks.get("capitals")
    items = task.items()
    assert task.size == len(items) > 200
    assert len({i.id for i in items}) == len(items)
    assert all(i.reference and i.turns[0].startswith("What is the capital of ") for i in items)
    assert max(len(i.turns[0]) for i in items) < 80  # short enough for a tiny base model
    by_id = {i.id: i.reference for i in items}
    assert by_id["capitals/FR"] == "Paris" and by_id["capitals/JP"] == "Tokyo"
    assert [i.id for i in ac.tasks.get("capitals").items()] == [i.id for i in items]  # a fixed order
    assert [i.id for i in items] != sorted(i.id for i in items)  # seeded, not alphabetical


def test_capitals_from_a_local_file() -> None:
    task = ac.tasks.get("capitals", data=str(FIXTURES / "capitals.csv"))
    assert [(i.id, i.reference) for i in task.items()] == [
        ("capitals/FR", "Paris"),
        ("capitals/CO", "Bogotá"),
        ("capitals/JP", "Tokyo"),
    ]
    assert task.size == 3


def test_math_items_from_answer_or_boxed_solution() -> None:
    items = ac.tasks.get("math", data=str(FIXTURES / "math.jsonl")).items()
    assert [i.id for i in items] == ["test/algebra/1.json", "test/geometry/2.json", "math/2"]
    assert [i.reference for i in items] == ["\\frac{3}{4}", "5", "x^2 + 2x"]
    assert items[0].meta == {"subject": "Algebra", "level": 1}


def test_math_record_without_an_answer(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"problem": "1+1?", "solution": "two"}) + "\n")
    with pytest.raises(DataError, match=r"math record 1: needs an `answer` field"):
        ac.tasks.get("math", data=str(path)).items()


def test_gsm8k_reference_is_the_number_after_hashes() -> None:
    items = ac.tasks.get("gsm8k", data=str(FIXTURES / "gsm8k.jsonl")).items()
    assert [i.reference for i in items] == ["96", "13750", "5"]
    assert [i.id for i in items] == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]


def test_mix_eval_items_both_kinds() -> None:
    items = ac.tasks.get("mix_eval_hard", data=str(FIXTURES / "mix_eval.json")).items()
    kinds = [(i.id, i.meta["kind"]) for i in items]
    assert kinds == [
        ("mix_eval_hard/free_form/ff-1", "free_form"),
        ("mix_eval_hard/free_form/ff-2", "free_form"),
        ("mix_eval_hard/multiple_choice/mc-1", "multiple_choice"),
        ("mix_eval_hard/multiple_choice/mc-2", "multiple_choice"),
    ]
    assert items[1].turns[0].startswith("The Nile flows north")
    assert "B. Carbon dioxide" in items[2].turns[0] and items[2].reference == [1]
    assert items[0].reference == ["Mars", "planet Mars"]


def test_mix_eval_bad_target(tmp_path: Path) -> None:
    path = tmp_path / "mc.jsonl"
    path.write_text(json.dumps({"prompt": "?", "options": ["a", "b"], "target": ["b"]}) + "\n")
    with pytest.raises(
        DataError, match=r"mix_eval record 1: multiple-choice `target` must hold option indices"
    ):
        ac.tasks.get("mix_eval", data=str(path)).items()


def test_every_task_describes_itself() -> None:
    for name in ("capitals", "math", "gsm8k", "mix_eval", "mix_eval_hard"):
        task = ac.tasks.get(name)
        assert task.description and task.source and task.metric.name


# ---------------------------------------------------------------------------------------------------
# A run of the demo task


def test_capitals_run_item_with_a_scripted_program() -> None:
    task = ac.tasks.get("capitals", data=str(FIXTURES / "capitals.jsonl"))
    answers = {"France": "Paris.", "Colombia": "Bogota", "Japan": "Kyoto"}
    lm = ac.ScriptedLM(
        lambda request: next(a for c, a in answers.items() if c in request.messages[-1].content)
    )
    spec = ArchitectureSpec.model_validate({"name": "one", "layers": [[{"type": "generator", "model": "m"}]]})
    program = ac.Program(spec, lms={"*": lm}, cache=False)

    async def run_all() -> list[ac.tasks.ItemResult]:
        return [await task.run_item(program, item) for item in task.items()]

    results = asyncio.run(run_all())
    assert [(r.item_id, r.score.value if r.score else None) for r in results] == [
        ("capitals/FR", 1.0),
        ("capitals/CO", 1.0),
        ("capitals/JP", 0.0),
    ]
    assert results[2].answers == ["Kyoto"] and results[2].usage.calls == 1
    assert lm.requests[0].messages[0].role == "system"

"""`archon-compile tasks` and `archon-compile eval`, against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from archon_compile.cli import app
from archon_compile.tasks import judged
from archon_compile.testing import FakeOpenAIServer, Fault

QUESTIONS = [
    {"question_id": 1, "category": "writing", "turns": ["Write a haiku about rain.", "Now one about snow."]},
    {"question_id": 2, "category": "math", "turns": ["What is 3*7?", "And 3*8?"], "reference": ["21", "24"]},
    {"question_id": 3, "category": "stem", "turns": ["What is DNA?", "Explain it to a child."]},
]


def respond(body: dict[str, Any]) -> str:
    """The judge (its system prompt names it an evaluator) rates 7; the program answers plainly."""
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    return "Solid answer. [[7]]" if "evaluator" in system else "Here is my answer."


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "question.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n")
    return path


def _eval(server: FakeOpenAIServer, data: Path, *extra: str) -> Any:
    args = ["eval", "single-model", "--task", "mt_bench", "--data", str(data), "--lm", "openai/prog"]
    args += [
        "--api-base",
        server.url,
        "--judge",
        "openai/judge",
        "--judge-api-base",
        server.url,
        "--no-cache",
    ]
    return CliRunner().invoke(app, [*args, *extra])


def test_tasks_lists_the_judged_tasks_without_loading_data(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("listing tasks must not load a dataset")

    monkeypatch.setattr(judged, "load_records", no_loading)
    result = CliRunner().invoke(app, ["tasks"])
    assert result.exit_code == 0, result.output
    for name in ("mt_bench", "alpaca_eval", "arena_hard", "HuggingFaceH4/mt_b", "805", "five-way"):
        assert name in result.stdout


def test_eval_prints_a_summary_and_writes_results(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with FakeOpenAIServer(respond) as server:
        result = _eval(server, data, "--out", str(out), "--limit", "2")
        assert len(server.requests) == 2 + 8  # 2 probes, then 2 items x (2 program turns + 2 judge ratings)
    assert result.exit_code == 0, result.output
    assert "mt_bench / single-model" in result.stdout and "0.7000" in result.stdout
    assert "judge calls / query" in result.stdout
    assert len(out.read_text().splitlines()) == 2


def test_eval_resumes_from_its_out_file_and_reports_json(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with FakeOpenAIServer(respond) as server:
        assert _eval(server, data, "--out", str(out), "--limit", "1").exit_code == 0
        result = _eval(server, data, "--out", str(out), "--json")
        assert len(server.requests) == 2 * 2 + 12  # 2 probes a run; the first item was not run twice
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["n"], report["resumed"], report["mean"]) == (3, 1, pytest.approx(0.7))
    assert report["judge_usage"]["calls_per_query"] == 2 and report["program_usage"]["calls_per_query"] == 2


def test_eval_with_a_baseline_judges_pairwise(data: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.jsonl"
    rows = [{"question_id": q["question_id"], "choices": [{"turns": ["b1", "b2"]}]} for q in QUESTIONS]
    baseline.write_text("\n".join(json.dumps(r) for r in rows))
    with FakeOpenAIServer(lambda body: "[[A]]" if "evaluator" in str(body["messages"]) else "mine") as server:
        result = _eval(server, data, "--baseline", str(baseline), "--limit", "1", "--json")
        assert len(server.requests) == 2 + 2 + 4  # 2 probes, 2 turns, then 2 turns x 2 orders
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mean"] == 0.5  # always "A": position bias cancels


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "no_such_task"], "unknown task 'no_such_task'"),
        (["--task", "mt_bench", "--split", "test"], "--split must be dev, heldout or all"),
        (
            ["--task", "mt_bench", "--data", "/nonexistent.jsonl", "--judge", "j"],
            "/nonexistent.jsonl: no such file",
        ),
        (["--task", "mt_bench", "--data", "{data}"], "needs a judge model"),
        (
            ["--task", "alpaca_eval", "--references", "{data}"],
            "--references does not apply to task",
        ),
    ],
)
def test_eval_reports_bad_input_clearly(data: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", "single-model", *[a.format(data=data) for a in args]])
    assert result.exit_code == 1
    assert message in result.output


# ---------------------------------------------------------------------------------------------------
# Probes, failures, resume


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_eval_stops_before_any_item_when_the_program_endpoint_is_dead(data: Path) -> None:
    with FakeOpenAIServer(respond) as judge_server:
        args = ["eval", "single-model", "--task", "mt_bench", "--data", str(data), "--lm", "openai/prog"]
        args += ["--api-base", _dead_url(), "--judge", "openai/judge", "--judge-api-base", judge_server.url]
        result = CliRunner().invoke(app, [*args, "--no-cache"])
        assert len(judge_server.requests) == 1  # the judge's probe; no item ran
    assert result.exit_code == 1
    assert "model openai/prog at http://127.0.0.1:" in result.output and "unreachable" in result.output


def test_eval_stops_when_the_judge_refuses_the_key(data: Path) -> None:
    def refuse_judge(body: dict[str, Any]) -> str | Fault:
        return Fault(status=401) if body["model"] == "judge" else "Here is my answer."

    with FakeOpenAIServer(refuse_judge) as server:
        result = _eval(server, data)
        assert len(server.requests) == 2  # one probe each
    assert result.exit_code == 1
    assert "judge openai/judge at " in result.output and "bad credentials" in result.output


def _fails_on(questions: set[str]) -> Callable[[dict[str, Any]], str | Fault]:
    """Answers like `respond`, but the program fails (HTTP 400) on conversations with these questions."""

    def answer(body: dict[str, Any]) -> str | Fault:
        text = json.dumps(body["messages"])
        if body["model"] == "prog" and any(q in text for q in questions):
            return Fault(status=400, body='{"error": {"message": "context too long"}}')
        return respond(body)

    return answer


def test_eval_exits_non_zero_when_every_item_failed_and_prints_the_first_errors(data: Path) -> None:
    with FakeOpenAIServer(_fails_on({"haiku", "3*7", "DNA"})) as server:
        result = _eval(server, data)
    assert result.exit_code == 1
    assert "every one of the 3 items failed (3 program errors, 0 judge errors)" in result.output
    assert "program errors (3; the first 3)" in result.output
    assert "context too long" in result.output


def test_eval_resume_retries_errored_items_only(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with FakeOpenAIServer(_fails_on({"DNA"})) as server:
        first = _eval(server, data, "--out", str(out))
    assert first.exit_code == 0, first.output
    assert "program errors (1; the first 1)" in first.output and "3: " in first.output
    with FakeOpenAIServer(respond) as server:
        second = _eval(server, data, "--out", str(out), "--json")
        program_calls = [r for r in server.requests if r["model"] == "prog" and r["max_tokens"] != 1]
        assert len(program_calls) == 2  # only item 3's two turns ran again
    report = json.loads(second.stdout)
    assert (report["n"], report["resumed"], report["n_program_errors"]) == (3, 2, 0)
    assert report["mean"] == pytest.approx(0.7)


def test_eval_repairs_a_torn_last_line_of_its_out_file(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with FakeOpenAIServer(respond) as server:
        assert _eval(server, data, "--out", str(out), "--limit", "2").exit_code == 0
        lines = out.read_text().splitlines()
        out.write_text(lines[0] + "\n" + lines[1][:40])  # killed while writing the second record
        result = _eval(server, data, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resumed"] == 1
    repaired = out.read_text().splitlines()
    assert len(repaired) == 3 and all(json.loads(line)["task"] == "mt_bench" for line in repaired)

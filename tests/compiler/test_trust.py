"""Trustworthy compiles: dead endpoints stop `compile` in seconds with no artifact, the error budget fails
trials instead of scoring them 0, the winner is never worse on dev than the best single model, and every
compile ends with a held-out verdict. Local fake servers and scripted LMs only."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import archon_compile as ac
from archon_compile.cli import app
from archon_compile.cli.compile import DEMO_POOL, run_demo
from archon_compile.compiler.marks import MarkKind
from archon_compile.lm.base import LMRequest
from archon_compile.tasks.base import Item, Score, Task
from archon_compile.testing import FakeOpenAIServer
from tests.helpers.compiler_pool import MODELS, pool, task

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = [
    {"question_id": i, "category": "writing", "turns": [f"Write line {i}.", "Another."]} for i in range(1, 5)
]
BASE: dict[str, Any] = {
    "top_k_models": (1, 2),
    "samples": (1, 3),
    "fusion_layers": (0, 1),
    "fusers_per_layer": (2, 2),
    "selectors": ("none", "voter"),
    "final_checks": ("none",),
}
SPACE = ac.ArchonSpace(**BASE)


def _space(**changes: Any) -> ac.ArchonSpace:
    return ac.ArchonSpace(**{**BASE, **changes})


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def _mt_bench(tmp_path: Path) -> Path:
    path = tmp_path / "question.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


def _respond(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    return "Fair. [[6]]" if "evaluator" in system else "Here is my answer."


def _compile_cli(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["compile", *args, "--out", str(tmp_path / "out.json"), "--no-cache"])


def test_a_dead_model_endpoint_stops_compile_in_seconds_without_an_artifact(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    result = _compile_cli(
        tmp_path, "-t", "capitals", "--models", "openai/a,openai/b", "--api-base", _dead_url()
    )
    assert time.monotonic() - start < 30
    assert result.exit_code == 1
    assert "model openai/a at http://127.0.0.1:" in result.output and "unreachable" in result.output
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "out.report").exists()


def test_a_dead_judge_endpoint_stops_compile_in_seconds_without_an_artifact(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with FakeOpenAIServer(_respond) as server:
        start = time.monotonic()
        result = _compile_cli(
            tmp_path,
            *("-t", "mt_bench", "--data", str(_mt_bench(tmp_path)), "--models", "openai/prog"),
            *("--api-base", server.url, "--judge", "openai/judge", "--judge-api-base", _dead_url()),
        )
        assert time.monotonic() - start < 30
        assert len(server.requests) == 1  # the program's probe; nothing else ran
    assert result.exit_code == 1
    assert "judge openai/judge at http://127.0.0.1:" in result.output
    assert not (tmp_path / "out.json").exists()


def test_the_judge_api_base_reaches_the_judge_and_json_ends_with_the_verdict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with FakeOpenAIServer(_respond) as server:
        result = _compile_cli(
            tmp_path,
            *("-t", "mt_bench", "--data", str(_mt_bench(tmp_path)), "--models", "openai/prog"),
            *("--api-base", server.url, "--judge", "openai/judge", "--judge-api-base", server.url),
            *("--trials", "2", "--dev-size", "2", "--heldout-size", "2", "--concurrency", "2", "--json"),
        )
        judged = [r for r in server.requests if r["model"] == "judge"]
    assert result.exit_code == 0, result.output
    assert len(judged) >= 4  # probe + 2 dev items x 2 turns, at least
    output = json.loads(result.stdout)
    report = output["report"]
    assert report["power_ranking"]["scores"][0]["quality"] == pytest.approx(0.6)  # [[6]] of 10
    assert report["counts"]["judge_errors"] == 0
    assert output["verdict"].startswith("Verdict: no significant gain (the compiled program is the single")
    assert Path(output["artifact"]).exists()


class FlakyJudge:
    """Exact match, but the scoring fails (a judge error) for metric calls number `start` to `stop` - 1:
    after the power ranking's calls, as a judge endpoint that went down would (metric calls are not
    cached, unlike the program's, which a failed endpoint could otherwise hide behind)."""

    name = "flaky"

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop, self.calls = start, stop, 0

    async def score(self, item: Item, answers: list[str], judge: object) -> Score:
        self.calls += 1
        if self.start < self.calls <= self.stop:
            return Score(value=0.0, error="judge: 503 service unavailable")
        return Score(value=float(answers[-1].strip() == item.reference))


def _judged(n: int, metric: FlakyJudge) -> Task:
    return Task("known-best", task(n).items(), metric)


def test_when_every_recent_trial_fails_the_compile_stops_with_that_error(tmp_path: Path) -> None:
    judge = FlakyJudge(start=8 * len(MODELS), stop=10**9)  # up after the ranking of 8 dev items
    with pytest.raises(ac.CompileError, match="failed their error budget.*503 service unavailable"):
        ac.compile(
            _judged(20, judge),
            MODELS,
            space=SPACE,
            trials=6,
            dev_size=8,
            lms=pool(),
            run_dir=tmp_path / "run",
            progress=False,
        )


def test_trials_over_the_error_budget_fail_and_never_win(tmp_path: Path) -> None:
    ranking = 12 * len(MODELS)
    judge = FlakyJudge(start=ranking, stop=ranking + 12)  # down for the next 12 scorings
    result = ac.compile(
        _judged(40, judge),
        MODELS,
        space=SPACE,
        trials=8,
        dev_size=12,
        lms=pool(),
        run_dir=tmp_path / "r",
        progress=False,
    )
    failed = [r for r in result.report.trials if r.mark is not None and r.mark.kind == MarkKind.FAILED]
    assert failed and result.report.counts.trials_failed == len(failed)
    assert all("503 service unavailable" in (r.note or "") and r.state == "FAIL" for r in failed)
    assert result.report.chosen_trial not in {r.number for r in failed}
    assert result.report.counts.judge_errors >= 4 * len(failed)


def test_a_pool_with_a_known_better_architecture_yields_the_search_paid(tmp_path: Path) -> None:
    result = ac.compile(
        task(60),
        MODELS,
        space=SPACE,
        trials=12,
        dev_size=15,
        lms=pool(),
        run_dir=tmp_path / "r",
        progress=False,
    )
    verdict = result.verdict
    assert verdict is not None and verdict.outcome == "the search paid", result.report.summary()
    assert verdict.ci_low > 0 and verdict.items == 45
    assert result.report.chosen_trial is not None
    assert "Verdict: the search paid" in result.report.summary()
    assert (
        "Verdict: the search paid"
        in (result.save(tmp_path / "a.json").parent / "a.report" / "report.md").read_text()
    )


def _same_every_time(request: LMRequest) -> str:
    """Right on even items, the same wrong answer on odd ones, whatever the sample or role: no architecture
    can beat the model alone."""
    text = "\n".join(m.content for m in request.messages)
    item = int(text.split("Q", 1)[1].split(":", 1)[0]) if "Q" in text else 0
    return f"ans-{item}" if item % 2 == 0 else "wrong"


def test_a_pool_where_nothing_beats_the_single_model_yields_it_and_no_significant_gain(tmp_path):
    lms = {"flat": ac.ScriptedLM(_same_every_time)}
    result = ac.compile(
        task(40),
        ["flat"],
        space=SPACE,
        trials=8,
        dev_size=10,
        lms=lms,
        run_dir=tmp_path / "r",
        progress=False,
    )
    report = result.report
    assert report.verdict is not None and report.verdict.outcome == "no significant gain"
    assert report.chosen_trial is None and result.program.spec.calls_per_query() == 1
    assert report.selection is not None and "single model is emitted" in report.selection.sentence()


def test_a_small_dev_set_says_so_with_numbers(tmp_path: Path) -> None:
    result = ac.compile(
        task(40),
        MODELS,
        space=SPACE,
        trials=6,
        dev_size=3,
        lms=pool(),
        run_dir=tmp_path / "r",
        progress=False,
    )
    selection = result.report.selection
    assert selection is not None and selection.dev_items == 3
    if selection.chosen_trial is None and selection.items_needed is not None:
        assert selection.items_needed > 3 and "dev items would separate" in selection.sentence()
    dev_single = result.report.power_ranking.best.quality
    emitted = next((r for r in result.report.trials if r.number == selection.chosen_trial), None)
    assert emitted is None or (emitted.dev_quality or 0.0) >= dev_single  # never worse on dev


def test_the_demo_in_a_clean_clone_leaves_git_status_clean(tmp_path, monkeypatch) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    monkeypatch.chdir(clone)
    committed = (clone / "compiled" / "capitals-demo.json").read_bytes()
    lms = {model: ac.ScriptedLM([(r".*", "Paris")]) for model in DEMO_POOL}
    result = run_demo(Path("runs/demo"), trials=2, lms=lms)
    assert result.verdict is not None
    assert (clone / "runs" / "demo" / "capitals-demo.json").exists()
    assert (clone / "compiled" / "capitals-demo.json").read_bytes() == committed
    status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True)
    assert status.stdout == ""

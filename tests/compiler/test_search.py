"""The compiler end to end on a scripted pool whose best architecture is known (helpers/compiler_pool.py)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

import archon_compile as ac
from archon_compile.compiler import Objective, TrialEvent
from archon_compile.compiler.marks import MarkKind, arch_of, mark_of
from archon_compile.compiler.report import load_report
from archon_compile.compiler.result import report_dir
from archon_compile.compiler.trials import spec_hash
from tests.helpers.compiler_pool import MODELS, pool, sent, task

SPACE = ac.ArchonSpace(
    top_k_models=(1, 3),
    samples=(1, 5),
    fusion_layers=(0, 2),
    fusers_per_layer=(2, 6, 2),
    selectors=("none", "voter", "critic_ranker"),
    final_checks=("none",),
)


def _compile(tmp_path: Path, **kw: object) -> tuple[ac.CompileResult, dict[str, ac.ScriptedLM]]:
    lms = pool()
    options: dict[str, object] = {
        "space": SPACE,
        "trials": 16,
        "seed": 0,
        "run_dir": tmp_path / "run",
        "dev_size": 12,
        "lms": lms,
    }
    options.update(kw)
    return ac.compile(task(40), MODELS, **options), lms  # type: ignore[arg-type]


def test_search_finds_the_known_best_architecture(tmp_path: Path) -> None:
    result, lms = _compile(tmp_path, objective=Objective(lam=0.01))
    report = result.report
    assert report.power_ranking.order == ["good", "okay", "bad"]
    best = report.best_trial.params
    # the only way to 1.0: `good` alone, at least 3 samples, then a majority (voter or the good fuser)
    assert best["top_k_models"] == 1 and best["samples"] >= 3
    assert report.best_trial.dev_quality == 1.0
    assert report.winner is not None and report.best_single is not None
    assert report.winner.quality == 1.0
    assert report.best_single.quality < 0.8
    assert report.best_single.ci_low <= report.best_single.quality <= report.best_single.ci_high
    # counts: what was really sent, and what a cache-less, prune-less search would have sent
    c = report.counts
    assert c.ranking_calls + c.search_calls + c.heldout_calls == sent(lms)
    assert c.search_calls < c.naive_search_calls
    assert c.trials_evaluated == 16


def test_weak_trials_stop_early_and_invalid_ones_cost_nothing(tmp_path: Path) -> None:
    result, _ = _compile(tmp_path, trials=20)
    rows = result.report.trials
    pruned = [r for r in rows if r.state == "PRUNED" and r.note and r.note.startswith("pruned")]
    assert pruned and all(0 < r.dev_items < 12 for r in pruned)
    for r in rows:
        if r.note and r.note.startswith("skipped"):
            assert r.calls == 0 and r.dev_items == 0


def test_per_query_budget_excludes_architectures_before_they_run(tmp_path: Path) -> None:
    result, _ = _compile(tmp_path, budget=ac.Budget(calls_per_query=3), trials=10)
    rows = result.report.trials
    over = [r for r in rows if r.note and "over budget" in r.note]
    assert over and all(r.calls == 0 for r in over)
    assert all(r.calls_per_query <= 3 for r in rows if r.state == "COMPLETE")  # type: ignore[operator]
    assert result.program.spec.calls_per_query() <= 3


def test_search_budget_stops_cleanly_and_still_emits_the_best(tmp_path: Path) -> None:
    result, lms = _compile(tmp_path, budget=ac.Budget(search_calls=150), trials=50)
    report = result.report
    assert report.stop_reason and "search budget" in report.stop_reason
    assert report.counts.trials_evaluated < 50
    # the budget is checked after every minibatch: the overshoot is at most one minibatch of one trial
    assert report.counts.ranking_calls + report.counts.search_calls < 150 + 3 * 40
    path = result.save(tmp_path / "out" / "budgeted.json")
    assert ac.load(path).spec == result.program.spec


def test_pareto_mode_reports_a_front(tmp_path: Path) -> None:
    result, _ = _compile(tmp_path, objective=Objective(mode="pareto"), trials=12)
    front = result.report.front
    assert front and result.report.best_trial.on_front
    costs = [r.cost for r in front]
    qualities = [r.dev_quality for r in front]
    assert costs == sorted(costs) and qualities == sorted(qualities)  # type: ignore[type-var]


def test_artifact_and_report_round_trip(tmp_path: Path) -> None:
    result, _ = _compile(tmp_path, trials=8)
    path = result.save(tmp_path / "compiled" / "known.json")
    art = ac.read(path)
    assert isinstance(art, ac.Artifact)
    search = art.provenance.search
    assert search is not None
    assert search["task"] == "known-best" and search["split_seed"] == 0
    assert search["best_trial"] == result.report.best_trial.number
    assert search["heldout"]["quality"] == result.report.winner.quality  # type: ignore[union-attr]
    assert search["best_params"] == result.report.best_trial.params
    assert "optuna" in art.provenance.package_versions
    loaded = ac.load(path, lms=pool(), cache=False)
    assert loaded.spec == result.program.spec
    assert loaded("Q5: what is the answer?").response == "ans-5"
    folder = report_dir(path)
    md = (folder / "report.md").read_text()
    for heading in ("## Result", "## Power ranking", "## Cost of the search", "## Trials", "history.png"):
        assert heading in md
    for png in ("history.png", "pareto.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_report(folder) == result.report
    json.loads((folder / "report.json").read_text())


def test_rerun_resumes_without_paying_again(tmp_path: Path) -> None:
    first, lms1 = _compile(tmp_path, trials=6)
    second, lms2 = _compile(tmp_path, trials=9)
    numbers = [r.number for r in second.report.trials]
    assert len(second.report.trials) >= 9 and len(numbers) == len(set(numbers))
    assert second.report.counts.ranking_calls == first.report.counts.ranking_calls  # stored, not recomputed
    new = [r for r in second.report.trials if r.number not in {t.number for t in first.report.trials}]
    # the second run paid only for its new trials (held-out answers are all cached from the first run)
    assert sent(lms2) == sum(r.calls for r in new) + second.report.counts.heldout_calls
    study = optuna.load_study(
        study_name="known-best", storage=f"sqlite:///{tmp_path / 'run' / 'study.sqlite3'}"
    )
    assert study.user_attrs["power_ranking"]["scores"][0]["model"] == "good"


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    _compile(tmp_path, trials=2)
    with pytest.raises(ac.CompileError, match="different models"):
        ac.compile(
            task(40),
            ["good", "okay"],
            space=SPACE,
            trials=2,
            run_dir=tmp_path / "run",
            dev_size=12,
            lms=pool(),
        )


def test_bad_input_is_named() -> None:
    with pytest.raises(ac.CompileError, match="at least one model"):
        ac.compile(task(4), [])
    with pytest.raises(ac.CompileError, match="unknown task"):
        ac.compile("no-such-task", ["good"])


def test_repeated_architectures_are_not_counted_and_the_prior_runs_first(tmp_path: Path) -> None:
    result, _ = _compile(tmp_path, trials=24)
    rows = result.report.trials
    counted = [r for r in rows if not (r.note or "").startswith("skipped")]
    assert len(counted) == 24 == result.report.counts.trials_evaluated
    specs = [json.dumps(r.params, sort_keys=True) for r in counted]
    assert len(set(specs)) == len(specs)  # every counted trial is a new parameter set
    prior = SPACE.prior(result.report.power_ranking.order)
    assert [r.params for r in rows[: len(prior)]] == prior
    study = optuna.load_study(
        study_name="known-best", storage=f"sqlite:///{tmp_path / 'run' / 'study.sqlite3'}"
    )
    repeats = [t for t in study.trials if (m := mark_of(t)) is not None and m.kind == MarkKind.REPEAT]
    for t in repeats:  # told as failed: one architecture is not weighed twice by the sampler
        assert t.state == optuna.trial.TrialState.FAIL and t.values is None


def test_prior_can_be_switched_off(tmp_path: Path) -> None:
    result, _ = _compile(tmp_path, trials=3, prior=False)
    prior = SPACE.prior(result.report.power_ranking.order)
    assert [r.params for r in result.report.trials[:3]] != prior


def test_progress_events_carry_the_architecture_each_trial_ran(tmp_path: Path) -> None:
    events: list[TrialEvent] = []
    result, _ = _compile(tmp_path, trials=12, progress=events.append)
    study = optuna.load_study(
        study_name="known-best", storage=f"sqlite:///{tmp_path / 'run' / 'study.sqlite3'}"
    )
    by_number = {t.number: t for t in study.trials}
    ran_or_skipped = [
        n for n, t in by_number.items() if (m := mark_of(t)) is None or m.kind != MarkKind.SURPLUS
    ]
    assert [e.number for e in events] == ran_or_skipped  # one event per trial this worker finished
    ran = 0
    for e in events:
        arch = arch_of(by_number[e.number])
        if arch is None:  # skipped or a repeat: nothing ran
            assert e.architecture is None
        else:
            assert e.architecture is not None and spec_hash(e.architecture) == arch.spec_hash
            ran += 1
    assert ran >= result.report.counts.trials_evaluated == 12

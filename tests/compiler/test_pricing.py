"""The price of a candidate (new LM calls per query) against the calls a program really sends through a
shared cache, and how the sampler and the driver use it."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

import archon_compile as ac
from archon_compile.compiler.architect import Architect, FilledTrial
from archon_compile.compiler.budget import estimate_tokens
from archon_compile.compiler.marks import ARCH, ArchAttrs
from archon_compile.compiler.objective import evaluate
from archon_compile.compiler.pricing import CallsMade
from archon_compile.compiler.sampling import NEAR_BEST, GuidedSampler, cheapest_near_best, propose
from archon_compile.compiler.space import ArchonSpace
from archon_compile.compiler.trials import spec_hash
from archon_compile.program import Program
from archon_compile.runtime.cache import Cache
from archon_compile.spec import ArchitectureSpec
from tests.helpers import compiler_pool


def _spec(*layers: list[dict[str, Any]]) -> ArchitectureSpec:
    return ArchitectureSpec.from_data({"name": "priced", "layers": list(layers)})


def _gen(model: str, samples: int) -> dict[str, Any]:
    return {"type": "generator", "model": model, "samples": samples}


def _fuser(model: str) -> dict[str, Any]:
    return {"type": "fuser", "model": model}


MADE = [
    _spec([_gen("good", 3), _gen("okay", 1)], [_fuser("good")]),
    _spec(
        [_gen("good", 2), _gen("okay", 2)],
        [{"type": "ranker", "model": "okay", "top_k": 2}],
        [_fuser("okay")],
        [{"type": "critic", "model": "good"}],
    ),
]
PRICED = [
    (MADE[0], 0),  # run before: every call is cached
    (
        _spec([_gen("good", 4), _gen("okay", 1)], [_fuser("good")]),
        1 + 1,
    ),  # a fourth sample; a new fuser input
    (_spec([_gen("good", 3), _gen("okay", 1)], [_fuser("okay")]), 1),  # another fuser model
    (_spec([_gen("good", 2), _gen("good", 2)], [_fuser("good")]), 1 + 1),  # samples 0-1 and 2-3 of one model
    (_spec([_gen("good", 3), _gen("okay", 1)], [_fuser("good")], [{"type": "critic", "model": "okay"}]), 1),
    (  # the first layers of one run
        _spec(
            [_gen("good", 2), _gen("okay", 2)],
            [{"type": "ranker", "model": "okay", "top_k": 2}],
            [_fuser("okay")],
        ),
        0,
    ),
    (_spec([_gen("bad", 2), _gen("good", 1)], [_fuser("bad")]), 2 + 1),
]


@pytest.mark.parametrize(("spec", "expected"), PRICED)
def test_new_calls_are_the_calls_a_program_sends_after_the_made_ones(
    spec: ArchitectureSpec, expected: int
) -> None:
    lms, task, cache = compiler_pool.pool(), compiler_pool.task(4), Cache()
    for made in MADE:
        evaluate(task, Program(made, lms=lms, cache=cache), task.items(), None)
    before = compiler_pool.sent(lms)
    evaluate(task, Program(spec, lms=lms, cache=cache), task.items(), None)
    assert CallsMade(MADE).new_calls(spec) == expected
    assert compiler_pool.sent(lms) - before == expected * len(task.items())


def test_nothing_made_prices_every_call() -> None:
    for spec, _ in PRICED:
        assert CallsMade([]).new_calls(spec) == spec.calls_per_query()


def test_a_filled_trial_answers_from_the_candidate_then_the_lowest_value() -> None:
    filled = FilledTrial({"samples": 3, "selector": "voter", "top_k_models": "three", "fusion_layers": 7})
    assert filled.suggest_int("samples", 1, 5) == 3
    assert filled.suggest_int("fusers_per_layer", 2, 6, step=2) == 2
    assert filled.suggest_int("top_k_models", 1, 4) == 1  # not an integer: the lowest value
    assert filled.suggest_int("fusion_layers", 1, 4) == 1  # out of range: the lowest value
    assert filled.suggest_int("samples", 1, 5, step=2) == 3
    assert filled.suggest_int("samples", 2, 6, step=2) == 2  # off the step: the lowest value
    assert filled.suggest_categorical("selector", ["none", "voter"]) == "voter"
    assert filled.suggest_categorical("final_check", ["none", "verifier"]) == "none"


def _architect(calls_per_query: int | None = None) -> Architect:
    return Architect(ArchonSpace(), compiler_pool.MODELS, ac.Budget(calls_per_query=calls_per_query), 10)


def test_the_architect_builds_a_candidate_as_a_trial_would_and_drops_what_a_trial_would_skip() -> None:
    params = {"top_k_models": 2, "samples": 3, "fusion_layers": 1, "selector": "none", "final_check": "none"}
    trial = optuna.trial.FixedTrial(params | {"fuser_model": "okay"})
    expected = ArchonSpace().build(ArchonSpace().suggest(trial, compiler_pool.MODELS), compiler_pool.MODELS)
    built = _architect().candidate(params)  # the fuser's model is missing: the first choice, "okay"
    assert built is not None and built.layers == expected.layers
    assert _architect(calls_per_query=expected.calls_per_query() - 1).candidate(params) is None
    ten = Architect(ArchonSpace(), [f"m{i}" for i in range(10)], ac.Budget(), 10)
    assert ten.candidate(params | {"top_k_models": 10, "samples": 5}) is None  # 50 inputs for one fuser


def _study_with_three_trials(architect: Architect) -> optuna.Study:
    """Three trials with the architectures the driver would have recorded on them."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    fixed = {"fusion_layers": 1, "selector": "none", "final_check": "none", "fuser_model": "good"}
    dists = {"top_k_models": IntDistribution(1, 3), "samples": IntDistribution(1, 5)}
    dists |= {k: CategoricalDistribution([v]) for k, v in fixed.items()}
    for k, s, value in ((1, 1, 0.3), (2, 2, 0.5), (3, 1, 0.4)):
        params = {"top_k_models": k, "samples": s} | fixed
        spec = architect.candidate(params)
        assert spec is not None
        arch = ArchAttrs(
            spec=spec.model_dump(mode="json"),
            spec_hash=spec_hash(spec),
            cost=spec.calls_per_query(),
            calls_per_query=spec.calls_per_query(),
            tokens=estimate_tokens(spec, architect.query_tokens),
        )
        attrs = {ARCH: arch.model_dump(mode="json")}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=value, user_attrs=attrs)
        )
    return study


@pytest.mark.parametrize("priced", [True, False])
def test_among_equal_improvements_the_fewest_new_calls_win(
    monkeypatch: pytest.MonkeyPatch, priced: bool
) -> None:
    """Under an equal improvement everywhere, the candidate with the fewest new calls is proposed, and
    none over the budget is scored; without an architect, the first candidate."""
    scored: list[dict[str, Any]] = []

    def flat(self: object, rows: list[dict[str, Any]]) -> np.ndarray:
        scored.extend(rows)
        return np.ones(len(rows))

    monkeypatch.setattr("archon_compile.compiler.surrogate.GaussianProcess.expected_improvement", flat)
    architect = _architect(calls_per_query=8)
    study = _study_with_three_trials(architect)
    chosen = propose(study, study.trials, random.Random(0), architect if priced else None)
    made = CallsMade.of_trials(study.trials)
    specs = [architect.candidate(p) for p in scored]
    if not priced:
        assert chosen == scored[0] and None in specs
        return
    assert chosen is not None and all(s is not None for s in specs)
    spec = architect.candidate(chosen)
    assert spec is not None
    new = [made.new_calls(s) for s in specs if s is not None]
    assert made.new_calls(spec) == min(new)
    assert min(new) < min(s.calls_per_query() for s in specs if s is not None)  # the cache counted


def test_the_cheapest_of_the_near_best_improvements_is_chosen() -> None:
    improvement = np.array([0.5, 1.0, NEAR_BEST, NEAR_BEST - 0.01, 1.0])
    assert cheapest_near_best(improvement, np.array([0, 9, 4, 1, 9])) == 2  # 0 and 3 are not near the best
    assert cheapest_near_best(improvement, np.array([0, 9, 9, 1, 9])) == 1  # a tie: the higher improvement
    assert cheapest_near_best(improvement, np.zeros(5)) == 1  # nothing priced: the highest improvement
    assert cheapest_near_best(np.zeros(3), np.array([3, 1, 2])) == 1


def test_a_compile_prices_the_default_samplers_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[Architect] = []
    monkeypatch.setattr(GuidedSampler, "price_with", lambda self, architect: given.append(architect))
    ac.compile(
        compiler_pool.task(12),
        compiler_pool.MODELS,
        trials=2,
        seed=0,
        run_dir=tmp_path,
        lms=compiler_pool.pool(),
        budget=ac.Budget(calls_per_query=8),
        progress=False,
    )
    assert [a.budget.calls_per_query for a in given] == [8]
    assert given[0].ranking[0] in compiler_pool.MODELS

"""Search space, budgets, the Pareto early-stopping rule, bootstrap CIs and the compile CLI's input errors."""

from __future__ import annotations

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from archon_compile.cli import app
from archon_compile.compiler import ArchonSpace, Budget
from archon_compile.compiler.budget import Spent, estimate_tokens
from archon_compile.compiler.objective import pareto_should_prune
from archon_compile.compiler.space import ROLES, TrialChoice, roles_used
from archon_compile.errors import SpecError

POOL = ["m0", "m1", "m2"]


def _choice(**kw: object) -> TrialChoice:
    base: dict[str, object] = {
        "top_k_models": 2,
        "samples": 2,
        "fusion_layers": 1,
        "fusers_per_layer": 2,
        "selector": "critic_ranker",
        "final_check": "verifier",
    }
    base.update(kw)
    return TrialChoice(
        **base, **{f"{r}_model": "m1" for r in ("fuser", "critic", "ranker", "verifier", "unit_test")}
    )


def test_build_follows_the_paper_layout() -> None:
    spec = ArchonSpace().build(_choice(), POOL)
    kinds = [layer[0].type for layer in spec.layers]
    assert kinds == ["generator", "critic", "ranker", "verifier", "fuser"]
    assert [g.model for g in spec.layers[0]] == ["m0", "m1"]  # top-K of the ranking
    assert spec.layers[-1][0].use_critiques  # type: ignore[union-attr]
    assert spec.calls_per_query() == 4 + 1 + 1 + 2 * 4 + 1


def test_invalid_combinations_raise_before_anything_runs() -> None:
    with pytest.raises(SpecError, match="max_inputs"):
        ArchonSpace().build(_choice(top_k_models=3, samples=10, selector="none", final_check="none"), POOL)
    with pytest.raises(SpecError, match="rule 6"):
        ArchonSpace().build(_choice(fusion_layers=0, selector="none", final_check="none"), POOL)


def test_default_space_size_is_computed() -> None:
    size = ArchonSpace().size(3)
    assert size.combinations == 3 * 5 * 4 * 5 * 3 * 3 * 3**5
    assert 0 < size.valid_architectures < size.combinations
    assert (
        ArchonSpace(
            top_k_models=(1, 1),
            samples=(1, 1),
            fusion_layers=(0, 0),
            selectors=("voter",),
            final_checks=("none",),
        )
        .size(1)
        .valid_architectures
        == 1
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_every_sampled_choice_builds_or_fails_with_a_named_rule(seed: int) -> None:
    space = ArchonSpace()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    choice = space.suggest(trial, POOL)
    assert 1 <= choice.top_k_models <= len(POOL)
    try:
        spec = space.build(choice, POOL)
    except SpecError as exc:
        assert "rule" in str(exc) or "max_inputs" in str(exc)
        return
    assert spec.candidate_counts()[-1] == 1
    tokens = estimate_tokens(spec, 50)
    assert tokens.output >= spec.calls_per_query() * space.max_tokens
    assert tokens.input > 0


def test_budgets() -> None:
    spec = ArchonSpace().build(_choice(), POOL)
    tokens = estimate_tokens(spec, 20)
    assert Budget().excludes(spec, tokens) is None
    assert "LM calls" in (Budget(calls_per_query=5).excludes(spec, tokens) or "")
    assert "output tokens" in (Budget(output_tokens_per_query=10).excludes(spec, tokens) or "")
    assert Budget(search_calls=10).exhausted(Spent(calls=9)) is None
    assert "10 LM calls" in (Budget(search_calls=10).exhausted(Spent(calls=10)) or "")
    assert "wall time" in (Budget(wall_time_s=1).exhausted(Spent(wall_time_s=2)) or "")


def test_pareto_rule_stops_only_worse_and_costlier_trials() -> None:
    finished = [({4: q}, c) for q, c in [(0.5, 3.0), (0.7, 5.0), (0.9, 9.0), (0.6, 4.0)]]
    assert pareto_should_prune(4, 0.4, 6.0, finished)
    assert not pareto_should_prune(4, 0.4, 2.0, finished)  # cheaper: could be on the front
    assert not pareto_should_prune(4, 0.8, 6.0, finished)
    assert not pareto_should_prune(4, 0.0, 9.0, finished[:3])  # too few trials to judge


def test_space_rejects_bad_ranges() -> None:
    with pytest.raises(ValueError, match="must not exceed"):
        ArchonSpace(samples=(5, 1))
    with pytest.raises(ValueError, match="at least one choice"):
        ArchonSpace(selectors=())


def test_cli_names_bad_input() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["compile", "--task", "no-such-task", "--models", "a"])
    assert res.exit_code == 1 and "unknown task" in res.output
    res = runner.invoke(app, ["compile", "--task", "capitals", "--models", "a", "--objective", "best"])
    assert res.exit_code != 0 and "weighted" in res.output


def test_code_tasks_offer_unit_tests_executed_in_the_sandbox() -> None:
    from archon_compile.tasks import registry

    assert "executed_tests" not in ArchonSpace.for_task(registry.get("capitals")).final_checks
    space = ArchonSpace.for_task(registry.get("humaneval"))
    assert {"unit_tests", "executed_tests"} <= set(space.final_checks)
    choice = TrialChoice(
        top_k_models=1,
        samples=3,
        fusion_layers=1,
        fusers_per_layer=2,
        selector="none",
        final_check="executed_tests",
        **{f"{r}_model": "m" for r in ROLES},
    )
    spec = space.build(choice, ["m"])
    evaluator = spec.layers[-2][0]
    assert evaluator.type == "unit_test_evaluator" and evaluator.mode == "sandbox"  # type: ignore[union-attr]
    assert spec.calls_per_query() == 3 + 1 + 1, "executed tests cost no LM call"


def test_code_tasks_try_the_papers_code_recipe_first() -> None:
    from archon_compile.tasks import registry

    space = ArchonSpace.for_task(registry.get("humaneval"))
    first = space.prior(POOL)[0]
    assert first["final_check"] == "executed_tests" and first["fusion_layers"] == 0
    assert first["top_k_models"] == 1 and first["samples"] == 3 and first["unit_test_model"] == "m0"
    study = optuna.create_study()
    study.enqueue_trial(first)
    spec = space.build(space.suggest(study.ask(), POOL), POOL)
    generator, tests, evaluator = (layer[0] for layer in spec.layers)
    assert (generator.model, generator.samples) == ("m0", 3)  # type: ignore[union-attr]
    assert tests.type == "unit_test_generator" and tests.tests == "assertions"  # type: ignore[union-attr]
    assert evaluator.mode == "sandbox" and evaluator.top_k == 1  # type: ignore[union-attr]
    assert ArchonSpace.for_task(registry.get("capitals")).prior(POOL)[0]["final_check"] == "none"


def test_only_axes_the_architecture_uses_are_sampled() -> None:
    space = ArchonSpace()
    for seed in range(30):
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
        choice = space.suggest(trial, POOL)
        assert ("fusers_per_layer" in trial.params) == (choice.fusion_layers >= 2)
        roles = {name[: -len("_model")] for name in trial.params if name.endswith("_model")}
        assert roles == set(roles_used(choice))
        assert trial.params == space.params(choice)


def test_prior_is_the_papers_canonical_shapes_clamped_into_the_space() -> None:
    space = ArchonSpace(top_k_models=(1, 2), samples=(1, 3), fusion_layers=(0, 2), role_models=("m2", "m1"))
    prior = space.prior(POOL)
    assert prior[0]["top_k_models"] == 1 and prior[0]["samples"] == 3  # Self-MoA
    assert prior[1]["top_k_models"] == 2 and prior[1]["selector"] == "critic_ranker"
    assert len(prior) == len({tuple(sorted(p.items())) for p in prior})
    for params in prior:
        assert params["fusion_layers"] == 1
        assert all(params[f"{r}_model"] == "m1" for r in ROLES if f"{r}_model" in params)  # best ranked
        study = optuna.create_study()
        study.enqueue_trial(params)
        trial = study.ask()
        space.build(space.suggest(trial, POOL), POOL)  # a valid architecture
        assert trial.params == params
    assert ArchonSpace(selectors=("voter",)).prior(POOL)[1]["selector"] == "voter"

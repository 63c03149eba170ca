"""A plugin component works everywhere a built-in does: found through its entry point without an import,
checked by the construction rules through its declared contract, run, budgeted, served, frozen into
artifacts that name it, and refused clearly where it is not installed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import optuna
import pytest

import archon_compile as ac
from archon_compile import registry
from archon_compile.compiler.budget import Budget, estimate_tokens
from archon_compile.compiler.space import ROLES, TrialChoice
from archon_compile.compiler.space_layers import SpaceOption
from archon_compile.plugins import ComponentSpecBase, RegistryError
from archon_compile.serve import ServeOptions, ServerThread, create_app
from archon_compile.spec import VoterSpec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "self_refine"
G = {"type": "generator", "model": "m", "samples": 3}
SR = {"type": "self_refine", "model": "m"}


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in types only, as in a process where no plugin was loaded yet."""
    builtin = {k: v for k, v in registry._SPECS.items() if v.__module__ == "archon_compile.spec"}
    monkeypatch.setattr(registry, "_SPECS", builtin)
    monkeypatch.setattr(registry, "_ORIGINS", {k: registry._ORIGINS[k] for k in builtin})
    monkeypatch.setattr(registry, "_COMPONENTS", {})
    monkeypatch.setattr(registry, "_loaded", set())


@pytest.fixture
def installed(fresh_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example plugin as pip leaves it: its code importable, its dist-info with the entry point."""
    info = tmp_path / "archon_self_refine-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: archon-self-refine\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[archon_compile.components]\nself_refine = archon_self_refine:SelfRefineSpec\n"
    )
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path


def lm() -> ac.ScriptedLM:
    return ac.ScriptedLM(
        [
            (r"Review the answer", "It lacks the country."),
            (r"Rewrite the answer", "Paris, France."),
            (r"Rank the numbered", "[1] > [2] > [3]"),
            (r".", "Paris"),
        ]
    )


def spec(*layers: list[dict]) -> ac.ArchitectureSpec:
    return ac.ArchitectureSpec.from_data({"name": "p", "layers": list(layers)}, source="p.json")


def test_an_installed_plugin_is_found_through_its_entry_point(installed: Path):
    assert "self_refine" not in registry._SPECS
    program = ac.load(EXAMPLE / "refine-spec.json", lms={"*": lm()}, cache=False)
    assert program("Capital of France?").response == "Paris, France."
    origin = registry.origin("self_refine")
    assert (origin.distribution, origin.version) == ("archon-self-refine", "0.1.0")


def test_construction_rules_and_budgets_read_the_plugins_contract(installed: Path):
    with pytest.raises(ac.SpecError, match=r"layer 1, component 1 \(self_refine\): rule 4"):
        spec([G], [SR, SR], [{"type": "fuser", "model": "m"}])
    critic, ranker = {"type": "critic", "model": "m"}, {"type": "ranker", "model": "m", "use_critiques": True}
    with pytest.raises(ac.SpecError, match=r"layer 3, component 0 \(ranker\): rule 3"):
        spec([G], [critic], [SR], [ranker | {"top_k": 1}])  # rewritten answers carry no critiques
    s = spec([G], [SR | {"rounds": 2}], [{"type": "voter", "top_k": 1}])
    assert s.candidate_counts() == [3, 3, 1] and s.calls_per_query() == 3 + 2 * 2 * 3
    tokens = estimate_tokens(s, query_tokens=10)
    assert tokens.output == (3 + 12) * 1024
    assert Budget(calls_per_query=10).excludes(s, tokens) == "over budget: 15 LM calls per query > 10"


def test_artifacts_name_the_plugin_and_refuse_to_load_without_it(installed: Path, monkeypatch, tmp_path):
    program = ac.load(EXAMPLE / "refine-spec.json", lms={"*": lm()}, cache=False)
    path = ac.save(program, tmp_path / "refine.json")
    art = ac.read(path)
    assert isinstance(art, ac.Artifact)
    assert [(p.type, p.distribution, p.version) for p in art.plugins] == [
        ("self_refine", "archon-self-refine", "0.1.0")
    ]
    node = art.nodes[-1]
    assert node.type == "self_refine" and [s.name for s in node.signatures] == ["GiveFeedback", "Refine"]
    assert ac.load(path, lms={"*": lm()}, cache=False)("q").response == "Paris, France."

    monkeypatch.delitem(registry._SPECS, "self_refine")
    monkeypatch.setattr(registry, "_loaded", set())
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(installed)])
    with pytest.raises(ac.ArtifactError, match=r"'archon-self-refine' 0.1.0, which is not installed: `pip"):
        ac.load(path, cache=False)
    with pytest.raises(
        ac.SpecError, match=r"unknown component type 'self_refine'.*archon_compile.components"
    ):
        ac.load(EXAMPLE / "refine-spec.json", cache=False)


def test_a_plugin_program_is_served(installed: Path):
    program = ac.load(EXAMPLE / "refine-spec.json", lms={"*": lm()}, cache=False)
    with ServerThread(create_app(program, ServeOptions()), log_level="warning") as server:
        reply = httpx.post(
            f"{server.base_url}/chat/completions",
            json={"model": program.name, "messages": [{"role": "user", "content": "Capital of France?"}]},
            timeout=20,
        )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "Paris, France."


def test_registration_is_checked(fresh_registry: None, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from archon_self_refine import SelfRefineSpec

    assert ac.register_component(SelfRefineSpec) == "self_refine"
    assert ac.register_component(SelfRefineSpec) == "self_refine"  # idempotent

    class Clash(SelfRefineSpec):
        pass

    with pytest.raises(RegistryError, match="'self_refine' is already registered"):
        ac.register_component(Clash)

    class Typo(ComponentSpecBase):
        type: str = "typo"
        component = "archon_self_refine.component:Nope"

    with pytest.raises(RegistryError, match=r"'typo': cannot import its component class"):
        ac.register_component(Typo)
    assert "typo" not in registry._SPECS

    class Filter(ComponentSpecBase):
        type: str = "filter"
        component = "archon_self_refine.component:SelfRefine"
        stands_alone = False

    with pytest.raises(RegistryError, match="must stand alone"):
        ac.register_component(Filter)


def plugin_space(**kw: object) -> ac.ArchonSpace:
    from archon_self_refine import SelfRefineSpec

    options = (
        SpaceOption(name="refine", axis="extra", component=SelfRefineSpec(model="any")),
        SpaceOption(name="numeric_vote", axis="selector", component=VoterSpec(normaliser="number")),
    )
    axes: dict[str, object] = {
        "top_k_models": (1, 2),
        "samples": (1, 3),
        "fusion_layers": (0, 1),
        "selectors": ("none", "voter"),
        "final_checks": ("none",),
    }
    return ac.ArchonSpace(**(axes | kw), options=options)  # type: ignore[arg-type]


def test_the_search_space_offers_a_plugin_as_an_axis_and_as_a_role_option(installed: Path):
    space, pool = plugin_space(), ["m0", "m1", "m2"]
    roles = {f"{r}_model": "m0" for r in ROLES}
    choice = TrialChoice(
        top_k_models=2,
        samples=3,
        fusion_layers=1,
        fusers_per_layer=2,
        selector="numeric_vote",
        final_check="none",
        extras=("refine",),
        option_models=(("refine", "m1"),),
        **roles,
    )
    s = space.build(choice, pool)
    assert [layer[0].type for layer in s.layers] == ["generator", "voter", "fuser", "self_refine"]
    assert (s.layers[1][0].normaliser, s.layers[1][0].top_k) == ("number", 5)  # type: ignore[attr-defined]
    assert s.layers[-1][0].model == "m1"  # type: ignore[attr-defined]
    assert space.params(choice) | {"refine_model": "m1"} == space.params(choice)
    plain = ac.ArchonSpace(
        **{
            k: getattr(space, k)
            for k in ("top_k_models", "samples", "fusion_layers", "selectors", "final_checks")
        }
    )
    assert space.size(3).valid_architectures > 2 * plain.size(3).valid_architectures
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        choice = space.suggest(trial, pool)
        assert space.params(choice) == trial.params  # what the prior and repeats rely on
        seen.add((choice.selector, "refine" in choice.extras))
        study.tell(trial, 0.0)
        try:
            types = [layer[0].type for layer in space.build(choice, pool).layers]
        except ac.SpecError as exc:  # skipped before any call, like every invalid combination
            assert "rule 6" in str(exc)
            continue
        assert ("self_refine" in types) == ("refine" in choice.extras)
    assert {("numeric_vote", True), ("none", False)} <= seen


def test_a_compile_searches_over_a_plugin(installed: Path, tmp_path: Path):
    from tests.helpers.compiler_pool import MODELS, pool, task

    result = ac.compile(
        task(20),
        MODELS,
        space=plugin_space(),
        trials=6,
        seed=0,
        run_dir=tmp_path / "run",
        dev_size=8,
        lms=pool(),
        sampler=optuna.samplers.RandomSampler(seed=0),  # what is tried is not the default sampler's call
    )
    assert all("refine" in t.params for t in result.report.trials if t.params)
    rows = [t for t in result.report.trials if t.params.get("refine")]
    assert rows and any(t.dev_quality is not None for t in rows)

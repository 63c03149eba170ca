"""A new component type is its spec class: registered here, with no edit anywhere else, every part of its
contract (`archon_compile.contract`) is read by the construction rules, the static counts, the budgets
and the artifact. (`tests/test_plugins.py` installs and runs a whole plugin; this covers each flag.)"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

import archon_compile as ac
from archon_compile import artifact, registry
from archon_compile.compiler.budget import INSTRUCTION_TOKENS, Budget, estimate_tokens
from archon_compile.plugins import LMParams


class DraftSpec(LMParams):
    """Writes two candidates, in the first layer only, beside others of its kind."""

    type: Literal["draft"] = "draft"
    component = "archon_compile.components.generator:Generator"
    stands_alone = False
    makes_candidates = True
    first_layer = True

    def calls(self, n: int) -> int:
        return 2

    def leaves(self, n: int) -> int:
        return 2


class AuditSpec(LMParams):
    """One call per candidate; the candidates leave it with critiques."""

    type: Literal["audit"] = "audit"
    component = "archon_compile.components.critic:Critic"
    adds_critiques = True

    def calls(self, n: int) -> int:
        return n


class PlanSpec(LMParams):
    """One call; a `pick` must come right after it."""

    type: Literal["plan"] = "plan"
    component = "archon_compile.components.critic:Critic"
    comes_before = "pick"

    def calls(self, n: int) -> int:
        return 1


class PickSpec(LMParams):
    """One call over at most four candidates; leaves one; only right after a `plan`."""

    type: Literal["pick"] = "pick"
    component = "archon_compile.components.ranker:Ranker"
    comes_after = "plan"

    def input_cap(self) -> int:
        return 4

    def calls(self, n: int) -> int:
        return 1

    def leaves(self, n: int) -> int:
        return min(n, 1)


NEW = (DraftSpec, AuditSpec, PlanSpec, PickSpec)
D, A, P, K = ({"type": registry.type_name(cls), "model": "m", "max_tokens": 100} for cls in NEW)
RANKER = {"type": "ranker", "model": "m", "top_k": 1, "use_critiques": True}


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The four types registered through the public API, for this test only."""
    for name in ("_SPECS", "_ORIGINS", "_COMPONENTS"):
        monkeypatch.setattr(registry, name, dict(getattr(registry, name)))
    monkeypatch.setattr(registry, "_loaded", set(registry._loaded))
    assert [ac.register_component(cls) for cls in NEW] == ["draft", "audit", "plan", "pick"]


def spec(*layers: list[dict]) -> ac.ArchitectureSpec:
    return ac.ArchitectureSpec.from_data({"name": "new", "layers": list(layers)}, source="new.json")


@pytest.mark.parametrize(
    ("layers", "refusal"),
    [
        ([[A]], r"layer 0, component 0 \(audit\): rule 2 \(the first layer holds generators\)"),
        ([[D], [D]], r"layer 1, component 0 \(draft\): rule 2 \(generators only in the first layer\)"),
        ([[D], [RANKER]], r"layer 1, component 0 \(ranker\): rule 3"),
        ([[D, D], [A, A], [RANKER]], r"layer 1, component 1 \(audit\): rule 4 \(a audit stands alone"),
        ([[D], [P], [RANKER]], r"layer 1, component 0 \(plan\): rule 5 \(a plan must be followed by a pick"),
        ([[D], [K]], r"layer 1, component 0 \(pick\): rule 5 \(a plan must come right before the pick"),
        ([[D, D, D], [P], [K]], r"component 0 \(pick\): a pick's input is capped at max_inputs=4 .* 6"),
        ([[D]], r"rule 6 \(the last layer must leave exactly one candidate; this one may leave 2"),
    ],
)
def test_the_construction_rules_read_each_flag_of_the_contract(layers: list[list[dict]], refusal: str):
    with pytest.raises(ac.SpecError, match=refusal):
        spec(*layers)


def test_critiques_added_by_a_new_type_are_read_by_a_built_in():
    assert spec([D], [A], [RANKER]).candidate_counts() == [2, 2, 1]


def test_counts_and_budgets_come_from_the_contract():
    s = spec([D, D], [A], [P], [K])
    assert s.candidate_counts() == [4, 4, 4, 1]
    assert s.calls_per_query() == 2 + 2 + 4 + 1 + 1
    prompt = 10 + INSTRUCTION_TOKENS
    drafts = 2 * 2 * prompt  # the default estimate: each call reads the query and what it is shown
    audit = 4 * (prompt + 4 * 100)  # every candidate, written at the draft's max_tokens
    plan = pick = prompt + 4 * 100
    tokens = estimate_tokens(s, query_tokens=10)
    assert (tokens.input, tokens.output) == (drafts + audit + plan + pick, (4 + 4 + 1 + 1) * 100)
    assert Budget(calls_per_query=9).excludes(s, tokens) == "over budget: 10 LM calls per query > 9"
    assert Budget(calls_per_query=10, input_tokens_per_query=tokens.input).excludes(s, tokens) is None


def test_artifacts_freeze_and_load_a_new_type_and_name_where_it_comes_from(tmp_path: Path):
    s = spec([D, D], [A], [P], [K])
    path = artifact.write(artifact.freeze(s), tmp_path / "new.json")
    art = ac.read(path)
    assert isinstance(art, ac.Artifact) and art.architecture == s
    assert [n.type for n in art.nodes] == ["draft", "draft", "audit", "plan", "pick"]
    for node in art.nodes:  # each node records the signatures of the component class its spec names
        assert node.signatures == [s.info() for s in registry.component_class(node.type).signatures]
    assert {(p.type, p.module) for p in art.plugins} == {
        (t, __name__) for t in ("draft", "audit", "plan", "pick")
    }
    del registry._SPECS["audit"]
    with pytest.raises(ac.ArtifactError, match=rf"component type 'audit' from the plugin '{__name__}'"):
        ac.read(path)

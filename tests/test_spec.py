"""Construction rules: each rule rejects its violation with an error naming layer, component and rule."""

from __future__ import annotations

import json

import pytest

import archon_compile as ac
from archon_compile.spec import ArchitectureSpec


def build(*layers: list[dict]) -> ArchitectureSpec:
    return ArchitectureSpec.from_data({"layers": list(layers)}, source="t.json")


G = {"type": "generator", "model": "m", "samples": 3}
F = {"type": "fuser", "model": "m"}


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        ([[G, F]], r"layer 0: rule 1"),
        ([[F]], r"layer 0, component 0 \(fuser\): rule 2"),
        ([[G], [G]], r"layer 1, component 0 \(generator\): rule 2"),
        (
            [[G], [{"type": "fuser", "model": "m", "use_critiques": True}]],
            r"layer 1, component 0 \(fuser\): rule 3",
        ),
        (
            [
                [G],
                [{"type": "critic", "model": "m"}],
                [F, F],
                [{"type": "ranker", "model": "m", "top_k": 1, "use_critiques": True}],
            ],
            r"layer 3.*rule 3",
        ),
        (
            [[G], [{"type": "ranker", "model": "m"}, {"type": "ranker", "model": "m"}], [F]],
            r"layer 1, component 1.*rule 4",
        ),
        ([[G], [{"type": "unit_test_evaluator", "model": "m"}]], r"layer 1.*rule 5"),
        ([[G], [{"type": "unit_test_generator", "model": "m"}], [F]], r"layer 1.*rule 5"),
        ([[G]], r"layer 0.*rule 6.*may leave 3"),
        ([[G], [F, F]], r"layer 1.*rule 6"),
        (
            [[{"type": "generator", "model": "m", "samples": 30}], [F]],
            r"layer 1, component 0 \(fuser\).*max_inputs=24",
        ),
    ],
)
def test_each_rule_is_enforced_with_a_precise_message(layers, match):
    with pytest.raises(ac.SpecError, match=match) as info:
        build(*layers)
    assert str(info.value).startswith("t.json:")


def test_valid_shapes_and_static_counts():
    s = build(
        [{"type": "generator", "model": "m", "samples": 10}],
        [{"type": "critic", "model": "m"}],
        [{"type": "ranker", "model": "m", "top_k": 5, "use_critiques": True}],
        [{"type": "fuser", "model": "m", "use_critiques": True}],
    )
    assert s.candidate_counts() == [10, 10, 5, 1]
    assert s.calls_per_query() == 13
    v = build([G], [{"type": "verifier", "model": "m"}], [{"type": "voter", "top_k": 1}])
    assert v.calls_per_query() == 3 + 6
    u = build(
        [G], [{"type": "unit_test_generator", "model": "m"}], [{"type": "unit_test_evaluator", "model": "m"}]
    )
    assert u.calls_per_query() == 3 + 1 + 3


def test_unknown_field_and_bad_type_name_the_field(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"layers": [[{"type": "generator", "model": "m", "sampels": 2}]]}))
    with pytest.raises(
        ac.SpecError, match=r"(?s)s.json.*layer 0, component 0 \(generator\): sampels: Extra inputs"
    ):
        ArchitectureSpec.from_file(p)
    p.write_text("{not json")
    with pytest.raises(ac.SpecError, match="not valid JSON"):
        ArchitectureSpec.from_file(p)


def test_yaml_specs_load(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: y\nlayers:\n  - [{type: generator, model: m, samples: 2}]\n  - [{type: voter}]\n")
    assert ac.load(p, cache=False).spec.calls_per_query() == 2


def test_reference_programs_are_valid():
    from archon_compile import programs

    names = programs.spec_names()
    assert {"single-model", "moa-lite", "archon-quickstart", "archon-critic-ranker"} <= set(names)
    shapes = {n: ac.load(n, cache=False).spec.candidate_counts() for n in names}
    assert shapes["archon-quickstart"] == [10, 5, 1]
    assert shapes["moa-lite"] == [6, 1]
    assert shapes["archon-critic-ranker"] == [10, 10, 5, 1]

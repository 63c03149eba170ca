"""One error root: what a caller gets wrong reaches it as an `ac.ArchonError` subclass naming the file or
field, never as a raw pydantic `ValidationError`, `KeyError` or bare `ValueError`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archon_compile as ac
from archon_compile.artifact import content_hash
from archon_compile.compiler.power import single_model_spec
from archon_compile.lm.local import local_lm
from archon_compile.lm.openai_compat import OpenAICompatClient
from archon_compile.spec import ArchitectureSpec
from archon_compile.tasks import registry

GEN = {"type": "generator", "model": "m"}


def test_a_broken_rule_reaches_the_caller_as_a_construction_error(tmp_path: Path) -> None:
    path = tmp_path / "two-generator-layers.json"
    path.write_text(json.dumps({"layers": [[GEN], [GEN]]}))
    with pytest.raises(
        ac.ConstructionError, match=r"(?s)two-generator-layers.json: .*layer 1, component 0 .*: rule 2"
    ):
        ac.load(path, cache=False)
    with pytest.raises(ac.SpecError, match="rule 2"):  # a SpecError too, for existing handlers
        ArchitectureSpec.from_data({"layers": [[GEN], [GEN]]})


def test_a_bad_field_is_a_spec_error_but_no_construction_error() -> None:
    with pytest.raises(ac.SpecError, match=r"layer 0, component 0 \(generator\): samples") as info:
        ArchitectureSpec.from_data({"layers": [[GEN | {"samples": 0}]]})
    assert not isinstance(info.value, ac.ConstructionError)


def test_retargeting_to_an_invalid_model_names_the_field() -> None:
    with pytest.raises(
        ac.SpecError, match=r"(?s)retargeted.*component 0 \(generator\): model: String should"
    ):
        ac.load("archon-quickstart", lm="x" * 501, cache=False)


def test_the_compilers_single_model_spec_names_the_bad_value() -> None:
    with pytest.raises(
        ac.SpecError, match=r"(?s)single-m: .*temperature: Input should be less than or equal to 2"
    ):
        single_model_spec("m", temperature=5.0, max_tokens=16)


def test_an_artifact_whose_architecture_breaks_a_rule_names_the_field(tmp_path: Path) -> None:
    path = ac.save(ac.load("archon-quickstart", cache=False), tmp_path / "a.json")
    data = json.loads(path.read_text())
    layers = data["architecture"]["layers"]
    layers.append(layers[0][:1])  # a generator after the first layer breaks rule 2
    data["sha256"] = content_hash(data)
    path.write_text(json.dumps(data))
    with pytest.raises(
        ac.ArtifactError, match=r"a.json: not a valid artifact: architecture: .*rule 2"
    ) as info:
        ac.load(path, cache=False)
    assert len(str(info.value).splitlines()) == 1


def test_a_malformed_message_is_a_bad_query_naming_the_field() -> None:
    program = ac.load("archon-quickstart", lms={"*": ac.ScriptedLM([(r".", "x")])}, cache=False)
    with pytest.raises(
        ac.BadQuery, match=r"message 0: role: Input should be 'system', 'user' or 'assistant'"
    ):
        program([{"role": "robot", "content": "hi"}])
    with pytest.raises(ac.BadQuery, match=r"message 1: content: Field required"):
        program([{"role": "system", "content": "be brief"}, {"role": "user"}])


def test_a_bad_task_item_is_a_data_error_naming_the_task_item_and_field() -> None:
    task = ac.Task(
        "mine", items=[{"id": "1", "turns": ["q"]}, {"id": "2", "turns": []}], metric=lambda i, a: 1.0
    )
    with pytest.raises(ac.DataError, match=r"task 'mine': item 2: turns: List should have at least 1 item"):
        task.items()


def test_unknown_names_are_archon_errors() -> None:
    with pytest.raises(ac.TaskError, match="unknown task 'nope'; known tasks: .*capitals"):
        registry.get("nope")
    with pytest.raises(ac.BackendError, match="unknown local model 'local/nope'"):
        local_lm("local/nope")
    with pytest.raises(ac.BackendError, match="needs an api_base"):
        OpenAICompatClient("openai/x")
    spec = ArchitectureSpec.from_data(
        {"layers": [[GEN | {"samples": 3}], [{"type": "voter", "normaliser": "nope"}]]}
    )
    with pytest.raises(ac.SpecError, match="L1.C0: unknown voter normaliser 'nope'"):
        ac.Program(spec, cache=False)


def test_every_public_error_is_exported_and_rooted_in_archon_error() -> None:
    errors = [
        getattr(ac, n) for n in ac.__all__ if n.endswith(("Error", "Failed", "Unavailable", "Exceeded"))
    ]
    errors.append(ac.BadQuery)
    assert len(errors) >= 20
    for error in errors:
        assert issubclass(error, ac.ArchonError), error
    assert issubclass(ac.ConstructionError, ac.SpecError) and issubclass(ac.DatasetUnavailable, ac.DataError)

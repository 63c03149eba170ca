"""Artifacts: JSON with schema version and hash; tampering, incompatibility and secrets are refused."""

from __future__ import annotations

import json

import pytest

import archon_compile as ac
from archon_compile.artifact import SCHEMA_VERSION, content_hash


@pytest.fixture
def saved(tmp_path):
    program = ac.load("archon-critic-ranker", cache=False)
    return program, ac.save(program, tmp_path / "x.json")


def test_round_trip_keeps_architecture_signatures_and_provenance(saved):
    program, path = saved
    data = json.loads(path.read_text())
    assert data["format"] == "archon-compile/artifact" and data["schema_version"] == SCHEMA_VERSION
    assert data["sha256"] == content_hash(data)
    nodes = {n["id"]: n for n in data["nodes"]}
    assert [s["name"] for s in nodes["L2.C0"]["signatures"]] == ["Rank"]
    rank_out = nodes["L2.C0"]["signatures"][0]["outputs"]
    assert rank_out["properties"]["order"]["type"] == "array"
    assert "archon-compile" in data["provenance"]["package_versions"]
    assert ac.load(path, cache=False).spec == program.spec


def test_tampered_file_is_refused(saved):
    _, path = saved
    data = json.loads(path.read_text())
    data["architecture"]["layers"][2][0]["top_k"] = 9
    path.write_text(json.dumps(data))
    with pytest.raises(ac.ArtifactError, match="content hash mismatch"):
        ac.load(path)


def test_incompatible_schema_is_refused(saved):
    _, path = saved
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    data["sha256"] = content_hash(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ac.ArtifactError, match="schema_version 99 is not supported"):
        ac.load(path)


def test_credentials_never_reach_an_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "sk-planted-secret-123456")
    spec = ac.load("single-model", cache=False).spec
    program = ac.Program(
        spec, api_base="https://user:sk-planted-secret-123456@llm.example/v1?key=x", cache=False
    )
    path = ac.save(program, tmp_path / "a.json")
    text = path.read_text()
    assert "sk-planted-secret-123456" not in text and "key=x" not in text
    assert "https://llm.example/v1" in text
    bad = ac.Program(spec.model_copy(update={"name": "sk-planted-secret-123456"}), cache=False)
    with pytest.raises(ac.ArtifactError, match="credential") as info:
        ac.save(bad, tmp_path / "b.json")
    assert "sk-planted" not in str(info.value)
    assert not (tmp_path / "b.json").exists()


def test_retarget_at_load_moves_an_artifact_between_providers(saved):
    _, path = saved
    program = ac.load(path, lm="local", cache=False)
    assert program.spec.models() == ["local"]
    assert ac.load(path, api_base="http://127.0.0.1:9/v1", cache=False).spec.layers[0][0].api_base


def test_the_shipped_compiled_artifact_verifies_and_records_its_search():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "compiled" / "capitals-demo.json"
    program = ac.load(path, cache=False)
    search = program.provenance["search"]
    assert search["task"] == "capitals" and search["trials_run"] >= 1
    assert program.spec.models() == ["local"]


def test_the_shipped_humaneval_artifact_is_the_papers_code_recipe_and_its_report_the_verdict():
    from pathlib import Path

    compiled = Path(__file__).resolve().parents[1] / "compiled"
    program = ac.load(compiled / "humaneval-qwen.json", cache=False)
    assert program.provenance["search"]["task"] == "humaneval"
    assert [layer[0].type for layer in program.spec.layers] == [
        "generator",
        "unit_test_generator",
        "unit_test_evaluator",
    ]
    report = json.loads((compiled / "humaneval-qwen.report" / "report.json").read_text())
    assert report["heldout_items"] == 60 and report["dev_items"] == 20
    assert "the search paid" in (compiled / "humaneval-qwen.report" / "report.md").read_text()

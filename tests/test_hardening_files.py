"""Files: every unreadable spec, artifact or ARCHON config is one line naming the file (no traceback);
a bad file in a directory import does not stop the others; artifacts are strict and can be signed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import archon_compile as ac
from archon_compile.artifact import SIGNING_KEY_ENV, content_hash
from archon_compile.cli import app

DEEP = 100_000
SPEC = {"name": "s", "layers": [[{"type": "generator", "model": "m"}]]}
CONFIG = {"name": "c", "layers": [[{"type": "generator", "model": "gpt-4o", "model_type": "OpenAI_API"}]]}


def bad_files(tmp: Path, suffix: str) -> dict[str, Path]:
    files = {
        "nested": "[" * DEEP + "]" * DEEP,
        "nested-object": '{"a":' * DEEP + "1" + "}" * DEEP,
        "long-number": '{"layers": ' + "9" * 5000 + "}",
    }
    out = {name: tmp / f"{name}{suffix}" for name in files}
    for name, text in files.items():
        out[name].write_text(text)
    out["binary"] = tmp / f"binary{suffix}"
    out["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 10)
    out["latin1"] = tmp / f"latin1{suffix}"
    out["latin1"].write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    out["directory"] = tmp / f"dir{suffix}"
    out["directory"].mkdir()
    return out


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_unreadable_specs_fail_with_one_line_naming_the_file(tmp_path: Path, suffix: str):
    if suffix == ".yaml":
        (tmp_path / "nested-yaml.yaml").write_text("- " * 5000 + "x")
    for name, path in bad_files(tmp_path, suffix).items():
        with pytest.raises(ac.SpecError) as info:
            ac.load(path)
        message = str(info.value)
        assert str(path) in message, name
        assert len(message.splitlines()) == 1, (name, message)


def test_the_cli_prints_one_line_and_no_traceback(tmp_path: Path):
    files = bad_files(tmp_path, ".json")
    for name in ("nested", "binary", "latin1"):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from archon_compile.cli import main; main()",
                "run",
                str(files[name]),
                "--query",
                "q",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0
        assert "Traceback" not in result.stderr and str(files[name]) in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_unreadable_archon_configs_are_refused_by_name(tmp_path: Path):
    from archon_compile.importer import ArchonImportError, import_file

    for name, path in bad_files(tmp_path, ".json").items():
        with pytest.raises(ArchonImportError) as info:
            import_file(path)
        assert str(path) in str(info.value) and len(str(info.value).splitlines()) == 1, name


def test_one_bad_file_does_not_stop_a_directory_import(tmp_path: Path):
    src, out = tmp_path / "configs", tmp_path / "out"
    src.mkdir()
    (src / "a.json").write_text(json.dumps(CONFIG))
    (src / "b-latin1.json").write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    (src / "c-nested.json").write_text("[" * DEEP + "]" * DEEP)
    (src / "d.json").write_text(json.dumps(CONFIG | {"name": "d"}))
    result = CliRunner().invoke(app, ["import-archon", str(src), "-o", str(out)])
    assert result.exit_code == 1
    assert (out / "a.json").exists() and (out / "d.json").exists()
    report = {Path(r["path"]).name: r for r in json.loads((out / "import-report.json").read_text())}
    assert report["b-latin1.json"]["reason"] == "not UTF-8"
    assert report["c-nested.json"]["reason"] == "invalid JSON"
    assert "Converted 2 of 4 configs" in result.output


# -- artifacts --------------------------------------------------------------------------------------


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return ac.save(ac.load("archon-quickstart", cache=False), tmp_path / "x.json")


def rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(path.read_text())
    change(data)
    data["sha256"] = content_hash(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(schema_version=True), "schema_version True is not supported"),
        (lambda d: d.update(schema_version=1.0), "schema_version 1.0 is not supported"),
        (lambda d: d.update(extra="x"), "extra"),
        (lambda d: d["nodes"][0].update(note="x"), "note"),
        (lambda d: d["nodes"][0]["signatures"][0].update(hidden="x"), "hidden"),
        (lambda d: d["provenance"].update(created_at=1), "created_at"),
        (lambda d: d["architecture"]["layers"][0][0].update(samples="10"), "samples"),
    ],
)
def test_artifacts_are_strict_even_with_a_recomputed_hash(artifact: Path, change, match: str):  # type: ignore[no-untyped-def]
    rewrite(artifact, change)
    with pytest.raises(ac.ArtifactError, match=match):
        ac.load(artifact, cache=False)


def test_signed_artifacts_detect_tampering_that_rewrites_the_hash(tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    key = "k3y-" + "z" * 40
    monkeypatch.setenv(SIGNING_KEY_ENV, key)
    path = ac.save(ac.load("archon-quickstart", cache=False), tmp_path / "signed.json")
    text = path.read_text()
    assert key not in text and json.loads(text)["signature"].startswith("hmac-sha256:")
    assert ac.load(path, cache=False).spec.name == "archon-quickstart"
    rewrite(path, lambda d: d["architecture"]["layers"][1][0].update(top_k=1))
    with pytest.raises(ac.ArtifactError, match="signature does not verify") as info:
        ac.load(path, cache=False)
    assert key not in str(info.value)
    unsigned = tmp_path / "unsigned.json"
    monkeypatch.delenv(SIGNING_KEY_ENV)
    ac.save(ac.load("archon-quickstart", cache=False), unsigned)
    assert json.loads(unsigned.read_text())["signature"] is None
    monkeypatch.setenv(SIGNING_KEY_ENV, key)
    with pytest.raises(ac.ArtifactError, match="not signed"):
        ac.load(unsigned, cache=False)
    monkeypatch.setenv(SIGNING_KEY_ENV, "short")
    with pytest.raises(ac.ArtifactError, match="shorter than 16") as info:
        ac.load(path, cache=False)
    assert "short" not in str(info.value).replace("shorter", "")


def test_a_yaml_syntax_error_is_one_line_with_its_place(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text('name: x\nlayers:\n  - [{"type": "generator", "model": "unclosed\n')
    with pytest.raises(ac.SpecError) as info:
        ac.load(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: not valid YAML: line ")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)
KEYS = st.sampled_from(["type", "model", "model_type", "samples", "temperature", "top_k", "models"])
RAW = st.dictionaries(KEYS, JSON | st.sampled_from(["generator", "fuser", "ranker", "OpenAI_API", "gpt"]))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        JSON, st.builds(lambda layers: {"layers": layers}, st.lists(st.lists(RAW, max_size=3), max_size=3))
    )
)
def test_any_config_data_converts_or_is_refused_by_name(data: object):
    from archon_compile.importer import ArchonImportError, convert

    try:
        convert(data, source="fuzz.json")
    except ArchonImportError as exc:
        assert str(exc).startswith("fuzz.json")


def test_a_model_type_of_the_wrong_type_is_refused():
    from archon_compile.importer import ArchonImportError, convert

    layer = [{"type": "generator", "model": "m", "model_type": {"x": 1}}]
    with pytest.raises(ArchonImportError, match=r"unknown model_type \{'x': 1\}"):
        convert({"layers": [layer]}, source="c.json")


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    lines.append("layers: [*a9, *a9]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ac.SpecError, match=r"bomb.yaml: expands to more than 1,000,000 values"):
        ac.load(path)

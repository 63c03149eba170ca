"""The CLI turns every `ArchonError` into one `error: ...` message and exit 1 (no traceback), and a value an
option's model refuses into a usage error naming the option (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

import archon_compile as ac
from archon_compile.artifact import content_hash
from archon_compile.cli import app


def _refused(result: Result) -> list[str]:
    """The lines printed by a command that stopped on purpose (SystemExit), not on a stray exception."""
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1 and "Traceback" not in result.output
    return result.output.strip().splitlines()


def test_a_bad_artifact_is_one_line(tmp_path: Path) -> None:
    path = ac.save(ac.load("archon-quickstart", cache=False), tmp_path / "a.json")
    data = json.loads(path.read_text())
    data["architecture"]["layers"].append(data["architecture"]["layers"][0][:1])
    data["sha256"] = content_hash(data)
    path.write_text(json.dumps(data))
    lines = _refused(CliRunner().invoke(app, ["run", str(path), "--query", "x", "--no-cache"]))
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: not a valid artifact: architecture")
    assert "rule 2" in lines[0]


def test_a_bad_retarget_names_the_spec_and_the_field() -> None:
    result = CliRunner().invoke(app, ["run", "archon-quickstart", "--query", "x", "--lm", "m" * 501])
    lines = _refused(result)
    assert lines[0].startswith("error: archon-quickstart retargeted (lm=, api_base=): invalid architecture")
    assert "model: String should have at most 500 characters" in result.output


def test_an_unknown_task_and_a_wrong_option_are_one_line() -> None:
    lines = _refused(CliRunner().invoke(app, ["eval", "single-model", "--task", "nope"]))
    assert len(lines) == 1 and lines[0].startswith("error: unknown task 'nope'; known tasks:")
    result = CliRunner().invoke(app, ["eval", "single-model", "--task", "capitals", "--references", "r.json"])
    lines = _refused(result)
    assert lines == ["error: --references does not apply to task 'capitals' (it takes: neither)"]


def test_a_budget_the_model_refuses_is_a_usage_error_naming_the_option() -> None:
    result = CliRunner().invoke(app, ["compile", "-t", "capitals", "--models", "m", "--search-usd", "-1"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "--search-usd" in result.output and "greater than 0" in result.output

"""`archon-compile eval ARTIFACT --split heldout` reproduces the compile report's held-out numbers exactly:
the same engine, the same rules (a program error counts 0), the compile's own split and seed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import archon_compile as ac
from archon_compile.cli import app
from archon_compile.testing import FakeOpenAIServer, Fault
from tests.helpers.capitals import CAPITALS

WRONG_FOR_GOOD = {"Kenya", "Italy"}
NO_ANSWER = {"Cuba"}  # every model fails there: a program error


def respond(body: dict[str, Any]) -> str | Fault:
    text = "\n".join(str(m["content"]) for m in body["messages"])
    if "Rank the numbered" in text:
        return "[1] > [2]"
    if "strengths and its weaknesses" in text:
        return "[1]\nStrengths: ok\nWeaknesses: none"
    if "several responses" in text:
        return re.search(r"\[1\]\n(.*)", text).group(1)  # type: ignore[union-attr]
    countries = re.findall(r"capital of (\w+)", text)
    if not countries:
        return "OK"
    country = countries[-1]
    if country in NO_ANSWER:
        return Fault(status=400, body='{"error": {"message": "refused"}}')
    good = body["model"] == "good" and country not in WRONG_FOR_GOOD
    return CAPITALS[country] if good else "Atlantis"


@pytest.mark.parametrize("seed", [1])
def test_eval_heldout_of_an_artifact_reproduces_the_reports_heldout_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    data = tmp_path / "capitals.jsonl"
    data.write_text(
        "".join(json.dumps({"id": c[:3], "country": c, "capital": k}) + "\n" for c, k in CAPITALS.items())
    )
    monkeypatch.chdir(tmp_path)
    artifact = tmp_path / "out.json"
    with FakeOpenAIServer(respond) as server:
        compiled = CliRunner().invoke(
            app,
            ["compile", "--task", "capitals", "--data", str(data), "--models", "openai/bad,openai/good"]
            + ["--api-base", server.url, "--trials", "2", "--dev-size", "4", "--seed", str(seed)]
            + ["--out", str(artifact)],
        )
        assert compiled.exit_code == 0, compiled.output
        evaluated = CliRunner().invoke(
            app,
            ["eval", str(artifact), "--task", "capitals", "--data", str(data), "--split", "heldout"]
            + ["--no-cache", "--json"],
        )
    assert evaluated.exit_code == 0, evaluated.output
    heldout = json.loads(artifact.read_text())["provenance"]["search"]["heldout"]
    report = json.loads(evaluated.stdout)
    assert (report["seed"], report["n"]) == (seed, heldout["items"]) and report["n"] == 8
    assert report["mean"] == heldout["quality"]
    assert (report["ci_low"], report["ci_high"]) == (heldout["ci_low"], heldout["ci_high"])
    _, heldout_items = ac.tasks.get("capitals", str(data)).split(seed, dev_size=4)
    cuba_held_out = any(i.id == "capitals/Cub" for i in heldout_items)
    assert report["n_program_errors"] == int(cuba_held_out)
    assert 0.0 < report["mean"] < 1.0

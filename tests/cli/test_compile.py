"""`archon-compile compile` end to end over HTTP: a pool of two models behind a local OpenAI-compatible
server, one right and one wrong; the artifact must use the right one and record its endpoint."""

from __future__ import annotations

import json
import re
from typing import Any

from typer.testing import CliRunner

import archon_compile as ac
from archon_compile.cli import app
from archon_compile.testing import FakeOpenAIServer
from tests.helpers.capitals import CAPITALS as ALL_CAPITALS

CAPITALS = dict(list(ALL_CAPITALS.items())[:10])


def respond(body: dict[str, Any]) -> str:
    text = "\n".join(str(m["content"]) for m in body["messages"])
    if "Rank the numbered" in text:
        return "[1] > [2]"
    if "strengths and its weaknesses" in text:
        return "[1]\nStrengths: ok\nWeaknesses: none"
    if "several responses" in text:  # a fuser: repeat the first response
        return re.search(r"\[1\]\n(.*)", text).group(1)  # type: ignore[union-attr]
    countries = re.findall(r"capital of (\w+)", text)
    if not countries:  # the endpoint probe
        return "ok"
    return CAPITALS[countries[-1]] if body["model"].endswith("good") else "Atlantis"


def test_compile_over_http_picks_the_right_model_and_records_its_endpoint(tmp_path, monkeypatch):
    data = tmp_path / "capitals.jsonl"
    data.write_text(
        "".join(json.dumps({"id": c[:2], "country": c, "capital": k}) + "\n" for c, k in CAPITALS.items())
    )
    monkeypatch.chdir(tmp_path)
    with FakeOpenAIServer(respond) as server:
        result = CliRunner().invoke(
            app,
            [
                "compile",
                "--task",
                "capitals",
                "--data",
                str(data),
                "--models",
                "openai/bad,openai/good",
                "--api-base",
                server.url,
                "--trials",
                "3",
                "--dev-size",
                "4",
                "--seed",
                "1",
                "--out",
                str(tmp_path / "out.json"),
            ],
        )
        assert result.exit_code == 0, result.output
        program = ac.load(tmp_path / "out.json", cache=False)
        assert "openai/good" in program.spec.models()
        assert {c.api_base for layer in program.spec.layers for c in layer if getattr(c, "model", None)} == {
            server.url
        }
        assert program("What is the capital of Peru?").response == "Lima"
    assert (tmp_path / "out.report" / "report.md").exists()
    assert (tmp_path / "out.report" / "history.png").exists()
    assert "artifact:" in result.output

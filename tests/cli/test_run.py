"""`archon-compile run` and `programs`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from archon_compile.cli import app
from archon_compile.testing import FakeOpenAIServer


def test_run_against_a_local_openai_compatible_server():
    with FakeOpenAIServer(
        lambda body: "[1] > [2]" if "Rank" in str(body["messages"]) else "The Moon."
    ) as server:
        result = CliRunner().invoke(
            app,
            [
                "run",
                "archon-quickstart",
                "--query",
                "What causes tides?",
                "--lm",
                "openai/fake",
                "--api-base",
                server.url,
                "--json",
                "--no-cache",
            ],
        )
    assert result.exit_code == 0, result.output
    pred = json.loads(result.stdout)
    assert pred["response"] == "The Moon." and pred["usage"]["calls"] == 12


def test_run_reports_a_bad_spec_clearly(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"layers": [[{"type": "fuser", "model": "m"}]]}))
    result = CliRunner().invoke(app, ["run", str(bad), "--query", "x"])
    assert result.exit_code == 1
    assert "rule 2" in result.output


def test_programs_lists_the_reference_programs():
    result = CliRunner().invoke(app, ["programs"])
    assert (
        result.exit_code == 0 and "archon-quickstart" in result.output and "13 calls/query" in result.output
    )

"""Call history: `Program.history` / `inspect_history`, text on trace records, `run --show-calls`;
bounds, contents, and that credentials never appear."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archon_compile as ac
from archon_compile.cli import app
from archon_compile.lm.base import LMResponse
from archon_compile.runtime.history import DEFAULT_SIZE, CallHistory
from archon_compile.testing import FakeOpenAIServer, Fault, well_formed

RESPOND = well_formed(lambda text: "Paris, said the generator.")
PROGRAM = "archon-critic-ranker"  # 10 generators -> critic -> ranker(5) -> fuser: 13 calls


def scripted() -> ac.ScriptedLM:
    return ac.ScriptedLM(lambda req: RESPOND({"messages": [m.model_dump() for m in req.messages]}))


def program(**options: object) -> ac.Program:
    return ac.load(PROGRAM, lms={"*": scripted()}, cache=False, **options)


def test_history_keeps_every_call_with_prompt_and_reply_oldest_first() -> None:
    prog = program()
    prog("What is the capital of France?")
    calls = prog.history()
    assert len(calls) == 13 and DEFAULT_SIZE >= 13
    assert [c.component.split(":")[0] for c in calls[-3:]] == [
        "L1.C0",
        "L2.C0",
        "L3.C0",
    ]  # the layers in order
    generator = calls[0]
    assert generator.messages is not None and "capital of France" in generator.messages[-1].content
    assert generator.reply == "Paris, said the generator."
    critic, ranker, fuser = calls[-3:]
    assert critic.reply is not None and "Strengths" in critic.reply
    assert ranker.reply is not None and ranker.reply.startswith("[1] > [2]")
    assert fuser.reply == "Paris, said the generator."
    assert prog.history(2) == calls[-2:] and prog.history(0) == []


def test_history_is_bounded_and_can_be_turned_off() -> None:
    prog = program(history_size=5)
    prog("q1")
    prog("q2")
    calls = prog.history()
    assert len(calls) == 5 and calls[-1].component.startswith("L3.C0")
    assert program(history_size=0)("q").response and program(history_size=0).history() == []
    with pytest.raises(ValueError, match="at least 1"):
        CallHistory(-1)


def test_cache_hits_are_in_the_history_and_the_cache_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    prog = ac.load(PROGRAM, lms={"*": scripted()}, cache=ac.Cache(path), trace_text=True)
    prog("q")
    prog("q")
    second = prog.history(13)
    assert all(c.cache_hit and c.reply for c in second)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT value FROM lm_cache").fetchall()
    assert len(rows) == 13
    for (value,) in rows:  # responses only, as before: no prompt, no record fields
        assert set(json.loads(value)) == set(LMResponse.model_fields)


def test_trace_text_is_off_by_default_and_on_request() -> None:
    plain = program()("q")
    assert all(r.messages is None and r.reply is None for r in plain.trace)
    texts = program(trace_text=True)("q")
    assert all(r.messages and r.reply for r in texts.trace)


def test_inspect_history_prints_the_last_calls() -> None:
    prog = program()
    prog("Why is the sky blue?")
    out = io.StringIO()
    text = prog.inspect_history(1, file=out)
    assert out.getvalue().rstrip("\n") == text
    assert text.startswith("--- L3.C0:") and "[reply]" in text and "[user]" in text


def test_format_calls_groups_per_component_in_layer_order() -> None:
    prog = program(trace_text=True)
    shown = prog.format_calls(prog("q").trace)
    heads = [line for line in shown.splitlines() if line.startswith("=== ")]
    assert heads[0] == "=== L0.C0 generator: 1 call(s)" and len(heads) == 13
    assert heads[-3:] == [
        "=== L1.C0 critic: 1 call(s)",
        "=== L2.C0 ranker: 1 call(s)",
        "=== L3.C0 fuser: 1 call(s)",
    ]
    assert shown.index("Strengths") < shown.index("[1] > [2]")  # the critique, then the ranking


def test_credentials_never_appear(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-history-secret-0123456789"
    monkeypatch.setenv("SOME_SERVICE_API_KEY", secret)
    echo = ac.ScriptedLM(lambda req: f"I saw {secret} in: {req.messages[-1].content}")
    spec = ac.ArchitectureSpec.from_data(
        {
            "name": "echo",
            "layers": [[{"type": "generator", "model": "m", "api_base": "http://u:pw-in-url-123@h/v1"}]],
        }
    )
    prog = ac.Program(spec, lms={"*": echo}, cache=False, trace_text=True)
    pred = prog(f"my key is {secret}")
    shown = [
        json.dumps([r.model_dump() for r in prog.history()]),
        json.dumps([r.model_dump() for r in pred.trace]),
        prog.inspect_history(5, file=io.StringIO()),
        prog.format_calls(pred.trace),
    ]
    for text in shown:
        assert secret not in text and "***" in text
    assert secret in pred.response  # the answer itself is the program's output, not a record


def test_artifacts_do_not_carry_history(tmp_path: Path) -> None:
    prog = program()
    prog("q")
    path = ac.save(prog, tmp_path / "a.json")
    text = path.read_text()
    assert "Paris, said the generator" not in text and "reply" not in text


def test_run_show_calls_prints_each_component() -> None:
    with FakeOpenAIServer(RESPOND) as server:
        result = CliRunner().invoke(
            app,
            [
                "run",
                PROGRAM,
                "-q",
                "Capital of France?",
                "--lm",
                "openai/fake",
                "--api-base",
                server.url,
                "--no-cache",
                "--show-calls",
            ],
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Paris, said the generator."
    err = result.stderr
    for head in ("=== L1.C0 critic", "=== L2.C0 ranker", "=== L3.C0 fuser"):
        assert head in err
    assert "Strengths: clear." in err and "[1] > [2]" in err and "Capital of France?" in err


def test_run_show_calls_on_a_failed_query_shows_the_error() -> None:
    fault = Fault(400, body='{"error": {"message": "bad request here"}}')
    with FakeOpenAIServer(lambda body: fault) as server:
        result = CliRunner().invoke(
            app,
            [
                "run",
                "single-model",
                "-q",
                "hi",
                "--lm",
                "openai/fake",
                "--api-base",
                server.url,
                "--no-cache",
                "--show-calls",
            ],
        )
    assert result.exit_code == 1
    assert "=== L0.C0 generator" in result.stderr and "[error]" in result.stderr
    assert "HTTP 400: bad request here" in result.stderr

"""Embedding a compiled architecture in an app: sync and async calls, threads, moving between providers."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import archon_compile as ac
from archon_compile.lm.base import LMRequest
from archon_compile.testing import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
SPEC = {
    "name": "gpt4o-mini-moa",
    "layers": [
        [{"type": "generator", "model": "openai/gpt-4o-mini", "samples": 3, "temperature": 0.7}],
        [{"type": "fuser", "model": "openai/gpt-4o-mini", "temperature": 0.7}],
    ],
}
CALLS = 4


def answer_for(request: LMRequest) -> str:
    question = request.messages[-1].content
    fusing = request.messages[0].role == "system" and "Responses:" in request.messages[0].content
    return f"final answer to: {question}" if fusing else f"draft for: {question}"


def fake_upstream(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    fusing = messages[0]["role"] == "system" and "Responses:" in messages[0]["content"]
    return f"{'final answer' if fusing else 'draft'} to: {messages[-1]['content']}"


def saved_artifact(tmp_path: Path) -> Path:
    spec = ac.ArchitectureSpec.model_validate(SPEC)
    return ac.save(ac.Program(spec, cache=False), tmp_path / "compiled" / "moa.json")


def scripted_program(tmp_path: Path, lm: ac.ScriptedLM) -> ac.Program:
    return ac.load(saved_artifact(tmp_path), lms={"*": lm}, cache=False)


def test_one_program_serves_sync_and_async_callers(tmp_path):
    program = scripted_program(tmp_path, ac.ScriptedLM(answer_for))

    async def from_async_code() -> tuple[str, str]:
        awaited = await program.acall("async?")
        blocking = program("sync inside a running loop?")  # allowed: it runs on the program's own loop
        return awaited.response, blocking.response

    assert program("sync?").response == "final answer to: sync?"
    assert asyncio.run(from_async_code()) == (
        "final answer to: async?",
        "final answer to: sync inside a running loop?",
    )
    assert [p.response for p in program.batch(["a", "b"])] == ["final answer to: a", "final answer to: b"]


def test_eight_threads_share_one_program_with_exact_usage(tmp_path):
    lm = ac.ScriptedLM(answer_for, latency_s=0.01)
    program = scripted_program(tmp_path, lm)
    questions = [f"question {i}" for i in range(32)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        predictions = list(pool.map(program, questions))
    assert [p.response for p in predictions] == [f"final answer to: {q}" for q in questions]
    assert all(p.usage.calls == CALLS and len(p.trace) == CALLS for p in predictions)
    assert lm.calls == CALLS * len(questions)
    for question, pred in zip(questions, predictions, strict=True):
        own = [r for r in lm.requests if r.messages[-1].content == question]
        prompt = sum(len(m.content.split()) for r in own for m in r.messages)
        completion = sum(len(answer_for(r).split()) for r in own)
        assert (pred.usage.prompt_tokens, pred.usage.completion_tokens) == (prompt, completion)


def test_an_artifact_moves_between_providers_at_load_time(tmp_path):
    path = saved_artifact(tmp_path)
    with FakeOpenAIServer(fake_upstream) as server:
        program = ac.load(path, lm="openai/fake", api_base=server.url, cache=False)
        pred = program("What causes tides?")
    assert pred.response == "final answer to: What causes tides?"
    assert pred.usage.calls == CALLS and [r["model"] for r in server.requests] == ["fake"] * CALLS
    stored = json.loads(path.read_text())
    assert stored["lm_config"]["models"] == ["openai/gpt-4o-mini"], "the artifact itself is unchanged"
    local = ac.load(path, lm="local")
    assert local.spec.models() == ["local"] and local.name == "gpt4o-mini-moa"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_app_answers_questions_from_the_command_line(tmp_path, capsys):
    path = saved_artifact(tmp_path)
    app = load_example("app")
    with FakeOpenAIServer(fake_upstream) as server:
        code = app.main(
            [
                str(path),
                "What causes tides?",
                "Why is the sky blue?",
                "--lm",
                "openai/fake",
                "--api-base",
                server.url,
                "--no-cache",
            ]
        )
    out = capsys.readouterr().out
    assert code == 0
    assert (
        "A: final answer to: What causes tides?" in out and "A: final answer to: Why is the sky blue?" in out
    )
    assert out.count(f"[{CALLS} LM calls") == 2


def test_example_app_reports_a_failing_upstream(tmp_path, capsys):
    from archon_compile.testing import Fault

    app = load_example("app")
    with FakeOpenAIServer(lambda body: Fault(status=400)) as server:
        code = app.main(
            [
                str(saved_artifact(tmp_path)),
                "q",
                "--lm",
                "openai/fake",
                "--api-base",
                server.url,
                "--no-cache",
            ]
        )
    assert code == 1 and "error:" in capsys.readouterr().err

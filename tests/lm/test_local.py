"""The embedded Gemma 3 270M model (llama.cpp in-process): prompt framing, the missing-extra error, and,
where llama-cpp-python is installed, real answers, determinism and the quickstart program end to end."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

import archon_compile as ac
from archon_compile.lm.base import LMRequest, Message
from archon_compile.lm.local import INSTRUCTION, LocalModelUnavailable, local_lm, render_prompt

try:
    import llama_cpp  # noqa: F401

    HAVE_LLAMA = True
except ImportError:
    HAVE_LLAMA = False
needs_llama = pytest.mark.skipif(
    not HAVE_LLAMA, reason="llama-cpp-python is not installed (the `local` extra)"
)


def ask(content: str, **update: object) -> LMRequest:
    base = LMRequest(
        model="local", messages=(Message(role="user", content=content),), temperature=0.0, max_tokens=48
    )
    return base.model_copy(update=update)


def test_prompt_is_a_few_shot_completion_frame() -> None:
    conversation = (
        Message(role="user", content="Capital of Peru?"),
        Message(role="assistant", content="Lima"),
        Message(role="user", content="And of Chile?"),
    )
    prompt = render_prompt(conversation)
    assert prompt.startswith(INSTRUCTION)
    assert "Question: Capital of Peru?\nAnswer: Lima\n\nQuestion: And of Chile?\nAnswer:" in prompt
    assert prompt.endswith("Answer:")
    with_system = render_prompt((Message(role="system", content="Be terse."), *conversation))
    assert with_system.startswith("Be terse.") and INSTRUCTION not in with_system


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(LocalModelUnavailable, match=r"uv sync --extra local.*archon-compile\[local\]"):
        local_lm("local")
    with pytest.raises(LocalModelUnavailable, match="local"):
        ac.load("archon-quickstart", cache=False)("Capital of France?")


def test_unknown_local_model_is_named() -> None:
    with pytest.raises(ValueError, match=r"'local/llama-9000'.*local/gemma-3-270m"):
        local_lm("local/llama-9000")


@needs_llama
@pytest.mark.parametrize("name", ["local", "local/gemma-3-270m"])
def test_aliases_share_one_model(name: str) -> None:
    assert local_lm(name) is local_lm("local")


@pytest.mark.local_model
@needs_llama
def test_capital_question_is_answered_quickly_and_deterministically() -> None:
    lm = local_lm("local")
    lm.llama()  # load once (seconds), outside the timed call
    start = time.perf_counter()
    first = asyncio.run(lm.complete(ask("What is the capital of France?")))
    elapsed = time.perf_counter() - start
    again = asyncio.run(lm.complete(ask("What is the capital of France?")))
    assert "Paris" in first.text
    assert elapsed < 20  # ~0.1 s on an idle 2-core machine; generous for a loaded CI runner
    assert again == first
    assert first.prompt_tokens > 10 and 0 < first.completion_tokens < 48 and first.cost_usd == 0.0


@pytest.mark.local_model
@needs_llama
def test_seeded_samples_differ_and_repeat() -> None:
    lm = local_lm("local")

    def samples() -> list[str]:
        requests = [
            ask("Name a fruit.", temperature=1.0, seed=3, sample_index=i, max_tokens=8) for i in range(4)
        ]
        return [asyncio.run(lm.complete(r)).text for r in requests]

    first = samples()
    assert len(set(first)) > 1
    assert samples() == first


@pytest.mark.local_model
@needs_llama
def test_quickstart_program_runs_end_to_end() -> None:
    program = ac.load("archon-quickstart", cache=False, seed=0)
    pred = program("What is the capital of France?")
    assert pred.response.strip() and len(pred.candidates) == 1
    generated = [r for r in pred.trace if ":Generate" in r.component and r.error is None]
    assert len(generated) >= 10 - pred.usage.failed_calls
    ranker = [r for r in pred.trace if ":Rank" in r.component]
    assert ranker, "the ranker made no call"
    final = max(ranker, key=lambda r: r.attempt)
    assert final.parse_ok or final.fallback  # an unusable ranking is recorded as a fallback
    assert pred.usage.cost_usd == 0.0 and pred.usage.prompt_tokens > 0


@needs_llama
@pytest.mark.local_model
def test_streamed_tokens_join_to_the_same_answer_and_a_closed_stream_frees_the_model() -> None:
    lm = local_lm("local")
    request = ask("Name three primary colours.")

    async def scenario() -> tuple[list[str | object], str, str]:
        items = [item async for item in lm.stream(request)]
        whole = (await lm.complete(request)).text
        cut = lm.stream(ask("Count from one to twenty."))
        first = await anext(cut)
        await cut.aclose()  # stops generating at the next token and releases the llama context
        after = (await lm.complete(request)).text
        return items, whole, str(first) + after

    items, whole, _ = asyncio.run(scenario())
    *pieces, final = items
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip() == final.text == whole  # type: ignore[union-attr]
    assert final.completion_tokens > 0 and final.prompt_tokens > 0  # type: ignore[union-attr]

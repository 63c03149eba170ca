"""The embedded Qwen2.5-Coder model beside Gemma: chat template, one pool with both models, prefix-first
turns, and no network timeout for in-process models."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import archon_compile as ac
from archon_compile.lm.base import LMRequest, LMResponse, Message
from archon_compile.lm.local import GEMMA, QWEN, chat_template_prompt, local_lm
from archon_compile.lm.local_turns import Turns, shared_prefix
from archon_compile.parsed import Parsed
from archon_compile.runtime.calls import CallFailed, RetryPolicy, Runtime
from archon_compile.runtime.trace import Trace
from archon_compile.spec import ArchitectureSpec

try:
    import llama_cpp  # noqa: F401

    HAVE_LLAMA = True
except ImportError:
    HAVE_LLAMA = False
needs_llama = pytest.mark.skipif(
    not HAVE_LLAMA, reason="llama-cpp-python is not installed (the `local` extra)"
)


def test_shared_prefix_counts_leading_tokens() -> None:
    assert shared_prefix([1, 2, 3, 4], [1, 2, 9]) == 2
    assert shared_prefix([], [1]) == 0 and shared_prefix([5], [5]) == 1


def test_turns_go_to_the_longest_shared_prefix_then_first_come() -> None:
    turns, order = Turns(), []
    affinity = {"a1": 0, "b": 0, "a2": 5, "c": 0}
    release = threading.Event()

    def holder() -> None:
        with turns.turn(lambda: 0):
            release.wait(5)

    def waiter(name: str) -> None:
        with turns.turn(lambda: affinity[name]):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    time.sleep(0.05)
    threads = []
    for name in ("a1", "b", "a2", "c"):  # arrive in this order while the turn is held
        threads.append(threading.Thread(target=waiter, args=(name,)))
        threads[-1].start()
        time.sleep(0.05)
    release.set()
    for t in [first, *threads]:
        t.join(5)
    assert order == ["a2", "a1", "b", "c"]


class SlowInProcess:
    """A fake in-process model: 0.3 s per call, and counts its calls."""

    def __init__(self, in_process: bool) -> None:
        self.in_process = in_process
        self.calls = 0

    async def complete(self, request: LMRequest) -> LMResponse:
        self.calls += 1
        await asyncio.sleep(0.3)
        return LMResponse(text="done")


@pytest.mark.parametrize("in_process", [True, False])
def test_in_process_models_are_not_cut_by_the_network_timeout(in_process: bool) -> None:
    lm = SlowInProcess(in_process)
    runtime = Runtime(
        lambda model, base: lm, policy=RetryPolicy(timeout_s=0.1, max_retries=1, base_delay_s=0)
    )
    request = LMRequest(model="local/x", messages=(Message(role="user", content="hi"),))

    async def go() -> str:
        out = await runtime.call(request, lambda t: Parsed(t), component="g", trace=Trace())
        return out.value

    if in_process:
        assert asyncio.run(go()) == "done" and lm.calls == 1  # never cut, never paid twice
    else:
        with pytest.raises(CallFailed, match="timed out after 0.1s"):
            asyncio.run(go())
        assert lm.calls == 2


@pytest.mark.local_model
@needs_llama
def test_qwen_chat_template_is_chatml() -> None:
    llama = local_lm(QWEN).llama()
    conversation = (
        Message(role="system", content="Be terse."),
        Message(role="user", content="Add 2 and 3."),
    )
    prompt, stop = chat_template_prompt(llama, conversation)
    assert prompt == (
        "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nAdd 2 and 3.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert stop == ["<|im_end|>"]


@pytest.mark.local_model
@needs_llama
def test_gemma_and_qwen_answer_in_one_pool() -> None:
    spec = {
        "name": "two-embedded",
        "layers": [
            [
                {"type": "generator", "model": GEMMA, "samples": 1, "temperature": 0.0, "max_tokens": 16},
                {"type": "generator", "model": QWEN, "samples": 2, "temperature": 0.7, "max_tokens": 24},
            ],
            [{"type": "fuser", "model": QWEN, "temperature": 0.0, "max_tokens": 48}],
        ],
    }
    pred = ac.Program(ArchitectureSpec.model_validate(spec), cache=False, seed=0)(
        "What is 2 + 3? Answer with the number."
    )
    assert local_lm(GEMMA).llama() is not local_lm(QWEN).llama()
    models = {r.model for r in pred.trace if r.lm_call and r.error is None}
    assert models == {GEMMA, QWEN}
    assert "5" in pred.response


@pytest.mark.local_model
@needs_llama
def test_one_humaneval_problem_end_to_end_on_qwen() -> None:
    """Greedy answer -> executable unit tests -> sandbox evaluator, scored by the task's own metric."""
    from archon_compile.tasks import registry

    task = registry.get("humaneval")
    item = next(i for i in task.items() if i.id == "HumanEval/2")
    spec = {
        "name": "qwen-humaneval",
        "layers": [
            [{"type": "generator", "model": QWEN, "temperature": 0.0, "max_tokens": 256}],
            [
                {
                    "type": "unit_test_generator",
                    "model": QWEN,
                    "temperature": 0.0,
                    "num_tests": 3,
                    "max_tokens": 256,
                }
            ],
            [{"type": "unit_test_evaluator", "mode": "sandbox", "top_k": 1}],
        ],
    }
    pred = ac.Program(ArchitectureSpec.model_validate(spec), cache=False, seed=0)(item.turns[0])
    assert asyncio.run(task.metric.score(item, [pred.response], None)).value == 1.0
    assert "def truncate_number" in pred.response
    results = pred.candidates[0].test_results
    assert all(compile(r.test, "<test>", "exec") for r in results)  # none, when the model wrote none usable


def test_threads_are_the_idle_cores_or_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from archon_compile.lm import local

    monkeypatch.delenv("ARCHON_COMPILE_LOCAL_THREADS", raising=False)
    monkeypatch.setattr(local, "cores", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert local.threads() == 4
    monkeypatch.setattr(os, "getloadavg", lambda: (14.0, 0.0, 0.0))
    assert local.threads() == 1  # spinning threads stall each other on a busy machine
    monkeypatch.setenv("ARCHON_COMPILE_LOCAL_THREADS", "3")
    assert local.threads() == 3

"""DSPy signatures, modules and LMs meeting architectures, with the real DSPy and a local fake server."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

dspy = pytest.importorskip("dspy")
pytestmark = pytest.mark.usefixtures("dspy_cache_off")

import archon_compile as ac  # noqa: E402
from archon_compile.dspy import as_module, as_signature, from_dspy  # noqa: E402
from archon_compile.lm.base import Message  # noqa: E402
from archon_compile.signatures import ALL, Fuse  # noqa: E402
from archon_compile.state import Critique  # noqa: E402
from archon_compile.testing import FakeOpenAIServer  # noqa: E402

# What a model following DSPy's ChatAdapter format answers for each output field of the signatures.
OUTPUTS = {
    "response": "Paris",
    "critiques": json.dumps(
        [{"strengths": "clear", "weaknesses": "none"}, {"strengths": "", "weaknesses": "x"}]
    ),
    "order": "[1, 0]",
    "correct": "true",
    "tests": json.dumps(["assert capital('France') == 'Paris'"]),
    "passed": "[true, false]",
}
INPUTS: dict[str, Any] = {
    "conversation": [Message(role="user", content="Capital of France?")],
    "candidates": ["Paris", "Lyon"],
    "critiques": [Critique(strengths="right", weaknesses="terse"), None],
    "length_control": False,
    "candidate": "Paris",
    "critique": None,
    "reasoning": "Paris is the capital.",
    "num_tests": 1,
    "tests": ["assert capital('France') == 'Paris'", "assert True"],
    "normaliser": "text",
}


def dspy_format(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    section = re.search(r"Your output fields are:\n(.*?)(?:\n\n|\Z)", system, re.S)
    fields = re.findall(r"`(\w+)`", section.group(1)) if section else []
    return (
        "\n\n".join(f"[[ ## {f} ## ]]\n{OUTPUTS.get(f, 'Paris')}" for f in fields)
        + "\n\n[[ ## completed ## ]]"
    )


@pytest.fixture
def server() -> Any:
    with FakeOpenAIServer(dspy_format) as s:
        yield s


def fake_lm(server: FakeOpenAIServer) -> Any:
    return dspy.LM("openai/fake", api_base=server.url, api_key="test-key", cache=False)


@pytest.mark.parametrize("signature", ALL, ids=lambda s: s.__name__)
def test_every_signature_exports_and_runs_under_dspy_predict(signature, server) -> None:
    exported = as_signature(signature)
    assert exported.instructions == signature.instructions
    assert list(exported.input_fields) == list(signature.Inputs.model_fields)
    assert list(exported.output_fields) == list(signature.Outputs.model_fields)
    for name, info in signature.Inputs.model_fields.items():
        assert exported.input_fields[name].annotation == info.annotation
    for name, info in signature.Outputs.model_fields.items():
        assert exported.output_fields[name].annotation == info.annotation
    with dspy.context(lm=fake_lm(server)):
        pred = dspy.Predict(exported)(**{n: INPUTS[n] for n in signature.Inputs.model_fields})
    outputs = signature.Outputs.model_validate({n: pred[n] for n in signature.Outputs.model_fields})
    if "order" in signature.Outputs.model_fields:
        assert outputs.order == [1, 0]
    if "critiques" in signature.Outputs.model_fields:
        assert outputs.critiques[0] == Critique(strengths="clear", weaknesses="none")


def test_a_dspy_lm_backs_a_generator_with_distinct_samples(server) -> None:
    spec = {
        "name": "g3f",
        "layers": [
            [{"type": "generator", "model": "any", "samples": 3}],
            [{"type": "fuser", "model": "any"}],
        ],
    }
    program = ac.Program(
        ac.ArchitectureSpec.model_validate(spec), lms={"*": from_dspy(fake_lm(server))}, cache=False, seed=11
    )
    pred = program(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
    )
    assert len(server.requests) == 4
    assert len({r["seed"] for r in server.requests[:3]}) == 3  # 3 samples, 3 distinct requests
    assert all(r["messages"][0] == {"role": "system", "content": "Be brief."} for r in server.requests[:3])
    fuser_system = server.requests[3]["messages"][0]["content"]
    assert fuser_system.startswith("Be brief.") and Fuse.instructions in fuser_system
    assert pred.usage.calls == 4
    served = sum(sum(len(m["content"].split()) for m in r["messages"]) for r in server.requests)
    assert pred.usage.prompt_tokens == served


def test_a_dspy_lm_error_becomes_a_retryable_lm_error() -> None:
    from archon_compile.testing import Fault

    calls = []

    def flaky(body: dict[str, Any]) -> Any:
        calls.append(1)
        return Fault(status=503) if len(calls) == 1 else "Paris"

    with FakeOpenAIServer(flaky) as server:
        spec = {"layers": [[{"type": "generator", "model": "any"}]]}
        program = ac.Program(
            ac.ArchitectureSpec.model_validate(spec),
            lms={"*": from_dspy(fake_lm(server))},
            cache=False,
            retry=ac.RetryPolicy(base_delay_s=0.01),
        )
        pred = program("Capital of France?")
    assert pred.response == "Paris" and len(calls) == 2
    assert pred.trace[0].retries == 1


def test_as_module_returns_a_prediction_with_the_trace_and_composes(server) -> None:
    spec = {
        "name": "solo",
        "layers": [
            [{"type": "generator", "model": "any", "samples": 2}],
            [{"type": "fuser", "model": "any"}],
        ],
    }
    program = ac.Program(
        ac.ArchitectureSpec.model_validate(spec), lms={"*": ac.ScriptedLM([(r".", "Paris")])}, cache=False
    )
    module = as_module(program, "question -> answer")

    class Pipeline(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.arch = module

        def forward(self, question: str) -> Any:
            return dspy.Prediction(answer=self.arch(question=question).answer.upper())

    with dspy.context(track_usage=True):
        pred = module(question="Capital of France?")
        piped = Pipeline()(question="Capital of France?")
    assert pred.answer == "Paris" and piped.answer == "PARIS"
    assert [r.component for r in pred.trace] == ["L0.C0:Generate", "L0.C0:Generate", "L1.C0:Fuse"]
    assert pred.usage.calls == 3
    assert pred.get_lm_usage()["archon/solo"]["lm_calls"] == 3
    assert piped.get_lm_usage()["archon/solo"]["lm_calls"] == 3
    assert asyncio.run(module.acall(question="Capital of France?")).answer == "Paris"
    with pytest.raises(ValueError, match="exactly one output field"):
        as_module(program, "question -> answer, confidence")


def test_instructions_tuned_in_dspy_are_carried_into_a_node() -> None:
    """What an optimizer changes is a signature's instructions: copy them into the node's spec."""
    tuned = dspy.Predict(as_signature(Fuse))
    tuned.signature = tuned.signature.with_instructions("Merge the drafts; keep the best facts only.")
    spec = ac.ArchitectureSpec.model_validate(
        {"layers": [[{"type": "generator", "model": "m", "samples": 2}], [{"type": "fuser", "model": "m"}]]}
    )
    data = spec.model_dump()
    data["layers"][1][0]["instructions"] = tuned.signature.instructions
    carried = ac.ArchitectureSpec.model_validate(data)
    lm = ac.ScriptedLM([(r".", "Paris")])
    ac.Program(carried, lms={"*": lm}, cache=False)("Capital of France?")
    fuser_prompt = lm.requests[-1].messages[0].content
    assert fuser_prompt.startswith("Merge the drafts; keep the best facts only.")
    assert Fuse.instructions not in fuser_prompt


def test_as_module_lets_a_failed_query_raise() -> None:
    spec = {"layers": [[{"type": "generator", "model": "any"}]]}
    down = ac.ScriptedLM([(r".", ac.LMError("down", retryable=False))])
    program = ac.Program(ac.ArchitectureSpec.model_validate(spec), lms={"*": down}, cache=False)
    with dspy.track_usage() as tracker, pytest.raises(ac.QueryFailed, match="no usable sample"):
        as_module(program)(question="Capital of France?")
    paid = tracker.get_total_tokens()["archon/architecture"]
    assert paid["lm_calls"] == 0 and paid["failed_calls"] == 1

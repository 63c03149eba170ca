"""A compiled architecture as a DSPy LM, with the real DSPy against a local fake OpenAI-compatible server.

The server answers like a model that follows its prompt: a generator or fuser writes DSPy's
`[[ ## field ## ]]` sections only when DSPy's format request reached it, else prose, so the tests fail
if the conversation's system message is lost on the way to a component that writes the answer.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

dspy = pytest.importorskip("dspy")
pytestmark = pytest.mark.usefixtures("dspy_cache_off")

from archon_compile.signatures import CritiqueSignature, Fuse, Rank  # noqa: E402

import archon_compile as ac  # noqa: E402
from archon_compile.dspy import as_lm, prediction_of  # noqa: E402
from archon_compile.testing import FakeOpenAIServer  # noqa: E402

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima", "Kenya": "Nairobi", "Chile": "Santiago"}
_OUTPUTS = re.compile(r"Your output fields are:\n(.*?)(?:\n\n|\Z)", re.S)


def chat_adapter_reply(system: str, user: str, answer: str) -> str:
    """DSPy's ChatAdapter format, one section per output field its system message asks for (ReAct's
    step fields included: look the capital up, then finish)."""
    section = _OUTPUTS.search(system)
    fields = re.findall(r"`(\w+)`", section.group(1)) if section else []
    done = "observation_0" in user
    values = {
        "answer": answer,
        "reasoning": f"The capital is {answer}",
        "next_thought": "I have it." if done else "Look it up.",
        "next_tool_name": "finish" if done else "lookup",
        "next_tool_args": "{}" if done else json.dumps({"country": capital_in(user, country=True)}),
    }
    body = "\n\n".join(f"[[ ## {f} ## ]]\n{values.get(f, answer)}" for f in fields)
    return f"{body}\n\n[[ ## completed ## ]]"


def capital_in(text: str, country: bool = False) -> str:
    return next((c if country else city for c, city in CAPITALS.items() if c in text), "unknown")


def city_in(text: str) -> str:
    return next((city for city in CAPITALS.values() if city in text), "unknown")


def respond(body: dict[str, Any]) -> str:
    messages = body["messages"]
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    text = "\n".join(m["content"] for m in messages)
    n = len(re.findall(r"(?m)^\[\d+\]$", text))
    if Rank.instructions[:40] in text:
        return " > ".join(f"[{i}]" for i in range(n, 0, -1))
    if CritiqueSignature.instructions[:40] in text:
        return "\n".join(f"[{i}]\nStrengths: right city.\nWeaknesses: none." for i in range(1, n + 1))
    answer = capital_in(messages[-1]["content"])
    if Fuse.instructions[:40] in system:
        answer = city_in(system.split("Responses:", 1)[1])
    if _OUTPUTS.search(system):  # DSPy asked for its format, and it reached this component
        return chat_adapter_reply(system, messages[-1]["content"], answer)
    return f"Well, I think it must be {answer}, as far as I know."


SPEC = {
    "name": "gcrf",
    "layers": [
        [{"type": "generator", "model": "openai/fake", "samples": 3, "temperature": 0.7}],
        [{"type": "critic", "model": "openai/fake"}],
        [{"type": "ranker", "model": "openai/fake", "top_k": 2, "use_critiques": True}],
        [{"type": "fuser", "model": "openai/fake", "use_critiques": True}],
    ],
}


@pytest.fixture
def server() -> Any:
    with FakeOpenAIServer(respond) as s:
        yield s


def program(server: FakeOpenAIServer, tmp_path: Any, **options: Any) -> ac.Program:
    path = tmp_path / "gcrf.json"
    spec = ac.ArchitectureSpec.model_validate(SPEC)
    ac.save(ac.Program(spec), path)
    return ac.load(path, api_base=server.url, **{"cache": False, **options})


def test_chain_of_thought_parses_the_answer_of_generator_critic_ranker_fuser(server, tmp_path) -> None:
    lm = as_lm(program(server, tmp_path))
    with dspy.context(lm=lm):
        pred = dspy.ChainOfThought("question -> answer")(question="What is the capital of Japan?")
    assert pred.answer == "Tokyo"
    assert pred.reasoning == "The capital is Tokyo"
    assert len(server.requests) == 6  # 3 samples, critic, ranker, fuser
    fuser = server.requests[-1]["messages"]
    assert fuser[0]["role"] == "system" and "[[ ## answer ## ]]" in fuser[0]["content"]
    assert Fuse.instructions in fuser[0]["content"]
    assert sum(m["role"] == "system" for m in fuser) == 1
    trace = prediction_of(lm.history[-1]["response"]).trace
    assert [r.component.split(":")[0] for r in trace].count("L0.C0") == 3


def test_predict_on_a_compiled_artifact_and_the_two_line_example(server, tmp_path) -> None:
    dspy.configure(lm=as_lm(program(server, tmp_path)))
    try:
        pred = dspy.Predict("question -> answer")(question="Capital of Peru?")
    finally:
        dspy.configure(lm=None)
    assert pred.answer == "Lima"


def test_react_uses_a_tool_through_the_architecture(server, tmp_path) -> None:
    def lookup(country: str) -> str:
        """The capital of a country."""
        return CAPITALS[country]

    with dspy.context(lm=as_lm(program(server, tmp_path))):
        pred = dspy.ReAct("question -> answer", tools=[lookup])(question="Capital of Kenya?")
    assert pred.answer == "Nairobi"
    assert pred.trajectory["tool_name_0"] == "lookup" and pred.trajectory["observation_0"] == "Nairobi"


def test_without_the_format_request_the_fuser_answers_prose(server, tmp_path) -> None:
    """The control: what the fake model does when DSPy's system message does not reach it."""
    pred = program(server, tmp_path)("Capital of Kenya?")
    assert pred.response.startswith("Well, I think it must be Nairobi")


def test_usage_reaches_dspy_usage_tracking(server, tmp_path) -> None:
    lm = as_lm(program(server, tmp_path), model="archon/gcrf")
    with dspy.context(lm=lm, track_usage=True):
        pred = dspy.Predict("question -> answer")(question="Capital of Chile?")
    usage = pred.get_lm_usage()["archon/gcrf"]
    served = server.requests
    assert usage["lm_calls"] == len(served) == 6
    assert usage["cache_hits"] == 0 and usage["failed_calls"] == 0
    arch = prediction_of(lm.history[-1]["response"]).usage
    assert usage["prompt_tokens"] == arch.prompt_tokens > 0
    assert usage["completion_tokens"] == arch.completion_tokens > 0
    assert "cost_usd" not in usage  # a self-hosted server has no price: unknown, not zero


def test_evaluate_with_several_threads_and_usage_sums(server, tmp_path) -> None:
    lm = as_lm(program(server, tmp_path), model="archon/gcrf")
    devset = [
        dspy.Example(question=f"Capital of {c}?", answer=a).with_inputs("question")
        for c, a in CAPITALS.items()
    ]
    with dspy.context(lm=lm, track_usage=True):
        result = dspy.Evaluate(
            devset=devset,
            metric=lambda ex, pred, trace=None: ex.answer == pred.answer,
            num_threads=4,
            display_progress=False,
        )(dspy.Predict("question -> answer"))
    assert result.score == 100.0
    usages = [pred.get_lm_usage()["archon/gcrf"] for _, pred, _ in result.results]
    assert sum(u["lm_calls"] for u in usages) == len(server.requests) == 6 * len(CAPITALS)
    served_prompt = sum(sum(len(m["content"].split()) for m in r["messages"]) for r in server.requests)
    assert sum(u["prompt_tokens"] for u in usages) == served_prompt


def test_parallel_and_async_calls(server, tmp_path) -> None:
    lm = as_lm(program(server, tmp_path))
    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=lm):
        preds = dspy.Parallel(num_threads=3)([(predict, {"question": f"Capital of {c}?"}) for c in CAPITALS])

        async def ask() -> list[Any]:
            return await asyncio.gather(*(predict.acall(question=f"Capital of {c}?") for c in CAPITALS))

        apreds = asyncio.run(ask())
    assert [p.answer for p in preds] == [p.answer for p in apreds] == list(CAPITALS.values())


def test_reruns_are_free_and_samples_stay_distinct(server, tmp_path) -> None:
    cache = ac.Cache(tmp_path / "lm-cache.sqlite")
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=as_lm(program(server, tmp_path, cache=cache, seed=7))):
        first = predict(question="Capital of France?")
        again = predict(question="Capital of France?")  # DSPy's cache: the engine is not called
        assert len(server.requests) == 6
        other = predict(question="Capital of France?", config={"rollout_id": 1, "temperature": 1.0})
    assert first.answer == again.answer == other.answer == "Paris"
    seeds = [r.get("seed") for r in server.requests]
    assert len(seeds) == 12 and len(set(seeds[:3])) == 3  # the generator's 3 samples: 3 distinct requests
    assert not set(seeds[:6]) & set(seeds[6:])  # another rollout: a new sample of every inner call
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    lm = as_lm(program(server, tmp_path, cache=cache, seed=7))  # a new process: only the program's cache
    with dspy.context(lm=lm):
        predict(question="Capital of France?")
        predict(question="Capital of France?", config={"rollout_id": 1, "temperature": 1.0})
    assert len(server.requests) == 12  # both rollouts again, every inner call from the program's cache
    assert prediction_of(lm.history[-1]["response"]).usage.cache_hits == 6


def test_a_failed_architecture_is_a_dspy_lm_error(tmp_path) -> None:
    from archon_compile.testing import Fault

    with FakeOpenAIServer(lambda body: Fault(status=400)) as down:
        lm = as_lm(program(down, tmp_path))
        with (
            dspy.context(lm=lm),
            dspy.track_usage() as tracker,
            pytest.raises(dspy.LMError, match="the architecture failed"),
        ):
            dspy.Predict("question -> answer")(question="Capital of France?")
    assert tracker.get_total_tokens()["archon/gcrf"]["failed_calls"] == 3  # what the query paid


def test_import_archon_compile_does_not_import_dspy() -> None:
    import subprocess
    import sys

    code = "import sys, archon_compile; assert 'dspy' not in sys.modules; import archon_compile.dspy"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_rollouts_count_repeats_within_a_bounded_memory() -> None:
    from archon_compile.dspy.rollouts import Rollouts
    from archon_compile.lm.base import Message

    base = ac.load("single-model", lm="openai/x", cache=False, seed=5)
    rollouts = Rollouts(base, limit=2)
    ask = [Message(role="user", content=q) for q in ("a", "b", "c")]
    first, second = rollouts.program_for([ask[0]]), rollouts.program_for([ask[0]])
    assert first is base and second.seed != base.seed and second.runtime is base.runtime
    assert rollouts.program_for([ask[0]]).seed not in (base.seed, second.seed)
    rollouts.program_for([ask[1]])
    rollouts.program_for([ask[2]])  # "a" is forgotten: it counts from sample 0 again
    assert rollouts.program_for([ask[0]]) is base


def test_the_overhead_benchmark_runs_and_pairs_its_timings() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import dspy_overhead

    direct, through = dspy_overhead.run(queries=2, latency_s=0.0)
    assert len(direct) == len(through) == 2 and min(direct + through) > 0


def test_requests_the_architecture_cannot_take_are_refused_clearly() -> None:
    from dspy import lm15

    from archon_compile.dspy.engine import lm15_messages

    ok = lm15.Request(model="archon/x", system="Be brief.", messages=(lm15.Message.user("Hi"),))
    assert [(m.role, m.content) for m in lm15_messages(ok)] == [("system", "Be brief."), ("user", "Hi")]
    image = lm15.Message.user(
        [lm15.TextPart("What is this?"), lm15.ImagePart(url="https://example.com/a.png")]
    )
    with pytest.raises(lm15.UnsupportedFeatureError, match="text only"):
        lm15_messages(lm15.Request(model="archon/x", messages=(image,)))
    tool = lm15.FunctionTool(name="lookup", description="Look up.", parameters={"type": "object"})
    with pytest.raises(lm15.UnsupportedFeatureError, match="no native tools"):
        lm15_messages(lm15.Request(model="archon/x", messages=(lm15.Message.user("Hi"),), tools=(tool,)))

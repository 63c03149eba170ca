"""Runtime hardening: batches never lose answers, failed queries keep what they paid, a failed later
layer falls back to the best remaining candidate, calls per query are capped, spec fields are strict."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archon_compile as ac
from archon_compile.limits import DEFAULT_MAX_CALLS_PER_QUERY
from archon_compile.lm.base import LMError, LMRequest
from archon_compile.spec import ArchitectureSpec


def spec(*layers: list[dict]) -> ArchitectureSpec:
    return ArchitectureSpec.model_validate({"name": "t", "layers": list(layers)})


def gen(model: str = "m", samples: int = 1, **kw: object) -> dict:
    return {"type": "generator", "model": model, "samples": samples, **kw}


def fuser(model: str = "f") -> dict:
    return {"type": "fuser", "model": model}


def by_sample(request: LMRequest) -> str:
    return f"{request.model} sample {request.sample_index}"


# -- batches ----------------------------------------------------------------------------------------


def test_one_bad_query_does_not_lose_the_batch():
    def answer(request: LMRequest) -> str:
        if "explode" in request.messages[-1].content:
            raise RuntimeError("a backend bug")
        return "fine"

    s = spec([gen("m", 2)], [{"type": "voter", "top_k": 1}])
    program = ac.Program(s, lms={"*": ac.ScriptedLM(answer)}, cache=False)
    preds = program.batch(["ok", "bad \ud800 x", "explode", "also ok"])
    assert [p.response for p in preds] == ["fine", "", "", "fine"]
    assert [p.error is None for p in preds] == [True, False, False, True]
    assert "not valid Unicode" in (preds[1].error or "")
    assert "unexpected error: RuntimeError: a backend bug" in (preds[2].error or "")
    json.dumps([p.model_dump(mode="json") for p in preds])  # every prediction stays serialisable


def test_a_lone_surrogate_is_a_clear_bad_query():
    program = ac.Program(spec([gen()]), lms={"*": ac.ScriptedLM(by_sample)}, cache=False)
    with pytest.raises(ac.BadQuery, match="message 0: not valid Unicode text"):
        program("bad \ud800")


# -- failed queries keep their usage and trace ------------------------------------------------------


def test_a_failed_query_keeps_the_usage_and_trace_it_paid_for():
    lm = ac.ScriptedLM(lambda r: "   ", price_per_token=None)  # blank answers: paid, but unusable
    program = ac.Program(spec([gen("m", 2)], [fuser("m")]), lms={"*": lm}, cache=False)
    with pytest.raises(ac.QueryFailed, match="no usable sample") as info:
        program("q")
    # two samples, each tried once more after the unusable answer (parse_retries=1)
    assert info.value.usage.calls == 4 and lm.calls == 4
    assert len([r for r in info.value.trace if r.lm_call]) == 4
    [pred] = program.batch(["q"])
    assert pred.error and pred.usage.calls == 4 and len(pred.trace) == 4


def test_unexpected_errors_in_a_batch_keep_the_usage_of_the_calls_that_succeeded():
    def answer(request: LMRequest) -> str:
        if request.model == "boom":
            raise RuntimeError("kaput")
        return "ok"

    program = ac.Program(
        spec([gen("good", 3)], [fuser("boom")]), lms={"*": ac.ScriptedLM(answer)}, cache=False
    )
    [pred] = program.batch(["q"])
    assert pred.error and "RuntimeError: kaput" in pred.error
    assert pred.usage.calls == 3


# -- a query fails only when no candidate is left ---------------------------------------------------


def _failing_fuser(request: LMRequest) -> str | LMError:
    if request.model == "f":
        return LMError("503 upstream down", retryable=False, status=503)
    if "Rank the" in "\n".join(m.content for m in request.messages):
        return "[3] > [1] > [2]"
    return by_sample(request)


def test_a_failed_final_fuser_falls_back_to_the_best_ranked_candidate():
    s = spec([gen("m", 3)], [{"type": "ranker", "model": "r", "top_k": 3}], [fuser("f")])
    pred = ac.Program(s, lms={"*": ac.ScriptedLM(_failing_fuser)}, cache=False)("q")
    assert pred.error is None
    assert pred.response == "m sample 2", "the ranker's first choice ([3]) is the best remaining candidate"
    [note] = [r for r in pred.trace if r.fallback and "best remaining candidate" in r.fallback]
    assert note.component == "L2" and not note.lm_call
    assert "L0.C0#2" in (note.fallback or "") and "503" in (note.fallback or "")
    assert pred.usage.failed_calls == 1 and pred.usage.calls == 4


def test_without_a_ranker_the_first_remaining_candidate_answers():
    s = spec([gen("m", 2)], [fuser("f")])
    pred = ac.Program(s, lms={"*": ac.ScriptedLM(_failing_fuser)}, cache=False)("q")
    assert pred.response == "m sample 0"
    assert any(r.fallback and "L0.C0#0" in r.fallback for r in pred.trace)


def test_a_query_still_fails_when_the_first_layer_leaves_nothing():
    lm = ac.ScriptedLM(lambda r: LMError("boom", retryable=False))
    with pytest.raises(ac.QueryFailed, match="boom"):
        ac.Program(spec([gen("m", 2)], [fuser("f")]), lms={"*": lm}, cache=False)("q")


# -- calls per query are capped ---------------------------------------------------------------------


def test_an_architecture_over_the_call_cap_is_refused_before_any_call(tmp_path):
    lm = ac.ScriptedLM(by_sample)
    big = spec([gen("a", 600), gen("b", 600)], [{"type": "voter", "top_k": 1}])
    assert big.calls_per_query() > DEFAULT_MAX_CALLS_PER_QUERY
    with pytest.raises(ac.CallCapExceeded, match=r"1,200 LM calls per query.*cap of 1,000"):
        ac.Program(big, lms={"*": lm}, cache=False)
    small = spec([gen("a", 5)], [fuser("a")])
    with pytest.raises(ac.CallCapExceeded, match="6 LM calls per query"):
        ac.Program(small, lms={"*": lm}, cache=False, max_calls_per_query=5)
    assert lm.calls == 0
    assert ac.Program(small, lms={"*": lm}, cache=False, max_calls_per_query=6)("q").response
    path = tmp_path / "big.json"
    path.write_text(big.to_json())
    assert ac.load(path, lms={"*": lm}, cache=False, max_calls_per_query=1200).max_calls_per_query == 1200


# -- strict spec types and bounds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "field"),
    [
        (gen(samples=True), "samples"),  # type: ignore[arg-type]
        (gen(samples="3"), "samples"),  # type: ignore[arg-type]
        (gen(samples=2.0), "samples"),  # type: ignore[arg-type]
        (gen(samples=10**9), "samples"),
        (gen(max_tokens=1e23), "max_tokens"),
        (gen(max_tokens=10**7), "max_tokens"),
        (gen(model=""), "model"),
        (gen(temperature=True), "temperature"),
        (gen(api_base=""), "api_base"),
    ],
)
def test_spec_fields_are_strict_and_bounded(component: dict, field: str):
    with pytest.raises(ac.SpecError, match=rf"layer 0, component 0 \(generator\): {field}"):
        ArchitectureSpec.from_data({"layers": [[component]]})


@pytest.mark.parametrize(
    "layers",
    [
        [[gen()], [{"type": "ranker", "model": "r", "top_k": 10**6}]],
        [[gen()], [{"type": "voter", "top_k": True}]],
        [[gen()], [{"type": "fuser", "model": "f", "use_critiques": "yes"}]],
        [[gen()], [{"type": "fuser", "model": "f", "max_inputs": 10**6}]],
        [[gen()] * 101],
        [[gen()], *[[fuser()]] * 100],
    ],
)
def test_counts_and_flags_are_bounded_and_typed(layers: list):
    with pytest.raises(ac.SpecError):
        ArchitectureSpec.from_data({"layers": layers})


def test_integers_and_floats_where_they_belong_still_load():
    s = ArchitectureSpec.from_data({"layers": [[gen(samples=1, temperature=1, max_tokens=2048)]]})
    assert s.layers[0][0].temperature == 1.0  # an integer temperature is a float


# -- properties -------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
FIELDS = st.sampled_from(["type", "model", "samples", "max_tokens", "top_k", "temperature", "api_base"])
COMPONENT = st.dictionaries(FIELDS, JSON | st.sampled_from(["generator", "fuser", "ranker", "m"]), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        JSON,
        st.builds(lambda layers: {"layers": layers}, st.lists(st.lists(COMPONENT, max_size=3), max_size=3)),
    )
)
def test_any_data_either_loads_or_raises_a_spec_error(data: object):
    try:
        spec = ArchitectureSpec.from_data(data)
    except ac.SpecError:
        return
    assert spec.calls_per_query() >= 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=6))
def test_a_batch_always_returns_one_prediction_per_query(queries: list[str]):
    program = ac.Program(spec([gen("m", 2)], [fuser("f")]), lms={"*": ac.ScriptedLM(by_sample)}, cache=False)
    preds = program.batch(queries)
    assert len(preds) == len(queries)
    for query, pred in zip(queries, preds, strict=True):
        surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in query)
        assert (pred.error is not None) == surrogate and (pred.response == "f sample 0") != surrogate

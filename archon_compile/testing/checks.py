"""Ready-made property checks every signature and component must pass (built-ins and plugins alike).

    from archon_compile.testing.checks import check_component, check_parser

    def test_my_parser():
        check_parser(MySignature)

    def test_my_component():
        check_component(MySpec(model="m"))

Each check runs hypothesis itself and raises (with the smallest failing example) when a property fails:

- `check_parser`: for any reply, `parse` returns a `Parsed` holding a valid `Outputs` value and never
  raises; a fallback (`ok=False`) always says why in `note`.
- `check_component`, for any layer state and any replies: the component returns a state or raises
  `QueryFailed` naming its node; it makes no more LM calls than its contract declares and leaves no
  more candidates; a candidate keeps its text, and (unless the component adds critiques) its critique,
  under its origin; a component that does not make candidates never invents one; when every LM call
  fails it degrades as documented (a recorded fallback, or `QueryFailed`); the same seed and replies
  give the same result and trace.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "archon_compile.testing.checks needs hypothesis: pip install 'archon-compile[testing]'"
    ) from exc

from archon_compile.components.base import Component, QueryFailed, RunContext
from archon_compile.contract import ComponentSpecBase
from archon_compile.lm.base import LMError, LMRequest
from archon_compile.lm.resolve import Backends
from archon_compile.lm.scripted import ScriptedLM
from archon_compile.parsed import Parsed
from archon_compile.program import run_sync
from archon_compile.registry import component_class
from archon_compile.runtime.calls import RetryPolicy, Runtime
from archon_compile.runtime.trace import CallRecord, Trace
from archon_compile.state import LayerState
from archon_compile.testing.strategies import inputs_for, layer_states, lm_replies

NO_WAIT = RetryPolicy(max_retries=0, base_delay_s=0, max_delay_s=0, timeout_s=30)


def _settings(max_examples: int) -> settings:
    """Big replies are slow to draw on purpose; one bug reported (the smallest example), no database."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        database=None,
        report_multiple_bugs=False,
    )


def check_parser(
    signature: Any,
    inputs: st.SearchStrategy[Any] | None = None,
    replies: st.SearchStrategy[str] | None = None,
    max_examples: int = 200,
) -> None:
    """`signature.parse` is total and well typed, and records why it fell back."""

    @_settings(max_examples)
    @given(args=inputs or inputs_for(signature), text=replies or lm_replies())
    def parser_is_total(args: Any, text: str) -> None:
        try:
            out = signature.parse(text, args)
        except Exception as exc:
            raise AssertionError(f"{signature.__name__}.parse raised {type(exc).__name__}: {exc}") from exc
        assert isinstance(out, Parsed), (
            f"{signature.__name__}.parse returned {type(out).__name__}, not Parsed"
        )
        assert isinstance(out.value, signature.Outputs), (
            f"{signature.__name__}.parse value is not its Outputs"
        )
        signature.Outputs.model_validate(out.value.model_dump())
        assert out.ok or (isinstance(out.note, str) and out.note.strip()), (
            f"{signature.__name__}.parse fell back without a note saying why"
        )

    parser_is_total()


class Run:
    """One run of a component on a state: what it returned (or the QueryFailed it raised) and its trace."""

    def __init__(self, result: LayerState | QueryFailed, records: list[CallRecord]) -> None:
        self.result = result
        self.records = records

    @property
    def lm_calls(self) -> list[CallRecord]:
        return [r for r in self.records if r.lm_call]

    def key(self) -> tuple[Any, ...]:
        """What must be identical between two runs with the same seed (latencies aside)."""
        records = sorted(r.model_copy(update={"latency_s": 0.0}).model_dump_json() for r in self.records)
        result = self.result.model_dump_json() if isinstance(self.result, LayerState) else str(self.result)
        return result, tuple(records)


def run_component(
    spec: ComponentSpecBase, state: LayerState, lm: Any, seed: int | None = 0, retry: RetryPolicy = NO_WAIT
) -> Run:
    """Run the component of `spec` alone (node `L1.C0`) on `state`, every model answered by `lm`."""
    component: Component[Any] = component_class(spec.type)(spec, "L1.C0", 0)
    runtime = Runtime(Backends({"*": lm}), None, retry, concurrency=8)
    trace = Trace()

    async def go() -> LayerState | QueryFailed:
        try:
            return await component.run(state, RunContext(runtime=runtime, trace=trace, seed=seed))
        except QueryFailed as exc:
            return exc

    return Run(run_sync(go()), trace.records)


def replying(replies: list[str]) -> Callable[[LMRequest], str]:
    """A deterministic LM: the reply is chosen by a hash of the request (prompt, sample and attempt)."""

    def respond(request: LMRequest) -> str:
        prompt = "\n".join(m.content for m in request.messages)
        key = zlib.crc32(
            f"{prompt}#{request.sample_index}#{request.attempt}".encode("utf-8", "surrogatepass")
        )
        return replies[key % len(replies)]

    return respond


def check_component(
    spec: ComponentSpecBase,
    states: st.SearchStrategy[LayerState] | None = None,
    replies: st.SearchStrategy[str] | None = None,
    max_examples: int = 60,
) -> None:
    """The component of `spec` keeps its contract on any state and any replies (module docstring)."""
    cap = spec.input_cap()
    states = states or layer_states(1, min(8, cap) if cap else 8)
    retry = NO_WAIT.model_copy(update={"parse_retries": 1})

    @_settings(max_examples)
    @given(state=states, answers=st.lists(replies or lm_replies(), min_size=1, max_size=4))
    def keeps_its_contract(state: LayerState, answers: list[str]) -> None:
        run = run_component(spec, state, ScriptedLM(replying(answers)), retry=retry)
        _check_run(spec, state, run, attempts=1 + retry.parse_retries)
        again = run_component(spec, state, ScriptedLM(replying(answers)), retry=retry)
        assert again.key() == run.key(), f"{spec.type}: two runs with the same seed and replies differ"

    @_settings(max(10, max_examples // 3))
    @given(state=states)
    def degrades_when_every_call_fails(state: LayerState) -> None:
        run = run_component(spec, state, ScriptedLM(lambda r: LMError("injected failure", retryable=False)))
        _check_run(spec, state, run, attempts=1)
        failed = [r for r in run.records if r.error]
        assert len(failed) == len(run.lm_calls), f"{spec.type}: a failed call is missing from the trace"
        if failed and isinstance(run.result, LayerState):
            assert any(r.fallback for r in run.records), (
                f"{spec.type}: calls failed and the component went on without recording its fallback"
            )

    keeps_its_contract()
    degrades_when_every_call_fails()


def _check_run(spec: ComponentSpecBase, state: LayerState, run: Run, attempts: int) -> None:
    n = len(state.candidates)
    first = [r for r in run.lm_calls if r.attempt == 0]
    assert len(first) <= spec.calls(n), (
        f"{spec.type}: made {len(first)} LM calls for {n} candidates; its contract declares {spec.calls(n)}"
    )
    assert len(run.lm_calls) <= attempts * spec.calls(n), f"{spec.type}: more retries than the policy allows"
    for r in run.records:
        if not r.parse_ok and r.attempt == attempts - 1:
            assert r.fallback, f"{spec.type}: an unusable reply was used without a recorded fallback"
    if isinstance(run.result, QueryFailed):
        assert "L1.C0" in str(run.result), f"{spec.type}: QueryFailed does not name the node: {run.result}"
        return
    out = run.result.candidates
    assert len(out) <= spec.leaves(n), (
        f"{spec.type}: left {len(out)} candidates; its contract says {spec.leaves(n)}"
    )
    origins = [c.origin for c in out]
    assert len(set(origins)) == len(origins), f"{spec.type}: a candidate was duplicated: {origins}"
    before = {c.origin: c for c in state.candidates}
    for c in out:
        old = before.get(c.origin)
        if old is None:
            assert spec.makes_candidates, (
                f"{spec.type}: invented candidate {c.origin} without making candidates"
            )
            continue
        assert c.text == old.text, f"{spec.type}: candidate {c.origin} changed its text under the same origin"
        if not spec.adds_critiques:
            assert c.critique == old.critique, (
                f"{spec.type}: candidate {c.origin} lost or swapped its critique"
            )
    assert run.result.conversation == state.conversation, f"{spec.type}: the conversation changed"

"""`as_lm`: a compiled architecture as a `dspy.LM`, on DSPy 3.4's engine contract."""

from __future__ import annotations

import dspy

from archon_compile.dspy.engine import ArchitectureEngine, AsyncArchitectureEngine, Rollouts
from archon_compile.program import Program


def as_lm(program: Program, *, cache: bool = True, model: str | None = None) -> dspy.LM:
    """A `dspy.LM` whose completions are the architecture's final answers.

    `model` names it in DSPy's history and usage tracking (default `archon/<program name>`).
    `cache=True` keeps DSPy's response cache (keyed on DSPy's messages, settings and `rollout_id`) in
    front of the architecture; the program's own cache sits below, per inner call and sample. A request
    that reaches the engine again is a new sample of the architecture (see `Rollouts`). DSPy does
    not retry (`num_retries=0`): the program's RetryPolicy already retries each inner call, so a failed
    query is final. Sampling settings DSPy sends (temperature, max_tokens) are ignored: the architecture
    fixes its own.
    """
    if not isinstance(program, Program):
        raise TypeError(f"as_lm takes an archon_compile Program (ac.load(...)), not {type(program).__name__}")
    rollouts = Rollouts(program)
    return dspy.LM(
        model or f"archon/{program.name or 'architecture'}",
        engine=ArchitectureEngine(rollouts),
        async_engine=AsyncArchitectureEngine(rollouts),
        cache=cache,
        num_retries=0,
    )

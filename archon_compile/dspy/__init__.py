"""DSPy interop (the `dspy` extra): compiled architectures inside DSPy programs, and back.

    dspy.configure(lm=archon_compile.dspy.as_lm(ac.load("compiled/x.json")))
    dspy.ChainOfThought("question -> answer")(question="...")

- `as_lm(program)`: a `dspy.LM` on DSPy 3.4's engine contract; every DSPy module runs on the
  architecture, whose generators and fusers see DSPy's whole conversation (format instructions
  included), so the final answer parses with DSPy's adapters.
- `as_module(program, signature)`: a `dspy.Module` returning a `dspy.Prediction` with the trace.
- `as_signature(ac_signature)`: an equivalent `dspy.Signature`.
- `from_dspy(lm)`: a `dspy.LM` as the backend of any component (`lms={"*": from_dspy(lm)}`).
- `prediction_of(response)`: the architecture's answer, usage and trace behind a Response of `as_lm`.

`import archon_compile` never imports dspy; importing this module does.
"""

from archon_compile.dspy.backend import DSPyBackend, from_dspy
from archon_compile.dspy.engine import ArchitectureEngine, AsyncArchitectureEngine, prediction_of
from archon_compile.dspy.lm import as_lm
from archon_compile.dspy.module import ArchitectureModule, as_module
from archon_compile.dspy.signature import as_signature

__all__ = [
    "ArchitectureEngine",
    "ArchitectureModule",
    "AsyncArchitectureEngine",
    "DSPyBackend",
    "as_lm",
    "as_module",
    "as_signature",
    "from_dspy",
    "prediction_of",
]

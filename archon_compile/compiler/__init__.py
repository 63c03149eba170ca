"""The compiler: search ARCHON architectures with Optuna and freeze the best one.

result = ac.compile(task="capitals", models=["local"], trials=4)
result.save("compiled/capitals.json")   # the artifact, and compiled/capitals.report/
"""

from archon_compile.compiler.budget import Budget
from archon_compile.compiler.objective import Objective
from archon_compile.compiler.report import Report
from archon_compile.compiler.result import CompileResult
from archon_compile.compiler.search import CompileError, TrialEvent, compile
from archon_compile.compiler.space import ArchonSpace, IntRange
from archon_compile.compiler.space_layers import SpaceOption

__all__ = [
    "ArchonSpace",
    "Budget",
    "CompileError",
    "CompileResult",
    "IntRange",
    "Objective",
    "Report",
    "SpaceOption",
    "TrialEvent",
    "compile",
]

"""archon-compile: compile inference-time architectures (ARCHON) for LLMs.

import archon_compile as ac
program = ac.load("programs/archon-quickstart.json")
pred = program("What causes tides?")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archon_compile import tasks
    from archon_compile.artifact import Artifact, ArtifactError
    from archon_compile.artifact import freeze as freeze
    from archon_compile.artifact import read as read
    from archon_compile.artifact import write as write
    from archon_compile.compiler import (
        ArchonSpace,
        Budget,
        CompileError,
        CompileResult,
        Objective,
        SpaceOption,
        compile,
    )
    from archon_compile.components import QueryFailed, register_normaliser
    from archon_compile.errors import ArchonError, SpecError
    from archon_compile.evaluation import EvalReport, evaluate
    from archon_compile.evaluation.judge import JudgeRequired
    from archon_compile.evaluation.log import ResultsFileError
    from archon_compile.importer import ArchonImportError
    from archon_compile.lm.base import LM, BackendError, LMError, LMRequest, LMResponse, Message
    from archon_compile.lm.gguf_parts import ModelAssemblyError
    from archon_compile.lm.local import LocalModelUnavailable
    from archon_compile.lm.scripted import ScriptedLM
    from archon_compile.plugins import register_component
    from archon_compile.probe import EndpointError
    from archon_compile.program import BadQuery, CallCapExceeded, Prediction, Program
    from archon_compile.registry import RegistryError
    from archon_compile.rules import ConstructionError
    from archon_compile.runtime.cache import Cache
    from archon_compile.runtime.calls import CallFailed, RetryPolicy
    from archon_compile.runtime.trace import CallRecord, Usage
    from archon_compile.sandbox import SandboxUnavailable
    from archon_compile.spec import ArchitectureSpec
    from archon_compile.tasks.base import Item, Task
    from archon_compile.tasks.data import DataError, DatasetUnavailable
    from archon_compile.tasks.registry import TaskError

# Every public name is imported on first use (PEP 562): `archon-compile --help` and an app that only runs
# an artifact should not pay for the compiler (Optuna), the tasks, or pydantic models they never touch.
_EXPORTS = {
    "tasks": "archon_compile.tasks",
    **dict.fromkeys(("Artifact", "ArtifactError", "freeze", "read", "write"), "archon_compile.artifact"),
    **dict.fromkeys(
        ("ArchonSpace", "Budget", "CompileError", "CompileResult", "Objective", "SpaceOption", "compile"),
        "archon_compile.compiler",
    ),
    **dict.fromkeys(("QueryFailed", "register_normaliser"), "archon_compile.components"),
    **dict.fromkeys(("ArchonError", "SpecError"), "archon_compile.errors"),
    **dict.fromkeys(("EvalReport", "evaluate"), "archon_compile.evaluation"),
    "JudgeRequired": "archon_compile.evaluation.judge",
    "ResultsFileError": "archon_compile.evaluation.log",
    "ArchonImportError": "archon_compile.importer",
    **dict.fromkeys(
        ("LM", "BackendError", "LMError", "LMRequest", "LMResponse", "Message"), "archon_compile.lm.base"
    ),
    "ModelAssemblyError": "archon_compile.lm.gguf_parts",
    "LocalModelUnavailable": "archon_compile.lm.local",
    "ScriptedLM": "archon_compile.lm.scripted",
    "register_component": "archon_compile.plugins",
    "EndpointError": "archon_compile.probe",
    **dict.fromkeys(("BadQuery", "CallCapExceeded", "Prediction", "Program"), "archon_compile.program"),
    "RegistryError": "archon_compile.registry",
    "ConstructionError": "archon_compile.rules",
    "Cache": "archon_compile.runtime.cache",
    **dict.fromkeys(("CallFailed", "RetryPolicy"), "archon_compile.runtime.calls"),
    **dict.fromkeys(("CallRecord", "Usage"), "archon_compile.runtime.trace"),
    "SandboxUnavailable": "archon_compile.sandbox",
    "ArchitectureSpec": "archon_compile.spec",
    **dict.fromkeys(("Item", "Task"), "archon_compile.tasks.base"),
    **dict.fromkeys(("DataError", "DatasetUnavailable"), "archon_compile.tasks.data"),
    "TaskError": "archon_compile.tasks.registry",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'archon_compile' has no attribute {name!r}")
    import importlib

    loaded = importlib.import_module(module)
    value = loaded if module.endswith(f".{name}") else getattr(loaded, name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


__version__ = "0.1.0"


def _locate(path: str | Path) -> Path:
    """A file path, or the name of a reference program shipped in `archon_compile.programs`."""
    p = Path(path)
    if p.exists():
        return p
    shipped = Path(__file__).resolve().parent.parent / "programs"
    from archon_compile import programs

    for folder in (Path(programs.__file__).parent, shipped):
        for candidate in (folder / p.name, folder / f"{p.name}.json", folder / f"{p.name}.yaml"):
            if candidate.exists():
                return candidate
    from archon_compile.errors import SpecError

    raise SpecError(
        f"{path}: no such file, and no reference program of that name (see `archon-compile programs`)"
    )


def load(path: str | Path, **options: Any) -> Program:
    """Load a spec (JSON/YAML) or a compiled artifact as a runnable Program.

    Options go to Program: `lm=` / `api_base=` retarget every model, `lms=` maps model strings to LM
    instances, `cache=`, `concurrency=`, `retry=`, `seed=`, `max_calls_per_query=`.
    """
    from archon_compile.artifact import Artifact, read
    from archon_compile.program import Program

    loaded = read(_locate(path))
    if isinstance(loaded, Artifact):
        search = loaded.provenance.search
        return Program(loaded.architecture, provenance={"search": search} if search else None, **options)
    return Program(loaded, **options)


def save(program: Program, path: str | Path) -> Path:
    """Freeze a program as a JSON artifact (schema version, signatures, provenance, sha256)."""
    from archon_compile.artifact import freeze, write

    return write(freeze(program.spec, search=program.provenance.get("search")), path)


__all__ = [
    "LM",
    "ArchitectureSpec",
    "ArchonError",
    "ArchonImportError",
    "ArchonSpace",
    "Artifact",
    "ArtifactError",
    "BackendError",
    "BadQuery",
    "Budget",
    "Cache",
    "CallCapExceeded",
    "CallFailed",
    "CallRecord",
    "CompileError",
    "CompileResult",
    "ConstructionError",
    "DataError",
    "DatasetUnavailable",
    "EndpointError",
    "EvalReport",
    "Item",
    "JudgeRequired",
    "LMError",
    "LMRequest",
    "LMResponse",
    "LocalModelUnavailable",
    "Message",
    "ModelAssemblyError",
    "Objective",
    "Prediction",
    "Program",
    "QueryFailed",
    "RegistryError",
    "ResultsFileError",
    "RetryPolicy",
    "SandboxUnavailable",
    "ScriptedLM",
    "SpaceOption",
    "SpecError",
    "Task",
    "TaskError",
    "Usage",
    "compile",
    "evaluate",
    "load",
    "register_component",
    "register_normaliser",
    "save",
    "tasks",
]

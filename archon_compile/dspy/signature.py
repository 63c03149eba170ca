"""`as_signature`: this project's signatures as equivalent `dspy.Signature` classes."""

from __future__ import annotations

from typing import Any

import dspy

from archon_compile.signatures.base import Signature


def as_signature(signature: type[Signature[Any, Any]]) -> type[dspy.Signature]:
    """The same instructions, field names and (pydantic) types, as a `dspy.Signature`.

    What does not carry over: this project's own prompt layout and total parser (DSPy's adapter
    renders and parses instead), and field defaults (every DSPy input is passed explicitly).
    """
    if not (isinstance(signature, type) and issubclass(signature, Signature)):
        raise TypeError(f"as_signature takes an archon_compile signature class, not {signature!r}")
    fields: dict[str, tuple[Any, Any]] = {}
    for name, info in signature.Inputs.model_fields.items():
        fields[name] = (info.annotation, dspy.InputField(desc=info.description or ""))
    for name, info in signature.Outputs.model_fields.items():
        fields[name] = (info.annotation, dspy.OutputField(desc=info.description or ""))
    return dspy.make_signature(fields, instructions=signature.instructions, signature_name=signature.__name__)

"""Typed signatures of every component, importable as `archon_compile.signatures`.

A signature is DSPy's idea in this project's own code: instructions plus typed (pydantic) input and
output fields. Each one also owns its prompt rendering and its parser, so parsers can be property-tested
on their own and every component shares one base class.
"""

from archon_compile.signatures.base import Signature, SignatureInfo
from archon_compile.signatures.critique import CritiqueSignature
from archon_compile.signatures.fuse import Fuse
from archon_compile.signatures.generate import Generate
from archon_compile.signatures.rank import Rank
from archon_compile.signatures.unit_tests import EvaluateUnitTests, GenerateAssertions, GenerateUnitTests
from archon_compile.signatures.verify import Verify, VerifyReasoning
from archon_compile.signatures.vote import Vote

ALL: tuple[type[Signature], ...] = (
    Generate,
    Fuse,
    CritiqueSignature,
    Rank,
    VerifyReasoning,
    Verify,
    GenerateUnitTests,
    GenerateAssertions,
    EvaluateUnitTests,
    Vote,
)

__all__ = [
    "ALL",
    "CritiqueSignature",
    "EvaluateUnitTests",
    "Fuse",
    "Generate",
    "GenerateAssertions",
    "GenerateUnitTests",
    "Rank",
    "Signature",
    "SignatureInfo",
    "Verify",
    "VerifyReasoning",
    "Vote",
]

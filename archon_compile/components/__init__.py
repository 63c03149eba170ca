"""Components: one base class and one module per component (each spec names its class: `spec.py`)."""

from archon_compile.components.base import Component, QueryFailed, RunContext
from archon_compile.components.critic import Critic
from archon_compile.components.fuser import Fuser
from archon_compile.components.generator import Generator
from archon_compile.components.ranker import Ranker
from archon_compile.components.unit_tests import UnitTestEvaluator, UnitTestGenerator
from archon_compile.components.verifier import Verifier
from archon_compile.components.voter import NORMALISERS, Voter, register_normaliser

__all__ = [
    "NORMALISERS",
    "Component",
    "Critic",
    "Fuser",
    "Generator",
    "QueryFailed",
    "Ranker",
    "RunContext",
    "UnitTestEvaluator",
    "UnitTestGenerator",
    "Verifier",
    "Voter",
    "register_normaliser",
]

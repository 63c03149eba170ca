"""Components: one base class, one module per component, and the registry the program builds from."""

from archon_compile.components.base import Component, QueryFailed, RunContext
from archon_compile.components.critic import Critic
from archon_compile.components.fuser import Fuser
from archon_compile.components.generator import Generator
from archon_compile.components.ranker import Ranker
from archon_compile.components.unit_tests import UnitTestEvaluator, UnitTestGenerator
from archon_compile.components.verifier import Verifier
from archon_compile.components.voter import NORMALISERS, Voter, register_normaliser

REGISTRY: dict[str, type[Component]] = {  # type: ignore[type-arg]
    "generator": Generator,
    "fuser": Fuser,
    "critic": Critic,
    "ranker": Ranker,
    "voter": Voter,
    "verifier": Verifier,
    "unit_test_generator": UnitTestGenerator,
    "unit_test_evaluator": UnitTestEvaluator,
}

__all__ = [
    "NORMALISERS",
    "REGISTRY",
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

"""The public testing kit on the real components: every built-in signature and component (the voter
too) passes the same checks a plugin must pass, and the kit finds a planted parser bug."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, settings

from archon_compile import signatures
from archon_compile.plugins import Parsed, Signature
from archon_compile.signatures.rank import Ranking, RankInputs
from archon_compile.spec import (
    ArchitectureSpec,
    CriticSpec,
    FuserSpec,
    GeneratorSpec,
    RankerSpec,
    UnitTestEvaluatorSpec,
    UnitTestGeneratorSpec,
    VerifierSpec,
    VoterSpec,
)
from archon_compile.testing.checks import check_component, check_parser
from archon_compile.testing.strategies import architecture_specs

PARSERS = [s for s in signatures.ALL if s is not signatures.Vote]  # Vote makes no LM call: no parser
BUILTINS = [
    GeneratorSpec(model="m", samples=3),
    FuserSpec(model="m", samples=2, use_critiques=True),
    CriticSpec(model="m"),
    RankerSpec(model="m", top_k=3, use_critiques=True),
    VoterSpec(top_k=2),
    VerifierSpec(model="m", use_critiques=True),
    UnitTestGeneratorSpec(model="m", num_tests=3),
    UnitTestEvaluatorSpec(model="m", top_k=2),
]


@pytest.mark.parametrize("signature", PARSERS, ids=lambda s: s.__name__)
def test_every_builtin_parser_passes_the_kit(signature):
    check_parser(signature, max_examples=100)


@pytest.mark.parametrize("spec", BUILTINS, ids=lambda s: s.type)
def test_every_builtin_component_passes_the_kit(spec):
    check_component(spec, max_examples=25)


@settings(max_examples=60, deadline=None)
@given(data=architecture_specs())
def test_kit_specs_are_valid(data):
    assert ArchitectureSpec.from_data(data).candidate_counts()[-1] == 1


class BuggyRank(Signature[RankInputs, Ranking]):
    """A planted bug: the first identifier is trusted, so an out-of-range index or none at all crashes."""

    Inputs = RankInputs
    Outputs = Ranking
    instructions = "Rank the responses, best first, as [2] > [1]."

    @classmethod
    def parse(cls, text: str, inputs: RankInputs) -> Parsed[Ranking]:
        first = int(re.search(r"\[(\d+)\]", text).group(1)) - 1  # type: ignore[union-attr]
        rest = [i for i in range(len(inputs.candidates)) if i != first]
        return Parsed(Ranking(order=[first, *rest]))


class FixedRank(BuggyRank):
    @classmethod
    def parse(cls, text: str, inputs: RankInputs) -> Parsed[Ranking]:
        n = len(inputs.candidates)
        found = re.search(r"\[(\d+)\]", text)
        first = int(found.group(1)) - 1 if found else -1
        if not 0 <= first < n:
            return Parsed(
                Ranking(order=list(range(n))), ok=False, note="no valid identifier; kept input order"
            )
        return Parsed(Ranking(order=[first, *(i for i in range(n) if i != first)]))


def test_the_kit_finds_a_planted_parser_bug_and_passes_the_fix():
    with pytest.raises(AssertionError, match=r"BuggyRank.parse raised (AttributeError|ValidationError)"):
        check_parser(BuggyRank, max_examples=100)
    check_parser(FixedRank, max_examples=100)


def test_hypothesis_is_needed_only_by_the_kit():
    """`archon_compile` and `archon_compile.testing` (the fake server) import without hypothesis."""
    code = "import sys, archon_compile, archon_compile.testing; sys.exit('hypothesis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

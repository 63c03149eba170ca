"""Property tests: parsers are total and well-typed, construction rules hold, artifacts round-trip.

Tampering, decided precisely: replacing any one character of a saved artifact either leaves the JSON
content identical (whitespace between tokens), and then it loads as before, or the file is refused:
with ArtifactError when it still parses as JSON, and with SpecError "not valid JSON" naming the line
when the change breaks the syntax (the file can then no longer say it is an artifact). It never loads
as something else.
"""

from __future__ import annotations

import json
import re
import string
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from archon_compile.signatures.critique import MISSING
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archon_compile as ac
from archon_compile import signatures
from archon_compile.components.voter import NORMALISERS, vote_order
from archon_compile.errors import SpecError
from archon_compile.lm.base import LMRequest, Message
from archon_compile.spec import ArchitectureSpec
from archon_compile.testing.strategies import architecture_specs, component

FIXTURES_OK = [HealthCheck.function_scoped_fixture]  # tmp_path is only written to, never read across examples
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=FIXTURES_OK)
FEW = settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES_OK)

CONV = [Message(role="user", content="What is 2 + 2?")]
NO_WAIT = ac.RetryPolicy(base_delay_s=0, max_delay_s=0)
# Text an LM might send back: arbitrary unicode, plus the tokens the parsers look for.
TOKENS = [
    "[1]",
    "[2]",
    "[3]",
    "[ 10 ]",
    "[0]",
    ">",
    "Strengths:",
    "Weaknesses:",
    "Response 2:",
    "[Correct]",
    "[Incorrect]",
    "[Passed]",
    "[failed]",
    "1.",
    "- ",
    "\n",
    " ",
    "#",
    "**",
]
LM_TEXT = st.one_of(st.text(), st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=5))).map("".join))
WORDS = (
    st.text(alphabet=string.ascii_letters + " ,", min_size=1, max_size=30)
    .map(str.strip)
    .filter(lambda s: bool(s) and not re.search(r"strength|weakness|response|candidate", s, re.I))
)


# -- parsers: total, well typed ------------------------------------------------------------------------

PARSE_CASES: dict[type[signatures.Signature], Any] = {}


def case(sig: type[signatures.Signature]):
    def deco(fn):
        PARSE_CASES[sig] = fn
        return fn

    return deco


@case(signatures.Generate)
def _generate(text: str, n: int) -> None:
    out = signatures.Generate.parse(text, signatures.Generate.Inputs(conversation=CONV))
    assert out.value.response == text.strip() and out.ok == bool(text.strip())


@case(signatures.Fuse)
def _fuse(text: str, n: int) -> None:
    out = signatures.Fuse.parse(text, signatures.Fuse.Inputs(conversation=CONV, candidates=["a"] * n))
    assert out.value.response == text.strip() and out.ok == bool(text.strip())


@case(signatures.VerifyReasoning)
def _reasoning(text: str, n: int) -> None:
    out = signatures.VerifyReasoning.parse(
        text, signatures.VerifyReasoning.Inputs(conversation=CONV, candidate="a")
    )
    assert out.value.response == text.strip()


@case(signatures.CritiqueSignature)
def _critique(text: str, n: int) -> None:
    inputs = signatures.CritiqueSignature.Inputs(conversation=CONV, candidates=["a"] * n)
    out = signatures.CritiqueSignature.parse(text, inputs)
    assert len(out.value.critiques) == n
    assert all(isinstance(c.strengths, str) and isinstance(c.weaknesses, str) for c in out.value.critiques)
    if MISSING not in text:
        assert out.ok == all(c.weaknesses != MISSING for c in out.value.critiques)


@case(signatures.Rank)
def _rank(text: str, n: int) -> None:
    out = signatures.Rank.parse(text, signatures.Rank.Inputs(conversation=CONV, candidates=["a"] * n))
    assert sorted(out.value.order) == list(range(n))


@case(signatures.Verify)
def _verify(text: str, n: int) -> None:
    out = signatures.Verify.parse(text, signatures.Verify.Inputs(conversation=CONV, candidate="a"))
    assert out.value.correct in (True, False, None) and out.ok == (out.value.correct is not None)


@case(signatures.GenerateUnitTests)
def _unit_tests(text: str, n: int) -> None:
    inputs = signatures.GenerateUnitTests.Inputs(conversation=CONV, num_tests=n)
    out = signatures.GenerateUnitTests.parse(text, inputs)
    assert len(out.value.tests) <= n and all(t.strip() and "\n" not in t for t in out.value.tests)
    assert out.ok == bool(out.value.tests)


@case(signatures.GenerateAssertions)
def _assertions(text: str, n: int) -> None:
    inputs = signatures.GenerateAssertions.Inputs(conversation=CONV, num_tests=n)
    out = signatures.GenerateAssertions.parse(text, inputs)
    assert len(out.value.tests) <= n and out.ok == bool(out.value.tests)
    for test in out.value.tests:
        compile(test, "<test>", "exec")  # every test counted compiles


@case(signatures.EvaluateUnitTests)
def _verdicts(text: str, n: int) -> None:
    tests = [f"t{i}" for i in range(n)]
    inputs = signatures.EvaluateUnitTests.Inputs(conversation=CONV, candidate="a", tests=tests)
    out = signatures.EvaluateUnitTests.parse(text, inputs)
    assert len(out.value.passed) == n and all(isinstance(p, bool) for p in out.value.passed)


def test_every_signature_that_parses_lm_output_is_covered():
    """A new signature must come with its property; Vote makes no LM call, so it has no parser."""
    assert set(PARSE_CASES) == set(signatures.ALL) - {signatures.Vote}


@SETTINGS
@given(sig=st.sampled_from(sorted(PARSE_CASES, key=lambda s: s.__name__)), text=LM_TEXT, n=st.integers(1, 12))
def test_parsers_never_raise_and_return_well_typed_values(sig, text, n):
    PARSE_CASES[sig](text, n)


@SETTINGS
@given(texts=st.lists(LM_TEXT, max_size=8), normaliser=st.sampled_from(sorted(NORMALISERS)))
def test_vote_order_is_a_permutation_for_any_answers(texts, normaliser):
    order = vote_order(texts, NORMALISERS[normaliser])
    assert sorted(order) == list(range(len(texts)))


# -- parsers: rendered well-formed outputs round-trip --------------------------------------------------


@SETTINGS
@given(
    order=st.integers(1, 15).flatmap(lambda n: st.permutations(list(range(n)))),
    sep=st.sampled_from([" > ", ">", ", ", "\n"]),
    preface=st.sampled_from(["", "Ranking: ", "Sure.\n"]),
)
def test_rank_round_trip(order, sep, preface):
    text = preface + sep.join(f"[{i + 1}]" for i in order)
    out = signatures.Rank.parse(
        text, signatures.Rank.Inputs(conversation=CONV, candidates=["a"] * len(order))
    )
    assert out.ok and out.value.order == order


@SETTINGS
@given(pairs=st.lists(st.tuples(WORDS, WORDS), min_size=1, max_size=8))
def test_critique_round_trip(pairs):
    text = "\n\n".join(f"[{i}]\nStrengths: {s}\nWeaknesses: {w}" for i, (s, w) in enumerate(pairs, 1))
    inputs = signatures.CritiqueSignature.Inputs(conversation=CONV, candidates=["a"] * len(pairs))
    out = signatures.CritiqueSignature.parse(text, inputs)
    assert out.ok and [(c.strengths, c.weaknesses) for c in out.value.critiques] == pairs


@SETTINGS
@given(reasoning=WORDS, verdict=st.booleans())
def test_verdict_round_trip(reasoning, verdict):
    text = f"{reasoning}\n\n{'[Correct]' if verdict else '[Incorrect]'}"
    out = signatures.Verify.parse(text, signatures.Verify.Inputs(conversation=CONV, candidate="a"))
    assert out.ok and out.value.correct is verdict


@SETTINGS
@given(
    tests=st.lists(WORDS, min_size=1, max_size=10),
    style=st.sampled_from(["{i}. ", "- ", "* ", "[{i}] ", "({i}) "]),
)
def test_unit_tests_round_trip(tests, style):
    text = "\n".join(style.format(i=i) + t for i, t in enumerate(tests, 1))
    inputs = signatures.GenerateUnitTests.Inputs(conversation=CONV, num_tests=len(tests))
    out = signatures.GenerateUnitTests.parse(text, inputs)
    assert out.ok and out.value.tests == tests


@SETTINGS
@given(passed=st.lists(st.booleans(), min_size=1, max_size=12))
def test_unit_test_verdicts_round_trip(passed):
    text = "\n".join(
        f"{i}. the response {'does' if p else 'does not'} satisfy it {'[Passed]' if p else '[Failed]'}"
        for i, p in enumerate(passed, 1)
    )
    tests = [f"t{i}" for i in range(len(passed))]
    out = signatures.EvaluateUnitTests.parse(
        text, signatures.EvaluateUnitTests.Inputs(conversation=CONV, candidate="a", tests=tests)
    )
    assert out.ok and out.value.passed == passed


# -- construction rules ---------------------------------------------------------------------------------

valid_specs = architecture_specs


ANY_COMPONENT = st.one_of(
    component("generator", samples=1) | component("generator", samples=5),
    st.sampled_from([True, False]).flatmap(lambda c: component("fuser", use_critiques=c, max_inputs=4)),
    component("fuser"),
    component("critic"),
    st.integers(1, 3).flatmap(lambda k: component("ranker", top_k=k)),
    component("ranker", top_k=1, use_critiques=True),
    component("voter", top_k=1),
    component("verifier"),
    component("unit_test_generator"),
    component("unit_test_evaluator"),
)


@SETTINGS
@given(data=valid_specs())
def test_rule_abiding_architectures_are_accepted(data):
    spec = ArchitectureSpec.from_data(data)
    assert spec.candidate_counts()[-1] == 1
    assert spec.calls_per_query() >= sum(c.samples for c in spec.layers[0])  # type: ignore[union-attr]


@SETTINGS
@given(layers=st.lists(st.lists(ANY_COMPONENT, min_size=1, max_size=3), min_size=1, max_size=5))
def test_random_stacks_validate_or_name_a_layer(layers):
    try:
        spec = ArchitectureSpec.from_data({"layers": layers})
    except SpecError as exc:
        assert re.search(r"layer \d+", str(exc)), str(exc)
        return
    counts = spec.candidate_counts()
    assert counts[-1] == 1
    assert spec.layers[0][0].type == "generator"
    for li, layer in enumerate(spec.layers):
        assert len({c.type for c in layer}) == 1
        assert li == 0 or layer[0].type != "generator"
        if layer[0].type == "fuser":
            assert all(counts[li - 1] <= c.max_inputs for c in layer)  # type: ignore[union-attr]
        if layer[0].type not in {"generator", "fuser"}:
            assert len(layer) == 1


@FEW
@given(data=valid_specs(), answers=st.lists(LM_TEXT.filter(str.strip), min_size=1, max_size=5))
def test_valid_architectures_answer_whatever_the_lm_says(data, answers):
    """Parsers fall back instead of failing: any non-blank LM output still ends in exactly one response.
    (Blank generator output is unusable by design: QueryFailed when every sample is blank.)"""
    spec = ArchitectureSpec.from_data(data)

    def respond(request: LMRequest) -> str:
        key = zlib.crc32(f"{request.messages[-1].content}#{request.sample_index}".encode())
        return answers[key % len(answers)]

    program = ac.Program(spec, lms={"*": ac.ScriptedLM(respond)}, cache=False, retry=NO_WAIT)
    pred = program("What is 2 + 2?")
    assert isinstance(pred.response, str) and len(pred.candidates) == 1
    assert pred.usage.calls <= 2 * spec.calls_per_query()  # the static bound, with one parse retry per call


# -- artifacts -----------------------------------------------------------------------------------------


@FEW
@given(data=valid_specs())
def test_artifact_round_trip_keeps_the_spec(data):
    spec = ArchitectureSpec.from_data(data)
    with tempfile.TemporaryDirectory() as folder:
        path = ac.save(ac.Program(spec, lms={"*": ac.ScriptedLM([])}, cache=False), Path(folder) / "a.json")
        assert ac.load(path, cache=False).spec == spec


@pytest.fixture(scope="module")
def saved_artifact(tmp_path_factory: pytest.TempPathFactory) -> str:
    spec = ac.load("archon-critic-ranker", cache=False).spec
    path = ac.save(ac.Program(spec, cache=False), tmp_path_factory.mktemp("artifact") / "a.json")
    return path.read_text(encoding="utf-8")


def _tamper_cases(text: str) -> st.SearchStrategy[tuple[int, str]]:
    blanks = [i for i, ch in enumerate(text) if ch in " \n"]
    position = st.one_of(st.integers(0, len(text) - 1), st.sampled_from(blanks))
    char = st.one_of(
        st.sampled_from(list(' \t\n\r{}[]",:0123456789abcdef-.e')), st.characters(codec="utf-8")
    )  # a file holds UTF-8: no lone surrogates
    return st.tuples(position, char)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_single_character_tampering_is_refused_unless_content_is_identical(saved_artifact, data, tmp_path):
    i, ch = data.draw(_tamper_cases(saved_artifact))
    assume(saved_artifact[i] != ch)
    tampered = saved_artifact[:i] + ch + saved_artifact[i + 1 :]
    path = tmp_path / "t.json"
    path.write_text(tampered, encoding="utf-8")
    original = json.loads(saved_artifact)
    try:
        content = json.loads(tampered)
    except ValueError:
        with pytest.raises(SpecError, match=r"not valid JSON"):
            ac.load(path, cache=False)
        return
    if content == original:
        assert saved_artifact[i].isspace() and ch.isspace()
        assert ac.load(path, cache=False).spec == ArchitectureSpec.model_validate(original["architecture"])
    else:
        with pytest.raises(ac.ArtifactError):
            ac.load(path, cache=False)

"""Per-node instructions and format preservation: what generators and fusers are sent."""

from __future__ import annotations

import pytest

import archon_compile as ac
from archon_compile.artifact import freeze
from archon_compile.signatures import CritiqueSignature, Fuse, Verify, VerifyReasoning

FORMAT = "Answer in this format:\n[[ ## answer ## ]]\n...\n[[ ## completed ## ]]"


def spec(**nodes: dict) -> ac.ArchitectureSpec:
    layers = [
        [{"type": "generator", "model": "m", "samples": 2, **nodes.get("generator", {})}],
        [{"type": "critic", "model": "m", **nodes.get("critic", {})}],
        [{"type": "fuser", "model": "m", "use_critiques": True, **nodes.get("fuser", {})}],
    ]
    return ac.ArchitectureSpec.model_validate({"name": "t", "layers": layers})


def run(s: ac.ArchitectureSpec, query: object) -> ac.ScriptedLM:
    lm = ac.ScriptedLM(
        [(CritiqueSignature.instructions[:40], "[1]\nStrengths: a\nWeaknesses: b"), (r".", "Paris")]
    )
    ac.Program(s, lms={"*": lm}, cache=False)(query)
    return lm


def test_the_conversations_system_message_reaches_generators_and_fusers_verbatim() -> None:
    lm = run(spec(), [{"role": "system", "content": FORMAT}, {"role": "user", "content": "Capital?"}])
    gen, fuse = lm.requests[0], lm.requests[-1]
    assert [m.role for m in gen.messages] == ["system", "user"] and gen.messages[0].content == FORMAT
    assert [m.role for m in fuse.messages] == ["system", "user"]
    system = fuse.messages[0].content
    assert system.startswith(FORMAT + "\n\n" + Fuse.instructions)
    assert "in the format they ask for" in system and "Responses:" in system


def test_without_a_system_message_prompts_are_unchanged() -> None:
    lm = run(spec(), "Capital?")
    assert [m.role for m in lm.requests[0].messages] == ["user"]
    fuse = lm.requests[-1].messages
    assert fuse[0].content.startswith(Fuse.instructions) and "format they ask" not in fuse[0].content


def test_a_nodes_instructions_replace_its_signatures() -> None:
    s = spec(
        generator={"instructions": "You are a geographer."},
        fuser={"instructions": "Merge them."},
        critic={"instructions": "Judge each [n] block."},
    )
    lm = run(s, [{"role": "system", "content": FORMAT}, {"role": "user", "content": "Capital?"}])
    gen = lm.requests[0].messages
    assert gen[0].content == FORMAT + "\n\nYou are a geographer."
    critic = lm.requests[2].messages[-1].content
    assert critic.endswith("Judge each [n] block.") and CritiqueSignature.instructions not in critic
    fuse = lm.requests[-1].messages[0].content
    assert fuse.startswith(FORMAT + "\n\nMerge them.") and Fuse.instructions not in fuse
    lm = run(spec(generator={"instructions": "You are a geographer."}), "Capital?")
    assert [(m.role, m.content) for m in lm.requests[0].messages] == [
        ("system", "You are a geographer."),
        ("user", "Capital?"),
    ]


def test_instructions_are_frozen_into_the_artifact_and_its_hash() -> None:
    plain, tuned = freeze(spec()), freeze(spec(fuser={"instructions": "Merge them."}))
    assert plain.sha256 != tuned.sha256
    fuser = tuned.nodes[-1]
    assert fuser.signatures[0].instructions == "Merge them."
    assert tuned.architecture.layers[2][0].instructions == "Merge them."  # type: ignore[union-attr]
    assert plain.nodes[-1].signatures[0].instructions == Fuse.instructions


def test_a_verifiers_instructions_replace_its_reasoning_prompt_only() -> None:
    s = ac.ArchitectureSpec.model_validate(
        {
            "layers": [
                [{"type": "generator", "model": "m", "samples": 2}],
                [{"type": "verifier", "model": "m", "instructions": "Check the city."}],
                [{"type": "ranker", "model": "m", "top_k": 1}],
            ]
        }
    )
    infos = freeze(s).nodes[1].signatures
    assert [i.instructions for i in infos] == ["Check the city.", Verify.instructions]
    assert infos[0].name == VerifyReasoning.__name__


def test_empty_instructions_are_refused_naming_the_field() -> None:
    with pytest.raises(ac.SpecError, match="instructions"):
        ac.ArchitectureSpec.from_data({"layers": [[{"type": "generator", "model": "m", "instructions": ""}]]})


def test_unit_test_instructions_with_braces_are_text() -> None:
    s = ac.ArchitectureSpec.model_validate(
        {
            "layers": [
                [{"type": "generator", "model": "m", "samples": 2}],
                [
                    {
                        "type": "unit_test_generator",
                        "model": "m",
                        "instructions": "Write {n} checks as {json}.",
                    }
                ],
                [{"type": "unit_test_evaluator", "model": "m", "top_k": 1}],
            ]
        }
    )
    lm = ac.ScriptedLM([(r".", "1. it is Paris [Passed]")])
    ac.Program(s, lms={"*": lm}, cache=False)("Capital?")
    assert lm.requests[2].messages[-1].content.endswith("Write 5 checks as {json}.")

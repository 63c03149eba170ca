"""`import-archon`: original ARCHON configs become specs; differences are warnings, refusals are precise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archon_compile as ac
from archon_compile.cli import app
from archon_compile.importer import ArchonImportError, breakdown, convert, import_file, import_paths
from tests.helpers.shared import shared_path

DOC = Path(__file__).resolve().parents[2] / "docs" / "import-archon.md"


def comp(
    type_: str, model: str = "Qwen/Qwen2-72B-Instruct", model_type: str = "Together_API", **keys
) -> dict:
    return {
        "type": type_,
        "model": model,
        "model_type": model_type,
        "temperature": 0.7,
        "max_tokens": 2048,
        **keys,
    }


GEN = comp("generator", samples=1)
FUSER = comp("fuser", samples=1)


def config(*layers) -> dict:
    return {"name": "t", "layers": list(layers)}


@pytest.mark.parametrize(
    ("model_type", "model", "expected"),
    [
        ("Together_API", "Qwen/Qwen2-72B-Instruct", "together_ai/Qwen/Qwen2-72B-Instruct"),
        ("OpenAI_API", "gpt-4o", "openai/gpt-4o"),
        ("Anthropic_API", "claude-3-5-sonnet-20240620", "anthropic/claude-3-5-sonnet-20240620"),
        ("Groq_API", "llama-3.1-70b-versatile", "groq/llama-3.1-70b-versatile"),
        ("Google_API", "gemini-1.5-pro-001", "gemini/gemini-1.5-pro-001"),
        ("Bedrock_API", "bedrock/meta.llama3-70b-instruct-v1:0", "bedrock/meta.llama3-70b-instruct-v1:0"),
        ("vLLM", "facebook/opt-125m", "openai/facebook/opt-125m"),
        ("tgi", "my-model", "openai/my-model"),
    ],
)
def test_each_model_type_maps_to_a_litellm_model(model_type, model, expected):
    result = convert(config([comp("generator", model=model, model_type=model_type)]))
    assert result.spec.layers[0][0].model == expected  # type: ignore[union-attr]
    assert any("api-base" in w for w in result.warnings) == (model_type in {"vLLM", "tgi"})


def test_self_hosted_models_get_the_api_base_given():
    result = convert(config([comp("generator", model_type="vLLM")]), api_base="http://127.0.0.1:8000/v1")
    assert result.spec.layers[0][0].api_base == "http://127.0.0.1:8000/v1"  # type: ignore[union-attr]
    assert result.warnings == []


def test_keys_map_to_spec_fields_and_the_rest_is_reported():
    result = convert(
        config(
            [comp("generator", samples=3, top_k=1, checkpoint="")] * 2,
            [comp("critic", samples=1, ranker_batch_size=16)],
            [comp("ranker", top_k=3, use_critiques=False, ranker_batch_size=16)],
            [comp("fuser", samples=1, length_contorl=True, no_system=True, mystery=1)],
        )
    )
    gen, critic, ranker, fuser = (layer[0] for layer in result.spec.layers)
    assert gen.samples == 3 and gen.model == "together_ai/Qwen/Qwen2-72B-Instruct"  # type: ignore[union-attr]
    assert ranker.top_k == 3 and ranker.use_critiques  # type: ignore[union-attr]
    assert fuser.length_control and fuser.use_critiques  # the ranker passed the critiques on  # type: ignore[union-attr]
    text = "\n".join(result.warnings)
    assert "layer 0, components 0, 1 (generator): key 'top_k' ignored" in text
    assert "layer 0, components 0, 1 (generator): key 'checkpoint' ignored" in text
    assert "layer 1, component 0 (critic): key 'ranker_batch_size' ignored" in text
    assert "layer 2, component 0 (ranker): use_critiques=True: a critic precedes it" in text
    assert "misspelt 'length_contorl'" in text and "'no_system' has no effect" in text
    assert "layer 3, component 0 (fuser): key 'mystery' ignored" in text


def test_a_fuser_after_a_critic_uses_its_critiques_and_a_ranker_without_one_does_not():
    spec = convert(config([GEN, GEN], [comp("critic")], [FUSER, FUSER], [comp("ranker", top_k=1)])).spec
    assert spec.layers[2][0].use_critiques  # type: ignore[union-attr]
    assert not spec.layers[3][0].use_critiques  # type: ignore[union-attr]


def test_top_level_keys_without_equivalent_are_reported():
    result = convert({**config([GEN]), "custom": False})
    expected = "config (top level): key 'custom' ignored: archon-compile specs have no equivalent"
    assert result.warnings == [expected]


def test_old_layer_form_with_branches():
    result = convert(config({"branches": 2, "models": [GEN, GEN]}, {"branches": 1, "models": [FUSER]}))
    assert [len(layer) for layer in result.spec.layers] == [2, 1]
    assert result.warnings == [
        "layer 0 (layer): 'branches': 2 ignored: the original code never read it "
        "(every listed model runs once)"
    ]


def test_unit_test_generator_first_moves_before_its_evaluator():
    utg = comp("unit_test_generator", samples=1, unit_test_cap=5)
    ute = comp("unit_test_evaluator", samples=1, first_pass=True, remove_unit_tests_from_prompt=True, top_k=1)
    result = convert(config([utg], [comp("generator", samples=10)], [ute]))
    assert [layer[0].type for layer in result.spec.layers] == [
        "generator",
        "unit_test_generator",
        "unit_test_evaluator",
    ]
    assert result.spec.layers[1][0].num_tests == 5  # type: ignore[union-attr]
    assert result.spec.layers[2][0].top_k == 1 and result.spec.layers[2][0].mode == "lm"  # type: ignore[union-attr]
    assert any("moved to right before the unit_test_evaluator" in w for w in result.warnings)


def test_evaluator_without_top_k_keeps_every_candidate_like_the_original():
    utg, ute = comp("unit_test_generator", unit_test_cap=3), comp("unit_test_evaluator")
    with pytest.raises(ArchonImportError, match=r"rule 6.*may leave 4.*original layers \[1, 0, 2\]"):
        convert(config([utg], [comp("generator", samples=4)], [ute]))
    spec = convert(config([utg], [comp("generator", samples=4)], [ute], [FUSER])).spec
    assert spec.layers[2][0].top_k == 4  # type: ignore[union-attr]


def test_a_fuser_receiving_more_than_the_default_cap_gets_a_raised_cap_and_a_warning():
    result = convert(config([comp("generator", samples=30)], [FUSER]))
    assert result.spec.layers[1][0].max_inputs == 30  # type: ignore[union-attr]
    assert any("max_inputs raised to 30" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([{"x": 1}], r"not an ARCHON config"),
        (
            config([GEN], [comp("ranker", top_k=1, model="llm-blender/PairRM", model_type="")]),
            r"layer 1, component 0 \(ranker\): model 'llm-blender/PairRM' is a reward-model ranker",
        ),
        (
            config([comp("generator", model_type="Mystery_API")]),
            r"layer 0, component 0 \(generator\): unknown model_type 'Mystery_API'",
        ),
        (config([GEN], [comp("summariser")]), r"layer 1, component 0: unknown component type 'summariser'"),
        (config([GEN], [comp("ranker")]), r"layer 1, component 0 \(ranker\): missing 'top_k'"),
        (config([comp("generator", temperature=9)]), r"layer 0, component 0 \(generator\): temperature"),
        (config([GEN, FUSER], [FUSER]), r"layer 0: rule 1"),
        (config([GEN], [GEN], [FUSER]), r"layer 1, component 0 \(generator\): rule 2"),
        (
            config([comp("unit_test_generator")], [GEN], [FUSER]),
            r"layer 0, component 0 .*rule 5.*never|rule 5",
        ),
        (config([comp("generator", samples=5)]), r"layer 0, component 0 \(generator\): rule 6"),
        (config([GEN], []), r"layer 1: a layer needs at least one component"),
        (config([GEN], "fuser"), r"layer 1: expected a list of component objects"),
    ],
)
def test_refusals_name_the_place_and_the_reason(data, match):
    with pytest.raises(ArchonImportError, match=match) as info:
        convert(data, source="cfg.json")
    assert str(info.value).startswith("cfg.json:")


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x",\n "layers": [[{"type": "generator" "model": "m"}]]}')
    with pytest.raises(ArchonImportError, match=r"bad.json: not valid JSON: line 2 column 35") as info:
        import_file(path)
    assert info.value.reason == "invalid JSON"


def test_imported_spec_runs_with_a_scripted_lm(tmp_path):
    result = convert(config([GEN, GEN], [comp("critic")], [comp("ranker", top_k=1)]))
    lm = ac.ScriptedLM(
        [
            (r"Rank the numbered", "[2] > [1]"),
            (r"Strengths", "[1]\nStrengths: a\nWeaknesses: b\n[2]\nStrengths: c\nWeaknesses: d"),
            (r".*", "Paris"),
        ]
    )
    pred = ac.Program(result.spec, lms={"*": lm}, cache=False)("Capital of France?")
    assert pred.response == "Paris" and pred.usage.calls == 4


def test_cli_one_file_prints_the_spec_and_warnings(tmp_path):
    src = tmp_path / "moa.json"
    src.write_text(json.dumps(config([comp("generator", top_k=1)])))
    result = CliRunner().invoke(app, ["import-archon", str(src)])
    assert result.exit_code == 0, result.output
    spec = ac.ArchitectureSpec.model_validate_json(result.stdout)
    assert spec.layers[0][0].model == "together_ai/Qwen/Qwen2-72B-Instruct"  # type: ignore[union-attr]
    assert "warning: layer 0, component 0 (generator): key 'top_k' ignored" in result.stderr
    out = tmp_path / "spec.json"
    assert CliRunner().invoke(app, ["import-archon", str(src), "--out", str(out)]).exit_code == 0
    assert ac.ArchitectureSpec.from_file(out) == spec


def test_cli_directory_writes_one_spec_per_config_and_a_report(tmp_path):
    src = tmp_path / "configs"
    (src / "sub").mkdir(parents=True)
    (src / "a.json").write_text(json.dumps(config([GEN])))
    (src / "sub" / "a.json").write_text(json.dumps(config([GEN], [comp("ranker", top_k=1)])))
    (src / "broken.json").write_text("{")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["import-archon", str(src), "--out", str(out)])
    assert result.exit_code == 1  # one config was refused
    assert ac.ArchitectureSpec.from_file(out / "a.json").layers[0][0].type == "generator"
    assert len(ac.ArchitectureSpec.from_file(out / "sub" / "a.json").layers) == 2
    assert "Converted 2 of 3 configs" in result.stdout and "| invalid JSON | 1 |" in result.stdout
    report = json.loads((out / "import-report.json").read_text())
    assert [r["reason"] for r in report] == [None, "invalid JSON", None]


def test_cli_several_files_need_an_output_directory(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps(config([GEN])))
    result = CliRunner().invoke(app, ["import-archon", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result.exit_code == 1 and "need --out" in result.stderr
    missing = CliRunner().invoke(app, ["import-archon", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "no such file or directory" in missing.stderr


def test_the_292_original_configs_match_the_documented_breakdown():
    root = shared_path("data", "archon-configs")
    outcomes = import_paths([root])
    assert len(outcomes) == 292
    assert sum(o.result is not None for o in outcomes) == 264
    documented = re.search(r"<!-- breakdown -->\n(.*?)\n<!-- /breakdown -->", DOC.read_text(), re.DOTALL)
    assert documented is not None, f"{DOC} lost its generated breakdown block"
    assert documented.group(1) == breakdown(outcomes, root)

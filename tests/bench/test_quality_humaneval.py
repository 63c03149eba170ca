"""bench/quality_humaneval.py's statistics and summary on synthetic rows (the run itself needs the model)."""

from __future__ import annotations

import quality_humaneval as qh


def test_wilson_interval_brackets_the_rate() -> None:
    lo, hi = qh.wilson(17, 20)
    assert 0.63 < lo < 0.85 < hi < 0.96
    assert qh.wilson(0, 10)[0] == 0.0


def test_paired_difference_and_exact_mcnemar() -> None:
    a = [True] * 8 + [False] * 2
    b = [False] * 8 + [False] * 2  # 8 wins, 0 losses
    d, lo, hi, p = qh.paired(a, b)
    assert d == 0.8 and lo <= 0.8 <= hi and abs(p - 2 / 2**8) < 1e-12
    assert qh.paired(a, a)[3] == 1.0


def test_heldout_and_dev_are_disjoint_and_seeded() -> None:
    dev, heldout = qh.split(0, 20, 60)
    assert len(dev) == 20 and len(heldout) == 60
    assert not {i.id for i in dev} & {i.id for i in heldout}
    assert [i.id for i in qh.split(0, 20, 60)[1]] == [i.id for i in heldout]


def test_summary_reports_every_architecture_and_the_headroom() -> None:
    stage = {"seconds": 2.0, "calls": 1, "completion_tokens": 50, "prompt_tokens": 100}
    rows = [
        {
            "id": f"p{i}",
            "passed": {
                "single": i % 2 == 0,
                "samples+tests": True,
                "samples+tests+fuser": i % 3 == 0,
                "samples+ranker": False,
            },
            "samples_passed": [i % 2 == 0, True, False],
            "tests": ["assert f() == 1"],
            "tests_on_canonical": [True],
            "samples_pass_all_tests": [True, True, False],
            "stages": {s: dict(stage) for s in ("greedy", "samples", "tests", "fuser", "ranker")},
        }
        for i in range(6)
    ]
    text = qh.summarize(rows, 3)
    assert "| single | 0.500 |" in text and "| samples+tests | 1.000 |" in text
    assert "+0.500" in text and "Pass@3 1.000" in text
    assert "6 executable assertions on 6 of 6 problems; 6 (100%)" in text
    assert "agrees with the hidden tests on 15 of 18 samples" in text

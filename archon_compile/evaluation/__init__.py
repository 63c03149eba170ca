"""Evaluating programs on tasks: one engine for `ac.evaluate`, `eval` and the compiler.

| module | holds |
|---|---|
| `records.py` | one item's record and the rules that sum records into a `Summary` |
| `engine.py` | `score_items`: answering and scoring items (the one code path) |
| `judge.py` | `make_judge`: the judge, built in one place |
| `log.py` | the resumable, self-repairing results JSONL |
| `api.py` | `evaluate` / `aevaluate` and their `EvalReport` |

Rules: a program error scores 0 and is counted (`n_program_errors`); a judge error (judge call failed,
verdict unparseable, metric raised) is left out of the mean and counted apart (`n_judge_errors`); what
failed queries paid is counted in usage and cost.
"""

from archon_compile.evaluation.api import EvalReport, Split, aevaluate, evaluate, select_items
from archon_compile.evaluation.engine import run_items, score_item, score_items
from archon_compile.evaluation.judge import JudgeRequired, make_judge
from archon_compile.evaluation.log import ResultsFileError, read_records
from archon_compile.evaluation.records import (
    CostSummary,
    EvalRecord,
    ItemError,
    Summary,
    mean_value,
    summarise,
)
from archon_compile.stats import bootstrap_ci

__all__ = [
    "CostSummary",
    "EvalRecord",
    "EvalReport",
    "ItemError",
    "JudgeRequired",
    "ResultsFileError",
    "Split",
    "Summary",
    "aevaluate",
    "bootstrap_ci",
    "evaluate",
    "make_judge",
    "mean_value",
    "read_records",
    "run_items",
    "score_item",
    "score_items",
    "select_items",
    "summarise",
]

"""`archon-compile compile` (search architectures for a task) and `archon-compile demo` (the same, offline,
on the embedded model)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from archon_compile.cli import app
from archon_compile.cli.options import NoCacheOption

if TYPE_CHECKING:
    from rich.table import Table

    from archon_compile.compiler.report import Report
    from archon_compile.compiler.result import CompileResult
    from archon_compile.lm.base import LM

DEMO_TRIALS = 4
DEMO_POOL: tuple[str, ...] = (
    "local",
    "local/qwen2.5-coder-0.5b",
)  # the embedded models the demo compiles over
DEMO_DIR = Path("runs/demo")
DEMO_DEV = 8
DEMO_HELDOUT = 20


@app.command("compile")
def compile_command(
    task: Annotated[
        str, typer.Option("--task", "-t", help="a registered task name (see `archon-compile tasks`)")
    ],
    models: Annotated[str, typer.Option(help="comma-separated model pool, e.g. openai/gpt-4o-mini,local")],
    data: Annotated[
        str | None, typer.Option(help="local data file (JSONL/JSON/Parquet/CSV) for the task")
    ] = None,
    trials: Annotated[int, typer.Option(min=1, help="architectures to evaluate (across all workers)")] = 30,
    budget_calls: Annotated[int | None, typer.Option(min=1, help="max LM calls per query")] = None,
    search_calls: Annotated[
        int | None, typer.Option(min=1, help="stop the search after this many LM calls")
    ] = None,
    search_usd: Annotated[
        float | None, typer.Option(help="stop the search after spending this many dollars")
    ] = None,
    wall_time: Annotated[float | None, typer.Option(help="stop the search after this many seconds")] = None,
    objective: Annotated[
        str, typer.Option(help="'weighted' (quality - lam x cost) or 'pareto'")
    ] = "weighted",
    lam: Annotated[float, typer.Option(help="quality given up per LM call per query (weighted)")] = 0.0,
    judge: Annotated[str | None, typer.Option(help="judge model, for judge-scored tasks")] = None,
    judge_api_base: Annotated[str | None, typer.Option(help="endpoint for the judge model")] = None,
    baseline: Annotated[
        str | None, typer.Option(help="baseline answers file (mt_bench pairwise, arena_hard)")
    ] = None,
    references: Annotated[str | None, typer.Option(help="reference answers file (mt_bench)")] = None,
    dev_size: Annotated[int | None, typer.Option(help="dev items (default 20% of the task)")] = None,
    heldout_size: Annotated[int | None, typer.Option(help="held-out items (default: the other 80%)")] = None,
    seed: Annotated[int, typer.Option(help="split and sampler seed")] = 0,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL (default SQLite in runs/<study>/)")
    ] = None,
    study: Annotated[str | None, typer.Option(help="study name (default: the task name)")] = None,
    out: Annotated[Path | None, typer.Option(help="artifact path (default compiled/<study>.json)")] = None,
    api_base: Annotated[
        str | None,
        typer.Option(help="endpoint of every non-local model (an OpenAI-compatible vLLM/llama.cpp server)"),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="LM calls in flight at once")] = 16,
    no_cache: NoCacheOption = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the report as JSON (no live display)")
    ] = False,
) -> None:
    """Search ARCHON architectures over a model pool; write the best as an artifact plus a report.

    Every endpoint and the judge are probed first; the command fails at once (exit 1, no artifact) when
    one is down, and when the trials keep failing. It ends with the held-out verdict against the best
    single model. Rerun the same command to resume an interrupted search; run it in several shells with
    one --storage to share the work.
    """
    from archon_compile.cli.evaluate import _build_task
    from archon_compile.compiler import Budget, Objective, compile
    from archon_compile.errors import ArchonError
    from archon_compile.lm.resolve import is_local

    if objective not in ("weighted", "pareto"):
        raise typer.BadParameter("use 'weighted' or 'pareto'", param_hint="--objective")
    mode: Literal["weighted", "pareto"] = "weighted" if objective == "weighted" else "pareto"
    pool = [m.strip() for m in models.split(",") if m.strip()]
    options = {k: v for k, v in {"baseline": baseline, "references": references}.items() if v}
    with _options_checked():
        budget = Budget(
            calls_per_query=budget_calls,
            search_calls=search_calls,
            search_usd=search_usd,
            wall_time_s=wall_time,
        )
        goal = Objective(mode=mode, lam=lam)
    try:
        result = compile(
            _build_task(task, data, options),
            pool,
            trials=trials,
            budget=budget,
            objective=goal,
            seed=seed,
            storage=storage,
            study=study,
            judge=judge,
            judge_api_base=judge_api_base,
            dev_size=dev_size,
            heldout_size=heldout_size,
            api_bases={m: api_base for m in pool if api_base and not is_local(m)},
            concurrency=concurrency,
            cache=not no_cache,
            progress=not as_json,
        )
    except ArchonError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _finish(result, out or Path("compiled") / f"{study or task}.json", as_json)


_OPTION_OF = {
    "calls_per_query": "--budget-calls",
    "search_calls": "--search-calls",
    "search_usd": "--search-usd",
    "wall_time_s": "--wall-time",
    "lam": "--lam",
}


@contextmanager
def _options_checked() -> Iterator[None]:
    """Budget and objective values the models refuse, reported as a bad option (usage error, exit 2)."""
    from pydantic import ValidationError

    try:
        yield
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else ""
        raise typer.BadParameter(problem["msg"], param_hint=_OPTION_OF.get(field, field)) from None


@app.command()
def demo(
    trials: Annotated[int, typer.Option(min=1, help="architectures to try")] = DEMO_TRIALS,
    out: Annotated[
        Path, typer.Option(help="run directory: the study, the LM cache, the artifact and its report")
    ] = DEMO_DIR,
) -> None:
    """Compile on the embedded model pool (offline, seeded, a few minutes on 2 cores) for the `capitals`
    task, then answer one held-out question with the compiled artifact. Everything goes under the run
    directory (`--out`); rerunning it resumes the same study and gives the same result."""
    from archon_compile.errors import ArchonError

    try:
        run_demo(out, trials)
    except ArchonError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def run_demo(out: Path, trials: int = DEMO_TRIALS, lms: Mapping[str, LM] | None = None) -> CompileResult:
    """The demo's steps, each timed: model load, compile (power ranking, search, held-out), answer.
    `lms` replaces the embedded models (tests)."""
    import archon_compile as ac
    from archon_compile.compiler import ArchonSpace, Budget, compile
    from archon_compile.compiler.result import report_dir
    from archon_compile.tasks import registry

    space = ArchonSpace(
        top_k_models=(1, len(DEMO_POOL)),
        samples=(1, 3),
        fusion_layers=(0, 1),
        fusers_per_layer=(2, 2),
        selectors=("none", "voter"),
        final_checks=("none",),
        max_tokens=16,
    )
    typer.echo(
        f"Compiling the `capitals` task on the embedded pool ({', '.join(DEMO_POOL)}): {trials} trials, "
        f"samples 1-3, voter vs fuser, seed 0, dev {DEMO_DEV} items, held-out {DEMO_HELDOUT} items; "
        f"writing under {out}/."
    )
    clock = time.monotonic()
    for model in DEMO_POOL:
        if lms is None or model not in lms:
            from archon_compile.lm.local import local_lm

            local_lm(model).llama()
    load_s = time.monotonic() - clock
    result = compile(
        "capitals",
        list(DEMO_POOL),
        space=space,
        trials=trials,
        budget=Budget(calls_per_query=4),
        seed=0,
        study="capitals-demo",
        run_dir=out,
        lms=lms,
        dev_size=DEMO_DEV,
        heldout_size=DEMO_HELDOUT,
    )
    artifact = _finish(result, out / "capitals-demo.json")
    clock = time.monotonic()
    task = registry.get("capitals")
    item = task.split(0, dev_size=DEMO_DEV, heldout_size=DEMO_HELDOUT)[1][0]
    program = ac.load(artifact, lms=lms)
    answer = program(task.conversation(item, []))
    answer_s = time.monotonic() - clock
    typer.echo(f"\nQ: {item.turns[0]}\nA: {answer.response}   (reference: {item.reference})")
    t = result.report.timings
    typer.echo(
        f"\nSteps: model load {load_s:.1f} s, power ranking {t.power_ranking_s:.1f} s, search "
        f"{t.search_s:.1f} s, held-out {t.heldout_s:.1f} s, answer {answer_s:.1f} s."
    )
    typer.echo(f"\nIn plain words: {_plain(result.report)}")
    typer.echo(
        f"\nThe report: {report_dir(artifact) / 'report.md'}. Compile the same way with real models, e.g.\n"
        "  archon-compile compile --task capitals --models "
        "openai/gpt-4o-mini,together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo --trials 30\n"
        "then run the artifact with `archon-compile run compiled/capitals.json -q 'What is the capital "
        "of Peru?'`."
    )
    return result


def _plain(report: Report) -> str:
    """The verdict as a sentence a newcomer can read."""
    v = report.verdict
    if v is None:
        return "there were no held-out items, so the compile cannot say whether the search helped."
    said = {
        "the search paid": "the compiled architecture answers better than the best single model, and the "
        "difference is larger than the noise of this many questions.",
        "no significant gain": "the compiled program is no better than the best single model by more than "
        "the noise of this many questions.",
        "worse": "the compiled architecture answers worse than the best single model on questions it never "
        "saw during the search.",
    }[v.outcome]
    return (
        f"{said} On {v.items} held-out questions it scored {v.winner_quality:.0%} against "
        f"{v.baseline_quality:.0%} for the best single model (difference {v.difference:+.0%}, 95% CI "
        f"{v.ci_low:+.0%} to {v.ci_high:+.0%})."
    )


def _finish(result: CompileResult, out: Path, as_json: bool = False) -> Path:
    """Save the artifact and the report; print the best trials (the winning one always among them), the
    summary, the step times and the verdict, or all of it as JSON."""
    from rich.console import Console

    from archon_compile.compiler.result import CompileOutput, report_dir

    artifact = result.save(out)
    report = result.report
    md = report_dir(artifact) / "report.md"
    if as_json:
        output = CompileOutput(
            artifact=str(artifact), report_md=str(md), verdict=report.verdict_sentence(), report=report
        )
        typer.echo(output.model_dump_json(indent=2))
        return artifact
    console = Console()
    console.print(_best_table(report))
    console.print(report.summary())
    t = report.timings
    console.print(
        f"time: probe {t.probe_s:.1f} s, power ranking {t.power_ranking_s:.1f} s, search {t.search_s:.1f} s, "
        f"held-out {t.heldout_s:.1f} s"
    )
    console.print(f"artifact: {artifact}\nreport:   {md}")
    return artifact


def _best_table(report: Report, top: int = 5) -> Table:
    """The best complete trials by dev quality, plus the best trial by the objective and the emitted one."""
    from rich.table import Table

    table = Table(title="Best trials (dev)")
    for col in ("trial", "dev quality", "LM calls/query", "architecture", ""):
        table.add_column(col)
    done = sorted(
        (r for r in report.trials if r.candidate), key=lambda r: (-(r.dev_quality or 0.0), r.number)
    )
    keep = {report.best_trial.number, report.chosen_trial}
    shown = [r for i, r in enumerate(done) if i < top or r.number in keep]
    for r in shown:
        arch = ", ".join(f"{k}={v}" for k, v in r.params.items() if not k.endswith("_model"))
        tags = [
            t
            for t, n in (("best by objective", report.best_trial.number), ("emitted", report.chosen_trial))
            if n == r.number
        ]
        table.add_row(str(r.number), f"{r.dev_quality:.3f}", str(r.calls_per_query), arch, ", ".join(tags))
    if report.chosen_trial is None:
        single = report.power_ranking.best
        table.add_row("single", f"{single.quality:.3f}", "1", f"{single.model} alone", "emitted")
    return table

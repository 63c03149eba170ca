"""Resume after a real SIGKILL, and several worker processes sharing one study (SQLite; PostgreSQL when
available). Workers are subprocesses running a compile on the scripted pool with latency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import sqlalchemy.exc
from optuna.trial import TrialState

from archon_compile.compiler.marks import EvalAttrs, counted, eval_of, mark_of, retried_from
from archon_compile.compiler.storage import open_storage, quiet

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import json
import archon_compile as ac
from tests.helpers.compiler_pool import MODELS, pool, sent, task
lms = pool(latency_s={latency})
space = ac.ArchonSpace(top_k_models=(1, 3), samples=(1, 5), fusion_layers=(0, 2), fusers_per_layer=(2, 6, 2),
                       selectors=("none", "voter", "critic_ranker"), final_checks=("none",))
result = ac.compile(task(30), MODELS, lms=lms, space=space, trials={trials}, seed=0, run_dir={run_dir!r},
                    storage={storage!r}, study="shared", dev_size=8, heldout_size=4,
                    objective=ac.Objective(minibatch=8))
json.dump({{"sent": sent(lms), "heldout_calls": result.report.counts.heldout_calls}}, open({out!r}, "w"))
"""


def _worker(
    tmp_path: Path, name: str, storage: str, trials: int, latency: float
) -> tuple[subprocess.Popen[bytes], Path]:
    out = tmp_path / f"{name}.json"
    code = WORKER.format(
        latency=latency,
        trials=trials,
        run_dir=str(tmp_path / "run"),
        storage=storage,
        out=str(out),
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return proc, out


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="shared", storage=storage).get_trials(deepcopy=False)


def _finished(storage: str) -> list[optuna.trial.FrozenTrial]:
    return [t for t in _trials(storage) if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and counted(t)]


def _states(storage: str) -> str:
    """Every trial's number, state, mark (why, first error) and worker: what a wrong count needs."""
    rows = []
    for t in _trials(storage):
        mark = mark_of(t)
        worker = t.user_attrs.get("worker", {}).get("pid")
        why = f"{mark.kind} ({mark.reason}; {mark.error})" if mark else "-"
        rows.append(f"#{t.number} {t.state.name} {why} pid={worker} {t.params}")
    return "\n".join(rows)


def _wait(proc: subprocess.Popen[bytes], timeout: float = 240) -> None:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-3000:]


def test_sigkill_mid_search_then_rerun_resumes_without_losing_or_repaying(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.sqlite3'}"
    proc, _ = _worker(tmp_path, "first", storage, trials=8, latency=0.5)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # kill once some trials are done and another one is running
        time.sleep(0.2)
        if Path(tmp_path / "study.sqlite3").exists() and proc.poll() is None:
            try:
                states = [t.state for t in _trials(storage)]
            except (KeyError, optuna.exceptions.StorageInternalError, sqlalchemy.exc.OperationalError):
                continue  # the worker is still creating the study (table creation can race this poll)
            if sum(s == TrialState.COMPLETE for s in states) >= 2 and TrialState.RUNNING in states:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {t.number: (t.state, t.values, t.datetime_complete) for t in _finished(storage)}
    killed = [t.number for t in _trials(storage) if t.state == TrialState.RUNNING]
    assert len(before) >= 2 and killed

    proc, out = _worker(tmp_path, "second", storage, trials=8, latency=0.05)
    _wait(proc)
    after = _finished(storage)
    assert len(after) == 8 and len({t.number for t in after}) == 8
    for t in after:  # completed trials survive untouched
        if t.number in before:
            assert (t.state, t.values, t.datetime_complete) == before[t.number]
    retried = [t for t in after if retried_from(t) in killed]
    assert retried, "the killed trial was rerun with its parameters"
    killed_params = next(t.params for t in _trials(storage) if t.number == retried_from(retried[0]))
    assert killed_params.items() <= retried[0].params.items()  # a kill mid-sampling leaves some unsampled
    # the second run paid only for trials it ran: nothing of the first run's trials or power ranking
    new = [t for t in after if t.number not in before]
    report = json.loads(out.read_text())
    assert report["sent"] == sum(_eval(t).usage.calls for t in new) + report["heldout_calls"]


def _two_workers(tmp_path: Path, storage: str) -> None:
    a, _ = _worker(tmp_path, "a", storage, trials=6, latency=0.01)
    b, _ = _worker(tmp_path, "b", storage, trials=6, latency=0.01)
    _wait(a)
    _wait(b)
    finished = _finished(storage)
    assert len(finished) == 6, _states(storage)
    assert len({t.number for t in finished}) == 6
    workers = {t.user_attrs["worker"]["pid"] for t in finished}
    assert workers <= {a.pid, b.pid}


def test_two_workers_share_one_sqlite_study(tmp_path: Path) -> None:
    _two_workers(tmp_path, f"sqlite:///{tmp_path / 'study.sqlite3'}")


def _ask(storage: optuna.storages.RDBStorage, barrier: threading.Barrier, asked: list[int]) -> None:
    study = optuna.load_study(study_name="race", storage=storage)
    barrier.wait()
    with quiet():
        asked.append(study.ask().number)


def test_an_enqueued_trial_is_popped_by_one_worker_only(tmp_path: Path) -> None:
    """Four workers ask at once for the one enqueued trial; without an immediate SQLite transaction two
    of them often both ran it (about one round in three), and the second `tell` failed."""
    storage = open_storage(f"sqlite:///{tmp_path / 'study.sqlite3'}")
    study = optuna.create_study(storage=storage, study_name="race")
    for round_ in range(20):
        study.enqueue_trial({"x": round_})
        barrier = threading.Barrier(4)
        asked: list[int] = []
        workers = [threading.Thread(target=_ask, args=(storage, barrier, asked)) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert len(set(asked)) == 4, f"round {round_}: trials asked {asked}"


def _pg_url() -> str | None:
    url = os.environ.get("ARCHON_TEST_PG_URL")
    pg_file = ROOT / ".ci" / "pg_url"
    if not url and pg_file.exists():
        url = pg_file.read_text().strip()
    return url or None


@pytest.mark.postgres
def test_two_workers_share_one_postgres_study(tmp_path: Path) -> None:
    url = _pg_url()
    if url is None:
        pytest.skip("no PostgreSQL: set ARCHON_TEST_PG_URL or run .ci/postgres.sh")

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"archon_test_{os.getpid()}_{int(time.time())}"
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        _two_workers(tmp_path, url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        engine.dispose()
        with sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _eval(t: optuna.trial.FrozenTrial) -> EvalAttrs:
    ev = eval_of(t)
    assert ev is not None, f"trial {t.number} was evaluated"
    return ev

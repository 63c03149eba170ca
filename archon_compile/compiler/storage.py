"""The study's storage and the bookkeeping that lets several workers (and killed ones) share it.

- Resumable: the study lives in RDB storage (SQLite under `runs/<study>/` by default). A killed worker's
  running trial is failed and re-enqueued with the same parameters by the next run (same host: its pid is
  gone; any host: its heartbeat stopped), through Optuna's `RetryHeartbeatStaleTrialCallback`; its
  finished LM calls are in the run's disk cache.
- Each asked trial takes a slot only if fewer than `trials` counted trials come before it (trial numbers
  are assigned atomically by the storage), so N trials are finished in total, never more.

The driver runs its own ask/tell loop instead of `Study.optimize` (which cannot count trials across
workers exactly), so it records heartbeats itself: `RDBStorage.record_heartbeat` takes the trial's
storage id, which Optuna exposes only as `Trial._trial_id` (the one private attribute used here).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from archon_compile.compiler.marks import WORKER, counted

HEARTBEAT_S = 10
GRACE_S = 60
THIS_WORKER = {"host": socket.gethostname(), "pid": os.getpid()}
_LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING, TrialState.FAIL)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Optuna's notices about its experimental heartbeat and retry API and about heartbeats used
    outside `optimize` (this driver's own loop)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


def _retry() -> RetryHeartbeatStaleTrialCallback:
    with quiet():
        return RetryHeartbeatStaleTrialCallback()


def open_storage(url: str, attempts: int = 5) -> RDBStorage:
    """The RDB storage; workers starting together on an empty database race to create its tables, and
    the losers retry once the winner has."""
    for attempt in range(attempts):
        try:
            with quiet():
                storage = RDBStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=_retry(),
                )
            if storage.engine.name == "sqlite":
                sqlalchemy.event.listen(storage.engine, "begin", _begin_immediate)
            return storage
        except (
            sqlalchemy.exc.IntegrityError,
            sqlalchemy.exc.ProgrammingError,
            sqlalchemy.exc.OperationalError,
        ):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _engine_kwargs(url: str) -> dict[str, Any]:
    """SQLite: WAL with synchronous=NORMAL (durable when a worker is killed, no fsync per write), a long
    lock timeout for several workers, and transactions begun by `_begin_immediate`; servers: reconnect if
    dropped."""
    if not url.startswith("sqlite"):
        return {"pool_pre_ping": True}
    path = make_url(url).database or ""

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return {"creator": connect}


def _begin_immediate(conn: sqlalchemy.Connection) -> None:
    """Start every SQLite transaction holding the write lock. Optuna reads a trial and then updates it
    (`SELECT ... FOR UPDATE`, which SQLite ignores), and pysqlite begins a transaction only at the update:
    two workers could both see an enqueued trial WAITING and both run it (optuna/optuna#4002). The
    connections are opened with `isolation_level=None` so that this BEGIN is the only one."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def hide_password(url: str) -> str:
    """A storage URL without its password (it goes into reports and artifacts)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<unparseable storage URL>"


def fail_stale(study: optuna.Study) -> None:
    """Fail and re-enqueue the running trials of dead workers: on this host by pid (at once), elsewhere
    by heartbeat (after the grace period)."""
    with quiet():
        optuna.storages.fail_stale_trials(study)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get(WORKER) or {}
        if worker.get("host") != THIS_WORKER["host"] or worker.get("pid") in (None, THIS_WORKER["pid"]):
            continue
        if _alive(int(worker["pid"])):
            continue
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # another worker reaped it first
        with quiet():
            _retry()(study, t)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def slot_free(trials: Sequence[FrozenTrial], number: int, n_trials: int) -> bool:
    """Whether fewer than `n_trials` counted trials (running, waiting, finished or failed by the error
    budget; not skipped, repeated or reaped) precede trial `number`; numbers are unique across workers, so
    at most `n_trials` trials are counted."""
    before = [t for t in trials if t.number < number and t.state in _LIVE and counted(t)]
    return len(before) < n_trials


@contextlib.contextmanager
def heartbeat(storage: RDBStorage, trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat while it runs, so workers on other hosts can tell it is alive."""
    trial_id = trial._trial_id
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                storage.record_heartbeat(trial_id)

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, name="archon-compile-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

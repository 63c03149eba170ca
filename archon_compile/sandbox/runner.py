"""Start, limit, watch and clean up one sandboxed run; the model is in `archon_compile.sandbox`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from archon_compile.errors import ArchonError
from archon_compile.sandbox.child import minimal_paths, readable_by

CHILD = Path(__file__).with_name("child.py")
NOBODY = 65534
PYTHON_ENV = "ARCHON_COMPILE_SANDBOX_PYTHON"
MAX_CONCURRENT = os.cpu_count() or 2
"""At most this many sandboxes run at once in this process (one per core by default)."""
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)
_POOL = ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="archon-sandbox")
"""Async runs wait here, not in asyncio's default executor, so queued sandboxes never hold its threads."""


class SandboxLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    timeout_s: float = Field(10.0, gt=0, description="wall clock; the process tree is killed after it")
    memory_mb: int = Field(512, ge=64, description="address space (RLIMIT_AS)")
    cpu_s: int = Field(10, ge=1, description="CPU seconds (RLIMIT_CPU)")
    max_processes: int = Field(
        64, ge=1, description="RLIMIT_NPROC: counts all processes of the child's user; not enforced for root"
    )
    max_output_bytes: int = Field(
        1_000_000, ge=1024, description="per stream, and any file the program writes"
    )
    isolation: Literal["auto", "namespace", "process"] = Field(
        "auto", description="'auto' picks namespace mode when available; 'namespace' fails if it is not"
    )


class SandboxResult(BaseModel):
    """`exit_code` is None after a timeout; a program killed by a signal has -signal (process mode) or
    128 + signal (namespace mode, passed on by the namespace's init). `killed_reason` names the limit
    that ended the run, if any; `protections` lists the isolation that applied."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    killed_reason: str | None = None
    duration_s: float
    protections: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed_reason is None


class SandboxUnavailable(ArchonError, RuntimeError):
    """The requested isolation mode cannot run on this machine."""


@cache
def namespaces_available() -> bool:
    """Root, `unshare` (util-linux), and a trial run of namespace mode that completes its setup (checked
    once per process; a container without the needed capabilities falls back to process mode)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    trial = _run_fresh("namespace", "pass", "", SandboxLimits())
    return trial.ok and "setup did not complete" not in trial.protections


def _mode(limits: SandboxLimits) -> Literal["namespace", "process"]:
    if limits.isolation != "process" and namespaces_available():
        return "namespace"
    if limits.isolation == "namespace":
        raise SandboxUnavailable(
            "namespace isolation needs root and a working `unshare` (util-linux); "
            "use isolation='auto' or 'process'"
        )
    process_interpreter()  # as root: refuse here, before anything runs, when nobody could not run it
    return "process"


def process_interpreter() -> str:
    """The Python that runs process-mode sandboxes. As root the program must run as `nobody` under
    seccomp, so this is the first of $ARCHON_COMPILE_SANDBOX_PYTHON, this interpreter, /usr/bin/python3,
    /usr/local/bin/python3 whose files nobody can read; with none, process mode refuses to run as root."""
    if os.geteuid() != 0:
        return sys.executable
    return _root_interpreter(os.environ.get(PYTHON_ENV), sys.executable)


@cache
def _root_interpreter(override: str | None, current: str) -> str:
    if os.uname().machine != "x86_64":
        raise SandboxUnavailable(
            "process isolation refuses to run programs as root here: its seccomp filter exists for x86-64 "
            "only. Run as an ordinary user, or use namespace mode (root with `unshare`)"
        )
    candidates = [override] if override else [current, "/usr/bin/python3", "/usr/local/bin/python3"]
    for exe in candidates:
        if exe and _nobody_can_run(exe):
            return exe
    raise SandboxUnavailable(
        f"process isolation refuses to run programs as root: user nobody cannot read "
        f"{' nor '.join(str(c) for c in candidates)} (Python 3.10+ needed). Set {PYTHON_ENV} to an "
        "interpreter everyone can read (e.g. /usr/bin/python3), run as an ordinary user, or use "
        "namespace mode (root with `unshare`)"
    )


_PROBE = (
    "import json, sys\nrecent = sys.version_info >= (3, 10)\n"
    "print(json.dumps([recent, sys.prefix, sys.base_prefix, *sys.path]))"
)


def _nobody_can_run(exe: str) -> bool:
    """Ask `exe` (as the sandbox will start it) for its directories, then check nobody reaches them."""
    try:
        out = subprocess.run(
            [exe, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=30, env={}, check=True
        ).stdout
        recent, *dirs = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return False
    paths = minimal_paths(
        [os.path.realpath(d) for d in dirs if isinstance(d, str) and d and os.path.isdir(d)]
    )
    return bool(recent) and readable_by(paths, NOBODY, NOBODY)


def _command(mode: str, config: dict[str, Any]) -> list[str]:
    python = process_interpreter() if mode == "process" else sys.executable
    child = [python, "-I", "-S", "-B", str(CHILD), json.dumps(config)]
    if mode == "process":
        return child
    return [
        shutil.which("unshare") or "unshare",
        "--net",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "--",
        *child,
    ]


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (the kernel here has no /proc/<pid>/task/<pid>/children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process group and, in namespace mode, the namespace's first process: that kills every
    process inside the namespace, including any that left the process group with setsid()."""
    for pid in _children(proc.pid) if proc.poll() is None else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left in the group
        os.killpg(proc.pid, signal.SIGKILL)


def _read(path: Path, limit: int) -> str:
    with path.open("rb") as f:
        return f.read(limit).decode("utf-8", errors="replace")


def _killed_reason(
    timed_out: bool, code: int | None, out_sizes: list[int], limits: SandboxLimits
) -> str | None:
    if timed_out:
        return f"wall-clock timeout after {limits.timeout_s:g}s"
    if any(size >= limits.max_output_bytes for size in out_sizes):
        return f"output limit of {limits.max_output_bytes} bytes"
    if code is not None and code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return f"CPU limit of {limits.cpu_s}s"
    if code is not None and code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "killed"
    return None


def _remove(func: Callable[[str], Any], path: str, _exc: Any) -> None:
    """rmtree error handler: a program may leave read-only directories behind; make them writable."""
    os.chmod(os.path.dirname(path), 0o700)
    func(path)


def run_python(code: str, stdin: str = "", limits: SandboxLimits | None = None) -> SandboxResult:
    """Run `code` as a Python program in the sandbox, feeding it `stdin`; blocks (at most
    MAX_CONCURRENT run at once). Never raises for anything the program does."""
    limits = limits or SandboxLimits()
    mode = _mode(limits)
    with _SLOTS:
        return _run_fresh(mode, code, stdin, limits)


def _run_fresh(mode: str, code: str, stdin: str, limits: SandboxLimits) -> SandboxResult:
    workdir = Path(tempfile.mkdtemp(prefix="archon-sandbox-"))
    try:
        return _run_in(workdir, mode, code, stdin, limits)
    finally:
        shutil.rmtree(workdir, onerror=_remove)


def _run_in(workdir: Path, mode: str, code: str, stdin: str, limits: SandboxLimits) -> SandboxResult:
    (workdir / "solution.py").write_text(code, encoding="utf-8")
    (workdir / "stdin").write_text(stdin, encoding="utf-8")
    status_r, status_w = os.pipe()
    config = {
        "mode": mode,
        "workdir": str(workdir),
        "uid": NOBODY,
        "gid": NOBODY,
        "status_fd": status_w,
        "limits": limits.model_dump(exclude={"timeout_s", "isolation"}),
    }
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
    }
    out, err = workdir / "stdout", workdir / "stderr"
    start = time.monotonic()
    with (workdir / "stdin").open("rb") as fin, out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            _command(mode, config),
            stdin=fin,
            stdout=fout,
            stderr=ferr,
            env=env,
            cwd=workdir,
            process_group=0,
            pass_fds=(status_w,),
        )
        os.close(status_w)
        try:
            proc.wait(timeout=limits.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        _kill_tree(proc)
        code_ = proc.wait()
    duration = time.monotonic() - start
    with os.fdopen(status_r, "rb") as status:
        protections = _protections(status.read(), mode)
    sizes = [out.stat().st_size, err.stat().st_size]
    return SandboxResult(
        exit_code=None if timed_out else code_,
        stdout=_read(out, limits.max_output_bytes),
        stderr=_read(err, limits.max_output_bytes),
        timed_out=timed_out,
        killed_reason=_killed_reason(timed_out, code_, sizes, limits),
        duration_s=duration,
        protections=protections,
    )


def _protections(status: bytes, mode: str) -> list[str]:
    common = [
        f"mode: {mode}",
        "python -I -S",
        "scrubbed environment",
        "temporary work dir",
        "wall-clock kill",
    ]
    try:
        return common + [str(p) for p in json.loads(status)]
    except ValueError:
        return [*common, "setup did not complete"]


async def arun_python(code: str, stdin: str = "", limits: SandboxLimits | None = None) -> SandboxResult:
    """`run_python` for asyncio code, in one of MAX_CONCURRENT worker threads of this module."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, run_python, code, stdin, limits)


_FENCE = re.compile(r"```[ \t]*([\w+.#-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}


def extract_code(text: str) -> str:
    """The Python program in an LLM answer: the longest ```python block (the last one on ties), else the
    longest fenced block of any language, else the whole text. An unclosed fence (a truncated answer)
    runs to the end of the text. Never raises."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    python = [body for tag, body in blocks if tag in _PYTHON_TAGS]
    chosen = python or [body for _, body in blocks]
    if not chosen:
        return text.strip("\n") + "\n"
    return max(reversed(chosen), key=len).strip("\n") + "\n"


UNIT_TEST_LIMITS = SandboxLimits(timeout_s=5.0, cpu_s=5)


async def run_unit_tests(
    candidate_text: str, tests: list[str], limits: SandboxLimits | None = None
) -> list[bool]:
    """Run each test (an assertion, or a few lines) after the candidate's code, one sandbox run per test,
    so a test that crashes, exits or hangs affects only itself. A test passes when the program exits 0."""
    code = extract_code(candidate_text)
    results = await asyncio.gather(
        *(arun_python(f"{code}\n\n{test}\n", "", limits or UNIT_TEST_LIMITS) for test in tests)
    )
    return [r.ok for r in results]

"""Escapes that process mode let through as root (issue 12), each tried in every isolation mode: root kept,
writes through a directory descriptor, a shell spawned with _posixsubprocess, a setsid child outliving
the run, signals to the parent. Each must fail, and `protections` must say what held."""

from __future__ import annotations

import os
import select
import shlex
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from archon_compile.sandbox import SandboxLimits, SandboxUnavailable, namespaces_available, run_python, runner

MODES = [
    pytest.param(
        "namespace",
        marks=pytest.mark.skipif(not namespaces_available(), reason="needs root and a working `unshare`"),
    ),
    "process",
]
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the escapes of root need root")

# _posixsubprocess.fork_exec is not an audited event; its arity differs between Python versions.
FORK_EXEC = """
import _posixsubprocess, os, sys
def spawn(argv, setsid=False):
    args = [a.encode() for a in argv]
    err_r, err_w = os.pipe()
    head = [args, [args[0]], True, (), None, None, -1, -1, -1, -1, -1, -1, err_r, err_w, False, setsid, -1]
    for tail in ([None, None, None, -1, None], [None, None, None, -1, None, False], [None, None, None, None]):
        try:
            return _posixsubprocess.fork_exec(*head, *tail)
        except TypeError as exc:
            last = exc
    raise last
"""


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def limits(mode: str) -> SandboxLimits:
    return SandboxLimits(isolation=mode, timeout_s=5.0, cpu_s=5)  # type: ignore[arg-type]


@ROOT
def test_root_is_dropped_for_good(mode: str) -> None:
    code = """
import os
print(os.getuid(), os.geteuid())
for attempt in (lambda: open('/etc/shadow').read(), lambda: os.setuid(0), lambda: os.setgid(0)):
    try:
        attempt()
        print('ESCAPED')
    except OSError as exc:
        print('refused', exc.errno)
"""
    r = run_python(code, "", limits(mode))
    assert r.stdout.splitlines()[0] == "65534 65534", r.stderr
    assert "ESCAPED" not in r.stdout and r.stdout.count("refused") == 3
    assert any("uid 65534" in p for p in r.protections)


def test_writes_through_a_directory_descriptor_do_not_land(mode: str) -> None:
    names = [f"archon-escape-{uuid.uuid4().hex}" for _ in range(3)]
    code = f"""
import os
def attempt(how, fn):
    try:
        fn()
        print(how, 'ESCAPED')
    except OSError as exc:
        print(how, 'refused', exc)
W = os.O_WRONLY | os.O_CREAT
attempt('tmp fd', lambda: os.open({names[0]!r}, W, dir_fd=os.open('/tmp', os.O_RDONLY)))
attempt('own fd', lambda: os.open('../{names[1]}', W, dir_fd=os.open('.', os.O_RDONLY)))
attempt('mkdir', lambda: os.mkdir('../{names[2]}', dir_fd=os.open('.', os.O_RDONLY)))
"""
    r = run_python(code, "", limits(mode))
    landed = [n for n in names if (Path(tempfile.gettempdir()) / n).exists() or Path("/tmp", n).exists()]
    for n in names:
        for base in {tempfile.gettempdir(), "/tmp"}:
            path = Path(base, n)
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
    assert landed == [], r.stdout + r.stderr
    if mode == "process":
        assert r.stdout.count("refused") == 3, r.stdout + r.stderr


def test_a_shell_spawned_by_fork_exec_cannot_run_or_reach_loopback(mode: str) -> None:
    mark = Path(tempfile.gettempdir()) / f"archon-shell-{uuid.uuid4().hex}"
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'x')"
        shell = ["/bin/sh", "-c", f"touch {mark}; {shlex.quote(sys.executable)} -c {shlex.quote(connect)}"]
        code = FORK_EXEC + (
            f"try:\n    spawn({shell!r})\n"
            "    print('spawned')\nexcept OSError as exc:\n    print('refused', exc)\n"
            "import time\ntime.sleep(1.5)\n"
        )
        r = run_python(code, "", limits(mode))
        readable, _, _ = select.select([server], [], [], 0.5)
    landed = mark.exists()
    mark.unlink(missing_ok=True)
    assert readable == [], "a spawned shell reached a listener on 127.0.0.1"
    assert not landed, "a spawned shell wrote outside the sandbox"
    if mode == "process":
        assert "refused" in r.stdout, r.stdout + r.stderr


def test_a_setsid_child_does_not_outlive_the_run(mode: str) -> None:
    mark = f"archon-daemon-{uuid.uuid4().hex}"
    code = FORK_EXEC + (
        f"try:\n    spawn(['/bin/sh', '-c', 'sleep 30; echo {mark}'], setsid=True)\n    print('spawned')\n"
        "except OSError as exc:\n    print('refused', exc)\n"
    )
    r = run_python(code, "", limits(mode))
    time.sleep(0.3)
    survivors = _processes_mentioning(mark)
    for pid in survivors:
        os.kill(pid, 9)
    assert survivors == [], f"{r.stdout}{r.stderr}"


def test_the_program_cannot_signal_the_process_that_started_it(mode: str) -> None:
    """In process mode that process is its parent; in namespace mode it is outside the pid namespace."""
    code = f"""
import os, signal
try:
    signal.pidfd_send_signal(os.pidfd_open({os.getpid()}), 0)
    print('ESCAPED')
except OSError as exc:
    print('refused', exc)
"""
    r = run_python(code, "", limits(mode))
    assert "ESCAPED" not in r.stdout and "refused" in r.stdout, r.stdout + r.stderr
    if mode == "process":
        parent = "import os\nprint(os.getppid() == {os.getpid()})".replace("{os.getpid()}", str(os.getpid()))
        assert run_python(parent, "", limits(mode)).stdout == "True\n", "the test targets the parent"


def test_process_mode_states_the_kernel_filter() -> None:
    r = run_python("import threading, asyncio\nthreading.Thread(target=print).start()", "", limits("process"))
    assert r.ok, r.stderr
    if os.uname().machine == "x86_64":
        assert any(p.startswith("seccomp:") for p in r.protections)


@ROOT
def test_process_mode_refuses_root_when_nobody_cannot_run_an_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner._root_interpreter.cache_clear()
    monkeypatch.setattr(runner, "_nobody_can_run", lambda exe: False)
    monkeypatch.setattr(runner, "namespaces_available", lambda: False)
    try:
        with pytest.raises(
            SandboxUnavailable, match="refuses to run programs as root.*ARCHON_COMPILE_SANDBOX"
        ):
            run_python("print('ran as root')", "", SandboxLimits(isolation="process"))
        with pytest.raises(SandboxUnavailable, match="refuses to run programs as root"):
            run_python("print('ran as root')", "", SandboxLimits(isolation="auto"))
    finally:
        runner._root_interpreter.cache_clear()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]

"""The code sandbox: ordinary programs, limits, and hostile programs in both isolation modes."""

from __future__ import annotations

import asyncio
import math
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archon_compile.sandbox import (
    MAX_CONCURRENT,
    SandboxLimits,
    SandboxUnavailable,
    arun_python,
    extract_code,
    namespaces_available,
    run_python,
    run_unit_tests,
)

MODES = [
    pytest.param(
        "namespace",
        marks=pytest.mark.skipif(not namespaces_available(), reason="needs root and a working `unshare`"),
    ),
    "process",
]


def limits(mode: str, **kw: float) -> SandboxLimits:
    return SandboxLimits(isolation=mode, **{"timeout_s": 3.0, "cpu_s": 3, **kw})  # type: ignore[arg-type]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ---------------------------------------------------------------------------------------------------
# Ordinary programs


def test_stdin_stdout_and_exit_code(mode: str) -> None:
    r = run_python("import sys\nname = input()\nprint('hello', name)\nsys.exit(3)", "world\n", limits(mode))
    assert (r.stdout, r.exit_code, r.timed_out, r.killed_reason, r.ok) == (
        "hello world\n",
        3,
        False,
        None,
        False,
    )
    assert f"mode: {mode}" in r.protections


def test_passing_and_failing_programs(mode: str) -> None:
    assert run_python("assert sum(range(4)) == 6", "", limits(mode)).ok
    failed = run_python("def f():\n    raise ValueError('boom')\nf()", "", limits(mode))
    assert failed.exit_code == 1 and not failed.ok
    assert 'File "solution.py", line 2' in failed.stderr and "ValueError: boom" in failed.stderr
    assert "child.py" not in failed.stderr
    syntax = run_python("def (:", "", limits(mode))
    assert syntax.exit_code == 1 and "SyntaxError" in syntax.stderr


def test_infinite_loop_hits_the_wall_clock_timeout(mode: str) -> None:
    r = run_python("while True:\n    pass", "", limits(mode, timeout_s=1.0, cpu_s=30))
    assert r.timed_out and r.exit_code is None and not r.ok
    assert r.killed_reason is not None and "timeout" in r.killed_reason
    assert r.duration_s < 3.0


def test_cpu_limit_kills_a_busy_program(mode: str) -> None:
    r = run_python("while True:\n    pass", "", limits(mode, timeout_s=10.0, cpu_s=1))
    assert not r.timed_out and not r.ok
    assert r.killed_reason is not None and "CPU limit" in r.killed_reason


def test_output_is_capped(mode: str) -> None:
    r = run_python("while True:\n    print('x' * 1000)", "", limits(mode, max_output_bytes=20_000))
    assert not r.ok and r.killed_reason is not None and "output limit" in r.killed_reason
    assert len(r.stdout) <= 20_000


def test_work_dir_is_removed(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    r = run_python(
        "open('scratch.txt', 'w').write('x' * 100)\nprint(open('scratch.txt').read()[:3])", "", limits(mode)
    )
    assert r.ok and r.stdout == "xxx\n"
    assert list(tmp_path.iterdir()) == []


def test_namespace_mode_fails_clearly_when_forced_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("archon_compile.sandbox.runner.namespaces_available", lambda: False)
    with pytest.raises(SandboxUnavailable, match="unshare"):
        run_python("pass", "", SandboxLimits(isolation="namespace"))
    assert "mode: process" in run_python("pass", "", SandboxLimits(isolation="auto")).protections


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK),
    reason="needs root and a system python readable by everyone",
)
def test_process_mode_drops_root_when_the_interpreter_is_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    r = run_python("import os\nopen('own.txt', 'w').write('x')\nprint(os.getuid())", "", limits("process"))
    assert r.ok and r.stdout == "65534\n" and "uid 65534" in r.protections


def test_at_most_max_concurrent_sandboxes_run_at_once() -> None:
    async def main() -> float:
        start = time.monotonic()
        await asyncio.gather(
            *(
                arun_python("import time\ntime.sleep(0.6)", "", SandboxLimits(timeout_s=5))
                for _ in range(MAX_CONCURRENT + 1)
            )
        )
        return time.monotonic() - start

    assert asyncio.run(main()) >= 0.6 * math.ceil((MAX_CONCURRENT + 1) / MAX_CONCURRENT)


# ---------------------------------------------------------------------------------------------------
# Hostile programs: each is contained, scored as a failure, and the test run goes on.


def test_fork_bomb_is_contained(mode: str) -> None:
    r = run_python("import os\nwhile True:\n    os.fork()", "", limits(mode, max_processes=20))
    assert not r.ok
    assert run_python("print('still alive')", "", limits(mode)).stdout == "still alive\n"


def test_huge_allocation_fails_with_memory_error(mode: str) -> None:
    r = run_python("x = bytearray(8 * 1024**3)\nprint('allocated')", "", limits(mode, memory_mb=256))
    assert not r.ok and "MemoryError" in r.stderr and "allocated" not in r.stdout


def test_environment_secrets_are_not_visible(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("ARCHON_TEST_API_KEY", secret)
    # A process that really holds the secret in its environment block, readable through /proc by root.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        env={**os.environ, "ARCHON_TEST_API_KEY": secret},
    )
    hunt = f"""
import os
found = os.environ.get("ARCHON_TEST_API_KEY") or ""
for pid in os.listdir("/proc"):
    try:
        with open(f"/proc/{{pid}}/environ", "rb") as f:
            if b"{secret}" in f.read():
                found += "proc:" + pid
    except OSError:
        pass
print(found or "nothing")
if found:
    raise SystemExit(1)
"""
    try:
        r = run_python(hunt, "", limits(mode))
    finally:
        holder.kill()
        holder.wait()
    assert secret not in r.stdout and "proc:" not in r.stdout
    assert not r.ok or r.stdout == "nothing\n"


def test_writes_outside_the_work_dir_do_not_land(mode: str) -> None:
    targets = [
        Path(tempfile.gettempdir()) / f"archon-sandbox-outside-{uuid.uuid4().hex}",
        Path(__file__).resolve().parent / f"outside-{uuid.uuid4().hex}.txt",
    ]
    code = "\n".join(f"open({str(t)!r}, 'w').write('pwned')" for t in targets)
    r = run_python(code, "", limits(mode))
    try:
        assert not any(t.exists() for t in targets)
    finally:
        for t in targets:
            t.unlink(missing_ok=True)
    if mode == "process":  # the audit hook refuses; in namespace mode /tmp is a private tmpfs instead
        assert not r.ok and "PermissionError" in r.stderr


def test_no_network_not_even_loopback(mode: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = (
            f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "s.sendall(b'hello')\nprint('connected')"
        )
        r = run_python(code, "", limits(mode))
        readable, _, _ = select.select([server], [], [], 0.2)
    assert not r.ok and "connected" not in r.stdout
    assert readable == [], "a connection reached the listener"


@pytest.mark.skipif(not namespaces_available(), reason="needs root and a working `unshare`")
def test_background_processes_die_with_the_run() -> None:
    """A daemonised grandchild (new session, so outside the process group) dies when the run ends."""
    mark = f"sbx{uuid.uuid4().hex[:12]}"
    code = f"""
import ctypes, os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    ctypes.CDLL(None).prctl(15, b"{mark}", 0, 0, 0)  # PR_SET_NAME: a name the test can look for
    os.write(w, b"x")
    time.sleep(60)
    sys.exit(0)
os.read(r, 1)
print("parent done")
"""
    r = run_python(code, "", limits("namespace"))
    assert r.stdout == "parent done\n"
    assert _processes_named(mark) == []


def _processes_named(name: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == name:
                found.append(proc.name)
        except OSError:
            continue
    return found


# ---------------------------------------------------------------------------------------------------
# extract_code and run_unit_tests


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Here:\n```python\nprint(1)\n```\nor\n```python\nprint(22)\n```", "print(22)\n"),
        ("```python\nlonger = 1\nprint(longer)\n```\n```python\nx = 2\n```", "longer = 1\nprint(longer)\n"),
        ("```\nprint('plain')\n```\n```text\nhi\n```", "print('plain')\n"),
        ("```js\nconsole.log(1)\n```\n```py\nprint(3)\n```", "print(3)\n"),
        ("Sure!\n```python\ndef f():\n    return 1", "def f():\n    return 1\n"),
        ("def g():\n    return 2\n", "def g():\n    return 2\n"),
        ("", "\n"),
    ],
)
def test_extract_code(text: str, expected: str) -> None:
    assert extract_code(text) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["`", "```", "```python", "```py\n", "\n", " ", "x", "\t"]) | st.text(max_size=5),
        max_size=40,
    ).map("".join)
)
def test_extract_code_never_raises(text: str) -> None:
    out = extract_code(text)
    assert isinstance(out, str) and out.endswith("\n")


def test_run_unit_tests_isolates_each_test() -> None:
    candidate = "```python\ndef add(a, b):\n    return a + b\n```"
    tests = [
        "assert add(1, 2) == 3",
        "assert add(2, 2) == 5",
        "import sys\nsys.exit(0)",
        "while True:\n    pass",
        "raise RuntimeError('x')",
        "assert add('a', 'b') == 'ab'",
    ]
    fast = SandboxLimits(timeout_s=1.0, cpu_s=1)
    assert asyncio.run(run_unit_tests(candidate, tests, fast)) == [True, False, True, False, False, True]

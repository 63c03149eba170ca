"""The code sandbox: run untrusted, LLM-written Python in a separate, limited process.

Every run gets: a fresh temporary directory (removed afterwards), `python -I -S` (isolated mode, standard
library only: the program cannot import this project or its dependencies), an
environment of only PATH, LANG and HOME/TMPDIR pointing at the work dir, a wall-clock timeout that kills
the whole process tree, and rlimits set in the child itself (CPU seconds, address space, number of
processes against fork bombs, file size, which also caps stdout/stderr since they go to files).

Two isolation modes, chosen at run time (`SandboxResult.protections` lists what applied):

- ``namespace`` (root, and `unshare` works): the child gets its own network namespace (only a loopback
  that is down: no connection to anything, 127.0.0.1 included), pid namespace (everything it starts dies
  with it, and it sees no other process) and mount namespace, in which every world-writable directory
  (/tmp, /var/tmp, /dev/shm, /run/lock) is replaced by a private tmpfs that vanishes with the run, and
  directories `nobody` cannot enter (such as /root) are hidden the same way, re-exposing only the
  interpreter's own directories. The child then drops root for `nobody` (uid 65534) with no_new_privs,
  so the rest of the filesystem is protected by ordinary permissions and RLIMIT_NPROC is enforced.
- ``process`` (fallback): rlimits; as root, `nobody` (uid 65534, no_new_privs: root cannot be regained,
  /etc/shadow is unreadable), for which it runs an interpreter nobody can read (`process_interpreter`)
  or refuses to run at all; a seccomp filter (x86-64) by which the kernel refuses new processes and
  programs (so nothing outlives the run or escapes the filter), every socket but socketpair, signals
  to other processes, pidfd and ptrace, and writes through a directory descriptor; and an audit hook
  that refuses writes outside the work dir, opening directories outside it, /proc of others and ctypes.
  Files elsewhere stay protected by ordinary permissions only (as nobody): prefer namespace mode.

Modules: `runner` (start, limit, watch and clean up a run; the public functions below), `child` (what the
child process applies to itself before the code runs; stdlib only) and `seccomp_filter` (the x86-64
filter the child installs in process mode). Tasks score code with it; the unit-test evaluator runs tests
with it.
"""

from archon_compile.sandbox.runner import (
    MAX_CONCURRENT,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
    arun_python,
    extract_code,
    namespaces_available,
    run_python,
    run_unit_tests,
)

__all__ = [
    "MAX_CONCURRENT",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "arun_python",
    "extract_code",
    "namespaces_available",
    "run_python",
    "run_unit_tests",
]

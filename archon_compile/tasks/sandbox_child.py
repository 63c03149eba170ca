"""The child side of the code sandbox. Stdlib only: it runs as `python -I -S sandbox_child.py CONFIG_JSON`.

It runs in the child process before the untrusted code and applies what only the child can apply to
itself: resource limits, a private filesystem view (namespace mode), dropping root to `nobody`, and, in
process mode, an audit hook. The untrusted code then runs in this same process, so nothing it does
happens before these protections are in place. `archon_compile.tasks.sandbox` documents the whole model.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import stat
import sys
import traceback
from collections.abc import Callable
from typing import Any

MS_NOSUID, MS_NODEV, MS_BIND, MS_REC = 0x2, 0x4, 0x1000, 0x4000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SIGKILL, AF_UNIX = 9, 1
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
"""Directories any user may write to: namespace mode hides each behind a private, throwaway tmpfs."""
NS_WORKDIR = "/tmp/sandbox"

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"sandbox setup: {what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _traversable(path: str, uid: int, gid: int) -> bool:
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _blocked_ancestor(path: str, uid: int, gid: int) -> str | None:
    """The highest directory on the way to `path` that `uid` cannot enter (e.g. /root, mode 700)."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:i])
        if not _traversable(ancestor, uid, gid):
            return ancestor
    return None


def _minimal(paths: list[str]) -> list[str]:
    """Drop paths that lie inside another path of the list."""
    ordered = sorted(set(paths))
    return [p for p in ordered if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in ordered)]


def _interpreter_paths() -> list[str]:
    """What the interpreter reads after privileges are dropped: its prefixes and import path."""
    entries = [sys.prefix, sys.base_prefix, *sys.path]
    return _minimal([os.path.realpath(p) for p in entries if p and os.path.isdir(p)])


def interpreter_readable(uid: int, gid: int) -> bool:
    return all(_blocked_ancestor(p, uid, gid) is None for p in _interpreter_paths())


def private_filesystem(uid: int, gid: int, tmpfs_mb: int) -> str:
    """Namespace mode, as root in a fresh mount namespace: hide every world-writable directory and every
    directory `uid` cannot enter behind a private tmpfs, re-exposing (bind-mounting) only the
    interpreter's own directories. Writes then land in tmpfs that vanishes with the namespace."""
    keep = _interpreter_paths()
    blocked = [b for p in keep if (b := _blocked_ancestor(p, uid, gid))]
    tops = _minimal([d for d in WORLD_WRITABLE if os.path.isdir(d)] + blocked)
    for top in tops:
        inside = [p for p in keep if p.startswith(top.rstrip("/") + "/")]
        fds = [os.open(p, os.O_PATH | os.O_DIRECTORY) for p in inside]
        mode = "1777" if top in WORLD_WRITABLE else "0755"
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_mb}m,mode={mode}")
        for path, fd in zip(inside, fds, strict=True):
            os.makedirs(path, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)
    os.makedirs(NS_WORKDIR, mode=0o700)
    os.chown(NS_WORKDIR, uid, gid)
    return NS_WORKDIR


def set_limits(limits: dict[str, int]) -> None:
    """Soft = hard, so the untrusted code cannot raise them again. CPU: SIGXCPU at the soft limit."""
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = limits["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["max_output_bytes"], limits["max_output_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def drop_privileges(uid: int, gid: int, namespace: bool) -> None:
    """Become `uid`; no setuid binary can give privileges back. In namespace mode the parent is `unshare`
    (its --kill-child signal is cleared by the uid change, so it is set again)."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if namespace:
        _check(_libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "pdeathsig")


_PATH_ARGS: dict[str, tuple[int, ...]] = {
    "os.rename": (0, 1),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.symlink": (0, 1),
    "os.link": (0, 1),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.truncate": (0,),
    "os.utime": (0,),
}
_SPAWN = (
    "subprocess.Popen",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.system",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _outside(path: Any, workdir: str) -> bool:
    if not isinstance(path, str | bytes | os.PathLike):
        return False  # a file descriptor: already open
    real = os.path.realpath(os.fsdecode(path))
    return real not in (workdir, os.devnull) and not real.startswith(workdir + "/")


def _other_process(path: Any) -> bool:
    """A path into another process's /proc entry (its environment, memory, open files)."""
    if not isinstance(path, str | bytes | os.PathLike):
        return False
    parts = os.path.realpath(os.fsdecode(path)).split("/")
    return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and int(parts[2]) != os.getpid()


def audit_guard(workdir: str) -> Callable[[str, tuple[Any, ...]], None]:
    """Process mode (no namespaces): refuse, inside the interpreter, internet sockets, writes outside the
    work dir, reading other processes' /proc entries, new processes (they would escape this hook), native
    code via ctypes and signals to others. In-process only: it stops ordinary code, not a determined
    attacker."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        blocked = (
            (event == "open" and _other_process(args[0]))
            or (event == "socket.__new__" and args[1] != AF_UNIX)
            or (
                event in ("socket.connect", "socket.bind", "socket.sendto")
                and getattr(args[0], "family", None) != AF_UNIX
            )
            or (
                event == "open"
                and isinstance(args[2], int)
                and bool(args[2] & _WRITE_FLAGS)
                and _outside(args[0], workdir)
            )
            or any(_outside(args[i], workdir) for i in _PATH_ARGS.get(event, ()))
            or event.startswith(_SPAWN)
            or event.startswith("ctypes.")
            or (event in ("os.kill", "os.killpg") and args[0] not in (os.getpid(), 0))
        )
        if blocked:
            raise PermissionError(f"sandbox: {event} is not allowed here")

    return hook


def run_user_code(source: str) -> None:
    """Run the program as `__main__`; tracebacks show only the program's own frames."""
    sys.argv = ["solution.py"]
    sys.path[0:0] = [os.getcwd()]
    scope: dict[str, Any] = {"__name__": "__main__", "__file__": "solution.py", "__builtins__": __builtins__}
    try:
        exec(compile(source, "solution.py", "exec"), scope)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: B036 - any failure of the program is exit status 1
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def main() -> None:
    """Set up in order (filesystem, limits, identity, hook), report what applied on the status fd, run."""
    cfg = json.loads(sys.argv[1])
    uid, gid, namespace = cfg["uid"], cfg["gid"], cfg["mode"] == "namespace"
    with open(os.path.join(cfg["workdir"], "solution.py"), encoding="utf-8") as f:
        source = f.read()
    applied = ["rlimits: cpu, address space, processes, file size"]
    workdir = cfg["workdir"]
    if namespace:
        workdir = private_filesystem(uid, gid, cfg["limits"]["memory_mb"])
        with open(os.path.join(workdir, "solution.py"), "w", encoding="utf-8") as f:
            f.write(source)  # for tracebacks
        applied.append("namespaces: network, pid, mount; private tmpfs over world-writable dirs")
    drop = uid is not None and os.geteuid() == 0 and (namespace or interpreter_readable(uid, gid))
    if drop and not namespace:
        os.chown(workdir, uid, gid)
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    set_limits(cfg["limits"])
    if drop:
        drop_privileges(uid, gid, namespace)
        applied.append(f"uid {uid}")
    if not namespace:
        sys.addaudithook(audit_guard(os.path.realpath(workdir)))
        applied.append("audit hook: no inet sockets, writes outside the work dir, processes, ctypes")
    with os.fdopen(cfg["status_fd"], "w") as status:
        json.dump(applied, status)
    if namespace:
        run_beside_init()
    run_user_code(source)


def run_beside_init() -> None:
    """In namespace mode this process is the pid namespace's init, which the kernel shields from signals
    (even RLIMIT_CPU's). So the program runs in a child; this process only waits and passes on its exit
    status (128 + signal when it was killed), and its exit takes down everything left in the namespace."""
    pid = os.fork()
    if pid == 0:
        return
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()

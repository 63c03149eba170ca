"""The child side of the code sandbox. Stdlib only: it runs as `python -I -S child.py CONFIG_JSON`.

It runs in the child process before the untrusted code and applies what only the child can apply to
itself: resource limits, a private filesystem view (namespace mode), dropping root to `nobody`, and, in
process mode, an audit hook. The untrusted code then runs in this same process, so nothing it does
happens before these protections are in place. `archon_compile.sandbox` documents the whole model.
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

try:
    from archon_compile.sandbox.seccomp_filter import install_seccomp
except ImportError:  # run as a script with -I -S: the package is not importable, its directory is
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from seccomp_filter import install_seccomp  # type: ignore[import-not-found,no-redef]

    del sys.path[0]


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


def minimal_paths(paths: list[str]) -> list[str]:
    """Drop paths that lie inside another path of the list."""
    ordered = sorted(set(paths))
    return [p for p in ordered if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in ordered)]


def _interpreter_paths() -> list[str]:
    """What the interpreter reads after privileges are dropped: its prefixes and import path."""
    entries = [sys.prefix, sys.base_prefix, *sys.path]
    return minimal_paths([os.path.realpath(p) for p in entries if p and os.path.isdir(p)])


def readable_by(paths: list[str], uid: int, gid: int) -> bool:
    """Whether `uid` can reach every one of `paths` (directories of an interpreter)."""
    return all(_blocked_ancestor(p, uid, gid) is None for p in paths)


def interpreter_readable(uid: int, gid: int) -> bool:
    return readable_by(_interpreter_paths(), uid, gid)


def private_filesystem(uid: int, gid: int, tmpfs_mb: int) -> str:
    """Namespace mode, as root in a fresh mount namespace: hide every world-writable directory and every
    directory `uid` cannot enter behind a private tmpfs, re-exposing (bind-mounting) only the
    interpreter's own directories. Writes then land in tmpfs that vanishes with the namespace."""
    keep = _interpreter_paths()
    blocked = [b for p in keep if (b := _blocked_ancestor(p, uid, gid))]
    tops = minimal_paths([d for d in WORLD_WRITABLE if os.path.isdir(d)] + blocked)
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


_PATH_ARGS: dict[str, tuple[tuple[int, int | None], ...]] = {
    # audit event: (index of a path written, index of its dir_fd or None), per Python's audit table
    "os.rename": ((0, 2), (1, 3)),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.symlink": ((0, None), (1, 2)),
    "os.link": ((0, 2), (1, 3)),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.truncate": ((0, None),),
    "os.utime": ((0, 3),),
    "os.mkfifo": ((0, 2),),
    "os.mknod": ((0, 3),),
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


def _outside(path: Any, workdir: str, dir_fd: Any = None) -> bool:
    """Whether `path` (relative to the directory open as `dir_fd`, if one is given) lies outside."""
    if not isinstance(path, str | bytes | os.PathLike):
        return False  # a file descriptor: already open
    name = os.fsdecode(path)
    if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(name):  # AT_FDCWD is -100
        try:
            name = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name)
        except OSError:
            return True
    real = os.path.realpath(name)
    return real not in (workdir, os.devnull) and not real.startswith(workdir + "/")


def _arg(args: tuple[Any, ...], i: int | None) -> Any:
    return args[i] if i is not None and i < len(args) else None


def _other_process(path: Any) -> bool:
    """A path into another process's /proc entry (its environment, memory, open files)."""
    if not isinstance(path, str | bytes | os.PathLike):
        return False
    parts = os.path.realpath(os.fsdecode(path)).split("/")
    return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and int(parts[2]) != os.getpid()


def _is_dir(path: Any) -> bool:
    return isinstance(path, str | bytes | os.PathLike) and os.path.isdir(path)


def audit_guard(workdir: str) -> Callable[[str, tuple[Any, ...]], None]:
    """Process mode (no namespaces): refuse, inside the interpreter, internet sockets, writes outside the
    work dir (a dir_fd included), opening directories outside it (no dir_fd to escape through), reading
    other processes' /proc entries, new processes (they would escape this hook), native code via ctypes
    and signals to others. In-process only: seccomp (`install_seccomp`) enforces the core in the kernel."""

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
            or (event == "open" and _outside(args[0], workdir) and _is_dir(args[0]))
            or any(_outside(args[p], workdir, _arg(args, d)) for p, d in _PATH_ARGS.get(event, ()))
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
    root = os.geteuid() == 0
    drop = uid is not None and root and (namespace or interpreter_readable(uid, gid))
    if root and not drop:
        refuse("root cannot become nobody: nobody cannot read this interpreter's files")
    if drop and not namespace:
        os.chown(workdir, uid, gid)
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    set_limits(cfg["limits"])
    if drop:
        drop_privileges(uid, gid, namespace)
        applied += [f"uid {uid}", "no new privileges: root cannot be regained"]
    if not namespace:
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        if install_seccomp():
            applied.append(
                "seccomp: no new processes or programs, no sockets (socketpair only), no signals to other "
                "processes, no pidfd/ptrace, no writes through a directory descriptor"
            )
        elif root:
            refuse("seccomp is not available on this machine")
        sys.addaudithook(audit_guard(os.path.realpath(workdir)))
        applied.append(
            "audit hook: no inet sockets, writes outside the work dir, directories outside it, processes, "
            "ctypes"
        )
    with os.fdopen(cfg["status_fd"], "w") as status:
        json.dump(applied, status)
    if namespace:
        run_beside_init()
    run_user_code(source)


def refuse(why: str) -> None:
    """Never run untrusted code as root: stop before it starts (the parent reports no protections)."""
    sys.stderr.write(f"sandbox: refusing to run the program as root in process mode: {why}\n")
    sys.stderr.flush()
    os._exit(1)


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

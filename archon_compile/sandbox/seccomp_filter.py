"""The sandbox's seccomp filter (process mode): the kernel refuses what the audit hook cannot see.

Stdlib only, like `child.py`, which installs it just before the untrusted code runs. The filter
allows threads but no new process or program (so nothing can outlive the run or escape the filter), no
socket but socketpair, no signal to another process, no pidfd or ptrace, and no write through a
directory descriptor; everything else passes (paths are the audit hook's and the file permissions' job).
"""

from __future__ import annotations

import ctypes
import os

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_libc = ctypes.CDLL(None, use_errno=True)

AUDIT_ARCH_X86_64 = 0xC000003E
AT_FDCWD = 0xFFFFFF9C  # -100 as the low 32 bits of the argument
CLONE_THREAD = 0x10000
EPERM, ENOSYS = 1, 38
RET_ALLOW, RET_ERRNO, RET_KILL = 0x7FFF0000, 0x00050000, 0x80000000
LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
# x86-64 system call numbers; on other architectures no filter is installed (and root is refused)
DENIED = {
    41: EPERM,  # socket: no sockets at all (socketpair, used by asyncio, stays allowed)
    57: EPERM,  # fork
    58: EPERM,  # vfork (what _posixsubprocess.fork_exec uses)
    59: EPERM,  # execve
    322: EPERM,  # execveat
    435: ENOSYS,  # clone3: its flags are out of the filter's reach; libc falls back to clone
    101: EPERM,  # ptrace
    200: EPERM,  # tkill
    310: EPERM,  # process_vm_readv
    311: EPERM,  # process_vm_writev
    424: EPERM,  # pidfd_send_signal
    434: EPERM,  # pidfd_open
    438: EPERM,  # pidfd_getfd
    437: ENOSYS,  # openat2: its flags are out of reach; libc uses openat
    425: EPERM,  # io_uring_setup: io_uring would issue openat/connect beyond the filter
    165: EPERM,  # mount
    272: EPERM,  # unshare
    308: EPERM,  # setns
    321: EPERM,  # bpf
    298: EPERM,  # perf_event_open
    323: EPERM,  # userfaultfd
}
SIGNALS_TO_SELF = {62: 0, 234: 0, 129: 0, 297: 0}  # kill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo
CLONE, OPENAT = 56, 257
WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def _arg_low(i: int) -> tuple[int, int, int, int]:
    return _ins(LD, 16 + 8 * i)  # the low half of argument i (little-endian seccomp_data)


def seccomp_program(pid: int) -> list[tuple[int, int, int, int]]:
    """A BPF filter: each rule is `nr == N ? body : next rule`, and every body ends in a return."""
    rules: list[tuple[int, list[tuple[int, int, int, int]]]] = []
    for nr, errno in DENIED.items():
        rules.append((nr, [_ins(RET, RET_ERRNO | errno)]))
    own = [pid, 0, (-pid) & 0xFFFFFFFF]  # this process, its group (it is the group's leader)
    for nr, arg in SIGNALS_TO_SELF.items():
        jumps = [_ins(JEQ, v, jt=len(own) - i) for i, v in enumerate(own)]
        rules.append((nr, [_arg_low(arg), *jumps, _ins(RET, RET_ERRNO | EPERM), _ins(RET, RET_ALLOW)]))
    # clone: threads only (no new process, so nothing can outlive the run or escape the filter)
    rules.append(
        (
            CLONE,
            [_arg_low(0), _ins(JSET, CLONE_THREAD, jt=1), _ins(RET, RET_ERRNO | EPERM), _ins(RET, RET_ALLOW)],
        )
    )
    # openat: writing through a directory descriptor (dir_fd) is refused; paths are the hook's job
    rules.append(
        (
            OPENAT,
            [
                _arg_low(0),
                _ins(JEQ, AT_FDCWD, jt=3),
                _arg_low(2),
                _ins(JSET, WRITE_FLAGS, jf=1),
                _ins(RET, RET_ERRNO | EPERM),
                _ins(RET, RET_ALLOW),
            ],
        )
    )
    prog = [
        _ins(LD, 4),
        _ins(JEQ, AUDIT_ARCH_X86_64, jt=1),
        _ins(RET, RET_KILL),
        _ins(LD, 0),
        _ins(JGE, 0x40000000, jf=1),
        _ins(RET, RET_ERRNO | EPERM),
    ]  # x32 system calls
    for nr, body in rules:
        prog += [_ins(JEQ, nr, jf=len(body)), *body]
    return [*prog, _ins(RET, RET_ALLOW)]


def install_seccomp() -> bool:
    """Install the filter on this process (no_new_privs must be set). False where unsupported."""
    if os.uname().machine != "x86_64":
        return False

    class Filter(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_ushort),
            ("jt", ctypes.c_ubyte),
            ("jf", ctypes.c_ubyte),
            ("k", ctypes.c_uint32),
        ]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    rows = seccomp_program(os.getpid())
    table = (Filter * len(rows))(*(Filter(*row) for row in rows))
    prog = Prog(len(rows), table)
    return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0

"""The eBPF observer's ring buffer records (``observer.bpf.c``) and their parsing.

Layouts are little-endian with natural alignment; the C source states each struct's size and
tests/sensor/test_ebpf_parse.py checks the formats against it. Pure Python: no kernel needed.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from dataclasses import dataclass

from mamori.core.fastinit import fast_init
from mamori.sensor.sources.procfs import UNSET_LOGINUID

HDR = "<IIIIQ16s"
EXEC_FMT = HDR + "IIQIIHHIIIQ32s256s512s"
CONNECT_FMT = HDR + "iHHHHi16s"
OPEN_FMT = HDR + "iIIHH256s"
EXEC_SIZE, CONNECT_SIZE, OPEN_SIZE = (struct.calcsize(f) for f in (EXEC_FMT, CONNECT_FMT, OPEN_FMT))
# Compiled once: ``struct.unpack_from(fmt, ...)`` looks the format up in a cache per call.
_KIND = struct.Struct("<I")
_EXEC = struct.Struct(EXEC_FMT)
PATH_LEN, NAME_LEN, BASE_LEN = 256, 32, 64
KIND_EXEC, KIND_CONNECT, KIND_OPEN = 1, 2, 3
FLAG_MEMFD, FLAG_DELETED, FLAG_LOGINUID = 1, 2, 4
MATCH_PATH, MATCH_BASENAME, MATCH_RELATIVE = 1, 2, 3
AT_FDCWD = -100
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
RUNC_MEMFD = "memfd:runc_cloned:/proc/self/exe"  # runc's own clone: not drift (Falco agrees)
LOADERS = ("ld-linux", "ld-musl")
RINGBUF_POLL_MS = 200
PROGRAMS = (
    ("mamori_exec", True),
    ("mamori_connect_enter", True),
    ("mamori_connect_exit", True),
    ("mamori_openat", True),
    ("mamori_open", False),  # absent on some architectures: optional
    ("mamori_openat2", False),  # >= 5.6
)

# Falco's open flag names (access mode first), from the x86-64/generic O_* values.
_ACCESS = ("O_RDONLY", "O_WRONLY", "O_RDWR")
_OPEN_FLAGS = (
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o200000, "O_DIRECTORY"),
    (0o2000000, "O_CLOEXEC"),
)
O_TMPFILE = 0o20200000
_PROTOCOLS: dict[int, str] = {int(socket.SOCK_STREAM): "tcp", int(socket.SOCK_DGRAM): "udp"}
O_SYNC = 0o4010000


@fast_init
@dataclass(frozen=True, slots=True)
class Header:
    kind: int
    tgid: int
    uid: int
    cgroup_id: int
    comm: str


@fast_init
@dataclass(frozen=True, slots=True)
class ExecEvent:
    hdr: Header
    ppid: int
    loginuid: int | None
    ino: int
    dev: int  # as userspace's st_dev (makedev of the kernel's major/minor)
    flags: int
    nlink: int
    exe_name: str
    filename: str
    args: tuple[str, ...]
    tty: int = 0  # /proc's tty_nr
    vpid: int = 0  # 0: unknown
    start_ns: int = 0  # since boot (task->start_boottime)

    @property
    def start_ticks(self) -> int:
        """/proc/<pid>/stat's starttime (clock ticks since boot)."""
        return self.start_ns // (1_000_000_000 // TICKS_PER_S)

    @property
    def memfd(self) -> bool:
        return bool(self.flags & FLAG_MEMFD)

    @property
    def deleted(self) -> bool:
        return bool(self.flags & FLAG_DELETED)

    @property
    def runc_clone(self) -> bool:
        return self.exe_name.startswith("memfd:runc_cloned")

    def loader_target(self) -> str | None:
        """A direct exec of the dynamic loader with a program to run: that program's path."""
        if "ld-" not in self.filename and "ld-" not in self.exe_name:
            return None  # every exec asks: the common answer without basename() calls
        names = (os.path.basename(self.filename), self.exe_name)
        if not any(n.startswith(LOADERS) for n in names):
            return None
        for arg in self.args[1:]:
            if arg.startswith("-"):
                return None  # ld.so --verify / --list (ldd), --help ...: no program run
            if os.path.basename(arg).startswith(LOADERS):
                continue
            return arg
        return None


@fast_init
@dataclass(frozen=True, slots=True)
class ConnectEvent:
    hdr: Header
    ret: int
    family: int
    port: int
    sock_type: int
    fd: int
    address: str

    @property
    def protocol(self) -> str:
        return _PROTOCOLS.get(self.sock_type, "inet")

    @property
    def result(self) -> str:
        """Falco's ``evt.res``: ``SUCCESS`` or the errno name (``ENETUNREACH``)."""
        if self.ret >= 0:
            return "SUCCESS"
        return errno.errorcode.get(-self.ret, str(self.ret))


@fast_init
@dataclass(frozen=True, slots=True)
class OpenEvent:
    hdr: Header
    dfd: int
    flags: int
    mode: int
    path: str
    match: int

    @property
    def flag_names(self) -> tuple[str, ...]:
        return open_flag_names(self.flags)


BpfEvent = ExecEvent | ConnectEvent | OpenEvent


def _cstr(raw: bytes, length: int | None = None) -> str:
    if length is not None:
        raw = raw[:length]
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def open_flag_names(flags: int) -> tuple[str, ...]:
    names = [_ACCESS[flags & 3] if flags & 3 < 3 else "O_RDWR"]
    names += [name for bit, name in _OPEN_FLAGS if flags & bit]
    if flags & O_SYNC == O_SYNC:
        names.append("O_SYNC")
    if flags & O_TMPFILE == O_TMPFILE:
        names.append("O_TMPFILE")
    return tuple(names)


def parse_event(data: bytes) -> BpfEvent | None:
    """One ring buffer record -> event; ``None`` for an unknown kind or a short record."""
    if len(data) < 4:
        return None
    kind = _KIND.unpack_from(data)[0]
    if kind == KIND_EXEC and len(data) >= EXEC_SIZE:
        return _exec_event(data)
    if kind == KIND_CONNECT and len(data) >= CONNECT_SIZE:
        (_, tgid, uid, _, cg, comm, ret, family, port, stype, _, fd, addr) = struct.unpack_from(
            CONNECT_FMT, data
        )
        if family == socket.AF_INET:
            address = socket.inet_ntop(socket.AF_INET, addr[:4])
        else:
            address = socket.inet_ntop(socket.AF_INET6, addr)
        hdr = Header(kind, tgid, uid, cg, _cstr(comm))
        return ConnectEvent(hdr, ret, family, port, stype, fd, address)
    if kind == KIND_OPEN and len(data) >= OPEN_SIZE:
        (_, tgid, uid, _, cg, comm, dfd, flags, mode, plen, match, path) = struct.unpack_from(
            OPEN_FMT, data
        )
        hdr = Header(kind, tgid, uid, cg, _cstr(comm))
        return OpenEvent(hdr, dfd, flags, mode, _cstr(path, plen), match)
    return None


def _split_args(argv: bytes) -> tuple[str, ...]:
    """NUL-separated argv -> strings. Decoded whole, then split: a NUL byte is never part of a
    UTF-8 sequence, so this equals decoding each argument, at a third of the cost."""
    return tuple(argv.decode(errors="replace").split("\0")) if argv else ()


def _exec_event(data: bytes) -> ExecEvent:
    """Once per exec: the C string fields are cut inline (no helper call each)."""
    (
        _,
        tgid,
        uid,
        _,
        cg,
        comm,
        ppid,
        login,
        ino,
        kdev,
        flags,
        flen,
        alen,
        nlink,
        tty,
        vpid,
        start_ns,
        name,
        fn,
        av,
    ) = _EXEC.unpack_from(data)
    hdr = Header(KIND_EXEC, tgid, uid, cg, comm.split(b"\0", 1)[0].decode(errors="replace"))
    argv = av[:alen].rstrip(b"\0")
    args = _split_args(argv)
    return ExecEvent(
        hdr,
        ppid,
        (-1 if login == UNSET_LOGINUID else login) if flags & FLAG_LOGINUID else None,
        ino,
        os.makedev(kdev >> 20, kdev & 0xFFFFF),  # the kernel's dev_t as os.stat()'s st_dev
        flags,
        nlink,
        name.split(b"\0", 1)[0].decode(errors="replace"),
        fn[:flen].split(b"\0", 1)[0].decode(errors="replace"),
        args,
        tty,
        vpid,
        start_ns,
    )


RECENT_FMT = "<QQQIIIIIHH16s512s"  # struct recent_exec (576 bytes)
RECENT_SIZE = struct.calcsize(RECENT_FMT)
_RECENT = struct.Struct(RECENT_FMT)


@fast_init
@dataclass(frozen=True, slots=True)
class RecentExec:
    """The kernel's note of a process's last exec (``recent_execs``, observer-only mode): what
    /proc would have said right after the exec, for a record read after the process is gone."""

    ino: int
    ppid: int
    uid: int
    comm: str
    args: tuple[str, ...]
    tty: int | None = None  # /proc's tty_nr (0: none); None: not noted
    loginuid: int | None = None
    vpid: int | None = None
    start_ns: int | None = None  # since boot (task->start_boottime)
    cgroup_id: int | None = None  # cgroup v2 id (the directory's inode)

    @property
    def start_ticks(self) -> int | None:
        """/proc/<pid>/stat's starttime (clock ticks since boot)."""
        if self.start_ns is None:
            return None
        return self.start_ns // (1_000_000_000 // TICKS_PER_S)


def _loginuid(value: int, flags: int) -> int | None:
    """The audit login uid as Falco's ``user.loginuid`` shows it: -1 when unset (the kernel's
    (u32)-1, as ``/proc/<pid>/loginuid`` reads), None when the kernel has no audit support."""
    if not flags & FLAG_LOGINUID:
        return None
    return -1 if value == UNSET_LOGINUID else value


def parse_recent(data: bytes) -> RecentExec | None:
    if len(data) < RECENT_SIZE:
        return None
    ino, start, cg, ppid, uid, login, tty, vpid, alen, flags, comm, av = _RECENT.unpack_from(data)
    argv = av[:alen].rstrip(b"\0")  # a slice past the end stops at it
    return RecentExec(
        ino, ppid, uid, _cstr(comm), _split_args(argv), tty, _loginuid(login, flags),
        vpid or None, start, cg or None,
    )  # fmt: skip

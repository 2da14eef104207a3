"""Reading ``/proc/<pid>``: the early snapshot every source takes, and the scan at start.

Reads use ``os.open``/``os.read`` (no Python file objects: the snapshot is on the hot path) and
tolerate the process vanishing between any two reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from mamori.sensor.records import ProcSnapshot

_READ = os.O_RDONLY | os.O_CLOEXEC
UNSET_LOGINUID = 4294967295  # (u32)-1: no login session (/proc and the eBPF records)


def read_file(path: str, size: int = 65536) -> bytes | None:
    try:
        fd = os.open(path, _READ)
    except OSError:
        return None
    try:
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def _loginuid(data: bytes | None) -> int | None:
    """``/proc/<pid>/loginuid``: -1 when unset (4294967295 there), as Falco's
    ``user.loginuid`` shows it and the eBPF records give it."""
    if not data or not data.strip().isdigit():
        return None
    value = int(data)
    return -1 if value == UNSET_LOGINUID else value


def _link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def parse_stat(data: bytes) -> tuple[str, int, int, int] | None:
    """``/proc/<pid>/stat`` -> (comm, ppid, tty_nr, starttime); comm may hold spaces and ')'."""
    open_, close = data.find(b"("), data.rfind(b")")
    if open_ < 0 or close < 0:
        return None
    comm = data[open_ + 1 : close].decode(errors="replace")
    rest = data[close + 2 :].split()
    try:
        # rest[0] is the state; ppid is field 4, tty_nr 7, starttime 22 (1-based over the line).
        return comm, int(rest[1]), int(rest[4]), int(rest[19])
    except (IndexError, ValueError):
        return None


def parse_uid(status: bytes) -> int | None:
    """The real uid from ``/proc/<pid>/status`` (``Uid:\treal\teffective\tsaved\tfs``)."""
    at = status.find(b"\nUid:")
    if at < 0:
        return None
    try:
        return int(status[at + 5 :].split(None, 1)[0])
    except (IndexError, ValueError):
        return None


def parse_vpid(status: bytes) -> int | None:
    """The innermost pid namespace's pid: the last value of ``NSpid:`` (absent before 4.1)."""
    at = status.find(b"\nNSpid:")
    if at < 0:
        return None
    end = status.find(b"\n", at + 7)
    values = status[at + 7 : end if end >= 0 else None].split()
    try:
        return int(values[-1])
    except (IndexError, ValueError):
        return None


def split_cmdline(data: bytes) -> tuple[str, ...]:
    if not data:
        return ()
    return tuple(a.decode(errors="replace") for a in data.rstrip(b"\0").split(b"\0"))


# Optional parts of the snapshot, and the Falco fields that need each (``ReadPlan.for_fields``).
OPTIONAL = {
    "status": ("user.", "proc.vpid", "proc.is_exe_writable"),
    "cwd": ("proc.cwd",),
    "loginuid": ("user.loginuid", "user.loginname"),
}
ALL_PARTS = frozenset(OPTIONAL)


def parts_for(fields: frozenset[str] | None) -> frozenset[str]:
    """The optional /proc reads some field in ``fields`` needs (``None``: all of them)."""
    if fields is None:
        return ALL_PARTS
    return frozenset(
        part for part, prefixes in OPTIONAL.items() if any(f.startswith(prefixes) for f in fields)
    )


def read_snapshot(
    pid: int, proc: str = "/proc", *, cgroup: bool = True, parts: frozenset[str] = ALL_PARTS
) -> ProcSnapshot:
    """Everything the alert needs from ``/proc/<pid>``, best effort per field.

    ``parts`` limits the optional reads to what the loaded rules use: each read is an
    open/read/close (or readlink) on the exec's hot path."""
    base = f"{proc}/{pid}"
    # Most valuable first: the process may exit between any two reads.
    cg = read_file(base + "/cgroup", 8192) if cgroup else None  # identity, when asked for
    stat = read_file(base + "/stat", 4096)
    if stat is None:
        # Gone (every later read would fail too): a short-lived exec read late, the common
        # case under load; four failed opens saved.
        return ProcSnapshot(pid=pid, cgroup=cg.decode(errors="replace") if cg else None)
    # status (the uid) before exe/argv: a later exec refills those, nothing refills the uid.
    status = read_file(base + "/status", 8192) if "status" in parts else None
    exe = _link(base + "/exe")
    cmdline = read_file(base + "/cmdline")
    cwd = _link(base + "/cwd") if "cwd" in parts else None
    login = read_file(base + "/loginuid", 32) if "loginuid" in parts else None
    parsed = parse_stat(stat) if stat else None
    return ProcSnapshot(
        pid=pid,
        ppid=parsed[1] if parsed else None,
        comm=parsed[0] if parsed else None,
        exe=exe,
        args=split_cmdline(cmdline or b""),
        cwd=cwd,
        uid=parse_uid(status) if status else None,
        loginuid=_loginuid(login),
        tty=parsed[2] if parsed else None,
        cgroup=cg.decode(errors="replace") if cg else None,
        start_ticks=parsed[3] if parsed else None,
        vpid=parse_vpid(status) if status else None,
    )


def note_snapshot(
    pid: int, proc: str = "/proc", *, cgroup: bool = True, parts: frozenset[str] = ALL_PARTS
) -> ProcSnapshot:
    """What the eBPF observer's note of an exec lacks: the cwd (when a rule uses it) and, for
    a volume exec, the cgroup. One or two reads instead of a snapshot's five; the note has
    parent, uid, loginuid, terminal, name, argv, pid in the namespace and start time."""
    base = f"{proc}/{pid}"
    cg = read_file(base + "/cgroup", 8192) if cgroup else None
    cwd = _link(base + "/cwd") if "cwd" in parts else None
    return ProcSnapshot(pid=pid, cwd=cwd, cgroup=cg.decode(errors="replace") if cg else None)


def pids(proc: str = "/proc") -> Iterator[int]:
    """Thread-group ids currently in ``/proc`` (kernel threads included)."""
    try:
        names = os.listdir(proc)
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def scan(proc: str = "/proc") -> Iterator[ProcSnapshot]:
    """Snapshots of the processes already running (start-up state for the process tree)."""
    for pid in pids(proc):
        snap = read_snapshot(pid, proc)
        if snap.comm is not None:
            yield snap

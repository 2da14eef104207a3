"""``proc.*``, ``user.*``, ``group.*`` and ``thread.*``: the process behind a system call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mamori.core.events import Event, ProcessInfo
from mamori.rules.fields.base import (
    ArgMode,
    Extractor,
    FieldSpec,
    FieldType,
    Multi,
    field,
    int_arg,
)

S = FieldType.STRING
I = FieldType.INT  # noqa: E741 - short alias in a table
B = FieldType.BOOL
EXEC = "exec"


def _p(get: Callable[[ProcessInfo], Any]) -> Extractor:
    def extract(e: Event) -> Any:
        p = e.process
        return get(p) if p is not None else None

    return extract


def _pp(get: Callable[[ProcessInfo], Any]) -> Extractor:
    """A value of the parent: from the parent record, or None."""

    def extract(e: Event) -> Any:
        p = e.process
        if p is None or p.parent is None:
            return None
        return get(p.parent)

    return extract


def _exe(p: ProcessInfo) -> str:
    return p.exe if p.exe is not None else p.name


def _ancestor(p: ProcessInfo, n: int) -> ProcessInfo | None:
    cur: ProcessInfo | None = p
    for _ in range(n):
        cur = cur.parent if cur is not None else None
    return cur


def _aname_at(n: int) -> Extractor:
    def extract(e: Event) -> str | None:
        p = e.process
        if p is None:
            return None
        if n == 0:
            return p.name
        if n <= len(p.anames):
            return p.anames[n - 1]
        if n == 1 and p.pname is not None:
            return p.pname
        a = _ancestor(p, n)
        return a.name if a is not None else None

    return extract


def _anames(e: Event) -> tuple[str, ...] | None:
    p = e.process
    if p is None:
        return None
    if p.anames:
        return p.anames
    names: list[str] = []
    cur = p.parent
    while cur is not None:
        names.append(cur.name)
        cur = cur.parent
    if not names and p.pname is not None:
        names.append(p.pname)
    return tuple(names)


def _ancestor_field(get: Callable[[ProcessInfo], Any]) -> Callable[[str], Extractor]:
    def make(arg: str) -> Extractor:
        n = int_arg(arg)

        def extract(e: Event) -> Any:
            p = e.process
            if p is None or n is None:
                return None
            a = _ancestor(p, n)
            return get(a) if a is not None else None

        return extract

    return make


def _all_ancestors(get: Callable[[ProcessInfo], Any]) -> Extractor:
    def extract(e: Event) -> tuple[Any, ...] | None:
        p = e.process
        if p is None:
            return None
        out = []
        cur = p.parent
        while cur is not None:
            out.append(get(cur))
            cur = cur.parent
        return tuple(out)

    return extract


def _aname_arg(arg: str) -> Extractor:
    n = int_arg(arg)
    return _aname_at(n) if n is not None else (lambda e: None)


def _env_arg(arg: str) -> Extractor:
    prefix = arg + "="

    def extract(e: Event) -> str | None:
        p = e.process
        if p is None:
            return None
        for item in p.env:
            if item.startswith(prefix):
                return item[len(prefix) :]
        return None

    return extract


def _flag(*keys: str) -> Extractor:
    # A plain loop, not any() over a generator: on every exec of the stock rules, the
    # generator cost ~1 us an event (bench/rules.py execs 9-10 -> 7 us).
    def extract(e: Event) -> bool | None:
        p = e.process
        if p is None:
            return None
        flags = p.exe_flags
        if not flags:
            return False
        for k in keys:  # noqa: SIM110 - see above
            if flags.get(k):
                return True
        return False

    return extract


def _duration(e: Event) -> int | None:
    p = e.process
    return e.time_ns - p.start_ns if p is not None and p.start_ns is not None else None


def _ctime_since_start(p: ProcessInfo) -> int | None:
    if p.start_ns is None or p.exe_ino_ctime_ns is None:
        return None
    return p.start_ns - p.exe_ino_ctime_ns


def _caps(caps: tuple[str, ...] | None) -> str | None:
    return None if caps is None else " ".join(caps)


def _vpgid_leader(p: ProcessInfo) -> bool | None:
    if p.vpgid is None:
        return None
    return p.vpgid == (p.vpid if p.vpid is not None else p.pid)


FIELDS: tuple[FieldSpec, ...] = (
    field("proc.pid", I, "Process id.", _p(lambda p: p.pid), sensor=EXEC),
    field(
        "proc.vpid",
        I,
        "Process id as seen in its pid namespace (NSpid in /proc/<pid>/status).",
        _p(lambda p: p.vpid),
        sensor=EXEC,
    ),
    field("proc.ppid", I, "Parent process id.", _p(lambda p: p.ppid), sensor=EXEC),
    field("proc.name", S, "Process name (comm, no path).", _p(lambda p: p.name), sensor=EXEC),
    field("proc.exe", S, "argv[0] (defaults to the name).", _p(_exe), sensor=EXEC),
    field(
        "proc.exepath",
        S,
        "Full path of the executable.",
        _p(lambda p: p.exepath or None),
        sensor=EXEC,
    ),
    field(
        "proc.args",
        S,
        "Arguments after argv[0], space separated.",
        _p(lambda p: " ".join(p.args)),
        sensor=EXEC,
    ),
    field(
        "proc.cmdline", S, "Name followed by the arguments.", _p(lambda p: p.cmdline), sensor=EXEC
    ),
    field("proc.cwd", S, "Working directory.", _p(lambda p: p.cwd), sensor=EXEC),
    field("proc.tty", I, "Controlling terminal (0 when none).", _p(lambda p: p.tty), sensor=EXEC),
    field("proc.sname", S, "Name of the session leader.", _p(lambda p: p.sname), sensor=EXEC),
    field(
        "proc.pname",
        S,
        "Parent process name.",
        _p(
            lambda p: (
                p.pname
                if p.pname is not None
                else (p.parent.name if p.parent else (p.anames[0] if p.anames else None))
            )
        ),
        sensor=EXEC,
    ),
    field("proc.pexe", S, "argv[0] of the parent.", _pp(_exe)),
    field("proc.pexepath", S, "Executable path of the parent.", _pp(lambda p: p.exepath or None)),
    field("proc.pcmdline", S, "Command line of the parent.", _pp(lambda p: p.cmdline)),
    field(
        "proc.aname",
        S,
        "Ancestor name: proc.aname[1] is the parent, [0] the process; without an argument "
        "it matches any ancestor.",
        _anames,
        with_arg=_aname_arg,
        arg=ArgMode.OPTIONAL,
        multi=Multi.ANY,
        sensor=EXEC,
    ),
    field(
        "proc.aexe",
        S,
        "argv[0] of an ancestor (proc.aexe[N]); any ancestor without argument.",
        _all_ancestors(_exe),
        with_arg=_ancestor_field(_exe),
        arg=ArgMode.OPTIONAL,
        multi=Multi.ANY,
    ),
    field(
        "proc.aexepath",
        S,
        "Executable path of an ancestor (proc.aexepath[N]).",
        _all_ancestors(lambda p: p.exepath or None),
        with_arg=_ancestor_field(lambda p: p.exepath or None),
        arg=ArgMode.OPTIONAL,
        multi=Multi.ANY,
    ),
    field(
        "proc.env",
        S,
        "Environment; proc.env[NAME] is one variable.",
        _p(lambda p: " ".join(p.env) if p.env else None),
        with_arg=_env_arg,
        arg=ArgMode.OPTIONAL,
    ),
    field("proc.duration", FieldType.RELTIME, "ns since the process started.", _duration),
    field("proc.is_vpgid_leader", B, "The process leads its process group.", _p(_vpgid_leader)),
    field(
        "proc.is_exe_upper_layer",
        B,
        "The executable is in the overlay upper layer (written in the container, or a copy-up).",
        _flag("upper_layer", "PPM_EXE_UPPER_LAYER"),
        sensor=EXEC,
    ),
    field(
        "proc.is_exe_lower_layer",
        B,
        "The executable is an image (lower layer) file.",
        _flag("lower_layer", "PPM_EXE_LOWER_LAYER"),
        sensor=EXEC,
    ),
    field(
        "proc.is_exe_from_memfd",
        B,
        "The executable is a memfd (fileless execution).",
        _flag("from_memfd", "PPM_EXE_FROM_MEMFD"),
        sensor=EXEC,
    ),
    field(
        "proc.is_exe_writable",
        B,
        "The executable is writable by the process.",
        _flag("writable", "PPM_EXE_WRITABLE"),
        sensor=EXEC,
    ),
    field("proc.exe_ino", I, "Inode of the executable.", _p(lambda p: p.exe_ino), sensor=EXEC),
    field(
        "proc.exe_ino.ctime",
        FieldType.ABSTIME,
        "ctime of the executable (ns).",
        _p(lambda p: p.exe_ino_ctime_ns),
        sensor=EXEC,
    ),
    field(
        "proc.exe_ino.mtime",
        FieldType.ABSTIME,
        "mtime of the executable (ns).",
        _p(lambda p: p.exe_ino_mtime_ns),
        sensor=EXEC,
    ),
    field(
        "proc.exe_ino.ctime_duration_proc_start",
        FieldType.RELTIME,
        "Process start time minus the executable's ctime (ns).",
        _p(_ctime_since_start),
        sensor=EXEC,
    ),
    field("user.uid", I, "User id.", _p(lambda p: p.uid), sensor=EXEC),
    field("user.name", S, "User name.", _p(lambda p: p.user), sensor=EXEC),
    field(
        "user.loginuid",
        I,
        "Audit login uid (-1 when unset).",
        _p(lambda p: p.loginuid),
        sensor=EXEC,
    ),
    field("user.loginname", S, "Name of the login user.", _p(lambda p: p.loginname)),
    field("group.gid", I, "Group id.", _p(lambda p: p.gid)),
    field("group.name", S, "Group name.", _p(lambda p: p.group)),
    field(
        "thread.cap_effective",
        S,
        "Effective capabilities, space separated names.",
        _p(lambda p: _caps(p.cap_effective)),
    ),
    field(
        "thread.cap_permitted",
        S,
        "Permitted capabilities, space separated names.",
        _p(lambda p: _caps(p.cap_permitted)),
    ),
)

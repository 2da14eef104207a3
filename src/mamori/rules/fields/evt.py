"""``evt.*``: the event itself (type, result, time, arguments)."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from typing import Any

from mamori.core.events import Event, EventKind
from mamori.rules.fields.base import Extractor, FieldSpec, FieldType, field

S = FieldType.STRING
_OPEN_TYPES = frozenset(("open", "openat", "openat2", "open_by_handle_at", "creat"))
_EXEC_FLAG_NAMES = (
    ("writable", "EXE_WRITABLE"),
    ("upper_layer", "EXE_UPPER_LAYER"),
    ("from_memfd", "EXE_FROM_MEMFD"),
    ("lower_layer", "EXE_LOWER_LAYER"),
)


def _type(e: Event) -> str | None:
    return e.syscall


def rawres(e: Event) -> int | None:
    res = e.result
    if res is None:
        return None
    if res == "SUCCESS":
        return 0
    if res.lstrip("-").isdigit():
        return int(res)
    code = getattr(errno, res, None)
    return -code if isinstance(code, int) else None


def exe_flags_text(e: Event) -> str | None:
    """execve's ``flags`` argument as Falco renders it (``EXE_WRITABLE|EXE_UPPER_LAYER``)."""
    p = e.process
    if p is None or not p.exe_flags:
        return None
    names = [
        falco
        for key, falco in _EXEC_FLAG_NAMES
        if p.exe_flags.get(key) or p.exe_flags.get("PPM_" + falco)
    ]
    return "|".join(names) if names else "0"


def _arg(name: str) -> Extractor:
    def get(e: Event) -> Any:
        value = e.args.get(name)
        if value is not None:
            return value
        if name == "flags":
            return exe_flags_text(e) if e.kind is EventKind.PROCESS_EXEC else _open_flags(e)
        if name in ("filename", "name", "path", "pathname") and e.file is not None:
            return e.file.path
        if name == "fd" and e.file is not None and e.file.fd is not None:
            return str(e.file.fd)
        if name == "mode" and e.file is not None and e.file.mode is not None:
            return oct(e.file.mode)
        return None

    return get


def _open_flags(e: Event) -> str | None:
    return "|".join(e.file.flags) if e.file is not None and e.file.flags else None


def _args(e: Event) -> str | None:
    if not e.args:
        return None
    return " ".join(f"{k}={v}" for k, v in e.args.items())


def _is_open(e: Event, *flags: str) -> bool | None:
    if e.syscall not in _OPEN_TYPES or e.file is None:
        return False
    return any(f in e.file.flags for f in flags)


def _is_open_exec(e: Event) -> bool:
    f = e.file
    if e.syscall not in _OPEN_TYPES or f is None:
        return False
    created = "O_CREAT" in f.flags or "O_F_CREATED" in f.flags
    return created and f.mode is not None and bool(f.mode & 0o111)


def _time_text(e: Event) -> str:
    dt = datetime.fromtimestamp(e.time_ns // 1_000_000_000, UTC)
    return f"{dt:%H:%M:%S}.{e.time_ns % 1_000_000_000:09d}"


def _datetime_text(e: Event) -> str:
    dt = datetime.fromtimestamp(e.time_ns // 1_000_000_000, UTC)
    return f"{dt:%Y-%m-%d %H:%M:%S}.{e.time_ns % 1_000_000_000:09d}"


FIELDS: tuple[FieldSpec, ...] = (
    field(
        "evt.type",
        S,
        "Event type: the system call name (execve, openat, connect ...).",
        _type,
        sensor="exec, open, connect",
    ),
    field(
        "evt.dir",
        S,
        "Direction: '<' (exit); mamori events are exit events.",
        lambda e: "<" if e.kind is not EventKind.K8S_AUDIT else None,
        sensor="exec, open, connect",
    ),
    field(
        "evt.res",
        S,
        "Result: SUCCESS or an errno name (EPERM ...).",
        lambda e: e.result,
        sensor="exec",
    ),
    field("evt.rawres", FieldType.INT, "Result as a number: 0 or -errno.", rawres, sensor="exec"),
    field("evt.num", FieldType.INT, "Event sequence number.", lambda e: e.num),
    field(
        "evt.time",
        S,
        "Event time, HH:MM:SS.nnnnnnnnn (UTC).",
        _time_text,
        sensor="exec, open, connect",
    ),
    field(
        "evt.datetime",
        S,
        "Event date and time (UTC).",
        _datetime_text,
        sensor="exec, open, connect",
    ),
    field(
        "evt.rawtime",
        FieldType.ABSTIME,
        "Event time, ns since the epoch.",
        lambda e: e.time_ns,
        sensor="exec, open, connect",
    ),
    field(
        "evt.hostname",
        S,
        "The node the event was seen on.",
        lambda e: e.node,
        sensor="exec, open, connect",
    ),
    field(
        "evt.arg",
        S,
        "A system call argument by name: evt.arg.flags or evt.arg[flags].",
        with_arg=_arg,
        dotted_arg=True,
        sensor="exec (flags)",
    ),
    field("evt.args", S, "All arguments as 'name=value' text.", _args),
    field(
        "evt.buffer",
        S,
        "The data buffer of read/write events (args 'data').",
        lambda e: e.args.get("data"),
    ),
    field(
        "evt.is_open_read",
        FieldType.BOOL,
        "An open with O_RDONLY or O_RDWR.",
        lambda e: _is_open(e, "O_RDONLY", "O_RDWR"),
        sensor="open",
    ),
    field(
        "evt.is_open_write",
        FieldType.BOOL,
        "An open with O_WRONLY or O_RDWR.",
        lambda e: _is_open(e, "O_WRONLY", "O_RDWR"),
        sensor="open",
    ),
    field(
        "evt.is_open_exec",
        FieldType.BOOL,
        "An open that creates an executable file.",
        _is_open_exec,
        sensor="open",
    ),
)

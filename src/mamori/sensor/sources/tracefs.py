"""tracefs ``sched:sched_process_exec`` in a private instance: the observer and fallback source.

The event carries the execve filename (as given: maybe relative or ``/dev/fd/N``), pid and
old_pid, no cgroup; the reader snapshots ``/proc/<pid>`` right after parsing. Lost events are
reported by the kernel as ``[LOST n EVENTS]`` lines and counted, never silent.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import threading
import time
from collections.abc import Iterator

from mamori.sensor.records import ExecRecord
from mamori.sensor.sources.base import SourceUnavailable
from mamori.sensor.sources.procfs import ALL_PARTS, read_snapshot

CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
EVENT = "sched/sched_process_exec"
MARKER = b": sched_process_exec: filename="
BUFFER_KB = 4096  # per CPU; (M) the default 1,408 KB lost nothing at ~3k exec/s


def _mount_tracefs(target: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.mount(b"nodev", target.encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tracefs on {target}: {os.strerror(err)}")


def find_tracefs(mount_if_absent: bool = True) -> str:
    """The tracefs root, mounting it on /sys/kernel/tracing when nothing is mounted yet."""
    for root in CANDIDATES:
        if os.path.exists(os.path.join(root, "instances")):
            return root
    if mount_if_absent and os.path.isdir(CANDIDATES[0]):
        _mount_tracefs(CANDIDATES[0])
        return CANDIDATES[0]
    raise FileNotFoundError("tracefs is not mounted")


def parse_line(line: bytes) -> tuple[str, int] | None:
    """``<comm>-<tid> [cpu] flags ts: sched_process_exec: filename=F pid=P old_pid=O``."""
    at = line.find(MARKER)
    if at < 0:
        return None
    rest = line[at + len(MARKER) :]
    # The filename may contain spaces: split the numeric tail off from the right.
    head, sep, _old = rest.rpartition(b" old_pid=")
    filename, sep2, pid = head.rpartition(b" pid=")
    if not sep or not sep2 or not pid.isdigit():
        return None
    return filename.decode(errors="replace"), int(pid)


def parse_lost(line: bytes) -> int:
    """Events the kernel dropped, from ``CPU:1 [LOST 123 EVENTS]``."""
    at = line.find(b"[LOST ")
    if at < 0:
        return 0
    count = line[at + 6 :].split(b" ", 1)[0]
    return int(count) if count.isdigit() else 0


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def remove_stale_instances(root: str) -> int:
    """Remove ``mamori_*_<pid>`` instances left by a sensor that died (SIGKILL): their events
    stay enabled and keep costing every traced call. Returns how many went."""
    removed = 0
    instances = os.path.join(root, "instances")
    for name in os.listdir(instances):
        prefix, _, pid = name.rpartition("_")
        if not prefix.startswith("mamori") or not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        path = os.path.join(instances, name)
        with contextlib.suppress(OSError):
            _write(os.path.join(path, "tracing_on"), "0")
            for group in os.listdir(os.path.join(path, "events")):
                with contextlib.suppress(OSError):
                    _write(os.path.join(path, "events", group, "enable"), "0")
            os.rmdir(path)
            removed += 1
    return removed


class TracePipeSource:
    """A private tracefs instance with some events enabled, read line by line from trace_pipe.

    Subclasses name the events (``events``: path under ``events/`` -> filter or ``None``) and turn
    a line into a record (``_record``).
    """

    name = "tracepipe"
    events: tuple[tuple[str, str | None], ...] = ()
    options: tuple[str, ...] = ()

    def __init__(self, proc: str = "/proc", buffer_kb: int = BUFFER_KB) -> None:
        self.proc = proc
        self.parts = ALL_PARTS  # optional /proc reads (the sensor narrows it to the rules' needs)
        self.buffer_kb = buffer_kb
        self.instance: str | None = None
        self.lost = 0
        self._pipe_fd = -1
        self._closing = threading.Event()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def open(self) -> None:
        try:
            root = find_tracefs()
            remove_stale_instances(root)
            self.instance = os.path.join(root, "instances", f"mamori_{self.name}_{os.getpid()}")
            os.makedirs(self.instance, exist_ok=True)
            _write(os.path.join(self.instance, "buffer_size_kb"), str(self.buffer_kb))
            for option in self.options:
                _write(os.path.join(self.instance, "options", option), "1")
            for event, filter_ in self.events:
                base = os.path.join(self.instance, "events", event)
                if filter_ is not None:
                    _write(os.path.join(base, "filter"), filter_)
                _write(os.path.join(base, "enable"), "1")
            self._pipe_fd = os.open(
                os.path.join(self.instance, "trace_pipe"),
                os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC,
            )
        except OSError as exc:
            self._remove_instance()
            reason = "no permission" if exc.errno in (errno.EPERM, errno.EACCES) else exc
            raise SourceUnavailable(f"{self.name}: {reason}") from exc

    def records(self) -> Iterator[ExecRecord]:
        poller = select.poll()
        poller.register(self._pipe_fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        pending = b""
        try:
            while True:
                closing = self._closing.is_set()  # read once more after close(): drain
                poller.poll(0 if closing else 1000)
                while True:
                    try:
                        chunk = os.read(self._pipe_fd, 1 << 16)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        record = self._record(line)
                        if record is not None:
                            yield record
                if closing:
                    break
        finally:
            os.close(self._pipe_fd)
            self._remove_instance()

    def _record(self, line: bytes) -> ExecRecord | None:
        raise NotImplementedError

    def _remove_instance(self) -> None:
        if self.instance and os.path.isdir(self.instance):
            for event, _ in self.events:
                with contextlib.suppress(OSError):
                    _write(os.path.join(self.instance, "events", event, "enable"), "0")
            with contextlib.suppress(OSError):
                os.rmdir(self.instance)  # tracefs removes an instance with rmdir

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")


class TracefsSource(TracePipeSource):
    """``sched:sched_process_exec``: the exec observer."""

    name = "tracefs"
    events = ((EVENT, None),)

    def _record(self, line: bytes) -> ExecRecord | None:
        parsed = parse_line(line)
        if parsed is None:
            self.lost += parse_lost(line)
            return None
        filename, pid = parsed
        snap = read_snapshot(pid, self.proc, parts=self.parts)
        return ExecRecord(time.time_ns(), pid, filename, self.name, snap)

"""fanotify exec events on each container's rootfs superblock (ctypes on libc, no compiler).

One ``FAN_MARK_FILESYSTEM`` per container rootfs overlay, placed by the mount watcher from a
verified directory fd (design 3.1: marking a just-unmounted path silently marks the host root).
Detect mode uses ``FAN_CLASS_NOTIF`` + ``FAN_OPEN_EXEC``; block mode ``FAN_CLASS_CONTENT`` +
``FAN_OPEN_EXEC_PERM`` and an ``ExecDecider``. One code path: only the answer differs.

The handler never execs or shells out: with permission marks active, an exec on a marked
filesystem would wait for this very thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import resource
import select
import struct
import threading
import time
from collections.abc import Iterator
from typing import Literal, Protocol

from mamori.sensor.mounts import RootfsMount
from mamori.sensor.records import ExecRecord
from mamori.sensor.sources.base import SourceUnavailable
from mamori.sensor.sources.procfs import ALL_PARTS, read_snapshot

log = logging.getLogger(__name__)

FAN_CLOEXEC = 0x01
FAN_NONBLOCK = 0x02
FAN_CLASS_NOTIF = 0x00
FAN_CLASS_CONTENT = 0x04
FAN_UNLIMITED_QUEUE = 0x10
FAN_UNLIMITED_MARKS = 0x20
FAN_MARK_ADD = 0x01
FAN_MARK_REMOVE = 0x02
FAN_MARK_FILESYSTEM = 0x100
FAN_OPEN_EXEC = 0x1000
FAN_Q_OVERFLOW = 0x4000
FAN_OPEN_EXEC_PERM = 0x40000
FAN_ALLOW = 0x01
FAN_DENY = 0x02
FANOTIFY_METADATA_VERSION = 3

# struct fanotify_event_metadata { u32 event_len; u8 vers; u8 reserved; u16 metadata_len;
#   aligned_u64 mask; s32 fd; s32 pid; } -> 24 bytes; struct fanotify_response { s32 fd; u32 }.
METADATA = struct.Struct("=IBBHQii")
RESPONSE = struct.Struct("=iI")
READ_BYTES = METADATA.size * 512  # bounds event fds open at once (fd exhaustion fails closed)

RECENT_S = 60.0

Mode = Literal["detect", "block"]


class ExecDecider(Protocol):
    """Answers a permission event: True allows the exec, False denies it (EPERM).

    Called on the reader thread with the event fd still open (``fstat``/``pread`` it, never reopen
    by path). It must not exec or shell out.
    """

    def decide(self, record: ExecRecord, event_fd: int) -> bool: ...


# TODO(drift, block mode): a watchdog thread answering FAN_ALLOW for events pending > 150 ms
# (failed_open + sensor_degraded), and the guard process (heartbeat -> SIGKILL), design 3.3.
# Detect mode needs neither: notification events never hold an exec.


class AllowAll:
    def decide(self, record: ExecRecord, event_fd: int) -> bool:
        return True


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    lib.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    lib.fanotify_init.restype = ctypes.c_int
    lib.fanotify_mark.argtypes = [
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint64,
        ctypes.c_int,
        ctypes.c_char_p,
    ]
    lib.fanotify_mark.restype = ctypes.c_int
    return lib


class FanotifyGroup:
    """A thin wrapper: init, mark, close; raises OSError with the kernel's errno."""

    def __init__(self, mode: Mode) -> None:
        self.lib = _libc()
        klass = FAN_CLASS_CONTENT if mode == "block" else FAN_CLASS_NOTIF
        flags = klass | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS
        event_flags = os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC
        fd = self.lib.fanotify_init(flags, event_flags)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"fanotify_init: {os.strerror(err)}")
        self.fd: int = fd
        self.mask = FAN_OPEN_EXEC_PERM if mode == "block" else FAN_OPEN_EXEC

    def mark_filesystem(self, dirfd: int, remove: bool = False) -> None:
        flags = (FAN_MARK_REMOVE if remove else FAN_MARK_ADD) | FAN_MARK_FILESYSTEM
        if self.lib.fanotify_mark(self.fd, flags, self.mask, dirfd, None) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"fanotify_mark: {os.strerror(err)}")

    def respond(self, event_fd: int, allow: bool) -> None:
        os.write(self.fd, RESPONSE.pack(event_fd, FAN_ALLOW if allow else FAN_DENY))

    def close(self) -> None:
        os.close(self.fd)


def raise_nofile(target: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, target), hard) if hard != resource.RLIM_INFINITY else max(soft, target)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class _Marked:
    __slots__ = ("dirfd", "mount")

    def __init__(self, mount: RootfsMount, dirfd: int) -> None:
        self.mount = mount
        self.dirfd = dirfd


class FanotifySource:
    """Exec records from every marked container rootfs; ``attach``/``detach`` are the mount
    watcher's callbacks."""

    name = "fanotify"

    def __init__(
        self, mode: Mode = "detect", decider: ExecDecider | None = None, proc: str = "/proc"
    ) -> None:
        self.mode: Mode = mode
        self.decider: ExecDecider = decider or AllowAll()
        self.proc = proc
        self.parts = ALL_PARTS  # optional /proc reads (the sensor narrows it to the rules' needs)
        self.group: FanotifyGroup | None = None
        self.by_dev: dict[int, _Marked] = {}
        # dev -> (container id, detach time): events still queued when a container's rootfs is
        # unmounted keep their identity; dropped when the device number is reused or after 60 s.
        self.recent: dict[int, tuple[str | None, float]] = {}
        self.overflows = 0
        self.decide_errors = 0
        self.mark_errors = 0
        self._closing = threading.Event()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._lock = threading.Lock()

    def open(self) -> None:
        try:
            self.group = FanotifyGroup(self.mode)
        except OSError as exc:
            reason = "no CAP_SYS_ADMIN" if exc.errno == errno.EPERM else exc.strerror
            if exc.errno == errno.EINVAL and self.mode == "block":
                reason = "no permission events (CONFIG_FANOTIFY_ACCESS_PERMISSIONS)"
            raise SourceUnavailable(f"fanotify: {reason}") from exc
        raise_nofile()

    # -- marks (mount watcher thread) -----------------------------------------------------

    def attach(self, mount: RootfsMount) -> None:
        """Mark a rootfs, verified: the opened directory must be the mount's superblock."""
        if self.group is None or mount.dev in self.by_dev:
            return
        try:
            dirfd = os.open(mount.mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return  # unmounted again already (Docker's transient mounts)
        try:
            if os.fstat(dirfd).st_dev != mount.dev:
                raise OSError(errno.ESTALE, "mountpoint no longer holds that filesystem")
            self.group.mark_filesystem(dirfd)
        except OSError as exc:
            os.close(dirfd)
            self.mark_errors += 1
            log.warning("cannot mark %s: %s", mount.mountpoint, exc)
            return
        with self._lock:
            self.by_dev[mount.dev] = _Marked(mount, dirfd)  # the open fd pins the superblock
            self.recent.pop(mount.dev, None)

    def detach(self, mount: RootfsMount) -> None:
        now = time.monotonic()
        with self._lock:
            marked = self.by_dev.pop(mount.dev, None)
            self.recent = {d: v for d, v in self.recent.items() if now - v[1] < RECENT_S}
            if marked is not None:
                self.recent[mount.dev] = (mount.container_id, now)
        if marked is not None:
            # Closing the pinning fd lets the superblock go; its marks go with it.
            os.close(marked.dirfd)

    # -- events (reader thread) -----------------------------------------------------------

    def records(self) -> Iterator[ExecRecord]:
        group = self.group
        if group is None:
            raise RuntimeError("FanotifySource.open() was not called")
        poller = select.poll()
        poller.register(group.fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        try:
            while not self._closing.is_set():
                poller.poll()
                yield from self._drain(group)
            yield from self._drain(group)  # what was queued before close() is still reported
        finally:
            # Closing the group answers FAN_ALLOW for anything still pending (kernel behaviour).
            self.group = None
            group.close()

    def _drain(self, group: FanotifyGroup) -> Iterator[ExecRecord]:
        """Read until the queue is empty (the group fd is non-blocking)."""
        while True:
            try:
                buf = os.read(group.fd, READ_BYTES)
            except BlockingIOError:
                return
            yield from self._parse(group, buf)

    def _parse(self, group: FanotifyGroup, buf: bytes) -> Iterator[ExecRecord]:
        offset = 0
        while offset + METADATA.size <= len(buf):
            event_len, vers, _, _, mask, fd, pid = METADATA.unpack_from(buf, offset)
            offset += event_len or METADATA.size
            if vers != FANOTIFY_METADATA_VERSION:
                raise SourceUnavailable(f"fanotify metadata version {vers}")
            if mask & FAN_Q_OVERFLOW:
                self.overflows += 1
            if fd < 0:
                continue
            record = self._handle(group, fd, pid, mask)
            if record is not None:
                yield record

    def _handle(self, group: FanotifyGroup, fd: int, pid: int, mask: int) -> ExecRecord | None:
        record = None
        allow = True
        try:
            st = os.fstat(fd)
            path = os.readlink(f"/proc/self/fd/{fd}")
            cid = self._container(st.st_dev)
            # The container is known from the device: skip the cgroup read (hot path).
            snap = read_snapshot(pid, self.proc, cgroup=cid is None, parts=self.parts)
            record = ExecRecord(
                time.time_ns(), pid, path, self.name, snap, cid, st.st_dev, st.st_ino
            )
            if mask & FAN_OPEN_EXEC_PERM:
                allow = self.decider.decide(record, fd)
        except Exception:
            self.decide_errors += 1  # fail open: an error never blocks an exec
            allow = True
        finally:
            if mask & FAN_OPEN_EXEC_PERM:
                group.respond(fd, allow)
            os.close(fd)
        return record

    def _container(self, dev: int) -> str | None:
        marked = self.by_dev.get(dev)
        if marked is not None:
            return marked.mount.container_id
        recent = self.recent.get(dev)
        return recent[0] if recent else None

    def close(self) -> None:
        """Stop from any thread: wakes the reader, which closes the group on its way out."""
        self._closing.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        with self._lock:
            for marked in self.by_dev.values():
                os.close(marked.dirfd)
            self.by_dev.clear()

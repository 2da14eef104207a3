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
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Literal, Protocol

from mamori.drift.detector import DriftDecision
from mamori.sensor.drift import SensorDrift, volume_dirs
from mamori.sensor.identity.cgroup import container_from_cgroup
from mamori.sensor.mounts import AttachLater, RootfsMount
from mamori.sensor.records import ExecRecord, ProcSnapshot
from mamori.sensor.sources.base import SourceUnavailable
from mamori.sensor.sources.procfs import (
    ALL_PARTS,
    note_snapshot,
    read_file,
    read_snapshot,
    split_cmdline,
)

log = logging.getLogger(__name__)

FAN_CLOEXEC = 0x01
FAN_NONBLOCK = 0x02
FAN_CLASS_NOTIF = 0x00
FAN_CLASS_CONTENT = 0x04
FAN_UNLIMITED_QUEUE = 0x10
FAN_UNLIMITED_MARKS = 0x20
FAN_MARK_ADD = 0x01
FAN_MARK_REMOVE = 0x02
FAN_MARK_MOUNT = 0x10
FAN_MARK_IGNORED_MASK = 0x20
FAN_MARK_FILESYSTEM = 0x100
FAN_MARK_EVICTABLE = 0x200
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
GATHER_S = 0.004  # detect mode with exec notes: the reader's pause after each drain

Mode = Literal["detect", "block"]


class ExecDecider(Protocol):
    """Answers a permission event: True allows the exec, False denies it (EPERM).

    Called on the reader thread with the event fd still open (``fstat``/``pread`` it, never reopen
    by path). It must not exec or shell out.
    """

    def decide(self, record: ExecRecord, event_fd: int) -> bool: ...


WATCHDOG_BUDGET_S = 0.2  # a permission event not answered by then is allowed (fail open)


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

    def mark_mount(self, dirfd: int) -> None:
        if (
            self.lib.fanotify_mark(self.fd, FAN_MARK_ADD | FAN_MARK_MOUNT, self.mask, dirfd, None)
            < 0
        ):
            err = ctypes.get_errno()
            raise OSError(err, f"fanotify_mark(mount): {os.strerror(err)}")

    def ignore_inode(self, event_fd: int) -> bool:
        """Skip this inode's execs until it is modified: no ``FAN_MARK_IGNORED_SURV_MODIFY``,
        so the kernel clears the ignore mask on the next write; evictable, so it never pins the
        inode (design 3.2). False when the kernel refuses (< 5.19: no evictable marks)."""
        flags = FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_EVICTABLE
        return bool(self.lib.fanotify_mark(self.fd, flags, self.mask, event_fd, None) == 0)

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
    __slots__ = ("mount",)

    def __init__(self, mount: RootfsMount) -> None:
        self.mount = mount


class FanotifySource:
    """Exec records from every marked container rootfs; ``attach``/``detach`` are the mount
    watcher's callbacks."""

    name = "fanotify"

    def __init__(
        self,
        mode: Mode = "detect",
        decider: ExecDecider | None = None,
        proc: str = "/proc",
        drift: SensorDrift | None = None,
        budget_s: float = WATCHDOG_BUDGET_S,
    ) -> None:
        self.mode: Mode = mode
        self.decider: ExecDecider = decider or AllowAll()
        self.drift = drift
        self.budget_s = budget_s
        # Permission events not answered yet: event fd -> deadline. The watchdog answers
        # FAN_ALLOW past the deadline; whoever pops the fd first answers (one answer per fd).
        self._pending: dict[int, float] = {}
        self._pending_lock = threading.Lock()
        self._watchdog: threading.Thread | None = None
        self.answer_ns: deque[int] = deque(maxlen=2000)  # the latest permission events' waits
        self.failed_open = 0
        self.ignore_marks = 0
        self.ignore_mark_errors = 0
        self.by_cid: dict[str, RootfsMount] = {}
        # Drift is the only consumer: image execs skip the /proc snapshot (set by the sensor).
        self.lazy_proc = False
        self.proc = proc
        self.gather_s = 0.0  # set by the sensor: detect mode with the observer's exec notes
        # (pid, inode) -> container, from the observer's note of the exec (set by the sensor)
        self.note_container: Callable[[int, int], str | None] | None = None
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
        if self.mode == "block":
            self._watchdog = threading.Thread(
                target=self._watch, name="mamori-fanotify-watchdog", daemon=True
            )
            self._watchdog.start()

    # -- watchdog (block mode) ------------------------------------------------------------

    def _watch(self) -> None:
        """Answers FAN_ALLOW for permission events the handler did not decide in time."""
        while not self._closing.is_set():
            now = time.monotonic()
            with self._pending_lock:
                late = [fd for fd, deadline in self._pending.items() if deadline <= now]
                for fd in late:
                    del self._pending[fd]
                nxt = min(self._pending.values(), default=now + self.budget_s)
            group = self.group
            for fd in late:
                self.failed_open += 1
                if group is not None:
                    with contextlib.suppress(OSError):
                        group.respond(fd, True)
            if late:
                log.warning("sensor_degraded: handler_stall, %d exec(s) allowed", len(late))
            self._closing.wait(max(0.005, min(nxt - time.monotonic(), self.budget_s)))

    def _answer(self, group: FanotifyGroup, fd: int, allow: bool) -> bool:
        """Answer unless the watchdog already did (then False: the exec was allowed)."""
        with self._pending_lock:
            deadline = self._pending.pop(fd, None)
            if deadline is None:
                return False
        # How long the exec waited on us, from our read of its event (status, bench). Taken
        # before the write: the exec it wakes may take this CPU before the write returns.
        self.answer_ns.append(int((time.monotonic() - deadline + self.budget_s) * 1e9))
        group.respond(fd, allow)
        return True

    # -- marks (mount watcher thread) -----------------------------------------------------

    def attach(self, mount: RootfsMount) -> None:
        """Mark a rootfs, verified: the opened directory must be the mount's superblock."""
        if self.group is None or mount.dev in self.by_dev:
            return
        try:
            dirfd = os.open(mount.mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            # Unmounted again already (Docker's transient mounts), or not reachable yet: asked
            # again at the next rescan while mountinfo still lists it.
            raise AttachLater from None
        try:
            if os.fstat(dirfd).st_dev != mount.dev:
                # The path shows another filesystem for now (the mount is being set up or torn
                # down): asked again while mountinfo lists it; a container whose first mark
                # failed once would otherwise never be watched.
                raise AttachLater
            self.group.mark_filesystem(dirfd)
        except OSError as exc:
            self.mark_errors += 1
            log.warning("cannot mark %s: %s", mount.mountpoint, exc)
            return
        finally:
            # The mark lives on the superblock; an fd kept open would make the mount busy, and
            # runtimes that unmount without MNT_DETACH (containerd, CRI-O) could never remove
            # the container. The watcher's detach drops the device when the mount goes.
            os.close(dirfd)
        with self._lock:
            self.by_dev[mount.dev] = _Marked(mount)
            self.recent.pop(mount.dev, None)
            if mount.container_id:
                self.by_cid[mount.container_id] = mount

    def detach(self, mount: RootfsMount) -> None:
        now = time.monotonic()
        with self._lock:
            marked = self.by_dev.pop(mount.dev, None)
            self.recent = {d: v for d, v in self.recent.items() if now - v[1] < RECENT_S}
            if marked is not None:
                self.recent[mount.dev] = (mount.container_id, now)
            if mount.container_id:
                self.by_cid.pop(mount.container_id, None)
        if self.drift is not None:
            self.drift.forget(mount)

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
                if self.gather_s:
                    # Let the next events gather in the queue so that one wake-up takes many:
                    # a wake-up per exec cost the workload and the sensor more than the events
                    # themselves. Only where nothing waits for the answer (detect mode) and the
                    # kernel notes each exec (what /proc no longer shows when read late).
                    time.sleep(self.gather_s)
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
            if len(buf) + METADATA.size <= READ_BYTES:
                # Room was left: the read emptied the queue. No second read to learn it (in
                # block mode the exec just allowed waits for this CPU until the reader sleeps);
                # what came since makes the next poll return at once.
                return

    def _parse(self, group: FanotifyGroup, buf: bytes) -> Iterator[ExecRecord]:
        if self.mode == "block":
            # Every event of this read starts its budget now, not when its turn comes.
            deadline = time.monotonic() + self.budget_s
            with self._pending_lock:
                off = 0
                while off + METADATA.size <= len(buf):
                    event_len, _, _, _, mask, fd, _ = METADATA.unpack_from(buf, off)
                    off += event_len or METADATA.size
                    if fd >= 0 and mask & FAN_OPEN_EXEC_PERM:
                        self._pending[fd] = deadline
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
        perm = bool(mask & FAN_OPEN_EXEC_PERM)
        answered = not perm
        try:
            st = os.fstat(fd)
            marked = self.by_dev.get(st.st_dev)
            cid = self._container(st.st_dev)
            mount = marked.mount if marked is not None else None
            image = False  # an indexed image executable: allowed from the fstat alone
            if self.drift is not None and marked is not None:
                if st.st_dev not in self.drift.volumes_marked:
                    self._mark_volumes(st.st_dev, pid)
                image = self.drift.indexed_image(st, mount)
                if image:
                    # An unmodified image executable, known from the fstat: allowed before
                    # the path read and the verdict, which follow for the record.
                    self._ignore_inode(group, fd)
                    if perm:
                        answered = self._answer(group, fd, True)
            path = os.readlink(f"/proc/self/fd/{fd}")
            dd = None
            if self.drift is not None and marked is not None:
                if image and self.lazy_proc:
                    # Drift only: nothing is emitted for an image exec (the pipeline would
                    # drop its record), so it is counted, with its path, and nothing built:
                    # the exec just allowed waits for this CPU until the reader sleeps again.
                    self.drift.count_image(path, cid)
                    return None
                dd = self.drift.decide(fd, st, path, mount, cid, image)
            drift_exec = dd is not None and dd.verdict.verdict.is_drift
            # An allowed image exec with the observer's notes: answered before any /proc read
            # (the note will say what /proc would), so the exec does not wait for our reads.
            early = (
                perm
                and dd is not None
                and dd.allow
                and not drift_exec
                and self.note_container is not None
            )
            if early and not image:
                assert dd is not None
                self._ignore_mark(group, fd, dd)
                answered = self._answer(group, fd, True)
            if dd is not None and self.lazy_proc and not drift_exec:
                snap = ProcSnapshot(pid)  # drift only: an image exec needs no /proc facts
            elif (self.gather_s or early) and not drift_exec:
                # The kernel's note of the exec has the rest (read by the pipeline).
                snap = note_snapshot(pid, self.proc, cgroup=cid is None, parts=self.parts)
            else:
                # The container is known from the device: skip the cgroup read (hot path).
                # Volume execs (another device) are named by the cgroup. Read before
                # answering (design 3.3).
                snap = read_snapshot(pid, self.proc, cgroup=cid is None, parts=self.parts)
            if dd is None and cid is None and self.drift is not None:
                cid = self._volume_container(snap, pid, st.st_ino)
                mount = self.by_cid.get(cid) if cid else None
                if mount is not None:
                    dd = self.drift.decide(fd, st, path, mount, cid)
            now = time.time_ns()
            drift_exec = dd is not None and dd.verdict.verdict.is_drift
            if dd is None or drift_exec:
                # The record if what follows fails; an image exec's is built once, below.
                record = ExecRecord(
                    now, pid, path, self.name, snap, cid, st.st_dev, st.st_ino,
                    ctime_ns=st.st_ctime_ns, mtime_ns=st.st_mtime_ns,
                )  # fmt: skip
            if dd is not None and drift_exec and snap.ppid:
                parent = read_file(f"{self.proc}/{snap.ppid}/cmdline")
                dd = replace(dd, parent_cmdline=" ".join(split_cmdline(parent or b"")) or None)
            if self.drift is not None and dd is not None:
                allow = dd.allow
                if not early and not image:
                    self._ignore_mark(group, fd, dd)
                    if perm:
                        answered = self._answer(group, fd, allow)
                if not answered and not allow:  # the watchdog allowed a block meanwhile
                    self.drift.judge.failed_open(dd)
                    dd = replace(dd, action_taken="failed_open")
                answered = True
                if drift_exec:
                    dd = self.drift.complete(dd, fd, st, mount)  # hash after answering
                # Built again rather than replace()d: replace() reads every field by name and
                # cost twice a construction. The first one stays the record if this part fails.
                record = ExecRecord(
                    now, pid, path, self.name, snap, cid, st.st_dev, st.st_ino,
                    drift=dd, exe_flags=self.drift.flags(dd, st),
                    ctime_ns=st.st_ctime_ns, mtime_ns=st.st_mtime_ns,
                )  # fmt: skip
            elif perm and record is not None:
                allow = self.decider.decide(record, fd)
        except Exception:
            self.decide_errors += 1  # fail open: an error never blocks an exec
            allow = True
            if self.decide_errors in (1, 10, 100):
                log.exception("exec decision failed (allowed)")
        finally:
            if not answered:
                with contextlib.suppress(OSError):
                    self._answer(group, fd, allow)
            os.close(fd)
        return record

    def _ignore_inode(self, group: FanotifyGroup, fd: int) -> None:
        """The ignore mark of a proven image file, if ignore marks are on."""
        if self.drift is None or not self.drift.ignore_marks:
            return
        if group.ignore_inode(fd):
            self.ignore_marks += 1
        else:
            self.ignore_mark_errors += 1

    def _ignore_mark(self, group: FanotifyGroup, fd: int, dd: DriftDecision) -> None:
        """The ignore mark goes on before the answer: the same binary exec'd again right after
        the answer would otherwise come as another permission event (a second verdict for
        `/bin/true && /bin/true`)."""
        if dd.ignore_mark and dd.allow:
            self._ignore_inode(group, fd)

    def _volume_container(self, snap: ProcSnapshot, pid: int, ino: int) -> str | None:
        """A volume exec's container: from its cgroup, else (gone before it was read) from
        the kernel's note of the exec."""
        if snap.cgroup:
            found = container_from_cgroup(snap.cgroup)
            return found.container_id if found else None
        if self.note_container is not None:
            return self.note_container(pid, ino)
        return None

    def _mark_volumes(self, dev: int, pid: int) -> None:
        """On a container's first rootfs exec (its mounts are all set up by then), mark each
        exec-capable directory mount with a verified FAN_MARK_MOUNT."""
        if self.drift is None or self.group is None:
            return
        paths = volume_dirs(pid, self.proc)
        if paths is None:
            return  # gone before it was read (a short-lived first exec): the next exec asks
        self.drift.volumes_marked.add(dev)
        for path in paths:
            try:
                dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue  # a file bind (/etc/hosts) or gone
            try:
                if os.fstat(dirfd).st_dev == dev:
                    continue  # part of the rootfs overlay (already marked)
                self.group.mark_mount(dirfd)
                self.drift.volume_marks += 1
            except OSError as exc:
                log.warning("cannot mark volume %s: %s", path, exc)
            finally:
                os.close(dirfd)

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
            self.by_dev.clear()

"""Exec record -> core ``Event``: container and pod identity, process tree, user name."""

from __future__ import annotations

import logging
import os
import pwd
import time
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from mamori.core.events import EMPTY, ContainerInfo, Event, EventKind, K8sInfo, ProcessInfo
from mamori.drift.detector import DriftDecision
from mamori.sensor.bpf.records import RecentExec
from mamori.sensor.identity.cgroup import container_from_cgroup
from mamori.sensor.identity.docker import ContainerMeta, DockerError
from mamori.sensor.identity.resolver import Resolver
from mamori.sensor.proctree import ProcTree
from mamori.sensor.records import ExecRecord, ProcSnapshot
from mamori.sensor.sources.procfs import parse_stat, read_file, split_cmdline

log = logging.getLogger(__name__)
DECISION_ONLY = "mamori.sensor.decision_only"  # an exec already reported by another source
COMM_LEN = 15  # the kernel's TASK_COMM_LEN - 1: what proc.name holds
KERNEL_ARGV_CUT = 511  # the eBPF note keeps 512 bytes of argv (NUL-separated, last one cut)
DRIFT_EXTRAS_MAX = 4096  # shared drift field maps kept (one per image file exec'd)


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _fuller(noted: tuple[str, ...], read: tuple[str, ...]) -> tuple[str, ...]:
    """The kernel's argv is cut at 512 bytes; /proc's, when it continues the same argv, is
    whole (a long ``sh -c`` payload keeps its ``| base64 -d | sh`` tail)."""
    part, full = "\0".join(noted), "\0".join(read)
    return read if len(full) > len(part) and full.startswith(part) else noted


_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
# Boot time on the wall clock, once: /proc's starttime counts clock ticks since boot.
_BOOT_NS = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _start_ns(start_ticks: int | None) -> int | None:
    """``proc.start_ns`` (Falco's ``proc.duration`` is taken from it) from /proc's starttime."""
    return None if start_ticks is None else _BOOT_NS + start_ticks * _TICK_NS


def applet_name(name: str, argv: tuple[str, ...], path: str) -> str:
    """``proc.name`` of an exec through ``/proc/self/exe``: the kernel names it ``exe``, but the
    program is argv[0] (Debian's busybox shell runs its applets so: ``grep`` is ``exe``). The
    path is the file (fanotify) or what execve was given (eBPF: ``/proc/self/exe`` itself)."""
    if name == "exe" and argv and (os.path.basename(path) != "exe" or path.startswith("/proc/")):
        return os.path.basename(argv[0])[:COMM_LEN] or name
    return name


def _program_names(path: str, argv: tuple[str, ...]) -> tuple[str, str]:
    """Names the kernel can give a program: its file's, or argv[0]'s (a symlink's name).
    ``rpartition`` is ``os.path.basename`` for str paths, without its per-call overhead."""
    return path.rpartition("/")[2][:COMM_LEN], argv[0].rpartition("/")[2][:COMM_LEN]


class UserNames:
    """uid -> name: the container's /etc/passwd (through its host-side rootfs), else the host's."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str | None, int], str | None] = {}

    def name(self, uid: int, container: str | None, rootfs: str | None) -> str | None:
        key = (container, uid)
        if key not in self._cache:
            self._cache[key] = self._lookup(uid, rootfs) if container else self._host(uid)
        return self._cache[key]

    @staticmethod
    def _host(uid: int) -> str | None:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return None

    @staticmethod
    def _lookup(uid: int, rootfs: str | None) -> str | None:
        if rootfs is None:
            return "root" if uid == 0 else None
        try:
            with open(os.path.join(rootfs, "etc", "passwd"), errors="replace") as f:
                for line in f:
                    parts = line.split(":")
                    if len(parts) > 2 and parts[2] == str(uid):
                        return parts[0]
        except OSError:
            pass
        return "root" if uid == 0 else None

    def forget(self, container: str) -> None:
        for key in [k for k in self._cache if k[0] == container]:
            del self._cache[key]


class Enricher:
    """Builds events; identity failures degrade to the container id alone, never raise."""

    def __init__(
        self,
        tree: ProcTree,
        resolver: Resolver | None,
        node: str | None,
        cluster: str | None,
    ) -> None:
        self.tree = tree
        self.resolver = resolver
        self.node = node
        self.cluster = cluster
        self.proc = tree.proc
        self.users = UserNames()
        self.resolve_errors = 0
        self.rereads = 0  # raced exec snapshots completed by a second /proc read
        self.from_kernel = 0  # raced exec snapshots completed from the eBPF exec notes
        # pid -> the kernel's note of its last exec (the eBPF observer, when fanotify reports
        # execs): set by the sensor when the observer runs.
        self.exec_notes: Callable[[int], RecentExec | None] | None = None
        self._notes: dict[int, RecentExec] = {}  # id(record) -> its note, found while waiting
        self._extra: dict[str, MappingProxyType[str, Any]] = {}
        self._drift_extras: dict[int, tuple[DriftDecision, object, MappingProxyType[str, Any]]]
        self._drift_extras = {}
        self._late: dict[int, tuple[str, tuple[str, ...]]] = {}  # id(record) -> (comm, argv)

    def container_id(self, rec: ExecRecord) -> tuple[str | None, str | None]:
        """(container id, runtime hint): the source's, the cgroup's, else the parent's."""
        if rec.container_id:
            return rec.container_id, None
        if rec.proc.cgroup:
            found = container_from_cgroup(rec.proc.cgroup)
            if found:
                return found.container_id, found.runtime
            return None, None  # a readable cgroup without a container id: the host
        if rec.network is not None or rec.file is not None:
            # A process gone before its cgroup was read (a client that exits at once): its
            # own exec, seen earlier, knows the container.
            own = self.tree.container_of(rec.pid)
            if own:
                return own, None
        return self.tree.container_of(rec.proc.ppid), None

    def meta(self, cid: str) -> ContainerMeta | None:
        if self.resolver is None:
            return None
        try:
            return self.resolver.resolve(cid)
        except DockerError:
            self.resolve_errors += 1
            return None

    def event(self, rec: ExecRecord) -> Event:
        cid, runtime = self.container_id(rec)
        meta = self.meta(cid) if cid else None
        connect = rec.network is not None
        running = connect or rec.file is not None
        process = self.running(rec, cid, meta) if running else self.process(rec, cid, meta)
        container: ContainerInfo | None = None
        k8s: K8sInfo | None = None
        if cid:
            container = meta.container if meta else ContainerInfo(id=cid, runtime=runtime)
            k8s = meta.k8s if meta else None
        result = rec.result if rec.result is not None else (None if running else "SUCCESS")
        extra = self._extra.get(rec.source) or self._source_extra(rec.source)
        if rec.decision_only:
            extra = MappingProxyType({**extra, DECISION_ONLY: True})
        if rec.drift is not None:
            extra = self._drift_extra(extra, rec)
            if rec.drift.action_taken == "blocked":
                result = "EPERM"  # Falco's evt.res of a denied exec
        kind, syscall = EventKind.PROCESS_EXEC, "execve"
        if connect:
            kind, syscall = EventKind.NETWORK_CONNECT, "connect"
        elif rec.file is not None:
            kind, syscall = EventKind.FILE_OPEN, "openat"
        return Event(
            kind=kind,
            time_ns=rec.time_ns,
            syscall=syscall,
            # tracefs sees a connect at SYN_SENT, before the syscall returns: result unknown;
            # the eBPF observer reports it (rec.result). An open is seen on entry.
            result=result,
            node=self.node,
            cluster=self.cluster,
            process=process,
            container=container,
            k8s=k8s,
            network=rec.network,
            file=rec.file,
            extra=extra,
        )

    def _drift_extra(
        self, base: MappingProxyType[str, Any], rec: ExecRecord
    ) -> MappingProxyType[str, Any]:
        """The source's extension fields and the drift decision's. A decision that asked no
        policy (an image exec) is shared by every exec of its file: so are its fields."""
        dd = rec.drift
        assert dd is not None
        if dd.decision is not None or rec.decision_only:
            return MappingProxyType({**base, **dd.extra()})
        # Keyed by id: the entry holds the decision, so the id is not reused while it is here.
        hit = self._drift_extras.get(id(dd))
        if hit is not None and hit[0] is dd and hit[1] is base:
            return hit[2]
        found = MappingProxyType({**base, **dd.extra()})
        if len(self._drift_extras) >= DRIFT_EXTRAS_MAX:
            self._drift_extras.clear()
        self._drift_extras[id(dd)] = (dd, base, found)
        return found

    def _source_extra(self, source: str) -> MappingProxyType[str, Any]:
        extra = self._extra[source] = MappingProxyType({"mamori.sensor.source": source})
        return extra

    @staticmethod
    def completed(rec: ExecRecord) -> bool:
        """The snapshot was read after the exec completed: comm and argv are the new program's.

        Otherwise it is the caller's (detect mode races the exec) and only pid-level facts
        (ppid, cwd, uid, tty) hold. argv is set after comm, so non-empty args plus the new exe
        (or a comm equal to the file's name) mean done.
        """
        snap = rec.proc
        if rec.network is not None or rec.file is not None or rec.source == "ebpf":
            return True  # a running process, or read in the task after the exec completed
        if rec.drift is not None and rec.drift.action_taken == "blocked":
            return True  # denied: the new program never ran; the caller's argv is the story
        return bool(snap.args) and (
            snap.exe == rec.path or snap.comm == os.path.basename(rec.path)[:COMM_LEN]
        )

    def exec_state(self, rec: ExecRecord) -> str:
        """For a raced snapshot: ``done`` (name and argv now known), ``running`` (the exec is
        still in progress: worth waiting a few ms) or ``gone`` (exited or pid reused)."""
        parsed = self._restat(rec)
        if parsed is None:
            return "gone"
        argv = split_cmdline(read_file(f"{self.proc}/{rec.pid}/cmdline") or b"")
        if not argv or _readlink(f"{self.proc}/{rec.pid}/exe") != rec.path:
            return "running"
        self._late[id(rec)] = (parsed[0], argv)
        return "done"

    def process(self, rec: ExecRecord, cid: str | None, meta: ContainerMeta | None) -> ProcessInfo:
        snap = rec.proc
        raced = not self.completed(rec)
        # Whatever the pipeline found while it waited, taken now: the dicts are keyed by
        # id(record), which a later record can reuse.
        late = self._late.pop(id(rec), None)
        noted = self._noted(rec)
        if noted is not None:
            # The kernel's note of this exec (eBPF, same inode): taken when the exec happened,
            # so neither a process gone before /proc was read nor a multi-call binary (busybox
            # running busybox: the snapshot's exe is the same) can mislead it.
            name, args, after = noted.comm, self._whole_argv(rec, noted, late), True
            snap = _with_note(snap, noted)
            self.from_kernel += 1
        else:
            name, args, after = self._from_proc(rec, raced, late)
        if raced and (noted is None or noted.tty is None):
            snap = self._settled(rec, snap)
        name = applet_name(name, args, rec.path)
        uid = snap.uid if snap.uid is not None else self._parent_uid(snap.ppid)
        self.tree.on_exec(
            rec.pid, name, snap.ppid, cid, confirmed=after, uid=uid, time_ns=rec.time_ns
        )
        return self._info(rec, snap, cid, meta, name, rec.path, args)

    def _whole_argv(
        self, rec: ExecRecord, noted: RecentExec, late: tuple[str, tuple[str, ...]] | None
    ) -> tuple[str, ...]:
        """The note's argv, completed from /proc when the kernel cut it at 512 bytes: from the
        snapshot or the pipeline's re-read if either continues it, else read once more now (a
        snapshot that raced the exec shows the caller's argv)."""
        args = _fuller(noted.args, rec.proc.args)
        if late is not None:
            args = _fuller(args, late[1])
        if len("\0".join(args)) < KERNEL_ARGV_CUT:
            return args
        return _fuller(args, split_cmdline(read_file(f"{self.proc}/{rec.pid}/cmdline") or b""))

    def _from_proc(
        self, rec: ExecRecord, raced: bool, late: tuple[str, tuple[str, ...]] | None
    ) -> tuple[str, tuple[str, ...], bool]:
        """(name, argv, confirmed) from the /proc snapshot, read again if it raced the exec."""
        snap = rec.proc
        if not raced:
            name = snap.comm or ""
            if snap.args and name not in (names := _program_names(rec.path, snap.args)):
                name = self._program_name(rec, name, names)
            return name, snap.args, True
        # Read again (the pipeline may have waited for the exec to complete): same process
        # and the new exe in place -> the new program's name and argv. A busybox applet's
        # name ("sh") differs from the file's ("busybox"), and rules match on the name.
        if late is None and self.exec_state(rec) == "done":
            late = self._late.pop(id(rec), None)
        if late is None:
            return os.path.basename(rec.path)[:COMM_LEN], (), False
        self.rereads += 1
        return late[0], late[1], True

    def _program_name(self, rec: ExecRecord, name: str, names: tuple[str, str]) -> str:
        """A snapshot reads the name (stat) before exe and argv: an exec completing in between
        leaves the caller's name beside the new program (``sh`` for ``/bin/true`` on a busy
        node). The name is read again; kept when it still does not fit (a script's
        interpreter is named after the script), or the file's when the process is gone and
        argv[0] names that file too (``names``: the file's, argv[0]'s)."""
        parsed = self._restat(rec)
        if parsed is not None:
            return parsed[0] if parsed[0] in names else name
        return names[0] if names[0] == names[1] else name

    def _restat(self, rec: ExecRecord) -> tuple[str, int, int, int] | None:
        """``/proc/<pid>/stat`` parsed again, or None when the snapshot's process is gone (no
        entry, or the pid reused: another start time)."""
        data = read_file(f"{self.proc}/{rec.pid}/stat", 4096)
        parsed = parse_stat(data) if data else None
        start = rec.proc.start_ticks
        if parsed is None or (start is not None and parsed[3] != start):
            return None
        return parsed

    def _settled(self, rec: ExecRecord, snap: ProcSnapshot) -> ProcSnapshot:
        """A snapshot that raced the exec has the caller's terminal: runc's init takes the
        container's tty (setsid + TIOCSCTTY) just before it execs the command. Read it again
        while the same process is there."""
        parsed = self._restat(rec)
        if parsed is None:
            return snap
        return replace(snap, tty=parsed[2]) if parsed[2] != snap.tty else snap

    def awaiting_note(self, rec: ExecRecord) -> bool:
        """The kernel has not noted this exec yet: fanotify reports the exec file's open, the
        note is written when the exec completes (a few microseconds to milliseconds later)."""
        if self.exec_notes is None or rec.source != "fanotify" or rec.ino is None:
            return False
        noted = self._lookup(rec)
        if noted is None:
            return True
        self._notes[id(rec)] = noted
        return False

    def has_note(self, rec: ExecRecord) -> bool:
        """``awaiting_note`` found the kernel's note of this exec: it is complete as it is."""
        return id(rec) in self._notes

    def _noted(self, rec: ExecRecord) -> RecentExec | None:
        if self.exec_notes is None:
            return None
        found = self._notes.pop(id(rec), None)
        return found if found is not None else self._lookup(rec)

    def _lookup(self, rec: ExecRecord) -> RecentExec | None:
        assert self.exec_notes is not None
        noted = self.exec_notes(rec.pid)
        if noted is None or (rec.ino is not None and noted.ino != rec.ino):
            return None  # not this exec (pid reused, or a later exec of the same process)
        return noted

    def _parent_uid(self, ppid: int | None) -> int | None:
        parent = self.tree.nodes.get(ppid) if ppid else None
        return parent.uid if parent else None

    def running(self, rec: ExecRecord, cid: str | None, meta: ContainerMeta | None) -> ProcessInfo:
        """A process seen doing something other than exec: the snapshot is its current state."""
        snap = rec.proc
        if snap.ppid is None and (known := self.tree.nodes.get(rec.pid)) is not None:
            # Gone before /proc was read: what its exec told the tree (name, parent, uid).
            snap = replace(snap, comm=snap.comm or known.name, ppid=known.ppid,
                           uid=snap.uid if snap.uid is not None else known.uid)  # fmt: skip
        name = snap.comm or "<NA>"
        if snap.ppid is not None and rec.pid not in self.tree.nodes:
            self.tree.on_exec(rec.pid, name, snap.ppid, cid, uid=snap.uid)
        return self._info(rec, snap, cid, meta, name, snap.exe or "", snap.args)

    def _info(
        self,
        rec: ExecRecord,
        snap: ProcSnapshot,
        cid: str | None,
        meta: ContainerMeta | None,
        name: str,
        exepath: str,
        argv: tuple[str, ...],
    ) -> ProcessInfo:
        parent = self.tree.get(snap.ppid) if snap.ppid else None
        uid = snap.uid if snap.uid is not None else (parent.uid if parent else None)
        rootfs = meta.merged_dir if meta else None
        return ProcessInfo(
            pid=rec.pid,
            name=name,
            exepath=exepath,
            args=argv[1:],
            exe=argv[0] if argv else None,
            ppid=snap.ppid,
            pname=parent.name if parent else None,
            anames=self.tree.ancestors(snap.ppid),
            cwd=snap.cwd,
            tty=snap.tty,
            uid=uid,
            user=self.users.name(uid, cid, rootfs) if uid is not None else None,
            loginuid=snap.loginuid,
            vpid=snap.vpid,
            exe_flags=rec.exe_flags or EMPTY,
            exe_ino=rec.ino if rec.network is None and rec.file is None else None,
            exe_ino_ctime_ns=rec.ctime_ns,
            exe_ino_mtime_ns=rec.mtime_ns,
            start_ns=_start_ns(snap.start_ticks),
        )


def _with_note(snap: ProcSnapshot, noted: RecentExec) -> ProcSnapshot:
    """The snapshot completed from the kernel's note, read in the task right after the exec:
    its terminal wins over a snapshot that raced the exec (the caller's: runc's init takes the
    container's tty just before it execs); the rest fills what /proc could not give (the
    process was gone when read)."""
    # Built, not replace()d: once per exec, and replace() reads every field by name.
    return ProcSnapshot(
        snap.pid,
        noted.ppid if noted.ppid else snap.ppid,
        snap.comm,
        snap.exe,
        snap.args,
        snap.cwd,
        noted.uid if snap.uid is None else snap.uid,
        noted.loginuid if snap.loginuid is None else snap.loginuid,
        noted.tty if noted.tty is not None else snap.tty,
        snap.cgroup,
        noted.start_ticks if snap.start_ticks is None else snap.start_ticks,
        noted.vpid if snap.vpid is None else snap.vpid,
    )

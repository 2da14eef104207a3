"""The eBPF CO-RE observer (``bpf/observer.bpf.c``) as an exec/connect/open source.

One ring buffer carries three event kinds: exec (``sched_process_exec``: pid, ppid, uid,
loginuid, cgroup v2 id, comm, filename, argv, exe inode/device, memfd and deleted flags),
connect (``sys_enter/exit_connect``: AF_INET/AF_INET6 address and port, socket type, the
syscall's result, failed attempts included) and open (``sys_enter_open{,at,at2}``, filtered in
the kernel to watched full paths and basenames). One reader thread polls the ring buffer; the
callback only copies bytes, parsing happens after ``ring_buffer__poll`` returns.

An exec record needs no ``/proc`` read for pid/ppid/uid/comm/argv/identity: the event has them,
read in the exec'ing task after the exec completed. cwd/tty/vpid are still read from /proc when
the loaded rules use them (best effort). Container identity comes from the cgroup v2 id (the
cgroup directory's inode) mapped to its path; on a v1-only runtime the v2 id names no container
and ``/proc/<pid>/cgroup`` is read instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import MappingProxyType

from mamori.core.events import FileInfo, NetworkInfo
from mamori.sensor.bpf.loader import BpfObserver
from mamori.sensor.bpf.records import (
    AT_FDCWD,
    MATCH_RELATIVE,
    RINGBUF_POLL_MS,
    BpfEvent,
    ConnectEvent,
    ExecEvent,
    Header,
    OpenEvent,
    RecentExec,
    parse_event,
    parse_recent,
)
from mamori.sensor.identity.cgroup import container_from_cgroup
from mamori.sensor.identity.cgroup2 import CgroupIds
from mamori.sensor.records import ExecRecord, ProcSnapshot
from mamori.sensor.sources.base import SourceUnavailable
from mamori.sensor.sources.procfs import ALL_PARTS, read_snapshot

GATHER_S = 0.004
# The exe flags an exec record carries, by (from_memfd, deleted): shared, read-only.
_EXE_FLAGS = {
    (m, d): MappingProxyType({"from_memfd": m, "deleted": d})
    for m in (False, True)
    for d in (False, True)
}
log = logging.getLogger(__name__)

# Opens worth an event, matched in the kernel (full path as passed, or its basename). The
# sensor's defaults; ``EbpfSource(watched_paths=..., watched_names=...)`` overrides them.
WATCHED_PATHS: tuple[str, ...] = (
    "/etc/ld.so.preload",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/var/run/secrets/kubernetes.io/serviceaccount/token",
    "/run/secrets/kubernetes.io/serviceaccount/token",
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/kubelet.conf",
    "/var/lib/kubelet/kubeconfig",
    "/sys/module/msr/parameters/allow_writes",
    "/proc/sys/vm/nr_hugepages",
)
WATCHED_NAMES: tuple[str, ...] = (
    ".git-credentials",
    "credentials",
    "config.json",
    ".netrc",
    "id_rsa",
    "id_ed25519",
    "authorized_keys",
    ".bash_history",
    ".ash_history",
    ".zsh_history",
    "kubeconfig",
    "environ",
)

# Layouts of observer.bpf.c (little-endian, natural alignment; sizes checked in the tests).

ObservedExec = Callable[[ExecRecord, ExecEvent], ExecRecord]


class EbpfSource:
    """Exec (optional), connect and open records from the observer.

    ``exec_events`` is off when fanotify is the exec source (each exec one event, see
    docs/decisions/2026-11-22-sensor-ebpf-observer.md): then only memfd and loader execs, which
    fanotify cannot judge, become records. ``drift`` (set by the sensor) judges memfd/loader execs.
    """

    name = "ebpf"

    def __init__(
        self,
        proc: str = "/proc",
        exec_events: bool = True,
        obj_path: Path | None = None,
        host_events: bool = False,
        watched_paths: Sequence[str] = WATCHED_PATHS,
        watched_names: Sequence[str] = WATCHED_NAMES,
    ) -> None:
        self.proc = proc
        self.exec_events = exec_events
        # Execs and connects of host processes (outside containers): off by default, as
        # fanotify (container rootfs marks) sees none either; filtered in the kernel.
        self.host_events = host_events
        self.obj_path = obj_path
        self.watched_paths = watched_paths
        self.watched_names = watched_names
        self._watched = frozenset(watched_paths)
        self.parts = ALL_PARTS
        self.observer: BpfObserver | None = None
        self.cgroups = CgroupIds()
        self.cgroup_v2 = False  # the v2 id names containers here (else /proc/<pid>/cgroup)
        self.observed: ObservedExec | None = None  # memfd / loader hook (drift)
        self.counts = {"exec": 0, "connect": 0, "open": 0, "observer_only": 0, "host": 0}
        self._scans = 0
        self._closing = threading.Event()
        # pid -> (exe path, argv) of recent execs: connect/open records name the program
        # without a /proc read when the exec was seen.
        # pid -> its last exec (oldest first: a dict keeps insertion order), bounded
        self._recent: dict[int, tuple[str, tuple[str, ...], int]] = {}

    def open(self) -> None:
        from mamori.sensor.bpf.build import BpfBuildError, cached_object

        path = self.obj_path
        if path is None:
            try:
                path = cached_object()
            except OSError as exc:
                raise SourceUnavailable(f"ebpf: {exc}") from exc
            except BpfBuildError as exc:
                raise SourceUnavailable(f"ebpf: {exc}") from exc
            if path is None:
                raise SourceUnavailable(
                    "ebpf: no observer object built for this kernel (mamori sensor-build-bpf)"
                )
        if os.geteuid() != 0:
            raise SourceUnavailable("ebpf: needs root (CAP_BPF + CAP_PERFMON)")
        self.observer = BpfObserver(
            path, self.watched_paths, self.watched_names, exec_all=self.exec_events
        )
        self.cgroups.scan()
        self._sync_skip()

    def _sync_skip(self) -> None:
        """After a cgroup scan: is the v2 id authoritative (some v2 cgroup names a container)?
        Then host cgroups go into the kernel's skip map."""
        self._scans = self.cgroups.scans
        self.cgroup_v2 = self.cgroups.has_containers
        if self.observer is not None and self.cgroup_v2 and not self.host_events:
            self.observer.skip_cgroups(self.cgroups.host_ids())

    def drops(self) -> int:
        return self.observer.drops() if self.observer is not None else 0

    def recent_exec(self, pid: int) -> RecentExec | None:
        """What the kernel noted of ``pid``'s last exec (when fanotify reports execs): the
        name and argv of a process that was gone before /proc could be read."""
        if self.observer is None or self.exec_events:
            return None
        raw = self.observer.recent_exec(pid)
        return parse_recent(raw) if raw is not None else None

    def note_container(self, pid: int, ino: int) -> str | None:
        """The container of ``pid``'s exec of inode ``ino`` from the kernel's note (its cgroup
        v2 id): a volume exec whose process was gone before its cgroup could be read."""
        note = self.recent_exec(pid)
        if note is None or note.ino != ino or note.cgroup_id is None or not self.cgroup_v2:
            return None
        return self.cgroups.lookup(note.cgroup_id)[1]

    def detail(self) -> str:
        kinds = ["exec" if self.exec_events else "exec: memfd/loader only", "connect", "open"]
        if not self.host_events:
            kinds.append("containers only (open: all)")
        ident = (
            "cgroup v2 id" if self.cgroup_v2 else "/proc/<pid>/cgroup until a v2 cgroup names one"
        )
        ms = f"{self.observer.load_ms:.0f} ms" if self.observer else "-"
        return f"ebpf ({', '.join(kinds)}; identity {ident}; load+attach {ms})"

    def records(self) -> Iterator[ExecRecord]:
        assert self.observer is not None
        observer = self.observer
        try:
            while True:
                closing = self._closing.is_set()
                raws = observer.poll(0 if closing else RINGBUF_POLL_MS)
                for raw in raws:
                    event = parse_event(raw)
                    record = self._record(event) if event is not None else None
                    if record is not None:
                        yield record
                if closing:
                    break
                if raws:
                    # Let the next records gather in the ring buffer (8 MiB: ~14,000 execs)
                    # so that one wake-up takes many: a wake-up per exec cost more CPU than
                    # the records themselves. The pipeline batches 5 ms anyway.
                    time.sleep(GATHER_S)
        finally:
            observer.close()

    def close(self) -> None:
        self._closing.set()

    # --- records ---

    def _container(self, hdr: Header) -> tuple[str | None, str | None, bool]:
        """(container id, cgroup text read from /proc when the v2 id could not tell, known to
        be a host process)."""
        if self.cgroups.roots:
            known, cid = self.cgroups.lookup(hdr.cgroup_id)  # a miss rescans
            if self.cgroups.scans != self._scans:
                self._sync_skip()
            if known and self.cgroup_v2:
                return cid, None, cid is None
        text = _read(f"{self.proc}/{hdr.tgid}/cgroup")
        found = container_from_cgroup(text) if text else None
        return (found.container_id if found else None), text, bool(text) and found is None

    def _record(self, event: BpfEvent) -> ExecRecord | None:
        if isinstance(event, ExecEvent):
            return self._exec(event)
        if isinstance(event, ConnectEvent):
            return self._connect(event)
        return self._open(event)

    def _remember(self, pid: int, exe: str, args: tuple[str, ...], ppid: int) -> None:
        recent = self._recent
        recent.pop(pid, None)  # re-inserted last: the newest
        recent[pid] = (exe, args, ppid)
        if len(recent) > 8192:
            del recent[next(iter(recent))]

    def _exec(self, e: ExecEvent) -> ExecRecord | None:
        self._remember(e.hdr.tgid, e.filename, e.args, e.ppid)
        memfd = e.memfd and not e.runc_clone
        special = memfd or e.loader_target() is not None
        if not self.exec_events and not special:
            return None
        cid, cgroup, host = self._container(e.hdr)
        if self._host_dropped(host):
            return None
        self.counts["exec"] += 1
        snap = ProcSnapshot(
            pid=e.hdr.tgid,
            ppid=e.ppid,
            comm=e.hdr.comm,
            exe=e.filename,  # the snapshot is post-exec: Enricher.completed() holds
            args=e.args,
            cwd=self._cwd(e.hdr.tgid),
            uid=e.hdr.uid,
            loginuid=e.loginuid,
            tty=e.tty,
            cgroup=cgroup,
            start_ticks=e.start_ticks,
            vpid=e.vpid or None,
        )
        flags = _EXE_FLAGS[memfd, e.deleted]
        record = ExecRecord(
            time.time_ns(),
            e.hdr.tgid,
            e.filename,
            self.name,
            snap,
            container_id=cid,
            dev=e.dev,
            ino=e.ino,
            exe_flags=flags,
            # Under fanotify a loader exec was an event already (ld.so itself): this record
            # only carries the drift decision. A memfd exec fanotify never sees: a full event.
            decision_only=not self.exec_events and not memfd,
        )
        if special and self.observed is not None:
            record = self.observed(record, e)
        if not self.exec_events:
            self.counts["observer_only"] += 1
        return record

    def _host_dropped(self, host: bool) -> bool:
        """A host process's exec/connect that reached userspace (its cgroup not yet in the skip
        map, or identity from /proc): dropped when known to be the host (by the v2 id or a
        /proc/<pid>/cgroup that was read). Unknown (the process is gone): kept, the pipeline
        then takes the parent's container."""
        if self.host_events or not host:
            return False
        self.counts["host"] += 1
        return True

    def _cwd(self, pid: int) -> str | None:
        """The one thing the exec record lacks that a rule may use (``parts``): the cwd.
        tty, start time and vpid come from the kernel with the record."""
        if "cwd" not in self.parts:
            return None
        with contextlib.suppress(OSError):
            return os.readlink(f"{self.proc}/{pid}/cwd")
        return None

    def _running(self, hdr: Header) -> ProcSnapshot:
        recent = self._recent.get(hdr.tgid)
        if recent is not None:
            exe, args, ppid = recent
            return ProcSnapshot(hdr.tgid, ppid, hdr.comm, exe, args, uid=hdr.uid)
        snap = read_snapshot(hdr.tgid, self.proc, cgroup=False, parts=self.parts)
        return ProcSnapshot(
            hdr.tgid,
            snap.ppid,
            hdr.comm,
            snap.exe,
            snap.args,
            snap.cwd,
            hdr.uid,
            snap.loginuid,
            snap.tty,
            None,
            snap.start_ticks,
            snap.vpid,
        )

    def _connect(self, e: ConnectEvent) -> ExecRecord | None:
        cid, cgroup, host = self._container(e.hdr)
        if self._host_dropped(host):
            return None
        self.counts["connect"] += 1
        snap = self._running(e.hdr)
        if cgroup is not None:
            snap = _with_cgroup(snap, cgroup)
        network = NetworkInfo(
            protocol=e.protocol, dst_ip=e.address, dst_port=e.port, fd=e.fd if e.fd >= 0 else None
        )
        return ExecRecord(
            time.time_ns(),
            e.hdr.tgid,
            "",
            self.name,
            snap,
            container_id=cid,
            network=network,
            result=e.result,
        )

    def _open(self, e: OpenEvent) -> ExecRecord | None:
        path = self._resolve(e)
        if e.match == MATCH_RELATIVE and path.startswith("/") and path not in self._watched:
            return None  # "shadow" relative to somewhere other than /etc (unresolved: kept)
        self.counts["open"] += 1
        cid, cgroup, _host = self._container(e.hdr)
        snap = self._running(e.hdr)
        if cgroup is not None:
            snap = _with_cgroup(snap, cgroup)
        file = FileInfo(
            path=path,
            flags=e.flag_names,
            mode=e.mode & 0o7777 if e.flags & 0o100 else None,
        )
        return ExecRecord(
            time.time_ns(),
            e.hdr.tgid,
            "",
            self.name,
            snap,
            container_id=cid,
            file=file,
            raw_path=e.path,
        )

    def _resolve(self, e: OpenEvent) -> str:
        """A relative path against the cwd (or the dirfd's directory), best effort."""
        if e.path.startswith("/"):
            return e.path
        where = "cwd" if e.dfd == AT_FDCWD else f"fd/{e.dfd}"
        try:
            base = os.readlink(f"{self.proc}/{e.hdr.tgid}/{where}")
        except OSError:
            return e.path
        return os.path.normpath(os.path.join(base, e.path))


def _read(path: str) -> str | None:
    with contextlib.suppress(OSError), open(path, errors="replace") as f:
        return f.read(8192)
    return None


def _with_cgroup(snap: ProcSnapshot, cgroup: str) -> ProcSnapshot:
    from dataclasses import replace

    return replace(snap, cgroup=cgroup)

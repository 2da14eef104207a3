"""Process tree state: pid -> name, parent and container, for ``proc.pname``/``proc.aname[N]``.

Fed by the start-up /proc scan and by every exec record; unknown pids are read from
``/proc/<pid>/stat`` once and cached. Exec sources report no exits, so ``prune()`` (called from
housekeeping) drops pids that left /proc, and the table is bounded.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mamori.sensor.records import ProcSnapshot
from mamori.sensor.sources.procfs import parse_stat, parse_uid, read_file

MAX_DEPTH = 8
MAX_NODES = 65536
# A pid found gone is not read again for this long: every exec under a parent whose own parent
# has exited (runc's `exec` process, the usual parent of a `docker exec` shell) walked to it and
# failed the same /proc read again (one wasted open per exec, measured). Bounded so that a pid
# reused by a process that never execs is named again soon.
GONE_S = 5.0
MAX_GONE = 4096
# Names a process has only between fork and its next exec: runc's init stages always exec the
# container's entrypoint next. A node caught under such a name is read again when looked up, or
# every child of the container's init would get "runc:[2:INIT]" as its parent (seen under load).
TRANSIENT_PREFIXES = ("runc:[",)


def _stale(node: Node | None) -> bool:
    return node is None or not node.confirmed or node.name.startswith(TRANSIENT_PREFIXES)


@dataclass(slots=True)
class Node:
    name: str
    ppid: int | None
    container_id: str | None = None
    start_ticks: int | None = None
    # False when the name is a guess from the exec'd path (the /proc snapshot raced the exec,
    # or a multi-call binary such as busybox): the first lookup as a parent reads the real comm.
    confirmed: bool = True
    # Real uid when known: exec keeps it, so a child whose /proc was gone before it could be
    # read (a short-lived process under load) gets its parent's as the best estimate.
    uid: int | None = None
    # When the exec that named this node happened (the record's time): a raced record the
    # pipeline held back can be processed after a later exec of the same pid (su -> sh ->
    # php-fpm), and must not rename it back.
    exec_ns: int = 0


class ProcTree:
    def __init__(self, proc: str = "/proc", max_nodes: int = MAX_NODES) -> None:
        self.proc = proc
        self.max_nodes = max_nodes
        self.nodes: dict[int, Node] = {}
        self._gone: dict[int, float] = {}  # pid -> when its /proc read failed (monotonic)
        self._lock = threading.Lock()

    def seed(self, snapshots: Iterable[ProcSnapshot], containers: dict[int, str | None]) -> None:
        for s in snapshots:
            if s.comm is not None:
                self.nodes[s.pid] = Node(
                    s.comm, s.ppid, containers.get(s.pid), s.start_ticks, uid=s.uid
                )

    def on_exec(
        self,
        pid: int,
        name: str,
        ppid: int | None,
        container_id: str | None,
        confirmed: bool = True,
        uid: int | None = None,
        time_ns: int = 0,
    ) -> None:
        known = self.nodes.get(pid)
        if known is not None and known.exec_ns > time_ns:
            return  # an older exec of this pid, processed late: the node has the newer one
        if len(self.nodes) >= self.max_nodes and known is None:
            self._evict()
        self._gone.pop(pid, None)
        self.nodes[pid] = Node(name, ppid, container_id, None, confirmed, uid, time_ns)

    def get(self, pid: int) -> Node | None:
        node = self.nodes.get(pid)
        if _stale(node) and pid > 0:
            if node is None and pid in self._gone and not self._expired(pid):
                return None
            data = read_file(f"{self.proc}/{pid}/stat", 4096)
            parsed = parse_stat(data) if data else None
            if parsed is not None:
                cid = node.container_id if node else None
                uid = node.uid if node else None
                if uid is None:  # a parent never seen exec'ing (a shim started after the scan)
                    status = read_file(f"{self.proc}/{pid}/status", 4096)
                    uid = parse_uid(status) if status else None
                exec_ns = node.exec_ns if node else 0
                node = Node(parsed[0], parsed[1], cid, parsed[3], uid=uid, exec_ns=exec_ns)
                self.nodes[pid] = node
            elif node is not None:
                node.confirmed = True  # gone: keep the guess, do not retry
            else:
                if len(self._gone) >= MAX_GONE:
                    self._gone.clear()
                self._gone[pid] = time.monotonic()
        return node

    def _expired(self, pid: int) -> bool:
        if time.monotonic() - self._gone[pid] < GONE_S:
            return False
        del self._gone[pid]
        return True

    def ancestors(self, ppid: int | None, depth: int = MAX_DEPTH) -> tuple[str, ...]:
        """Names of the parent, grandparent ... (Falco's ``proc.aname[1..]``)."""
        names: list[str] = []
        seen: set[int] = set()
        nodes = self.nodes
        pid = ppid
        while pid and pid not in seen and len(names) < depth:
            seen.add(pid)
            node = nodes.get(pid)
            # _stale() inline: the common case (known, confirmed) costs no call
            if node is None or not node.confirmed or node.name.startswith(TRANSIENT_PREFIXES):
                node = self.get(pid)
                if node is None:
                    break
            names.append(node.name)
            pid = node.ppid
        return tuple(names)

    def container_of(self, pid: int | None) -> str | None:
        node = self.nodes.get(pid) if pid else None
        return node.container_id if node else None

    def prune(self) -> int:
        """Forget pids that are gone from /proc; returns how many."""
        gone = [pid for pid in list(self.nodes) if not os.path.exists(f"{self.proc}/{pid}")]
        for pid in gone:
            self.nodes.pop(pid, None)
        return len(gone)

    def _evict(self) -> None:
        # Oldest insertions first (dicts keep insertion order); a quarter at a time.
        for pid in list(self.nodes)[: self.max_nodes // 4]:
            self.nodes.pop(pid, None)

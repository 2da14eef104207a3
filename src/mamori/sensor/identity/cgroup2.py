"""cgroup v2 id -> container: the eBPF observer's identity (design 3.6).

``bpf_get_current_cgroup_id()`` is the inode of the task's cgroup v2 directory; scanning the v2
hierarchy maps inodes to paths, and the path names the container (``identity/cgroup.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from mamori.sensor.identity.cgroup import container_from_path


def cgroup2_roots(mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points of the cgroup v2 hierarchy (``/sys/fs/cgroup`` or, hybrid, ``.../unified``)."""
    roots: list[str] = []
    try:
        with open(mountinfo) as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    roots.append(left.split()[4])
    except OSError:
        pass
    return roots


class CgroupIds:
    """cgroup v2 id (the directory's inode) -> container id, by scanning the hierarchy.

    Cached; a miss rescans at most once per ``rescan_s`` (a new container's directory appears
    before its first exec). Host cgroups map to ``None``.
    """

    def __init__(self, roots: Sequence[str] | None = None, rescan_s: float = 0.5) -> None:
        self.roots = list(roots) if roots is not None else cgroup2_roots()
        self.rescan_s = rescan_s
        self._ids: dict[int, str | None] = {}
        self._last = 0.0
        self._missed: set[int] = set()
        self.scans = 0
        # Some v2 cgroup names a container: the runtime uses v2 (or hybrid with unified),
        # so the event's cgroup id is authoritative. Re-evaluated on every scan.
        self.has_containers = False

    def host_ids(self) -> set[int]:
        """cgroup ids known to name no container."""
        return {ino for ino, cid in self._ids.items() if cid is None}

    def _scan(self) -> None:
        self.scans += 1
        self._last = time.monotonic()
        found: dict[int, str | None] = {}
        for root in self.roots:
            for dirpath, _dirs, _files in os.walk(root):
                try:
                    ino = os.stat(dirpath).st_ino
                except OSError:
                    continue
                ident = container_from_path(dirpath[len(root) :] or "/")
                found[ino] = ident.container_id if ident else None
        self._ids = found
        self.has_containers = any(v is not None for v in found.values())

    def lookup(self, cgroup_id: int) -> tuple[bool, str | None]:
        """(known, container id). An id never seen rescans at once (a new container's cgroup
        exists before its first exec); one a scan could not find, at most every
        ``rescan_s``."""
        if cgroup_id in self._ids:
            return True, self._ids[cgroup_id]
        fresh = cgroup_id not in self._missed
        if fresh or time.monotonic() - self._last >= self.rescan_s:
            self._scan()
            if cgroup_id in self._ids:
                return True, self._ids[cgroup_id]
            if len(self._missed) > 4096:
                self._missed.clear()
            self._missed.add(cgroup_id)
        return False, None

    def scan(self) -> None:
        self._scan()

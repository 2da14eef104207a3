"""Drift detection wired into the fanotify source: layers per rootfs, identity for the policy,
volume marks, and the Falco exe flags of each exec.

Runs on the fanotify reader thread, before the exec is answered. It never execs or shells out
(with permission marks active an exec on a marked filesystem would wait for this thread).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from mamori.drift.detector import DriftDecision, DriftJudge, scope_context
from mamori.drift.inodes import LayerIndex, find_in
from mamori.drift.policy import ScopeContext
from mamori.drift.verdict import Layers, Verdict, VerdictResult, resolve_layer_dirs
from mamori.sensor.identity.docker import DockerError
from mamori.sensor.identity.resolver import Resolver
from mamori.sensor.mounts import RootfsMount, parse_mountinfo
from mamori.sensor.records import ExecRecord

if TYPE_CHECKING:
    from mamori.sensor.bpf.records import ExecEvent

log = logging.getLogger(__name__)
# Pseudo filesystems never hold an executable worth a mark.
_SKIP_FSTYPES = frozenset(
    ("proc", "sysfs", "cgroup", "cgroup2", "mqueue", "devpts", "securityfs", "debugfs", "bpf")
)
_SKIP_PREFIXES = ("/proc", "/sys")
EXEC_COUNT_KEYS = 4096
_FLAGS: dict[tuple[bool, bool, bool, bool], MappingProxyType[str, bool]] = {}


def exe_flags(st: os.stat_result, upper: bool, lower: bool, memfd: bool) -> dict[str, bool]:
    """Falco's execve flags; ``writable`` is its approximation (owner/mode bits)."""
    writable = bool(st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return {"upper_layer": upper, "lower_layer": lower, "from_memfd": memfd, "writable": writable}


@dataclass
class SensorDrift:
    judge: DriftJudge
    resolver: Resolver | None = None
    cluster: str | None = None
    cloud: tuple[str, str] | None = None
    ignore_marks: bool = False
    layers: dict[int, Layers] = field(default_factory=dict)
    volumes_marked: set[int] = field(default_factory=set)  # rootfs devs whose volumes are marked
    volume_marks: int = 0
    # Decisions per (container, exec'd path), bounded: lets a benchmark or an operator check
    # that every exec of one container was decided, whatever runs in others.
    exec_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    # rootfs dev -> (index generation, its layers' indexes) once all are walked: the block-mode
    # answer for an image exec comes from this and the fstat, a few dict and array reads
    chains: dict[int, tuple[int, tuple[LayerIndex, ...]]] = field(default_factory=dict)

    def layers_for(self, mount: RootfsMount | None) -> Layers | None:
        if mount is None:
            return None
        found = self.layers.get(mount.dev)
        if found is None:
            lowers = resolve_layer_dirs(mount.lowerdir, mount.mountpoint)
            if not lowers:
                return None  # not an overlay we can read: verdict unknown (fail open)
            upper = resolve_layer_dirs(mount.upperdir, mount.mountpoint)
            found = Layers(mount.dev, upper[0] if upper else None, lowers)
            self.layers[mount.dev] = found
            self.judge.engine.inodes.request(lowers)  # walked in the background
        return found

    def forget(self, mount: RootfsMount) -> None:
        self.layers.pop(mount.dev, None)
        self.chains.pop(mount.dev, None)
        self.volumes_marked.discard(mount.dev)

    def context(self, cid: str | None) -> ScopeContext:
        meta = None
        if cid and self.resolver is not None:
            try:
                meta = self.resolver.resolve(cid)
            except DockerError:
                meta = None
        if meta is None:
            return scope_context(None, None, None, None, {}, self.cluster, self.cloud)
        c, k = meta.container, meta.k8s
        return scope_context(
            (k.container_name if k and k.container_name else None) or c.name,
            c.image,
            k.namespace if k else None,
            k.pod_name if k else None,
            meta.pod_labels,
            self.cluster,
            self.cloud,
        )

    def indexed_image(self, st: os.stat_result, mount: RootfsMount | None) -> bool:
        """An unmodified image executable, known from the fstat alone (see VerdictEngine)."""
        if mount is None or st.st_dev != mount.dev:
            return False
        engine = self.judge.engine
        cached = self.chains.get(mount.dev)
        if cached is None or cached[0] != engine.inodes.generation:
            layers = self.layers_for(mount)
            chain = engine.image_chain(layers)
            if chain is None:  # some layer not walked yet, or layers on several filesystems
                return engine.indexed_image(st, layers)
            cached = self.chains[mount.dev] = (engine.inodes.generation, chain)
        return find_in(cached[1], st)

    def decide(
        self,
        fd: int,
        st: os.stat_result,
        path: str,
        mount: RootfsMount | None,
        cid: str | None,
        image: bool = False,
    ) -> DriftDecision:
        self._count(cid, path)
        layers = None if image else self.layers_for(mount)  # a proven image exec needs none
        return self.judge.judge(fd, st, path, layers, lambda: self.context(cid), image)

    def count_image(self, path: str, cid: str | None) -> None:
        """An image exec proven from its fstat that builds no record (drift only): what
        ``decide`` would count for it, without the decision nobody reads."""
        self._count(cid, path)
        self.judge.count_inode_proof()

    def _count(self, cid: str | None, path: str) -> None:
        key = (cid[:12] if cid else "", path)
        if key in self.exec_counts or len(self.exec_counts) < EXEC_COUNT_KEYS:
            self.exec_counts[key] = self.exec_counts.get(key, 0) + 1

    def observe(self, record: ExecRecord, event: ExecEvent) -> ExecRecord:
        """A memfd or direct-loader exec the eBPF observer saw: its verdict through the policy
        (no fd to read, nothing to block: ``block_unavailable_reason=observer_only``)."""
        cid = record.container_id
        if not cid:
            return record  # host processes: drift is about containers
        target = event.loader_target()
        if event.memfd and not event.runc_clone:
            v = VerdictResult(Verdict.DRIFT_MEMFD, "/" + event.exe_name, "memfd", memfd=True)
        elif target is not None:
            path = target
            if not target.startswith("/") and record.proc.cwd:
                path = os.path.normpath(os.path.join(record.proc.cwd, target))
            v = VerdictResult(Verdict.DRIFT_LOADER, path, f"loader {event.filename}")
        else:
            return record
        self._count(cid, v.path)
        dd = self.judge.observed(v, lambda: self.context(cid))
        return replace(record, drift=dd)

    def top_execs(self, n: int = 50) -> list[dict[str, object]]:
        top = sorted(self.exec_counts.items(), key=lambda kv: -kv[1])[:n]
        return [{"container": c, "path": p, "decisions": k} for (c, p), k in top]

    def complete(
        self, dd: DriftDecision, fd: int, st: os.stat_result, mount: RootfsMount | None
    ) -> DriftDecision:
        return self.judge.complete(dd, fd, st, self.layers_for(mount))

    @staticmethod
    def flags(dd: DriftDecision, st: os.stat_result) -> MappingProxyType[str, bool]:
        """Shared read-only maps, one per combination (16): one exec builds none."""
        v = dd.verdict
        writable = bool(st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        key = (v.upper, v.lower, v.memfd, writable)
        found = _FLAGS.get(key)
        if found is None:
            found = _FLAGS[key] = MappingProxyType(exe_flags(st, v.upper, v.lower, v.memfd))
        return found


def volume_dirs(pid: int, proc: str = "/proc") -> list[str] | None:
    """Exec-capable directory mounts of a container other than its root, as host-side paths
    through ``/proc/<pid>/root`` (design 3.1: volumes are invisible to the overlay mark);
    None when the process is gone (ask again with the container's next exec)."""
    try:
        with open(f"{proc}/{pid}/mountinfo") as f:
            text = f.read()
    except OSError:
        return None
    out: list[str] = []
    for m in parse_mountinfo(text):
        opts = m.mount_options.split(",")
        if m.mountpoint == "/" or "noexec" in opts or m.fstype in _SKIP_FSTYPES:
            continue
        if m.mountpoint.startswith(_SKIP_PREFIXES):
            continue
        out.append(f"{proc}/{pid}/root{m.mountpoint}")
    return out

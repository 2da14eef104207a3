"""The assembled sensor: probe, mount watcher, identity, process tree, pipeline, housekeeping."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mamori.core.plugins import AlertSink, Detector
from mamori.sensor.enrich import Enricher
from mamori.sensor.identity.cgroup import container_from_cgroup
from mamori.sensor.identity.docker import DEFAULT_SOCKET, DockerClient, DockerResolver
from mamori.sensor.mounts import MOUNTINFO, MountWatcher, RootfsMount
from mamori.sensor.pipeline import EventSink, Pipeline
from mamori.sensor.probe import AUTO, ProbeResult, probe
from mamori.sensor.proctree import ProcTree
from mamori.sensor.sources import procfs
from mamori.sensor.sources.base import ExecSource, SourceUnavailable
from mamori.sensor.sources.connect import ConnectSource
from mamori.sensor.sources.fanotify import ExecDecider, Mode
from mamori.sensor.sources.procfs import ALL_PARTS, parts_for
from mamori.sensor.stats import SensorStats

log = logging.getLogger(__name__)
PRUNE_S = 30.0
STATS_LOG_S = 60.0


@dataclass(frozen=True)
class SensorOptions:
    sources: tuple[str, ...] = (AUTO,)
    mode: Mode = "detect"
    node: str | None = field(default_factory=socket.gethostname)
    cluster: str | None = None
    docker_socket: str = DEFAULT_SOCKET
    proc: str = "/proc"
    mountinfo: str = MOUNTINFO
    connect: bool = True  # outbound TCP connects (tracefs), when this kernel has them


class Sensor:
    def __init__(
        self,
        options: SensorOptions,
        detectors: Sequence[Detector],
        sinks: Sequence[AlertSink],
        decider: ExecDecider | None = None,
        stats: SensorStats | None = None,
        event_sinks: Sequence[EventSink] = (),
    ) -> None:
        self.options = options
        self.stats = stats or SensorStats()
        self.tree = ProcTree(options.proc)
        self.resolver = (
            DockerResolver(DockerClient(options.docker_socket))
            if os.path.exists(options.docker_socket)
            else None
        )
        self.enricher = Enricher(self.tree, self.resolver, options.node, options.cluster)
        self.detectors = list(detectors)
        self.sinks = list(sinks)
        self.event_sinks = list(event_sinks)
        self.connect: ConnectSource | None = None
        self.connect_status = "off (not requested)"
        self.parts = ALL_PARTS
        self.decider = decider
        self.probe: ProbeResult | None = None
        self.watcher: MountWatcher | None = None
        self.pipeline: Pipeline | None = None
        self._last_prune = self._last_log = time.monotonic()

    def start(self) -> None:
        o = self.options
        self.probe = probe(o.sources, o.mode, self.decider, o.proc)
        if not self.probe.sources:
            reasons = "; ".join(s.detail for s in self.probe.statuses)
            raise SourceUnavailable(f"no exec source can run here: {reasons}")
        self._seed()
        fan = self.probe.fanotify()
        attach = [fan.attach] if fan else []
        detach = [*([fan.detach] if fan else []), self._forget]
        self.watcher = MountWatcher(attach, detach, o.mountinfo)
        self.watcher.start()  # marks every existing rootfs before the sources start reading
        sources: list[ExecSource] = list(self.probe.sources)
        if o.connect:
            self._open_connect(sources)
        self.parts = parts_for(self._needed_fields())
        for source in sources:
            if hasattr(source, "parts"):
                source.parts = self.parts
        self.pipeline = Pipeline(
            sources,
            self.enricher,
            self.detectors,
            self.sinks,
            self.stats,
            housekeeping=self._housekeeping,
            event_sinks=self.event_sinks,
        )
        self.pipeline.start()
        log.info("sensor started: %s", self.status()["sources"])

    def _needed_fields(self) -> frozenset[str] | None:
        """The fields the detectors read; None (everything) when a detector does not say, or
        when events are recorded (a recording must replay through any rules)."""
        if self.event_sinks:
            return None
        fields: set[str] = set()
        for detector in self.detectors:
            used = getattr(detector, "fields", None)
            if used is None:
                return None
            fields |= used
        return frozenset(fields)

    def _open_connect(self, sources: list[ExecSource]) -> None:
        source = ConnectSource(self.options.proc)
        try:
            source.open()
        except SourceUnavailable as exc:
            self.connect_status = f"off: {exc}"
            log.info("connect events: %s", self.connect_status)
            return
        self.connect = source
        self.connect_status = "on (tracefs sock:inet_sock_set_state, TCP)"
        sources.append(source)

    def _seed(self) -> None:
        """Processes already running: process tree and container metadata prefetch."""
        snaps = list(procfs.scan(self.options.proc))
        containers: dict[int, str | None] = {}
        for s in snaps:
            found = container_from_cgroup(s.cgroup) if s.cgroup else None
            containers[s.pid] = found.container_id if found else None
        self.tree.seed(snaps, containers)
        for cid in {c for c in containers.values() if c}:
            self.enricher.meta(cid)

    def _forget(self, mount: RootfsMount) -> None:
        """Container exit (its rootfs unmounted): drop cached metadata."""
        if mount.container_id:
            if self.resolver is not None:
                self.resolver.forget(mount.container_id)
            self.enricher.users.forget(mount.container_id)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_prune > PRUNE_S:
            self._last_prune = now
            self.tree.prune()
        if now - self._last_log > STATS_LOG_S:
            self._last_log = now
            log.info("sensor stats: %s", self.stats.as_dict())

    def status(self) -> dict[str, Any]:
        statuses = self.probe.statuses if self.probe else ()
        fan = self.probe.fanotify() if self.probe else None
        return {
            "sources": {s.name: {"active": s.active, "detail": s.detail} for s in statuses},
            "connect": self.connect_status,
            "marked_containers": len(fan.by_dev) if fan else 0,
            "fanotify_overflows": fan.overflows if fan else 0,
            "stats": self.stats.as_dict(),
        }

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.pipeline.wait_idle(timeout) if self.pipeline else True

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.resolver is not None:
            self.resolver.client.close()
        log.info("sensor stopped: %s", self.stats.as_dict())

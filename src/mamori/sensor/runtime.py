"""The assembled sensor: probe, mount watcher, identity, process tree, pipeline, housekeeping."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.core.atomicfile import write_atomic
from mamori.core.plugins import AlertSink, Detector
from mamori.drift.detector import DriftDetector, DriftJudge
from mamori.drift.policy import Action
from mamori.drift.reload import PolicyHolder
from mamori.sensor.drift import SensorDrift
from mamori.sensor.enrich import Enricher
from mamori.sensor.identity.bundle import BundleResolver
from mamori.sensor.identity.cgroup import container_from_cgroup
from mamori.sensor.identity.docker import DEFAULT_SOCKET, DockerClient, DockerResolver
from mamori.sensor.identity.resolver import ChainResolver
from mamori.sensor.mounts import MOUNTINFO, MountWatcher, RootfsMount
from mamori.sensor.pipeline import EventSink, Pipeline
from mamori.sensor.probe import AUTO, ProbeResult, probe
from mamori.sensor.proctree import ProcTree
from mamori.sensor.records import ExecRecord
from mamori.sensor.response import Responder
from mamori.sensor.sources import procfs
from mamori.sensor.sources.base import ExecSource, SourceUnavailable
from mamori.sensor.sources.connect import ConnectSource
from mamori.sensor.sources.ebpf import EbpfSource
from mamori.sensor.sources.fanotify import GATHER_S, ExecDecider, Mode
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
    connect: bool = True  # outbound connects (eBPF, else tracefs TCP), when this kernel has them
    # Binary drift (issue 5): on with a policy file, or with the shipped default policy.
    drift: bool = False
    drift_policy: Path | None = None
    drift_default_action: Action = "alert"
    # Ignore marks on verified image binaries: their later execs never reach the sensor, so
    # rules on image execs (a shell in a container) would only see the first one. On only
    # when nothing but drift needs every exec.
    ignore_marks: bool = False
    drift_state_file: Path | None = None  # policy + hit counters for the web UI's policy page
    cloud: tuple[str, str] | None = None  # (provider, account) for cloud-scoped rules
    drift_delay_s: float = 0.0  # test hook: stall every decision (watchdog scenario)
    # Response actions rules ask for (``mamori.response.*`` tags); off: recorded, not done.
    respond: bool = True
    # eBPF observer: also report execs and connects of host processes (outside containers).
    # Off: filtered in the kernel, as fanotify (container rootfs marks) sees only containers.
    host_events: bool = False


def _not_drift(record: ExecRecord) -> bool:
    return record.drift is not None and not record.drift.verdict.verdict.is_drift


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
        self.docker = (
            DockerClient(options.docker_socket) if os.path.exists(options.docker_socket) else None
        )
        bundles = BundleResolver()
        self.resolver: ChainResolver | None = ChainResolver(
            DockerResolver(self.docker) if self.docker else None,
            bundles if bundles.available() else None,
        )
        if not self.resolver.runtimes:
            self.resolver = None
        self.enricher = Enricher(self.tree, self.resolver, options.node, options.cluster)
        self.responder = Responder(
            self.docker,
            options.proc,
            dry_run=not options.respond,
        )
        self.detectors = list(detectors)
        self.sinks = list(sinks)
        self.event_sinks = list(event_sinks)
        self.connect: ConnectSource | None = None
        self.connect_status = "off (not requested)"
        self.parts = ALL_PARTS
        self.decider = decider
        self.drift: SensorDrift | None = None
        self.policy: PolicyHolder | None = None
        if options.drift:
            self.policy = PolicyHolder(options.drift_policy, options.drift_default_action)
            judge = DriftJudge(self.policy, options.mode, delay_s=options.drift_delay_s)
            self.drift = SensorDrift(
                judge, self.resolver, options.cluster, options.cloud, options.ignore_marks
            )
            self.detectors.append(DriftDetector())
        self.probe: ProbeResult | None = None
        self.watcher: MountWatcher | None = None
        self.pipeline: Pipeline | None = None
        self._last_prune = self._last_log = time.monotonic()

    def start(self) -> None:
        o = self.options
        self.probe = probe(o.sources, o.mode, self.decider, o.proc, self.drift, o.host_events)
        if self.policy is not None:
            self.policy.start()
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
        for source in sources:
            if isinstance(source, EbpfSource) and not source.exec_events:
                # fanotify reports execs; the observer's notes fill in the short-lived ones,
                # so a detect-mode reader may gather events instead of waking for each
                self.enricher.exec_notes = source.recent_exec
                if fan is not None:
                    fan.note_container = source.note_container
                    if o.mode == "detect":
                        fan.gather_s = GATHER_S
        if o.connect:
            self._open_connect(sources)
        self.parts = parts_for(self._needed_fields())
        drift_only = self._drift_only()
        for source in sources:
            if hasattr(source, "parts"):
                source.parts = self.parts
            if hasattr(source, "lazy_proc"):
                source.lazy_proc = drift_only
        self.pipeline = Pipeline(
            sources,
            self.enricher,
            self.detectors,
            self.sinks,
            self.stats,
            housekeeping=self._housekeeping,
            event_sinks=self.event_sinks,
            skip=_not_drift if drift_only else None,
            responder=self.responder,
        )
        self.pipeline.start()
        log.info("sensor started: %s", self.status()["sources"])

    def _drift_only(self) -> bool:
        """Drift is the only detector and nothing records events: image execs need no /proc
        snapshot and no enrichment."""
        if self.drift is None or self.event_sinks:
            return False
        return all(isinstance(d, DriftDetector) for d in self.detectors)

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
        ebpf = self.probe.ebpf() if self.probe else None
        if ebpf is not None:
            self.connect_status = "on (ebpf sys_enter/exit_connect: tcp, udp; failed included)"
            return
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
        if self.policy is not None and self.options.drift_state_file is not None:
            self.write_drift_state(self.options.drift_state_file)
        if now - self._last_log > STATS_LOG_S:
            self._last_log = now
            log.info("sensor stats: %s", self.stats.as_dict())

    def drift_status(self) -> dict[str, Any] | None:
        if self.policy is None or self.drift is None:
            return None
        fan = self.probe.fanotify() if self.probe else None
        judge = self.drift.judge
        lat = sorted(judge.decide_ns)
        wait = sorted(fan.answer_ns) if fan else []
        state = self.policy.state()
        state.update(
            mode=self.options.mode,
            decisions=judge.decisions,
            drift_verdicts=judge.drift,
            verdict_p50_us=lat[len(lat) // 2] // 1000 if lat else None,
            verdict_p99_us=lat[int(len(lat) * 0.99)] // 1000 if lat else None,
            # Block mode: from reading a permission event to answering it (what an exec waits
            # in the sensor, the kernel's queueing and wake-up not included).
            answer_p50_us=wait[len(wait) // 2] // 1000 if wait else None,
            answer_p99_us=wait[int(len(wait) * 0.99)] // 1000 if wait else None,
            failed_open=fan.failed_open if fan else 0,
            # Image execs proven from the fstat alone (answered before the path read), and
            # the lower layers indexed for it so far.
            inode_proofs=judge.engine.inode_proofs,
            indexed_layers=judge.engine.inodes.walked,
            ignore_marks=fan.ignore_marks if fan else 0,
            volume_marks=self.drift.volume_marks,
            top_execs=self.drift.top_execs(),
        )
        return state

    def write_drift_state(self, path: Path) -> None:
        """Atomically replace the state file (the policy page reads it)."""
        state = self.drift_status()
        if state is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Housekeeping (pipeline thread) and stop() (main thread) may both write it.
        write_atomic(path, json.dumps(state, indent=1))

    def status(self) -> dict[str, Any]:
        statuses = self.probe.statuses if self.probe else ()
        fan = self.probe.fanotify() if self.probe else None
        ebpf = self.probe.ebpf() if self.probe else None
        return {
            "sources": {s.name: {"active": s.active, "detail": s.detail} for s in statuses},
            "connect": self.connect_status,
            "open": "on (ebpf, watched paths)" if ebpf else "off (needs the eBPF observer)",
            **({"ebpf": {"drops": ebpf.drops(), **ebpf.counts}} if ebpf else {}),
            "marked_containers": len(fan.by_dev) if fan else 0,
            "fanotify_overflows": fan.overflows if fan else 0,
            "stats": self.stats.as_dict(),
            # raced /proc snapshots completed by a second read / from the eBPF exec notes
            "exec_completed": {
                "reread": self.enricher.rereads,
                "kernel_notes": self.enricher.from_kernel,
            },
            "responses": {
                "done": self.responder.done,
                "failed": self.responder.failed,
                "dry_run": self.responder.dry_run,
            },
            **({"drift": d} if (d := self.drift_status()) is not None else {}),
        }

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.pipeline.wait_idle(timeout) if self.pipeline else True

    def stop(self) -> None:
        if self.policy is not None:
            self.policy.stop()
            if self.options.drift_state_file is not None:
                self.write_drift_state(self.options.drift_state_file)
        if self.watcher is not None:
            self.watcher.close()
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.docker is not None:
            self.docker.close()
        log.info("sensor stopped: %s", self.stats.as_dict())

"""Which exec sources run here, and why the others do not (logged, shown in the status)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from mamori.sensor.drift import SensorDrift
from mamori.sensor.sources.base import ExecSource, SourceUnavailable
from mamori.sensor.sources.ebpf import EbpfSource
from mamori.sensor.sources.fanotify import ExecDecider, FanotifySource, Mode
from mamori.sensor.sources.tracefs import TracefsSource, find_tracefs

log = logging.getLogger(__name__)
# Probe order for ``auto``: fanotify (exec + drift decisions), the eBPF observer (connect, open,
# memfd/loader; every exec when fanotify cannot run), then tracefs (exec, when neither can).
KNOWN = ("fanotify", "ebpf", "tracefs")
AUTO = "auto"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str
    active: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ProbeResult:
    sources: tuple[ExecSource, ...]
    statuses: tuple[SourceStatus, ...]

    def fanotify(self) -> FanotifySource | None:
        for s in self.sources:
            if isinstance(s, FanotifySource):
                return s
        return None

    def ebpf(self) -> EbpfSource | None:
        for s in self.sources:
            if isinstance(s, EbpfSource):
                return s
        return None


def _make(
    name: str,
    mode: Mode,
    decider: ExecDecider | None,
    proc: str,
    drift: SensorDrift | None,
    exec_events: bool = True,
    host_events: bool = False,
) -> ExecSource:
    if name == "fanotify":
        return FanotifySource(mode, decider, proc, drift)
    if name == "ebpf":
        ebpf = EbpfSource(proc, exec_events=exec_events, host_events=host_events)
        if drift is not None:
            ebpf.observed = drift.observe
        return ebpf
    if name == "tracefs":
        return TracefsSource(proc)
    raise ValueError(f"unknown source {name!r} (known: {', '.join(KNOWN)})")


def probe(
    requested: Sequence[str] = (AUTO,),
    mode: Mode = "detect",
    decider: ExecDecider | None = None,
    proc: str = "/proc",
    drift: SensorDrift | None = None,
    host_events: bool = False,
) -> ProbeResult:
    """Open the requested sources (``auto``: see ``KNOWN``).

    Each exec becomes exactly one event: when fanotify runs, the eBPF observer reports only
    what fanotify cannot see (memfd execs; loader execs as drift decisions), plus connects and
    opens; tracefs runs only when no other source reports execs
    (docs/decisions/2026-11-22-sensor-ebpf-observer.md).
    """
    auto = AUTO in requested
    names = list(KNOWN) if auto else list(dict.fromkeys(requested))
    active: list[ExecSource] = []
    statuses: list[SourceStatus] = []
    for name in names:
        exec_sources = [s for s in active if _reports_execs(s)]
        if auto and name == "tracefs" and exec_sources:
            statuses.append(SourceStatus(name, False, _standby(name, exec_sources[0].name)))
            continue
        other_exec = bool(exec_sources) or (not auto and "tracefs" in names and name == "ebpf")
        source = _make(name, mode, decider, proc, drift, not other_exec, host_events)
        try:
            source.open()
        except SourceUnavailable as exc:
            statuses.append(SourceStatus(name, False, str(exc)))
            continue
        active.append(source)
        statuses.append(SourceStatus(name, True, _detail(source, mode)))
    for s in statuses:
        log.info("source %s: %s (%s)", s.name, "active" if s.active else "inactive", s.detail)
    return ProbeResult(tuple(active), tuple(statuses))


def _reports_execs(source: ExecSource) -> bool:
    return not isinstance(source, EbpfSource) or source.exec_events


def _detail(source: ExecSource, mode: Mode) -> str:
    if isinstance(source, FanotifySource):
        return f"fanotify ({mode})"
    if isinstance(source, EbpfSource):
        return source.detail()
    return source.name


def _standby(name: str, primary: str) -> str:
    if name == "tracefs":
        try:
            find_tracefs(mount_if_absent=False)
        except FileNotFoundError:
            return f"not needed ({primary} active); tracefs not mounted"
    return f"available, not needed ({primary} active)"

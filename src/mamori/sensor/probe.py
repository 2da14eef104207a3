"""Which exec sources run here, and why the others do not (logged, shown in the status)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from mamori.sensor.drift import SensorDrift
from mamori.sensor.sources.base import ExecSource, SourceUnavailable
from mamori.sensor.sources.fanotify import ExecDecider, FanotifySource, Mode
from mamori.sensor.sources.tracefs import TracefsSource, find_tracefs

log = logging.getLogger(__name__)
KNOWN = ("fanotify", "tracefs")
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


def _make(
    name: str, mode: Mode, decider: ExecDecider | None, proc: str, drift: SensorDrift | None
) -> ExecSource:
    if name == "fanotify":
        return FanotifySource(mode, decider, proc, drift)
    if name == "tracefs":
        return TracefsSource(proc)
    raise ValueError(f"unknown source {name!r} (known: {', '.join(KNOWN)})")


def probe(
    requested: Sequence[str] = (AUTO,),
    mode: Mode = "detect",
    decider: ExecDecider | None = None,
    proc: str = "/proc",
    drift: SensorDrift | None = None,
) -> ProbeResult:
    """Open the requested sources; ``auto`` = fanotify, else tracefs (eBPF: future)."""
    auto = AUTO in requested
    names = list(KNOWN) if auto else list(dict.fromkeys(requested))
    active: list[ExecSource] = []
    statuses: list[SourceStatus] = []
    for name in names:
        if auto and active:
            statuses.append(SourceStatus(name, False, _standby(name, active[0].name)))
            continue
        source = _make(name, mode, decider, proc, drift)
        try:
            source.open()
        except SourceUnavailable as exc:
            statuses.append(SourceStatus(name, False, str(exc)))
            continue
        active.append(source)
        statuses.append(
            SourceStatus(name, True, f"{name} ({mode})" if name == "fanotify" else name)
        )
    statuses.append(SourceStatus("ebpf", False, "not implemented in this version"))
    for s in statuses:
        log.info("source %s: %s (%s)", s.name, "active" if s.active else "inactive", s.detail)
    return ProbeResult(tuple(active), tuple(statuses))


def _standby(name: str, primary: str) -> str:
    if name == "tracefs":
        try:
            find_tracefs(mount_if_absent=False)
        except FileNotFoundError:
            return f"not needed ({primary} active); tracefs not mounted"
    return f"available, not needed ({primary} active)"

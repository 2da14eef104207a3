"""Built-in detectors until the rules engine is wired in (it plugs in through ``Detector``).

``ExecLog`` raises one informational alert per exec (in containers by default): the sensor's
smoke test and what the acceptance tests count. Alert ids are content hashes of the exec, so a
resent alert is one row on the server.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from mamori.core.events import Event, EventKind
from mamori.core.findings import Alert, ResourceRef
from mamori.core.ids import content_id
from mamori.core.severity import Severity
from mamori.core.simulation import is_simulated
from mamori.sensor.enrich import DECISION_ONLY

EXEC_RULE = "Process executed in container"


def event_fields(event: Event) -> dict[str, Any]:
    """Falco field names for an exec event (what outputs and the rules engine read)."""
    p, c, k = event.process, event.container, event.k8s
    fields: dict[str, Any] = {"evt.type": event.syscall, "evt.time": event.time_ns}
    if p is not None:
        fields |= {
            "proc.pid": p.pid,
            "proc.name": p.name,
            "proc.exepath": p.exepath,
            "proc.cmdline": p.cmdline,
            "proc.ppid": p.ppid,
            "proc.pname": p.pname,
            "proc.anames": list(p.anames),
            "proc.cwd": p.cwd,
            "proc.tty": p.tty,
            "user.uid": p.uid,
            "user.name": p.user,
            "user.loginuid": p.loginuid,
        }
    if c is not None:
        fields |= {
            "container.id": c.short_id,
            "container.full_id": c.id,
            "container.name": c.name,
            "container.image": c.image,
            "container.image.repository": c.image_repository,
            "container.image.tag": c.image_tag,
            "container.image.digest": c.image_digest,
        }
    if k is not None:
        fields |= {
            "k8s.ns.name": k.namespace,
            "k8s.pod.name": k.pod_name,
            "k8s.pod.uid": k.pod_uid,
            "k8s.container.name": k.container_name,
        }
    fields |= dict(event.extra)
    return fields


def resources(event: Event) -> tuple[ResourceRef, ...]:
    refs: list[ResourceRef] = []
    if event.container is not None:
        name = event.container.name or event.container.short_id
        refs.append(ResourceRef("container", name, uid=event.container.id))
    if event.k8s is not None and event.k8s.pod_name:
        refs.append(
            ResourceRef("pod", event.k8s.pod_name, event.k8s.namespace, event.cluster, None)
        )
    return tuple(refs)


class ExecLog:
    """Alerts on every exec (optionally only paths matching ``glob``)."""

    def __init__(self, containers_only: bool = True, glob: str | None = None) -> None:
        self.containers_only = containers_only
        self.glob = glob

    def detect(self, event: Event) -> Iterable[Alert]:
        p = event.process
        if p is None or (self.containers_only and event.container is None):
            return ()
        if event.kind is not EventKind.PROCESS_EXEC or event.extra.get(DECISION_ONLY):
            return ()  # connects and opens are not execs; a decision-only record was reported
        if self.glob is not None and not fnmatch.fnmatchcase(p.exepath, self.glob):
            return ()
        fields: Mapping[str, Any] = MappingProxyType(event_fields(event))
        where = event.container.short_id if event.container else "host"
        output = f"exec {p.exepath} ({p.cmdline}) pid={p.pid} container={where}"
        ident = content_id("exec", event.node, event.time_ns, p.pid, p.exepath)
        return (
            Alert(
                id=ident,
                time=datetime.fromtimestamp(event.time_ns / 1e9, UTC),
                rule=EXEC_RULE,
                severity=Severity.INFORMATIONAL,
                source="syscall",
                output=output,
                fields=fields,
                resources=resources(event),
                tags=("process", "mamori_sensor"),
                cluster=event.cluster,
                namespace=event.k8s.namespace if event.k8s else None,
                node=event.node,
                simulated=is_simulated(event),
            ),
        )

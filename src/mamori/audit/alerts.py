"""Alerts of the stateful (Python) detections, in the shape of the rule alerts.

Same source (``k8s_audit``), the same request fields (who, from where, with what), MITRE from
the tags, and a stable id: derived from the triggering event's ``auditID``, the detection and
its key, so that a batch evaluated twice (webhook retry, tailer restart) stores one alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from mamori.audit.detection import SOURCE, mitre_of, request_fields
from mamori.core.events import Event
from mamori.core.findings import Alert, ResourceRef
from mamori.core.ids import content_id
from mamori.core.severity import Severity
from mamori.core.simulation import is_simulated
from mamori.rules.output import falco_time


@dataclass(frozen=True, slots=True)
class Detection:
    """One stateful detection: its rule name, priority and tags (``mamori.MAM-CP-0NN`` ...)."""

    id: str  # MAM-CP-012
    rule: str
    severity: Severity
    tags: tuple[str, ...]

    def alert(
        self,
        event: Event,
        key: str,
        output: str,
        resource: ResourceRef | None,
        fields: Mapping[str, Any],
    ) -> Alert:
        raw: Mapping[str, Any] = event.audit.raw if event.audit is not None else {}
        all_fields = {**request_fields(raw), "mamori.detection": self.id, **fields}
        return Alert(
            id=content_id("audit-stateful", self.id, key, raw.get("auditID"), event.cluster),
            time=datetime.fromtimestamp(event.time_ns / 1e9, UTC),
            rule=self.rule,
            severity=self.severity,
            source=SOURCE,
            output=output,
            mitre=mitre_of(self.tags),
            fields=MappingProxyType(all_fields),
            resources=(resource,) if resource is not None else (),
            tags=self.tags,
            cluster=event.cluster,
            namespace=resource.namespace if resource is not None else None,
            simulated=is_simulated(event),  # `mamori simulate`'s replayed events say so
        )


def falco_alert_line(alert: Alert) -> dict[str, Any]:
    """Falco's JSON output object for a stateful alert (as ``falco_json`` does for a match)."""
    time_ns = time_ns_of(alert)
    return {
        "hostname": alert.node or "",
        "output": f"{falco_time(time_ns)[11:-1]}: {alert.severity.label} {alert.output}",
        "output_fields": dict(alert.fields),
        "priority": alert.severity.label,
        "rule": alert.rule,
        "source": alert.source,
        "tags": sorted(alert.tags),
        "time": falco_time(time_ns),
    }


def time_ns_of(alert: Alert) -> int:
    delta = alert.time - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000

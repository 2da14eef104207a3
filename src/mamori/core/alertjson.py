"""Alerts as JSON: the form producers send (``POST /api/v1/alerts:batch``) and sinks write.

One definition for the sensor's sinks, the audit pipeline, the server's responses and the store's
JSON columns, so the shapes cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from mamori.core.findings import Alert, Mitre, ResourceRef


def resource_to_dict(ref: ResourceRef) -> dict[str, Any]:
    """A resource reference without its unset parts."""
    pairs = (
        ("kind", ref.kind),
        ("name", ref.name),
        ("namespace", ref.namespace),
        ("cluster", ref.cluster),
        ("uid", ref.uid),
    )
    return {k: v for k, v in pairs if v is not None}


def mitre_to_dict(mitre: Mitre | None) -> dict[str, Any] | None:
    return None if mitre is None else {"tactic": mitre.tactic, "technique": mitre.technique}


def alert_to_wire(alert: Alert) -> dict[str, Any]:
    """An alert in the server's input form (``AlertIn``); JSON-serialisable."""
    return {
        "id": alert.id,
        "time": alert.time.isoformat(),
        "rule": alert.rule,
        "severity": alert.severity.label.lower(),
        "source": alert.source,
        "output": alert.output,
        "mitre": mitre_to_dict(alert.mitre),
        "fields": dict(alert.fields),
        "resources": [resource_to_dict(r) for r in alert.resources],
        "tags": list(alert.tags),
        "cluster": alert.cluster,
        "namespace": alert.namespace,
        "node": alert.node,
        "simulated": alert.simulated,
    }

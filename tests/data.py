"""Builders for test records: core objects for the store, JSON documents for the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mamori.core.findings import (
    Alert,
    AlertStatus,
    Finding,
    FindingKind,
    FindingStatus,
    Mitre,
    ResourceRef,
)
from mamori.core.severity import Severity

BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def alert(n: int = 0, **over: Any) -> Alert:
    values: dict[str, Any] = {
        "id": f"alert-{n:05d}",
        "time": BASE + timedelta(minutes=n),
        "rule": "Terminal shell in container",
        "severity": Severity.WARNING,
        "source": "syscall",
        "output": f"A shell was spawned in a container (n={n})",
        "mitre": Mitre("Execution", "T1059"),
        "fields": {"proc.name": "bash", "container.id": f"c{n:011d}"},
        "resources": (ResourceRef("Pod", f"web-{n}", "default", "prod"),),
        "tags": ("shell", "mitre_execution"),
        "cluster": "prod",
        "namespace": "default",
        "node": "node-1",
        "status": AlertStatus.NEW,
    }
    values.update(over)
    return Alert(**values)


def finding(n: int = 0, **over: Any) -> Finding:
    values: dict[str, Any] = {
        "id": f"finding-{n:05d}",
        "time": BASE + timedelta(minutes=n),
        "kind": FindingKind.POSTURE,
        "check": "privileged-container",
        "title": f"Container runs privileged (n={n})",
        "severity": Severity.ERROR,
        "resource": ResourceRef("Deployment", f"api-{n}", "default", "prod"),
        "details": {"container": "api"},
        "remediation": "Set securityContext.privileged to false",
        "status": FindingStatus.OPEN,
    }
    values.update(over)
    return Finding(**values)


def alert_doc(n: int = 0, **over: Any) -> dict[str, Any]:
    """An alert as a producer sends it to ``POST /api/v1/alerts:batch``."""
    doc: dict[str, Any] = {
        "id": f"alert-{n:05d}",
        "time": (BASE + timedelta(seconds=n)).isoformat(),
        "rule": "Terminal shell in container",
        "severity": "warning",
        "output": f"A shell was spawned in a container (n={n})",
        "fields": {"proc.name": "bash"},
        "namespace": "default",
        "cluster": "prod",
    }
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


def finding_doc(n: int = 0, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": f"finding-{n:05d}",
        "time": (BASE + timedelta(seconds=n)).isoformat(),
        "kind": "posture",
        "check": "privileged-container",
        "title": f"Container runs privileged (n={n})",
        "severity": "error",
        "resource": {"kind": "Deployment", "name": f"api-{n}", "namespace": "default"},
    }
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


def newest_first(ids_times: list[tuple[str, datetime]]) -> list[str]:
    """Ids in the store's list order: time descending, then id descending."""
    return [i for i, _ in sorted(ids_times, key=lambda p: (p[1], p[0]), reverse=True)]

"""Posture results as ``core.Finding``s (for the store and ``POST /api/v1/findings:batch``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from mamori.core.findings import Finding, FindingKind, ResourceRef
from mamori.core.ids import content_id
from mamori.posture.model import Result, Status, format_path
from mamori.posture.report.common import check_of, fingerprint


def to_finding(r: Result, *, cluster: str | None = None, when: datetime | None = None) -> Finding:
    check = check_of(r)
    details: dict[str, Any] = {
        "fieldPath": format_path(r.field_path),
        "message": r.message,
        "location": str(r.location),
        "family": check.family,
        "uiSeverity": check.severity.value,
        "fix": check.fix,
    }
    if r.container:
        details["container"] = {
            "name": r.container.name,
            "type": r.container.type,
            "image": r.container.image,
        }
    if r.upstream:
        details["pss"] = r.upstream
    if check.azure_policy_id:
        details["azurePolicyId"] = check.azure_policy_id
    return Finding(
        id="posture-" + content_id(fingerprint(r), cluster),
        time=when or datetime.now(UTC),
        kind=FindingKind.POSTURE,
        check=r.check_id,
        title=check.title,
        severity=check.severity.core,
        resource=ResourceRef(
            r.resource.kind, r.resource.name, r.resource.namespace, cluster, r.resource.uid
        ),
        details=details,
        remediation=f"{check.remediation}\nFix: {check.fix}",
    )


def findings_of(results: Iterable[Result], *, cluster: str | None = None) -> list[Finding]:
    now = datetime.now(UTC)
    return [to_finding(r, cluster=cluster, when=now) for r in results if r.status is Status.FAIL]


def finding_payload(f: Finding) -> dict[str, Any]:
    """The JSON the batch ingest endpoint takes."""
    res = f.resource
    resource = {"kind": res.kind, "name": res.name}
    if res.namespace:
        resource["namespace"] = res.namespace
    if res.cluster:
        resource["cluster"] = res.cluster
    return {
        "id": f.id,
        "time": f.time.isoformat(),
        "kind": f.kind.value,
        "check": f.check,
        "title": f.title,
        "severity": int(f.severity),
        "resource": resource,
        "details": dict(f.details),
        "remediation": f.remediation,
    }

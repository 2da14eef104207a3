"""Posture recommendations: open posture findings grouped by check (Defender's view)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mamori.core.findings import Finding


@dataclass
class Recommendation:
    check: str
    title: str
    severity: Finding
    remediation: str
    fix: str
    resources: list[tuple[str, Finding]] = field(default_factory=list)


def _resource(f: Finding) -> str:
    r = f.resource
    ns = f"{r.namespace}/" if r.namespace else ""
    cluster = f"{r.cluster}: " if r.cluster else ""
    return f"{cluster}{r.kind}/{ns}{r.name}"


def group(findings: Sequence[Finding]) -> list[Recommendation]:
    """One recommendation per check: affected resources (once each), most severe first."""
    by_check: dict[str, Recommendation] = {}
    for f in findings:
        rec = by_check.get(f.check)
        if rec is None:
            text = f.remediation or ""
            remediation, _, fix = text.partition("\nFix: ")
            rec = by_check[f.check] = Recommendation(f.check, f.title, f, remediation, fix)
        name = _resource(f)
        if all(name != seen for seen, _ in rec.resources):
            rec.resources.append((name, f))
    return sorted(
        by_check.values(), key=lambda r: (int(r.severity.severity), -len(r.resources), r.check)
    )

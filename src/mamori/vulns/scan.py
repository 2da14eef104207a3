"""One scan: open the subject, catalogue it, match against the DB, turn matches into findings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from mamori.core.findings import Finding, FindingKind, ResourceRef
from mamori.core.severity import Severity
from mamori.vulns.catalogers import Inventory, catalog
from mamori.vulns.db.store import VulnDB
from mamori.vulns.images import LayerCache, OpenOptions, open_image
from mamori.vulns.images import open_directory as _open_dir
from mamori.vulns.images.limits import Limits
from mamori.vulns.images.model import Image
from mamori.vulns.matcher import Match, MatchResult, match
from mamori.vulns.sbom.native import Subject
from mamori.vulns.vex import Vex
from mamori.vulns.workload import Workload

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.ERROR,
    "medium": Severity.WARNING,
    "low": Severity.NOTICE,
    "negligible": Severity.INFORMATIONAL,
    "none": Severity.INFORMATIONAL,  # CVSS 0.0
    "": Severity.INFORMATIONAL,
}
Progress = Callable[[str], None]


@dataclass(slots=True)
class ScanReport:
    subject: Subject
    image: Image
    inventory: Inventory
    result: MatchResult | None
    db_built_at: str
    created: str


def _noop(_: str) -> None:
    pass


def scan(
    ref: str,
    cache_dir: Path,
    *,
    node: bool = False,
    db: VulnDB | None = None,
    vex: Vex | None = None,
    options: OpenOptions = OpenOptions(),
    progress: Progress = _noop,
    name: str | None = None,
) -> ScanReport:
    """``name`` overrides the subject's name (``scan running`` opens images by id)."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    progress(f"opening {ref}")
    if node:
        image = _open_dir(Path(ref), Limits(), node=True)
    else:
        image = open_image(ref, LayerCache(cache_dir), options)
    progress("cataloguing packages")
    inv = catalog(image.fs)
    result = None
    if db is not None:
        progress(f"matching {len(inv.packages)} packages")
        result = match(inv, db, vex)
    kind = "node" if node else "image"
    name = name or (ref if not image.tags else image.tags[0])
    subject = Subject(name, kind, id=image.id, digest=image.digest, platform=image.platform)
    return ScanReport(subject, image, inv, result, db.built_at() if db else "", created)


def finding_id(resource: ResourceRef, m: Match) -> str:
    key = "|".join(
        [resource.kind, resource.name, resource.uid or "", m.package.purl, m.advisory.source, m.id]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def findings(
    report: ScanReport, *, cluster: str | None = None, workload: Workload | None = None
) -> list[Finding]:
    """One finding per match; against the image, or against ``workload`` running it.

    A workload's findings carry the container as their resource (kind ``container``, uid the
    container id, namespace the pod's) and the image in ``details["image"]``, so that the same
    image run by two containers gives each its own findings (the "by workload" view).
    """
    if report.result is None:
        return []
    s = report.subject
    if workload is None:
        resource = ResourceRef(kind=s.kind, name=s.name, cluster=cluster, uid=s.id or None)
    else:
        resource = ResourceRef(
            kind="container",
            name=workload.label,
            namespace=workload.namespace,
            cluster=cluster,
            uid=workload.container_id,
        )
    when = datetime.fromisoformat(report.created)
    out = []
    for m in report.result.matches:
        evidence = m.evidence()
        evidence["db_built_at"] = report.db_built_at
        if workload is not None:
            evidence["image"] = {"name": s.name, "id": s.id, "digest": workload.image_digest}
            evidence["workload"] = workload.as_dict()
        fix = f"upgrade {m.package.name} to {m.fixed_version}" if m.fixed_version else None
        out.append(
            Finding(
                id=finding_id(resource, m),
                time=when,
                kind=FindingKind.VULNERABILITY,
                check=m.id,
                title=f"{m.id} in {m.package.name} {m.package.version}"
                + (f" (fixed in {m.fixed_version})" if m.fixed_version else " (no fix yet)"),
                severity=SEVERITY.get(m.severity, Severity.INFORMATIONAL),
                resource=resource,
                details=MappingProxyType(evidence),
                remediation=fix,
            )
        )
    return out


def finding_payload(f: Finding) -> dict[str, object]:
    """The server's ``FindingIn`` shape (``POST /api/v1/findings:batch``)."""
    r = f.resource
    resource = {"kind": r.kind, "name": r.name, "cluster": r.cluster, "uid": r.uid}
    return {
        "id": f.id,
        "time": f.time.isoformat(),
        "kind": f.kind.value,
        "check": f.check,
        "title": f.title,
        "severity": f.severity.label.lower(),
        "resource": {k: v for k, v in resource.items() if v is not None},
        "details": dict(f.details),
        "remediation": f.remediation,
    }

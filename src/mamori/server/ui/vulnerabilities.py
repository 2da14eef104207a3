"""The vulnerabilities page: open vulnerability findings grouped by image, by advisory, or by
running workload.

``mamori scan image|node`` findings are against the image (or node); ``mamori scan running``
findings are against the container running an image (resource kind ``container``, the image in
``details["image"]``, namespace/pod/container in ``details["workload"]``). By image, the latter
fold into their image, each (advisory, package) counted once however many containers run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mamori.core.findings import Finding
from mamori.core.severity import Severity, UiSeverity

GROUPINGS = ("image", "cve", "workload")


@dataclass
class Group:
    """One row: an image (or node) with its advisories, an advisory with its images, or a
    workload with its image's advisories."""

    key: str
    worst: Severity
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {u.value: 0 for u in UiSeverity})
    image: str = ""

    @property
    def fixable(self) -> int:
        return sum(1 for f in self.findings if f.remediation)


def _image_of(f: Finding) -> str:
    """The scanned image (or node) a finding belongs to."""
    r = f.resource
    if r.kind == "container":
        image = f.details.get("image") or {}
        return str(image.get("name") or r.name)
    return f"{r.cluster}: {r.name}" if r.cluster else r.name


def _workload_of(f: Finding) -> str:
    r = f.resource
    return f"{r.cluster}: {r.name}" if r.cluster else r.name


def subject(f: Finding) -> str:
    """How the "by advisory" rows name what a finding is in."""
    if f.resource.kind == "container":
        return f"{_workload_of(f)} ({_image_of(f)})"
    return _image_of(f)


def _package(f: Finding) -> str:
    pkg = f.details.get("package")
    return str(pkg.get("purl") or pkg.get("name")) if isinstance(pkg, dict) else str(pkg)


def group_by(findings: Sequence[Finding], by: str) -> list[Group]:
    """``by`` is ``image`` (the scanned image or node), ``cve`` (the advisory id) or
    ``workload`` (the running container, ``namespace/pod/container`` under Kubernetes)."""
    groups: dict[str, Group] = {}
    seen: set[tuple[str, str, str]] = set()
    for f in findings:
        if by == "workload":
            if f.resource.kind != "container":
                continue
            key = _workload_of(f)
        elif by == "image":
            key = _image_of(f)
            if f.resource.kind == "container":
                once = (key, f.check, _package(f))
                if once in seen:
                    continue
                seen.add(once)
        else:
            key = f.check
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key, f.severity, image=_image_of(f))
        g.findings.append(f)
        g.counts[f.severity.ui.value] += 1
        g.worst = min(g.worst, f.severity)
    return sorted(groups.values(), key=lambda g: (int(g.worst), -len(g.findings), g.key))

"""The vulnerabilities page: open vulnerability findings grouped by image or by advisory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mamori.core.findings import Finding
from mamori.core.severity import Severity, UiSeverity


@dataclass
class Group:
    """One row: an image (or node) with its advisories, or an advisory with its images."""

    key: str
    worst: Severity
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {u.value: 0 for u in UiSeverity})

    @property
    def fixable(self) -> int:
        return sum(1 for f in self.findings if f.remediation)


def _subject(f: Finding) -> str:
    r = f.resource
    return f"{r.cluster}: {r.name}" if r.cluster else r.name


def group_by(findings: Sequence[Finding], by: str) -> list[Group]:
    """``by`` is ``image`` (the scanned image or node) or ``cve`` (the advisory id)."""
    groups: dict[str, Group] = {}
    for f in findings:
        key = _subject(f) if by == "image" else f.check
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key, f.severity)
        g.findings.append(f)
        g.counts[f.severity.ui.value] += 1
        g.worst = min(g.worst, f.severity)
    return sorted(groups.values(), key=lambda g: (int(g.worst), -len(g.findings), g.key))

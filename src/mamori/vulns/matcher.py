"""Packages x advisories -> matches, each with the evidence that made it.

Keys per package type: distro packages by distro release and by source *and* binary name
(deb Source:, apk origin, rpm SRPM); language packages by OSV ecosystem and normalised name.
Ranges follow OSV: ``introduced``/``fixed``/``last_affected``/``limit`` events compared with the
ecosystem's comparator; ``versions`` lists match exactly; GIT ranges are not evaluated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from packageurl import PackageURL

from mamori.vulns import cvss
from mamori.vulns.catalogers.model import Distro, Inventory, Package
from mamori.vulns.cvss import Cvss
from mamori.vulns.db.model import Advisory, Affected, Range
from mamori.vulns.db.store import VulnDB
from mamori.vulns.errors import VersionError
from mamori.vulns.versions import comparator
from mamori.vulns.vex import Vex

_LANG_FAMILY = {
    "python": "pypi", "npm": "npm", "gem": "rubygems", "java-archive": "maven",
    "go-module": "go", "rust-crate": "crates.io",
}  # fmt: skip
_RPM_FAMILY = {
    "almalinux": "almalinux", "rocky": "rocky linux", "rhel": "red hat", "centos": "red hat",
    "opensuse-leap": "opensuse", "sles": "suse", "amzn": "amazon linux", "fedora": "fedora",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Match:
    package: Package
    advisory: Advisory
    affected: Affected
    version_compared: str  # the package version the range was evaluated against
    matched_name: str  # the name the DB row matched (binary or source)
    fixed_version: str
    status: str  # affected | unfixed | not-affected (VEX)
    severity: str
    vex: str = ""
    cvss: Cvss | None = None  # the advisory's highest-scoring CVSS v3.x vector
    severity_from: str = "feed"  # feed | cvss | none

    @property
    def id(self) -> str:
        return self.advisory.id

    def evidence(self) -> dict[str, Any]:
        return {
            "package": {
                "name": self.package.name,
                "version": self.package.version,
                "type": self.package.type,
                "purl": self.package.purl,
                "locations": list(self.package.locations),
                "source": self.package.source_name or None,
                "source_version": self.package.source_version or None,
            },
            "advisory": {
                "id": self.advisory.id,
                "source": self.advisory.source,
                "aliases": list(self.advisory.aliases),
                "severity": self.severity or "unknown",
                "cvss": list(self.advisory.cvss),
                "references": list(self.advisory.references[:10]),
            },
            "match": {
                "ecosystem": self.affected.ecosystem,
                "name": self.matched_name,
                "version": self.version_compared,
                "ranges": [
                    {"type": r.type, "events": [{k: v} for k, v in r.events]}
                    for r in self.affected.ranges
                ],
                "versions": list(self.affected.versions[:20]),
            },
            "cvss": self.cvss
            and {
                "score": self.cvss.base_score,
                "vector": self.cvss.vector,
                "version": self.cvss.version,
                "rating": self.cvss.severity,
            },
            "severity_from": self.severity_from,
            "fixed_version": self.fixed_version or None,
            "status": self.status,
            "vex": self.vex or None,
        }


@dataclass(frozen=True, slots=True)
class Unmatchable:
    """A package whose name an advisory names, decided only by GIT ranges (commits).

    Matching a commit range needs the repository's history (is the package's commit between
    ``introduced`` and ``fixed``?), which an offline scanner does not have; these are reported as
    evidence (JSON ``unmatchable``), never as findings, and never silently dropped."""

    package: Package
    advisory: Advisory
    affected: Affected

    def evidence(self) -> dict[str, Any]:
        return {
            "package": {"name": self.package.name, "version": self.package.version,
                        "purl": self.package.purl},
            "advisory": {"id": self.advisory.id, "source": self.advisory.source,
                         "aliases": list(self.advisory.aliases)},
            "reason": "GIT ranges (commits) cannot be evaluated offline",
            "ranges": [
                {"type": r.type, "repo": r.repo, "events": [{k: v} for k, v in r.events]}
                for r in self.affected.ranges if r.type == "GIT"
            ],
            "versions_listed": len(self.affected.versions),
        }  # fmt: skip


@dataclass(slots=True)
class MatchResult:
    matches: list[Match] = field(default_factory=list)
    suppressed: list[Match] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unmatchable: list[Unmatchable] = field(default_factory=list)


def _release_ok(ecosystem: str, distro: Distro | None) -> bool:
    """``Debian:12`` vs debian 12.x; ``Alpine:v3.15`` vs 3.15.4; ``AlmaLinux:8`` vs 8.x."""
    parts = ecosystem.split(":")
    if len(parts) < 2 or distro is None:
        return True
    release = parts[1].lstrip("v")
    if not release:
        return True
    if release == "unstable":
        return distro.version_id == "" and distro.id == "debian"
    have = distro.version_id
    if family(ecosystem) == "alpine":
        return ".".join(have.split(".")[:2]) == release
    return have.split(".")[0] == release.split(".")[0] or have == release


def family(ecosystem: str) -> str:
    return ecosystem.split(":", 1)[0].strip().lower()


def _keys(p: Package, distro: Distro | None) -> tuple[str, list[tuple[str, str]]] | None:
    """(family, [(name, version to compare)]) for a package."""
    if p.type == "deb":
        fam = distro.id if distro and distro.id in ("debian", "ubuntu") else "debian"
        return fam, [(p.source_name or p.name, p.source_version or p.version), (p.name, p.version)]
    if p.type == "apk":
        fam = distro.id if distro and distro.id in ("alpine", "wolfi", "chainguard") else "alpine"
        return fam, [(p.source_name or p.name, p.version), (p.name, p.version)]
    if p.type == "rpm":
        fam = _RPM_FAMILY.get(distro.id if distro else "", "red hat")
        return fam, [(p.name, p.version), (p.source_name, p.version)]
    if p.type not in _LANG_FAMILY:
        return None
    fam = _LANG_FAMILY[p.type]
    name = p.name
    if fam == "maven":
        purl = PackageURL.from_string(p.purl)
        name = f"{purl.namespace}:{purl.name}" if purl.namespace else purl.name
    version = p.version
    if fam == "go" and p.name == "stdlib":
        version = "v" + p.version.removeprefix("go")
    return fam, [(name, version)]


def in_range(version: str, r: Range, compare: Any) -> tuple[bool, str]:
    """Whether ``version`` is affected by range ``r``; also the fix that ends its interval."""
    intervals: list[tuple[str | None, str, str]] = []
    low: str | None = None
    for kind, value in r.events:
        if kind == "introduced":
            low = value
        elif kind in ("fixed", "last_affected", "limit") and low is not None:
            intervals.append((low, kind, value))
            low = None
    if low is not None:
        intervals.append((low, "", ""))
    for lo, kind, hi in intervals:
        if lo not in (None, "0", "") and compare(version, lo) < 0:
            continue
        if not kind:
            return True, ""
        c = compare(version, hi)
        if (kind in ("fixed", "limit") and c < 0) or (kind == "last_affected" and c <= 0):
            return True, hi if kind == "fixed" else ""
    return False, ""


def _evaluate(version: str, af: Affected) -> tuple[bool, str]:
    if version in af.versions:
        fixes = [v for r in af.ranges for k, v in r.events if k == "fixed"]
        return True, fixes[0] if fixes else ""
    compare = comparator(af.ecosystem) if af.ranges else None
    for r in af.ranges:
        if r.type == "GIT" or compare is None:
            continue
        if r.type == "SEMVER":
            from mamori.vulns.versions import semver

            hit, fix = in_range(version, r, semver.compare)
        else:
            hit, fix = in_range(version, r, compare)
        if hit:
            return True, fix
    return False, ""


def match(inv: Inventory, db: VulnDB, vex: Vex | None = None) -> MatchResult:
    result = MatchResult()
    seen: set[tuple[str, str, str, str]] = set()
    for p in inv.packages:
        for m in _match_package(p, inv.distro, db, result):
            key = (p.purl, m.advisory.id, m.advisory.source, "|".join(p.locations))
            if key in seen:
                continue
            seen.add(key)
            st = vex.suppressing({m.advisory.id, *m.advisory.aliases}, p.purl) if vex else None
            if st is not None:
                result.suppressed.append(_with_vex(m, st.status, st.justification, st.document))
            else:
                result.matches.append(m)
    result.matches.sort(key=lambda m: (m.package.name, m.package.version, m.id))
    return result


def _with_vex(m: Match, status: str, justification: str, doc: str) -> Match:
    return Match(
        m.package, m.advisory, m.affected, m.version_compared, m.matched_name, m.fixed_version,
        "not-affected" if status == "not_affected" else "fixed", m.severity,
        f"{status} ({justification}) per {doc}" if justification else f"{status} per {doc}",
        m.cvss, m.severity_from,
    )  # fmt: skip


def _match_package(
    p: Package, distro: Distro | None, db: VulnDB, result: MatchResult
) -> Iterator[Match]:
    keys = _keys(p, distro)
    if keys is None:
        return
    fam, names = keys
    version_for: dict[str, str] = {}
    for name, version in names:
        if name:
            version_for.setdefault(name, version)
    matched_ids: set[tuple[str, str]] = set()
    for cand in db.candidates(fam, list(version_for)):
        adv, af = cand.advisory, cand.affected
        if adv.withdrawn or (adv.source, adv.id) in matched_ids:
            continue
        if not _release_ok(af.ecosystem, distro if p.type in ("deb", "apk", "rpm") else None):
            continue
        version = version_for.get(af.name) or next(iter(version_for.values()))
        try:
            hit, fix = _evaluate(version, af)
        except VersionError as exc:
            result.problems.append(f"{p.purl} vs {adv.id}: {exc}")
            continue
        if not hit:
            if af.ranges and all(r.type == "GIT" for r in af.ranges):
                result.unmatchable.append(Unmatchable(p, adv, af))
            continue
        matched_ids.add((adv.source, adv.id))
        score = cvss.best(adv.cvss)
        severity, severity_from = af.severity or adv.severity, "feed"
        if not severity:
            severity, severity_from = (score.severity, "cvss") if score else ("", "none")
        yield Match(
            package=p,
            advisory=adv,
            affected=af,
            version_compared=version,
            matched_name=af.name,
            fixed_version=fix,
            status="unfixed" if af.status == "unfixed" or not fix else "affected",
            severity=severity,
            cvss=score,
            severity_from=severity_from,
        )

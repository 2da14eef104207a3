"""Distro feeds in their native formats: the Debian security tracker JSON and Alpine secdb."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mamori.vulns.db.model import Advisory, Affected, ImportProblem, Range

DEBIAN_RELEASES = {
    "buzz": "1.1", "rex": "1.2", "bo": "1.3", "hamm": "2.0", "slink": "2.1", "potato": "2.2",
    "woody": "3.0", "sarge": "3.1", "etch": "4", "lenny": "5", "squeeze": "6", "wheezy": "7",
    "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12",
    "trixie": "13", "forky": "14", "sid": "unstable",
}  # fmt: skip
URGENCY = {"unimportant": "negligible", "low": "low", "medium": "medium", "high": "high"}


def read_debian_tracker(path: Path) -> Iterator[tuple[str, Advisory | ImportProblem]]:
    """``{source: {CVE: {releases: {codename: {status, fixed_version, urgency}}}}}``.

    One advisory per CVE (source ``debian``) with an affected row per (release, source package):
    resolved with a version -> fixed there; open/undetermined -> unfixed; fixed_version "0" ->
    never affected (no row).
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        yield str(path), ImportProblem(str(path), f"not readable JSON: {exc}")
        return
    if not isinstance(data, dict):
        yield str(path), ImportProblem(str(path), "expected an object of source packages")
        return
    by_cve: dict[str, list[Affected]] = {}
    summaries: dict[str, str] = {}
    for src, cves in data.items():
        if not isinstance(cves, dict):
            yield f"{path}:{src}", ImportProblem(f"{path}:{src}", "expected an object of CVEs")
            continue
        for cve, info in cves.items():
            if isinstance(info, dict):
                summaries.setdefault(cve, str(info.get("description") or "")[:500])
            releases = info.get("releases") if isinstance(info, dict) else None
            if not isinstance(releases, dict):
                continue
            for codename, rel in releases.items():
                version = DEBIAN_RELEASES.get(codename)
                if version is None:
                    continue
                status = rel.get("status")
                fixed = str(rel.get("fixed_version") or "")
                urgency = URGENCY.get(str(rel.get("urgency", "")).rstrip("*"), "")
                eco = f"Debian:{version}"
                events: tuple[tuple[str, str], ...]
                if status == "resolved":
                    if fixed == "0" or not fixed:
                        continue
                    events = (("introduced", "0"), ("fixed", fixed))
                    row = Affected(eco, src, (Range("ECOSYSTEM", events),), severity=urgency)
                elif status in ("open", "undetermined"):
                    events = (("introduced", "0"),)
                    row = Affected(eco, src, (Range("ECOSYSTEM", events),), (), "unfixed", urgency)
                else:
                    continue
                by_cve.setdefault(cve, []).append(row)
    for cve, rows in sorted(by_cve.items()):
        yield (
            f"{path}:{cve}",
            Advisory(id=cve, source="debian", summary=summaries.get(cve, ""), affected=tuple(rows)),
        )


def read_alpine_secdb(path: Path) -> Iterator[tuple[str, Advisory | ImportProblem]]:
    """``packages[].pkg.secfixes {fixed_version: [ids]}`` for one ``distroversion``."""
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.json")) if path.is_dir() else [path]
    by_id: dict[str, list[Affected]] = {}
    for f in files:
        try:
            text = f.read_text()
            doc: Any = json.loads(text) if f.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            yield str(f), ImportProblem(str(f), f"not readable: {exc}")
            continue
        if not isinstance(doc, dict) or "distroversion" not in doc:
            yield str(f), ImportProblem(str(f), "not an Alpine secdb document (no distroversion)")
            continue
        eco = f"Alpine:{doc['distroversion']}"
        for n, item in enumerate(doc.get("packages") or []):
            pkg = (item or {}).get("pkg") or {}
            name = pkg.get("name")
            if not name:
                yield f"{f}:packages[{n}]", ImportProblem(f"{f}:packages[{n}]", "no pkg.name")
                continue
            for fixed, ids in (pkg.get("secfixes") or {}).items():
                for entry in ids or []:
                    for vid in str(entry).split():
                        if not vid.startswith(("CVE-", "GHSA-", "ALPINE-")):
                            continue
                        if str(fixed) == "0":  # "never affected in this branch"
                            continue
                        events = (("introduced", "0"), ("fixed", str(fixed)))
                        rng = (Range("ECOSYSTEM", events),)
                        by_id.setdefault(vid, []).append(Affected(eco, str(name), rng))
    for vid, rows in sorted(by_id.items()):
        yield f"{path}:{vid}", Advisory(id=vid, source="alpine-secdb", affected=tuple(rows))

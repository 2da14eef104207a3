"""OSV records (a directory of JSON files, or a zip such as ``all.zip``) -> advisories."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mamori.vulns.db.model import Advisory, Affected, ImportProblem, Range

_SEVERITIES = {"critical", "high", "medium", "moderate", "low", "negligible"}


class OsvError(ValueError):
    pass


def parse_osv(doc: Any) -> Advisory:
    """Check the parts matching relies on and build the advisory; OsvError names the field."""
    if not isinstance(doc, dict):
        raise OsvError("not a JSON object")
    for key in ("id", "modified"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise OsvError(f"'{key}' is missing or not a string")
    affected: list[Affected] = []
    for i, a in enumerate(doc.get("affected") or []):
        at = f"affected[{i}]"
        if not isinstance(a, dict):
            raise OsvError(f"{at} is not an object")
        ranges: list[Range] = []
        for j, r in enumerate(a.get("ranges") or []):
            events = tuple((k, str(v)) for e in r.get("events") or [] for k, v in e.items())
            kinds = [k for k, _ in events]
            if "introduced" not in kinds:
                raise OsvError(f"{at}.ranges[{j}] has no 'introduced' event")
            if r.get("type") not in ("ECOSYSTEM", "SEMVER", "GIT"):
                raise OsvError(f"{at}.ranges[{j}].type {r.get('type')!r} is not valid")
            if sum(k in ("fixed", "last_affected") for k in kinds) and (
                "fixed" in kinds and "last_affected" in kinds
            ):
                raise OsvError(f"{at}.ranges[{j}] mixes 'fixed' and 'last_affected'")
            ranges.append(Range(str(r["type"]), events, str(r.get("repo") or "")))
        pkg = a.get("package") or {}
        if not pkg and not ranges:
            raise OsvError(f"{at} has neither a package nor ranges")
        versions = tuple(str(v) for v in a.get("versions") or [])
        if pkg and (not pkg.get("ecosystem") or not pkg.get("name")):
            raise OsvError(f"{at}.package needs 'ecosystem' and 'name'")
        sev = str((a.get("ecosystem_specific") or {}).get("severity") or "").lower()
        affected.append(
            Affected(
                ecosystem=str(pkg.get("ecosystem", "")),
                name=str(pkg.get("name", "")),
                ranges=tuple(ranges),
                versions=versions,
                severity=sev if sev in _SEVERITIES else "",
            )
        )
    db_sev = str((doc.get("database_specific") or {}).get("severity") or "").lower()
    return Advisory(
        id=doc["id"],
        source="osv",
        summary=str(doc.get("summary") or doc.get("details") or "")[:500],
        severity="medium" if db_sev == "moderate" else db_sev if db_sev in _SEVERITIES else "",
        cvss=tuple(str(s.get("score")) for s in doc.get("severity") or [] if s.get("score")),
        aliases=tuple(str(a) for a in doc.get("aliases") or []),
        references=tuple(str(r.get("url")) for r in doc.get("references") or [] if r.get("url")),
        published=str(doc.get("published") or ""),
        modified=doc["modified"],
        withdrawn=str(doc.get("withdrawn") or ""),
        affected=tuple(affected),
        raw=doc,
    )


def read_osv(path: Path) -> Iterator[tuple[str, Advisory | ImportProblem]]:
    """Every record under ``path`` (a .json file, a directory tree or a .zip)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.name not in ("index.json",))
        for p in files:
            item = _one(str(p), p.read_bytes())
            if not (isinstance(item, ImportProblem) and item.message.startswith("not an OSV")):
                yield str(p), item  # other JSON in a tree (schemas, indexes) is not a record
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for name in sorted(z.namelist()):
                if name.endswith(".json"):
                    yield f"{path}:{name}", _one(f"{path}:{name}", z.read(name))
    else:
        yield str(path), _one(str(path), path.read_bytes())


def _one(where: str, data: bytes) -> Advisory | ImportProblem:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        return ImportProblem(where, f"not JSON: {exc}")
    if isinstance(doc, dict) and "schema_version" not in doc and "id" not in doc:
        return ImportProblem(where, "not an OSV record (no 'id')")
    try:
        return parse_osv(doc)
    except OsvError as exc:
        return ImportProblem(where, f"invalid OSV record {doc.get('id', '?')}: {exc}")

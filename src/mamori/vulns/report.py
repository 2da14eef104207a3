"""Renderings of a scan: a Rich table, JSON, and SARIF 2.1.0."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

import mamori
from mamori.core.findings import Finding
from mamori.core.severity import Severity
from mamori.vulns.scan import ScanReport

SARIF_LEVEL = {"High": "error", "Medium": "warning", "Low": "note", "Informational": "note"}


def table(findings: list[Finding]) -> Table:
    t = Table(show_lines=False)
    for col in ("package", "version", "vulnerability", "severity", "cvss", "fixed in", "status"):
        t.add_column(col)
    for f in sorted(findings, key=lambda f: (int(f.severity), f.check)):
        pkg = f.details["package"]
        score = f.details.get("cvss")
        t.add_row(
            pkg["name"],
            pkg["version"],
            f.check,
            str(f.details["advisory"]["severity"]),
            f"{score['score']:.1f}" if score else "",
            f.details.get("fixed_version") or "",
            f.details["status"],
        )
    return t


def as_json(report: ScanReport, findings: list[Finding]) -> str:
    doc: dict[str, Any] = {
        "subject": {
            "name": report.subject.name,
            "kind": report.subject.kind,
            "id": report.subject.id,
            "digest": report.subject.digest,
        },
        "distro": report.inventory.distro
        and {
            "id": report.inventory.distro.id,
            "version_id": report.inventory.distro.version_id,
        },
        "db_built_at": report.db_built_at,
        "packages": len(report.inventory.packages),
        "findings": [
            {
                "id": f.id,
                "vulnerability": f.check,
                "title": f.title,
                "severity": f.severity.label,
                "remediation": f.remediation,
                "evidence": dict(f.details),
            }
            for f in findings
        ],
        "suppressed": [m.evidence() for m in (report.result.suppressed if report.result else [])],
        "unmatchable": [u.evidence() for u in (report.result.unmatchable if report.result else [])],
        "diagnostics": [str(d) for d in report.inventory.diagnostics],
    }
    return json.dumps(doc, indent=2)


def _security_severity(f: Finding) -> dict[str, Any]:
    """GitHub code scanning reads a CVSS score from ``properties.security-severity``."""
    score = f.details.get("cvss")
    return {"properties": {"security-severity": f"{score['score']:.1f}"}} if score else {}


def as_sarif(report: ScanReport, findings: list[Finding]) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in findings:
        rules.setdefault(
            f.check,
            {
                "id": f.check,
                "shortDescription": {"text": f.check},
                "helpUri": next(iter(f.details["advisory"]["references"]), None)
                or f"https://osv.dev/vulnerability/{f.check}",
            },
        )
        locations = [
            {"physicalLocation": {"artifactLocation": {"uri": loc.split(":", 1)[0].lstrip("/")}}}
            for loc in f.details["package"]["locations"][:1]
        ]
        results.append(
            {
                "ruleId": f.check,
                "level": SARIF_LEVEL[Severity(f.severity).ui.value],
                "message": {"text": f.title + (f"; {f.remediation}" if f.remediation else "")},
                "locations": locations,
                "partialFingerprints": {"mamori/v1": f.id},
                **_security_severity(f),
            }
        )
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mamori",
                        "version": mamori.__version__,
                        "informationUri": "https://mamori.dev",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2)

"""``--format json``: ``{schemaVersion, tool, summary, results[]}``."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import mamori
from mamori.posture.model import Result, Status, format_path
from mamori.posture.report.common import check_of
from mamori.posture.scan import Report

SCHEMA_VERSION = "1"


def result_json(r: Result) -> dict[str, Any]:
    check = check_of(r)
    loc = r.location
    return {
        "checkId": r.check_id,
        "title": check.title,
        "severity": check.severity.value,
        "result": r.status.value,
        "resource": {
            "apiVersion": r.resource.api_version,
            "kind": r.resource.kind,
            "namespace": r.resource.namespace,
            "name": r.resource.name,
        },
        "container": {"name": r.container.name, "type": r.container.type} if r.container else None,
        "fieldPath": format_path(r.field_path),
        "location": {
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "helmSource": loc.helm_source,
        },
        "message": r.message,
        "remediation": {
            "text": check.remediation,
            "fix": check.fix,
            "fixPaths": [format_path(r.field_path)],
        },
        "exemption": (
            {
                "reason": r.exemption.reason,
                "source": r.exemption.source,
                "expired": r.exemption.expired,
            }
            if r.exemption
            else None
        ),
        "pss": r.upstream,
        "azurePolicyId": check.azure_policy_id,
    }


def render(report: Report, *, include_passed: bool = False) -> str:
    counts = Counter(r.status.value for r in report.results)
    shown = [r for r in report.results if include_passed or r.status is not Status.PASS]
    data = {
        "schemaVersion": SCHEMA_VERSION,
        "tool": {"name": "mamori", "version": mamori.__version__},
        "summary": {s.value: counts.get(s.value, 0) for s in Status},
        "diagnostics": [
            {
                "code": d.code,
                "level": d.level.value,
                "message": d.message,
                "location": str(d.location),
            }
            for d in report.diagnostics
        ],
        "results": [result_json(r) for r in shown],
    }
    # Compact: the indenting encoder is pure Python and took most of a 1,000-object scan's time
    # (``jq .`` pretty-prints when a person reads it).
    return json.dumps(data, separators=(",", ":"))

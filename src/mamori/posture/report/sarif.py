"""``--format sarif``: SARIF 2.1.0, the region at the offending field's line and column."""

from __future__ import annotations

import json
from typing import Any

import mamori
from mamori.posture.checks import BY_ID
from mamori.posture.model import Level, Result, Status
from mamori.posture.report.common import check_of, fingerprint
from mamori.posture.scan import Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Level.HIGH: "error", Level.MEDIUM: "warning", Level.LOW: "note"}
SCORES = {Level.HIGH: "8.0", Level.MEDIUM: "5.5", Level.LOW: "3.0"}


def _rule(check_id: str) -> dict[str, Any]:
    check = BY_ID[check_id]
    return {
        "id": check.id,
        "name": check.id.replace("-", ""),
        "shortDescription": {"text": check.title},
        "help": {"text": f"{check.remediation}\nFix: {check.fix}"},
        "defaultConfiguration": {"level": LEVELS[check.severity]},
        "properties": {
            "security-severity": SCORES[check.severity],
            "tags": ["security", "kubernetes", check.family],
        },
    }


def _result(r: Result, rule_index: dict[str, int]) -> dict[str, Any]:
    check = check_of(r)
    region: dict[str, int] = {"startLine": r.location.line or 1}
    if r.location.column:
        region["startColumn"] = r.location.column
    out: dict[str, Any] = {
        "ruleId": r.check_id,
        "ruleIndex": rule_index[r.check_id],
        "level": LEVELS[check.severity],
        "message": {"text": f"{r.resource}: {r.message}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": r.location.file},
                    "region": region,
                }
            }
        ],
        "partialFingerprints": {"mamori/v1": fingerprint(r)},
    }
    if r.status is Status.PASS:
        out["kind"], out["level"] = "pass", "none"
        out["message"] = {"text": f"{r.resource}: passed"}
    if r.exemption is not None and not r.exemption.expired:
        out["suppressions"] = [{"kind": "inSource", "justification": r.exemption.reason}]
    return out


def render(report: Report, *, include_passed: bool = False) -> str:
    """Findings and exempted findings; with ``include_passed`` also passes (``kind: pass``)."""
    shown = [
        r
        for r in report.results
        if r.status is Status.FAIL
        or (r.status is Status.SKIP and r.exemption is not None)
        or (include_passed and r.status is Status.PASS)
    ]
    ids = sorted({r.check_id for r in shown})
    rule_index = {cid: i for i, cid in enumerate(ids)}
    run = {
        "tool": {
            "driver": {
                "name": "mamori",
                "version": mamori.__version__,
                "informationUri": "https://github.com/mamori",
                "rules": [_rule(cid) for cid in ids],
            }
        },
        "results": [_result(r, rule_index) for r in shown],
    }
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, separators=(",", ":"))

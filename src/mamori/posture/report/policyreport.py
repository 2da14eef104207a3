"""``--format policyreport``: one ``wgpolicyk8s.io/v1alpha2`` report per evaluated resource."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

import yaml

from mamori.posture.model import ResourceId, Result, format_path
from mamori.posture.report.common import category, check_of
from mamori.posture.scan import Report

API_VERSION = "wgpolicyk8s.io/v1alpha2"
MAX_RESULTS = 100
STATUS = {"fail": "fail", "pass": "pass", "skip": "skip", "error": "error"}


def _result(r: Result, now: int) -> dict[str, Any]:
    check = check_of(r)
    props = {"fieldPath": format_path(r.field_path), "remediation": check.remediation}
    if r.container:
        props["container"] = r.container.name
    if r.exemption:
        props["exemption"] = r.exemption.reason
    return {
        "source": "mamori",
        "policy": r.check_id,
        "rule": r.check_id + (f"/{r.container.name}" if r.container else ""),
        "category": category(check),
        "severity": check.severity.value.lower(),
        "result": STATUS[r.status.value],
        "scored": True,
        "message": r.message or check.title,
        "timestamp": {"seconds": now, "nanos": 0},
        "properties": props,
    }


def report_for(resource: ResourceId, results: list[Result], now: int) -> dict[str, Any]:
    counts = Counter(r.status.value for r in results)
    namespaced = resource.namespace is not None
    scope = {"apiVersion": resource.api_version, "kind": resource.kind, "name": resource.name}
    metadata: dict[str, Any] = {"name": f"mamori-{resource.kind.lower()}-{resource.name}"}
    if namespaced:
        scope["namespace"] = resource.namespace or ""
        metadata["namespace"] = resource.namespace
    items = [_result(r, now) for r in results[:MAX_RESULTS]]
    if len(results) > MAX_RESULTS:
        metadata["annotations"] = {"mamori.io/omitted-results": str(len(results) - MAX_RESULTS)}
    return {
        "apiVersion": API_VERSION,
        "kind": "PolicyReport" if namespaced else "ClusterPolicyReport",
        "metadata": metadata,
        "scope": scope,
        "summary": {k: counts.get(k, 0) for k in ("pass", "fail", "warn", "error", "skip")},
        "results": items,
    }


def render(report: Report) -> str:
    now = int(time.time())
    grouped: dict[ResourceId, list[Result]] = defaultdict(list)
    for r in report.results:
        grouped[r.resource].append(r)
    docs = [report_for(res, results, now) for res, results in grouped.items()]
    return yaml.safe_dump_all(docs, sort_keys=False)

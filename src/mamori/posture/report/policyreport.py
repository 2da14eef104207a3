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


def report_for(
    resource: ResourceId,
    results: list[Result],
    now: int,
    api: tuple[str, str, str] = (API_VERSION, "PolicyReport", "ClusterPolicyReport"),
) -> dict[str, Any]:
    """One report for one resource; ``api`` = apiVersion, namespaced kind, cluster kind."""
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
        "apiVersion": api[0],
        "kind": api[1] if namespaced else api[2],
        "metadata": metadata,
        "scope": scope,
        "summary": {k: counts.get(k, 0) for k in ("pass", "fail", "warn", "error", "skip")},
        "results": items,
    }


def render_reports(report: Report, api: tuple[str, str, str]) -> str:
    """One report per evaluated resource (passes included: they say what was evaluated)."""
    now = int(time.time())
    grouped: dict[ResourceId, list[Result]] = defaultdict(list)
    for r in report.results:
        grouped[r.resource].append(r)
    docs = [report_for(res, results, now, api) for res, results in grouped.items()]
    return yaml.dump_all(docs, sort_keys=False, Dumper=_Dumper)


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def render(report: Report, *, include_passed: bool = True) -> str:
    return render_reports(report, (API_VERSION, "PolicyReport", "ClusterPolicyReport"))

"""Finding filters (kind, check, resource namespace, text over check/title/resource)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mamori.core.findings import FindingKind, FindingStatus, ResourceRef
from mamori.core.severity import Severity
from mamori.store.database import Database
from mamori.store.query import Filters
from tests import data

T0 = data.BASE
DATASET = [
    data.finding(0, id="f0"),
    data.finding(
        1,
        id="f1",
        kind=FindingKind.VULNERABILITY,
        check="CVE-2024-3094",
        title="xz backdoor",
        severity=Severity.CRITICAL,
        resource=ResourceRef("Image", "registry/app:1.0", None, "prod"),
    ),
    data.finding(
        2,
        id="f2",
        check="host-network",
        title="Pod uses the host network",
        severity=Severity.WARNING,
        resource=ResourceRef("Pod", "metrics_agent", "monitoring", "dev"),
        status=FindingStatus.DISMISSED,
    ),
    data.finding(3, id="f3", severity=Severity.NOTICE, title="100% of pods privileged"),
]

FILTER_CASES: list[tuple[Filters, set[str]]] = [
    (Filters(), {"f0", "f1", "f2", "f3"}),
    (Filters(kind="vulnerability"), {"f1"}),
    (Filters(kind="posture"), {"f0", "f2", "f3"}),
    (Filters(rule="host-network"), {"f2"}),  # rule filters the check
    (Filters(namespace="monitoring"), {"f2"}),  # namespace is the resource's
    (Filters(cluster="dev"), {"f2"}),
    (Filters(statuses=("dismissed",)), {"f2"}),
    (Filters(statuses=("open",)), {"f0", "f1", "f3"}),
    (Filters(severities=Severity.for_ui(Severity.ERROR.ui)), {"f0", "f1"}),
    (Filters(text="cve-2024"), {"f1"}),  # check, case-insensitive
    (Filters(text="HOST NETWORK"), {"f2"}),  # title
    (Filters(text="registry/app"), {"f1"}),  # resource name
    (Filters(text="s_a"), {"f2"}),  # metrics_agent; _ is a literal
    (Filters(text="100%"), {"f3"}),
    (Filters(since=T0 + timedelta(minutes=2)), {"f2", "f3"}),
    (Filters(until=T0 + timedelta(minutes=1)), {"f0"}),
    (Filters(kind="posture", severities=(Severity.CRITICAL,)), set()),
]


def test_filters(db: Database, subtests: pytest.Subtests) -> None:
    db.findings.insert(DATASET)
    for filters, expected in FILTER_CASES:
        with subtests.test(filters=filters):
            ids = [f.id for f in db.findings.list(filters, limit=100).items]
            assert ids == data.newest_first([(f.id, f.time) for f in DATASET if f.id in expected])
            assert db.findings.count(filters) == len(expected)


def test_counts_by_severity(db: Database) -> None:
    db.findings.insert(DATASET)
    assert db.findings.counts_by_severity() == {
        Severity.ERROR: 1,
        Severity.CRITICAL: 1,
        Severity.WARNING: 1,
        Severity.NOTICE: 1,
    }

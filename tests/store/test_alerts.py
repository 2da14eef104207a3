"""Alert filters, counts and the severity histogram, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.engine import make_url

from mamori.core.findings import Alert, AlertStatus
from mamori.core.severity import Severity
from mamori.store.database import Database
from mamori.store.query import Filters
from tests import data

T0 = data.BASE
DATASET = [
    data.alert(0, id="a0", severity=Severity.CRITICAL, output="shell in web"),
    data.alert(1, id="a1", severity=Severity.WARNING, namespace="kube-system", cluster="dev"),
    data.alert(
        2, id="a2", severity=Severity.NOTICE, rule="Write below etc", output="100% of disk used"
    ),
    data.alert(3, id="a3", severity=Severity.DEBUG, output="100 percent of disk used"),
    data.alert(
        4,
        id="a4",
        severity=Severity.ERROR,
        rule="Write below etc",
        output="opened file_name",
        status=AlertStatus.RESOLVED,
    ),
    data.alert(5, id="a5", severity=Severity.WARNING, output="opened fileXname", namespace=None),
    data.alert(6, id="a6", severity=Severity.INFORMATIONAL, simulated=True, cluster=None),
    data.alert(7, id="a7", severity=Severity.EMERGENCY, output=r"path C:\temp\x"),
]


@pytest.fixture
def stocked(db: Database) -> Database:
    db.alerts.insert(DATASET)
    return db


FILTER_CASES: list[tuple[Filters, set[str]]] = [
    (Filters(), {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"}),
    (Filters(since=T0 + timedelta(minutes=5)), {"a5", "a6", "a7"}),
    (Filters(until=T0 + timedelta(minutes=2)), {"a0", "a1"}),  # until is exclusive
    (Filters(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)), {"a2", "a3"}),
    (
        Filters(since=(T0 + timedelta(minutes=6)).astimezone(timezone(timedelta(hours=9)))),
        {"a6", "a7"},
    ),
    (Filters(since=(T0 + timedelta(minutes=6)).replace(tzinfo=None)), {"a6", "a7"}),
    (Filters(severities=(Severity.WARNING,)), {"a1", "a5"}),
    (Filters(severities=Severity.for_ui(Severity.CRITICAL.ui)), {"a0", "a4", "a7"}),
    (Filters(rule="Write below etc"), {"a2", "a4"}),
    (Filters(rule="write below etc"), set()),  # rule is exact
    (Filters(namespace="kube-system"), {"a1"}),
    (Filters(cluster="dev"), {"a1"}),
    (Filters(statuses=("resolved",)), {"a4"}),
    (Filters(statuses=("new", "resolved"), severities=(Severity.ERROR,)), {"a4"}),
    (Filters(simulated=True), {"a6"}),
    (Filters(simulated=False, severities=(Severity.DEBUG, Severity.INFORMATIONAL)), {"a3"}),
    (Filters(text="SHELL IN WEB"), {"a0"}),  # case-insensitive, on output
    (Filters(text="below"), {"a2", "a4"}),  # and on rule
    (Filters(text="100%"), {"a2"}),  # % is a literal
    (Filters(text="%"), {"a2"}),
    (Filters(text="e_n"), {"a4"}),  # _ is a literal
    (Filters(text="_"), {"a4"}),
    (Filters(text="C:\\temp"), {"a7"}),  # so is a backslash
    (Filters(text="nothing like this"), set()),
    (Filters(namespace="default", severities=(Severity.WARNING,)), set()),
]


def test_filters(stocked: Database, subtests: pytest.Subtests) -> None:
    # One database per backend for the whole table (a fresh PostgreSQL database costs time).
    for filters, expected in FILTER_CASES:
        with subtests.test(filters=filters):
            page = stocked.alerts.list(filters, limit=100)
            ids = [a.id for a in page.items]
            assert set(ids) == expected
            assert ids == data.newest_first([(a.id, a.time) for a in DATASET if a.id in expected])
            assert stocked.alerts.count(filters) == len(expected)


def test_counts_by_severity(stocked: Database) -> None:
    counts = stocked.alerts.counts_by_severity()
    expected: dict[Severity, int] = {}
    for a in DATASET:
        expected[a.severity] = expected.get(a.severity, 0) + 1
    assert counts == expected
    assert stocked.alerts.counts_by_severity(Filters(namespace="kube-system")) == {
        Severity.WARNING: 1
    }


def _alerts_at(hours: list[float], severity: Severity) -> list[Alert]:
    return [
        data.alert(n, id=f"h{severity.value}-{n}", time=T0 + timedelta(hours=h), severity=severity)
        for n, h in enumerate(hours)
    ]


def _buckets(db: Database, *, hourly: bool) -> dict[tuple[datetime, Severity], int]:
    out = {}
    for b in db.alerts.histogram(Filters(), hourly=hourly):
        assert b.start.tzinfo is not None
        out[(b.start, b.severity)] = b.count
    return out


HIST = [
    *_alerts_at([0.0, 0.25, 0.99, 1.5, 13.0], Severity.WARNING),
    *_alerts_at([0.5, 25.0], Severity.CRITICAL),
]


def test_histogram_hourly_and_daily(db: Database) -> None:
    db.alerts.insert(HIST)
    hour = T0.replace(minute=0)
    day = T0.replace(hour=0, minute=0)
    assert _buckets(db, hourly=True) == {
        (hour, Severity.WARNING): 3,
        (hour, Severity.CRITICAL): 1,
        (hour + timedelta(hours=1), Severity.WARNING): 1,
        (hour + timedelta(hours=13), Severity.WARNING): 1,
        (hour + timedelta(hours=25), Severity.CRITICAL): 1,
    }
    assert _buckets(db, hourly=False) == {
        (day, Severity.WARNING): 4,
        (day, Severity.CRITICAL): 1,
        (day + timedelta(days=1), Severity.WARNING): 1,
        (day + timedelta(days=1), Severity.CRITICAL): 1,
    }
    starts = [b.start for b in db.alerts.histogram(Filters(), hourly=True)]
    assert starts == sorted(starts)


def test_histogram_respects_filters(db: Database) -> None:
    db.alerts.insert(HIST)
    buckets = db.alerts.histogram(Filters(severities=(Severity.CRITICAL,)), hourly=False)
    assert {b.severity for b in buckets} == {Severity.CRITICAL}
    assert sum(b.count for b in buckets) == 2


@pytest.mark.postgres
@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles", "Asia/Kolkata"])
def test_histogram_buckets_are_utc_whatever_the_server_time_zone(
    postgres_url: str, zone: str
) -> None:
    """Day (and half-hour-offset) buckets must not follow the PostgreSQL session time zone."""
    url = make_url(postgres_url).update_query_dict({"options": f"-c timezone={zone}"})
    db = Database.connect(url.render_as_string(hide_password=False))
    try:
        db.alerts.insert(HIST)
        day = T0.replace(hour=0, minute=0)
        assert _buckets(db, hourly=False) == {
            (day, Severity.WARNING): 4,
            (day, Severity.CRITICAL): 1,
            (day + timedelta(days=1), Severity.WARNING): 1,
            (day + timedelta(days=1), Severity.CRITICAL): 1,
        }
        hourly = _buckets(db, hourly=True)
        assert all(start.minute == 0 for start, _ in hourly)
        assert sum(hourly.values()) == len(HIST)
    finally:
        db.close()

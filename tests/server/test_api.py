"""The JSON API for reading and triaging alerts and findings, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from mamori.core.findings import AlertStatus, FindingKind
from mamori.core.severity import Severity
from mamori.store.database import Database
from mamori.store.query import Cursor
from tests import data
from tests.conftest import Tokens, bearer

DATASET = [
    data.alert(0, id="a0", severity=Severity.CRITICAL, output="shell in web"),
    data.alert(1, id="a1", severity=Severity.WARNING, namespace="kube-system", cluster="dev"),
    data.alert(2, id="a2", severity=Severity.NOTICE, rule="Write below etc", output="100% full"),
    data.alert(3, id="a3", severity=Severity.DEBUG, output="100 percent full"),
    data.alert(4, id="a4", severity=Severity.ERROR, status=AlertStatus.RESOLVED),
    data.alert(5, id="a5", severity=Severity.INFORMATIONAL, simulated=True),
]
T = data.BASE

QUERIES: list[tuple[str, set[str]]] = [
    ("", {"a0", "a1", "a2", "a3", "a4", "a5"}),
    ("severity=High", {"a0", "a4"}),
    ("severity=high", {"a0", "a4"}),
    ("severity=Informational", {"a3", "a5"}),
    ("severity=High&severity=Low", {"a0", "a4", "a2"}),
    ("severity=Medium,Low", {"a1", "a2"}),
    ("severity=warning", {"a1"}),
    ("severity=warn,crit", {"a0", "a1"}),
    ("status=resolved", {"a4"}),
    ("status=new,resolved", {"a0", "a1", "a2", "a3", "a4", "a5"}),
    ("status=dismissed", set()),
    ("rule=" + quote("Write below etc"), {"a2"}),
    ("namespace=kube-system", {"a1"}),
    ("cluster=dev", {"a1"}),
    ("q=" + quote("100%"), {"a2"}),
    ("q=SHELL+IN+WEB", {"a0"}),
    ("simulated=true", {"a5"}),
    ("simulated=false&severity=Informational", {"a3"}),
    ("since=" + quote((T.replace(minute=3)).isoformat()), {"a3", "a4", "a5"}),
    ("until=2025-03-01T12:02:00Z", {"a0", "a1"}),
    ("since=2025-03-01T21:01:00%2B09:00&until=2025-03-01T12:03:00", {"a1", "a2"}),
]


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_list_filters(
    client: TestClient, tokens: Tokens, db: Database, subtests: pytest.Subtests
) -> None:
    db.alerts.insert(DATASET)
    for query, expected in QUERIES:
        with subtests.test(query=query):
            got = ids(client.get(f"/api/v1/alerts?{query}", headers=bearer(tokens.read)))
            assert got == data.newest_first([(a.id, a.time) for a in DATASET if a.id in expected])


BOTH = ("/api/v1/alerts", "/api/v1/findings")
BAD_QUERIES = [
    ("severity=loud", 400, "unknown severity", BOTH),
    ("limit=0", 422, "limit", BOTH),
    ("limit=501", 422, "limit", BOTH),
    ("limit=ten", 422, "limit", BOTH),
    ("since=yesterday", 422, "since", BOTH),
    ("simulated=perhaps", 422, "simulated", BOTH[:1]),
    ("cursor=not-a-cursor", 400, "invalid cursor", BOTH),
    ("cursor=" + Cursor(T, "a\x00").encode(), 400, "invalid cursor", BOTH),
]


def test_bad_query_parameters_are_4xx_with_a_message(
    client: TestClient, tokens: Tokens, db: Database, subtests: pytest.Subtests
) -> None:
    db.alerts.insert(DATASET)
    for query, status, says, paths in BAD_QUERIES:
        with subtests.test(query=query):
            for path in paths:
                r = client.get(f"{path}?{query}", headers=bearer(tokens.read))
                assert r.status_code == status, (path, r.text)
                assert says in r.json()["detail"]


COMMON_NUL = ["q=a%00b", "namespace=%00", "cluster=%00", "status=new%00"]
NUL_QUERIES = [
    *[("/api/v1/alerts", q) for q in [*COMMON_NUL, "rule=x%00"]],
    *[("/api/v1/findings", q) for q in [*COMMON_NUL, "check=x%00", "kind=%00"]],
]


def test_filters_with_nul_characters_match_nothing(
    client: TestClient, tokens: Tokens, db: Database, subtests: pytest.Subtests
) -> None:
    """No stored text holds NUL (PostgreSQL cannot): such filters match nothing, not a 500."""
    db.alerts.insert(DATASET)
    db.findings.insert(FINDINGS)
    for path, query in NUL_QUERIES:
        with subtests.test(path=path, query=query):
            assert ids(client.get(f"{path}?{query}", headers=bearer(tokens.read))) == []


def test_cursor_pagination_walks_all_alerts_once(
    client: TestClient, tokens: Tokens, db: Database
) -> None:
    records = [data.alert(n, time=T + timedelta(seconds=n // 3)) for n in range(31)]
    db.alerts.insert(records)
    seen: list[str] = []
    url = "/api/v1/alerts?limit=4&severity=Medium"
    for _ in range(20):
        body = client.get(url, headers=bearer(tokens.read)).json()
        assert len(body["items"]) <= 4
        seen += [item["id"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        url = f"/api/v1/alerts?limit=4&severity=Medium&cursor={body['next_cursor']}"
    assert seen == data.newest_first([(a.id, a.time) for a in records])


def test_get_one_alert_and_404(client: TestClient, tokens: Tokens, db: Database) -> None:
    db.alerts.insert(DATASET)
    r = client.get("/api/v1/alerts/a2", headers=bearer(tokens.read))
    assert r.status_code == 200
    assert (r.json()["rule"], r.json()["ui_severity"]) == ("Write below etc", "Low")
    for missing in ("nope", "a2x", "A2"):
        r = client.get(f"/api/v1/alerts/{missing}", headers=bearer(tokens.read))
        assert r.status_code == 404
        assert "not found" in r.json()["detail"]
    r = client.patch(
        "/api/v1/alerts/nope", json={"status": "resolved"}, headers=bearer(tokens.admin)
    )
    assert r.status_code == 404


def test_patch_status_and_comment(client: TestClient, tokens: Tokens, db: Database) -> None:
    db.alerts.insert(DATASET)
    url = "/api/v1/alerts/a0"
    r = client.patch(url, json={"status": "in_progress"}, headers=bearer(tokens.admin))
    assert r.status_code == 200
    assert r.json()["status"] == "in_progress"
    r = client.patch(
        url,
        json={"status": "resolved", "comment": "false positive: CI job"},
        headers=bearer(tokens.admin),
    )
    body = r.json()
    assert body["status"] == "resolved"
    assert [(c["author"], c["text"]) for c in body["comments"]] == [
        ("token:admin", "false positive: CI job")
    ]
    stored = db.alerts.get("a0")
    assert stored.status == "resolved"
    assert [c.text for c in stored.comments] == ["false positive: CI job"]
    assert db.alerts.get("a1").status == "new"
    listed = client.get("/api/v1/alerts?status=resolved", headers=bearer(tokens.read))
    assert set(ids(listed)) == {"a0", "a4"}


BAD_PATCHES: list[Any] = [
    {"status": "closed"},
    {"status": 1},
    {"comment": ""},
    {"comment": "x" * 10001},
    {"owner": "bob"},
    ["status", "resolved"],
    "resolved",
]


def test_bad_patches_are_422_and_change_nothing(
    client: TestClient, tokens: Tokens, db: Database, subtests: pytest.Subtests
) -> None:
    db.alerts.insert(DATASET)
    for patch in BAD_PATCHES:
        with subtests.test(patch=str(patch)[:40]):
            r = client.patch("/api/v1/alerts/a0", json=patch, headers=bearer(tokens.admin))
            assert r.status_code == 422, r.text
            assert r.json()["detail"].startswith("invalid request")
            assert db.alerts.get("a0") == DATASET[0]


FINDINGS = [
    data.finding(0, id="f0"),
    data.finding(
        1,
        id="f1",
        kind=FindingKind.VULNERABILITY,
        check="CVE-2024-3094",
        severity=Severity.CRITICAL,
    ),
    data.finding(2, id="f2", check="host-network", severity=Severity.NOTICE),
]


def test_findings_list_get_and_patch(client: TestClient, tokens: Tokens, db: Database) -> None:
    db.findings.insert(FINDINGS)
    read = bearer(tokens.read)
    assert ids(client.get("/api/v1/findings", headers=read)) == ["f2", "f1", "f0"]
    assert ids(client.get("/api/v1/findings?kind=vulnerability", headers=read)) == ["f1"]
    assert ids(client.get("/api/v1/findings?check=host-network", headers=read)) == ["f2"]
    assert ids(client.get("/api/v1/findings?severity=High", headers=read)) == ["f1", "f0"]
    assert ids(client.get("/api/v1/findings?q=cve-2024", headers=read)) == ["f1"]
    page = client.get("/api/v1/findings?limit=2", headers=read).json()
    rest = client.get(f"/api/v1/findings?limit=2&cursor={page['next_cursor']}", headers=read)
    assert [i["id"] for i in page["items"]] + ids(rest) == ["f2", "f1", "f0"]
    assert client.get("/api/v1/findings/f1", headers=read).json()["check"] == "CVE-2024-3094"
    assert client.get("/api/v1/findings/nope", headers=read).status_code == 404

    r = client.patch(
        "/api/v1/findings/f1",
        json={"status": "dismissed", "comment": "not reachable"},
        headers=bearer(tokens.admin),
    )
    assert r.status_code == 200
    assert db.findings.get("f1").status == "dismissed"
    assert [c.text for c in db.findings.get("f1").comments] == ["not reachable"]
    r = client.patch("/api/v1/findings/f1", json={"status": "new"}, headers=bearer(tokens.admin))
    assert r.status_code == 422  # "new" is an alert status, not a finding status
    r = client.patch("/api/v1/findings/f0", json={"status": "resolved"}, headers=read)
    assert r.status_code == 403
    assert db.findings.get("f0").status == "open"

"""The web UI through a TestClient: login, lists, filters, detail pages, triage forms."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from mamori.core.findings import AlertStatus
from mamori.core.severity import Severity
from mamori.store.database import Database
from tests import data
from tests.server.ui_session import add_user, login


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


ALERTS = [
    data.alert(0, id="u0", severity=Severity.CRITICAL, rule="Shell in container"),
    data.alert(1, id="u1", severity=Severity.WARNING, rule="Write below etc <b>x</b>"),
    data.alert(2, id="u2", severity=Severity.NOTICE, rule="Unexpected outbound connection"),
    data.alert(
        3, id="u3", severity=Severity.ERROR, rule="Drift detected", status=AlertStatus.RESOLVED
    ),
]


@pytest.fixture
def signed_in(client: TestClient, db: Database) -> tuple[TestClient, str]:
    db.alerts.insert(ALERTS)
    db.findings.insert([data.finding(1)])
    add_user(db)
    return client, login(client)


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]+)"', html)


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [
        ("/findings", "/findings"),
        ("/alerts?severity=High", "/alerts?severity=High"),
        ("//evil.example/x", "/alerts"),
        ("https://evil.example/", "/alerts"),
        ("", "/alerts"),
    ],
)
def test_login_goes_to_local_next_only(
    client: TestClient, db: Database, target: str, lands_on: str
) -> None:
    add_user(db)
    r = client.post(
        "/login",
        data={"username": "alice", "password": "correct horse battery", "next": target},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == lands_on
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_wrong_password_shows_the_form_again(client: TestClient, db: Database) -> None:
    add_user(db)
    r = client.post("/login", data={"username": "alice", "password": "nope nope"})
    assert r.status_code == 401
    assert "Wrong user or password" in r.text
    assert "mamori_session" not in r.headers.get("set-cookie", "")


def test_alerts_page_lists_counts_and_filters(signed_in: tuple[TestClient, str]) -> None:
    client, _ = signed_in
    page = client.get("/alerts")
    assert page.status_code == 200
    assert row_ids(page.text) == ["u3", "u2", "u1", "u0"]
    assert "Write below etc &lt;b&gt;x&lt;/b&gt;" in page.text  # escaped
    counts = dict(re.findall(r'data-severity="(\w+)">\s*<span class="n">(\d+)</span>', page.text))
    assert counts == {"High": "2", "Medium": "1", "Low": "1", "Informational": "0"}
    assert "<svg" in page.text
    assert row_ids(client.get("/alerts?severity=High").text) == ["u3", "u0"]
    assert row_ids(client.get("/alerts?status=resolved").text) == ["u3"]
    assert row_ids(client.get("/alerts?q=outbound").text) == ["u2"]
    assert row_ids(client.get("/alerts?severity=nonsense").text) == ["u3", "u2", "u1", "u0"]
    assert row_ids(client.get("/alerts?cursor=garbage").text) == ["u3", "u2", "u1", "u0"]
    assert row_ids(client.get("/alerts?q=%00").text) == []


def test_alert_page_and_triage_form(signed_in: tuple[TestClient, str], db: Database) -> None:
    client, csrf = signed_in
    page = client.get("/alerts/u1")
    assert page.status_code == 200
    assert 'id="current-status">new<' in page.text
    r = client.post(
        "/alerts/u1/triage",
        data={"csrf": csrf, "status": "in_progress", "comment": "  checking with the team  "},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/alerts/u1"
    stored = db.alerts.get("u1")
    assert stored.status == "in_progress"
    assert [(c.author, c.text) for c in stored.comments] == [("alice", "checking with the team")]
    page = client.get("/alerts/u1")
    assert 'id="current-status">in progress<' in page.text
    assert "checking with the team" in page.text


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"status": "resolved"}, 403),  # no CSRF token
        ({"status": "resolved", "csrf": "forged"}, 403),
        ({"status": "closed", "csrf": None}, 400),
    ],
)
def test_bad_triage_forms_change_nothing(
    signed_in: tuple[TestClient, str], db: Database, form: dict[str, str | None], status: int
) -> None:
    client, csrf = signed_in
    sent = {k: (csrf if v is None else v) for k, v in form.items()}
    r = client.post("/alerts/u1/triage", data=sent, follow_redirects=False)
    assert r.status_code == status
    assert db.alerts.get("u1") == ALERTS[1]


def test_not_found_pages(signed_in: tuple[TestClient, str], db: Database) -> None:
    client, csrf = signed_in
    assert client.get("/alerts/nope").status_code == 404
    assert client.get("/findings/nope").status_code == 404
    r = client.post("/alerts/nope/triage", data={"csrf": csrf, "status": "resolved"})
    assert r.status_code == 400


def test_findings_pages_and_triage(signed_in: tuple[TestClient, str], db: Database) -> None:
    client, csrf = signed_in
    fid = data.finding(1).id
    assert row_ids(client.get("/findings").text) == [fid]
    assert row_ids(client.get("/findings?kind=vulnerability").text) == []
    assert client.get(f"/findings/{fid}").status_code == 200
    r = client.post(
        f"/findings/{fid}/triage",
        data={"csrf": csrf, "status": "dismissed", "comment": "accepted risk"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert db.findings.get(fid).status == "dismissed"
    assert [c.text for c in db.findings.get(fid).comments] == ["accepted risk"]


def test_simulated_alerts_are_marked_and_filterable(client: TestClient, db: Database) -> None:
    db.alerts.insert(
        [
            data.alert(0, id="real", rule="Shell in container"),
            data.alert(1, id="sim", rule="Drift detected", simulated=True),
        ]
    )
    add_user(db)
    login(client)
    page = client.get("/alerts").text
    assert set(row_ids(page)) == {"real", "sim"}  # shown by default
    assert re.search(r'<tr data-id="sim"[^>]*data-simulated="true"', page)
    assert not re.search(r'<tr data-id="real"[^>]*data-simulated', page)
    assert page.count('class="tag simulated"') == 1
    assert row_ids(client.get("/alerts?simulated=hide").text) == ["real"]
    assert row_ids(client.get("/alerts?simulated=only").text) == ["sim"]
    assert 'value="hide" selected' in client.get("/alerts?simulated=hide").text
    detail = client.get("/alerts/sim").text
    assert 'id="simulated"' in detail
    assert 'id="simulated"' not in client.get("/alerts/real").text

"""Every route refuses missing, wrong, revoked or under-scoped credentials (401/403).

HTTP-level behaviour: runs on SQLite only (token storage is covered on both backends in
tests/store/test_accounts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mamori.store.accounts import Role, Scope
from mamori.store.database import Database
from tests import data
from tests.conftest import Tokens, bearer
from tests.server.ui_session import add_user, login, route_table


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # the route template
    url: str  # a concrete URL for it
    scope: Scope
    json: Any = None

    def __repr__(self) -> str:
        return f"{self.method} {self.url}"


API = [
    Call("GET", "/api/v1/alerts", "/api/v1/alerts?severity=High", Scope.READ),
    Call("GET", "/api/v1/alerts/{alert_id}", "/api/v1/alerts/alert-00001", Scope.READ),
    Call(
        "PATCH",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/alerts/alert-00001",
        Scope.ADMIN,
        {"status": "resolved"},
    ),
    Call("POST", "/api/v1/alerts:batch", "/api/v1/alerts:batch", Scope.INGEST, {"alerts": []}),
    Call("GET", "/api/v1/findings", "/api/v1/findings", Scope.READ),
    Call("GET", "/api/v1/findings/{finding_id}", "/api/v1/findings/finding-00001", Scope.READ),
    Call(
        "PATCH",
        "/api/v1/findings/{finding_id}",
        "/api/v1/findings/finding-00001",
        Scope.ADMIN,
        {"comment": "seen"},
    ),
    Call(
        "POST",
        "/api/v1/findings:batch",
        "/api/v1/findings:batch",
        Scope.INGEST,
        {"findings": []},
    ),
    Call(
        "POST",
        "/api/v1/audit/webhook",
        "/api/v1/audit/webhook",
        Scope.INGEST,
        {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []},
    ),
    Call(
        "POST",
        "/api/v1/admission/validate",
        "/api/v1/admission/validate",
        Scope.INGEST,
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "0b7f5c1e-0000-4000-8000-000000000001",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": "CREATE",
                "object": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p", "namespace": "team"},
                    "spec": {"containers": [{"name": "c", "image": "example/app:1"}]},
                },
            },
        },
    ),
    Call("GET", "/metrics", "/metrics", Scope.READ),
    Call("GET", "/openapi.json", "/openapi.json", Scope.READ),
]

UI = [
    ("GET", "/alerts", "/alerts?severity=High"),
    ("GET", "/alerts/{alert_id}", "/alerts/alert-00001"),
    ("POST", "/alerts/{alert_id}/triage", "/alerts/alert-00001/triage"),
    ("GET", "/findings", "/findings"),
    ("GET", "/findings/{finding_id}", "/findings/finding-00001"),
    ("GET", "/recommendations", "/recommendations"),
    ("GET", "/vulnerabilities", "/vulnerabilities"),
    ("GET", "/drift/policy", "/drift/policy"),
    ("POST", "/findings/{finding_id}/triage", "/findings/finding-00001/triage"),
    ("POST", "/logout", "/logout"),
]

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/"),  # a redirect to /alerts
}


@pytest.fixture
def stocked(db: Database) -> Database:
    db.alerts.insert([data.alert(1)])
    db.findings.insert([data.finding(1)])
    return db


def test_the_tables_cover_every_route(app: FastAPI) -> None:
    covered = {(c.method, c.path) for c in API} | {(m, p) for m, p, _ in UI} | PUBLIC
    assert route_table(app) == covered


def send(client: TestClient, call: Call, headers: dict[str, str]) -> Any:
    return client.request(call.method, call.url, json=call.json, headers=headers)


BAD_HEADERS = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer    "},
    {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
    {"Authorization": "Token abc"},
    {"Authorization": "Bearer garbage"},
    {"Authorization": "Bearer mamori_000000000000_nope"},
]


@pytest.mark.parametrize("call", API, ids=repr)
def test_api_refuses_missing_or_wrong_credentials_with_401(
    client: TestClient, stocked: Database, call: Call
) -> None:
    for headers in BAD_HEADERS:
        r = send(client, call, headers)
        assert r.status_code == 401, (headers, r.status_code, r.text)
        assert r.headers.get("content-type", "").startswith("application/json")
        assert r.json()["detail"]
    # A session cookie that is not a live session is no credential either.
    client.cookies.set("mamori_session", "forged")
    assert send(client, call, {}).status_code == 401


@pytest.mark.parametrize("call", API, ids=repr)
def test_api_refuses_tokens_without_the_scope_with_403(
    client: TestClient, stocked: Database, tokens: Tokens, call: Call
) -> None:
    by_scope = {
        "ingest": {Scope.INGEST},
        "read": {Scope.READ},
        "admin": {Scope.ADMIN, Scope.READ},
        "all": set(Scope),
    }
    for name, scopes in by_scope.items():
        r = send(client, call, bearer(getattr(tokens, name)))
        if call.scope in scopes:
            assert r.status_code in (200, 404), (name, r.status_code, r.text)
        else:
            assert r.status_code == 403, (name, r.status_code, r.text)
            assert call.scope.value in r.json()["detail"]


@pytest.mark.parametrize("call", API, ids=repr)
def test_revoked_tokens_get_401(
    client: TestClient, stocked: Database, tokens: Tokens, call: Call
) -> None:
    info, token = stocked.accounts.create_token("short-lived", set(Scope))
    assert send(client, call, bearer(token)).status_code in (200, 404)
    stocked.accounts.revoke_token(info.id)
    assert send(client, call, bearer(token)).status_code == 401
    assert send(client, call, bearer(tokens.all)).status_code in (200, 404)


@pytest.mark.parametrize(("method", "path", "url"), UI, ids=[u for _, _, u in UI])
def test_ui_pages_redirect_to_login_without_a_session(
    client: TestClient, stocked: Database, tokens: Tokens, method: str, path: str, url: str
) -> None:
    attempts: list[dict[str, str]] = [{}, bearer(tokens.all)]  # a token is not a UI session
    for headers in attempts:
        r = client.request(method, url, headers=headers, follow_redirects=False)
        assert r.status_code == 303, (headers, r.status_code)
        assert r.headers["location"].startswith("/login?next=")
    client.cookies.set("mamori_session", "forged")
    r = client.request(method, url, follow_redirects=False)
    assert r.status_code == 303
    assert stocked.alerts.get(data.alert(1).id).status == data.alert(1).status


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
def test_public_routes_need_no_credentials(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, data={} if method == "POST" else None, follow_redirects=False)
    # POST /login with nothing: the 401 login page
    assert r.status_code in (200, 303, 401), r.status_code
    if path == "/":
        assert r.headers["location"] == "/alerts"


def test_session_cookie_reads_the_api_and_patch_needs_csrf(
    client: TestClient, stocked: Database
) -> None:
    add_user(stocked)
    csrf = login(client)
    alert_id = data.alert(1).id
    url = f"/api/v1/alerts/{alert_id}"
    assert client.get(url).status_code == 200

    r = client.patch(url, json={"status": "resolved"})
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]
    r = client.patch(url, json={"status": "resolved"}, headers={"X-CSRF-Token": csrf + "x"})
    assert r.status_code == 403
    assert stocked.alerts.get(alert_id).status == "new"

    r = client.patch(url, json={"status": "resolved"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert stocked.alerts.get(alert_id).status == "resolved"


def test_a_viewer_session_cannot_triage(client: TestClient, stocked: Database) -> None:
    add_user(stocked, "vera", Role.VIEWER)
    csrf = login(client, "vera")
    url = f"/api/v1/alerts/{data.alert(1).id}"
    r = client.patch(url, json={"status": "resolved"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    r = client.post(
        f"/alerts/{data.alert(1).id}/triage",
        data={"csrf": csrf, "status": "resolved"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert stocked.alerts.get(data.alert(1).id).status == "new"


def test_logging_out_ends_the_session(client: TestClient, stocked: Database) -> None:
    add_user(stocked)
    csrf = login(client)
    assert client.post("/logout", data={"csrf": "wrong"}, follow_redirects=False).status_code == 403
    sid = client.cookies.get("mamori_session")
    assert sid
    r = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.set("mamori_session", sid)  # replaying the old cookie does not help
    again = client.get("/alerts", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")
    assert client.get("/api/v1/alerts").status_code == 401

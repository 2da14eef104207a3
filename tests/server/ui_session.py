"""Signing in to the web UI from a TestClient or httpx client."""

from __future__ import annotations

import re
from typing import Any

from mamori.store.accounts import Role
from mamori.store.database import Database

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def add_user(db: Database, name: str = "alice", role: Role = Role.ADMIN) -> str:
    db.accounts.create_user(name, PASSWORD, role)
    return name


def login(client: Any, name: str = "alice", password: str = PASSWORD) -> str:
    """Sign in (the client keeps the session cookie); returns the page's CSRF token."""
    r = client.post(
        "/login",
        data={"username": name, "password": password, "next": "/alerts"},
        follow_redirects=True,
    )
    assert r.status_code == 200, r.text[:300]
    found = CSRF_FIELD.search(r.text)
    assert found, "no CSRF token on the page after signing in"
    return found.group(1)


def route_table(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, including included routers' routes."""
    out: set[tuple[str, str]] = set()
    for route in app.routes:
        sub = getattr(route, "original_router", None)
        for r in sub.routes if sub is not None else [route]:
            for method in getattr(r, "methods", None) or ():
                if method != "HEAD":
                    out.add((method, r.path))
    return out

"""Secrets never reach the logs: API tokens, session cookies and passwords, at DEBUG level."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from mamori.config import Settings
from mamori.server.app import create_app
from mamori.store.accounts import Scope
from mamori.store.database import Database
from tests import data
from tests.conftest import Tokens, bearer, free_port
from tests.server.ui_session import PASSWORD, add_user

LOGGERS = [
    "",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "alembic",
    "mamori",
    "fastapi",
    "starlette",
    "asyncio",
]


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything every logger says at DEBUG, whatever its propagation settings."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    # Not the test's own HTTP client: httpcore logs the Set-Cookie header it receives.
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield stream
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


@pytest.fixture
def noisy_server(tmp_path: Path, db: Database, captured_logs: io.StringIO) -> Iterator[str]:
    """The app under uvicorn with access logs and debug logging on."""
    app = create_app(Settings(data_dir=tmp_path / "data", retention_days=1, log_level="debug"), db)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        log_level="debug",
        access_log=True,
        log_config=None,  # keep our handlers; uvicorn's dictConfig would replace them
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def secret_of(token: str) -> str:
    return token.split("_", 2)[2]


def test_no_secret_is_ever_logged(
    noisy_server: str, db: Database, tokens: Tokens, captured_logs: io.StringIO
) -> None:
    add_user(db)
    revoked_info, revoked = db.accounts.create_token("old", {Scope.READ})
    db.accounts.revoke_token(revoked_info.id)
    with httpx.Client(base_url=noisy_server, timeout=10) as http:
        batch = {"alerts": [data.alert_doc(n) for n in range(3)] + [{"rule": "bad"}]}
        assert http.post(
            "/api/v1/alerts:batch", json=batch, headers=bearer(tokens.ingest)
        ).is_success
        assert http.get("/api/v1/alerts", headers=bearer(tokens.read)).is_success
        one = data.alert_doc(1)["id"]
        r = http.patch(
            f"/api/v1/alerts/{one}", json={"status": "resolved"}, headers=bearer(tokens.admin)
        )
        assert r.is_success
        assert http.get("/metrics", headers=bearer(tokens.all)).is_success
        assert http.get("/api/v1/alerts", headers=bearer(revoked)).status_code == 401
        assert http.get("/api/v1/alerts", headers=bearer(tokens.read + "x")).status_code == 401
        assert http.post("/api/v1/alerts:batch", headers=bearer(tokens.read)).status_code == 403
        assert http.get("/api/v1/nothing-here", headers=bearer(tokens.read)).status_code == 404
        login = http.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "next": "/alerts"},
            follow_redirects=False,
        )
        assert login.status_code == 303
        session = login.cookies["mamori_session"]
        assert http.get("/alerts").status_code == 200  # the client keeps the cookie
    time.sleep(0.2)  # let the server thread finish writing its last log lines
    logs = captured_logs.getvalue()

    # The capture works: SQL statements and access lines are in it.
    assert "SELECT" in logs
    assert "uvicorn.access" in logs
    assert "POST /api/v1/alerts" in logs
    secrets = {
        "ingest token": secret_of(tokens.ingest),
        "read token": secret_of(tokens.read),
        "admin token": secret_of(tokens.admin),
        "all token": secret_of(tokens.all),
        "revoked token": secret_of(revoked),
        "session cookie": session,
        "password": PASSWORD,
    }
    leaked = [name for name, secret in secrets.items() if secret in logs]
    assert leaked == []

"""Shared fixtures: stores on SQLite and on a real PostgreSQL server, an app, tokens, a live server.

PostgreSQL: ``MAMORI_TEST_POSTGRES_URL`` names a server to use; otherwise one is started from
Debian's binaries (``/usr/lib/postgresql/*/bin``) in a temporary directory, as the ``postgres``
user when running as root. In CI (``CI=true``) a missing PostgreSQL fails the run, never skips.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mamori.config import Settings
from mamori.store.accounts import Role, Scope
from mamori.store.database import Database
from mamori.store.engine import make_engine
from mamori.store.pgtemp import TempPostgres, free_port

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Fail in CI (a missing dependency is a broken CI set-up), skip on a developer's machine."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


# PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL URL with rights to create databases."""
    given = os.environ.get("MAMORI_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        server = TempPostgres()
        server.start()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        unavailable(f"cannot start PostgreSQL: {exc} {detail.decode(errors='replace')[-400:]}")
        raise
    try:
        yield server.url()
    finally:
        server.stop()


_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> str:
    """A migrated template database, so each test's fresh database is a fast copy."""
    engine = make_engine(postgres_admin_url)
    name = f"mamori_tmpl_{os.getpid()}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    Database.connect(url).close()  # runs the migrations
    return name


@pytest.fixture
def postgres_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    name = f"mamori_t{os.getpid()}_{next(_counter)}"
    engine = make_engine(postgres_admin_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(
            text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}" STRATEGY FILE_COPY')
        )
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mamori.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs twice: on SQLite and on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database.connect(db_url)
    try:
        yield database
    finally:
        database.close()


# the server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    ingest: str
    read: str
    admin: str
    all: str


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", retention_days=0)


@pytest.fixture
def tokens(db: Database) -> Tokens:
    make = db.accounts.create_token
    return Tokens(
        ingest=make("ingest", {Scope.INGEST})[1],
        read=make("read", {Scope.READ})[1],
        admin=make("admin", {Scope.ADMIN, Scope.READ})[1],
        all=make("all", {Scope.INGEST, Scope.READ, Scope.ADMIN})[1],
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    from mamori.server.app import create_app

    return create_app(settings, db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class LiveServer:
    url: str
    db: Database
    tokens: Tokens
    admin_user: str
    admin_password: str


@pytest.fixture
def live_server(settings: Settings, db: Database, tokens: Tokens) -> Iterator[LiveServer]:
    """The real app under uvicorn on 127.0.0.1, in a thread, with an admin user."""
    from mamori.server.app import create_app

    db.accounts.create_user("alice", "correct horse battery", Role.ADMIN)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, db), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", db, tokens, "alice", "correct horse battery")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    """A fresh migrated SQLite store, for tests whose subject does not depend on the backend."""
    database = Database.connect(sqlite_url)
    try:
        yield database
    finally:
        database.close()

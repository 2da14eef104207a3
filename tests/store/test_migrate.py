"""Alembic migrations: applied on connect, idempotent, and in step with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from mamori.store import migrate
from mamori.store.database import Database
from mamori.store.models import Base
from tests import data


def test_connect_migrates_to_head(db: Database) -> None:
    head = migrate.head_revision(db.engine)
    assert head is not None
    assert migrate.current_revision(db.engine) == head
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrading_twice_is_a_no_op_and_keeps_data(db: Database, db_url: str) -> None:
    db.alerts.insert([data.alert(1)])
    db.upgrade()
    db.upgrade()
    again = Database.connect(db_url)
    try:
        assert migrate.current_revision(again.engine) == migrate.head_revision(again.engine)
        assert again.alerts.get(data.alert(1).id) == data.alert(1)
        with again.engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
    finally:
        again.close()


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_connect_without_upgrade_leaves_an_empty_database_empty(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    db = Database.connect(url, upgrade=False)
    try:
        assert migrate.current_revision(db.engine) is None
        db.upgrade()
        assert migrate.current_revision(db.engine) == migrate.head_revision(db.engine)
    finally:
        db.close()

from pathlib import Path

import pytest

from mamori.core.errors import ConfigError
from mamori.store.database import Database
from mamori.store.engine import make_engine, normalize_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgres://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////var/lib/mamori/m.db", "sqlite:////var/lib/mamori/m.db"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported database"),
        ("postgresql+asyncpg://u@h/db", "unsupported database"),
        ("not a url", "not valid"),
    ],
)
def test_unusable_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        normalize_url(url)


def test_sqlite_directory_is_created_and_pragmas_applied(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/a/b/mamori.db")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (tmp_path / "a" / "b").is_dir()
    finally:
        engine.dispose()


def test_unreachable_postgres_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot open the database"):
        Database.connect("postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2")

"""The store as one object: engine, migrations and repositories."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from mamori.core.errors import ConfigError
from mamori.store import migrate
from mamori.store._common import now
from mamori.store.accounts import AccountRepository
from mamori.store.alerts import AlertRepository
from mamori.store.engine import make_engine
from mamori.store.findings import FindingRepository


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.alerts = AlertRepository(engine)
        self.findings = FindingRepository(engine)
        self.accounts = AccountRepository(engine)

    @classmethod
    def connect(cls, url: str, *, upgrade: bool = True) -> Database:
        """Open the database at ``url``; by default bring its schema up to date."""
        db = cls(make_engine(url))
        try:
            if upgrade:
                db.upgrade()
            else:
                with db.engine.connect():
                    pass
        except OperationalError as exc:
            db.close()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(f"cannot open the database: {reason}") from None
        return db

    def upgrade(self) -> None:
        migrate.upgrade(self.engine)

    def apply_retention(self, days: int) -> int:
        """Delete alerts and findings older than ``days`` (0 keeps everything)."""
        if days <= 0:
            return 0
        cutoff = now() - timedelta(days=days)
        return self.alerts.purge_before(cutoff) + self.findings.purge_before(cutoff)

    def close(self) -> None:
        self.engine.dispose()

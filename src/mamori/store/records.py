"""Shared by the alert and finding repositories: idempotent insert, get, keyset list, triage."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, Engine, Table, delete, false, func, select, update

from mamori.core.errors import NotFoundError
from mamori.core.findings import Comment
from mamori.core.severity import Severity
from mamori.store._common import (
    common_filters,
    copy_insert,
    holds_nul,
    insert_ignoring_duplicates,
    keyset_before,
    now,
    utc,
)
from mamori.store.query import Cursor, Filters, Page

R = TypeVar("R")


class RecordRepository(ABC, Generic[R]):
    """Base of the alert and finding repositories; subclasses map rows to core objects."""

    table: ClassVar[Table]
    comments: ClassVar[Table]
    comment_fk: ClassVar[str]
    noun: ClassVar[str]

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @abstractmethod
    def _to_row(self, record: R, ingested_at: datetime) -> dict[str, Any]: ...

    @abstractmethod
    def _from_row(self, row: Any, comments: Sequence[Comment]) -> R: ...

    @abstractmethod
    def _filter_columns(self) -> dict[str, Any]: ...

    def _extra_filters(self, filters: Filters) -> list[ColumnElement[bool]]:
        return []

    def _where(self, filters: Filters) -> list[ColumnElement[bool]]:
        if holds_nul(filters):
            # Stored text never holds NUL (PostgreSQL cannot store it): nothing can match.
            return [false()]
        return common_filters(filters, **self._filter_columns()) + self._extra_filters(filters)

    def insert(self, records: Sequence[R]) -> set[str]:
        """Store records; an id already stored is left untouched. Returns the ids newly stored."""
        if not records:
            return set()
        at = now()
        rows = [self._to_row(r, at) for r in records]
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                return copy_insert(conn, self.table, rows)
            stmt = insert_ignoring_duplicates(self._engine, self.table).returning(self.table.c.id)
            return {r[0] for r in conn.execute(stmt, rows)}

    def get(self, record_id: str) -> R:
        t, c = self.table, self.comments
        with self._engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == record_id)).first()
            if row is None:
                raise NotFoundError(f"{self.noun} {record_id!r} not found")
            notes = conn.execute(
                select(c).where(c.c[self.comment_fk] == record_id).order_by(c.c.id)
            ).all()
        return self._from_row(row, [Comment(n.author, utc(n.time), n.text) for n in notes])

    def list(
        self, filters: Filters = Filters(), *, limit: int = 50, cursor: Cursor | None = None
    ) -> Page[R]:
        """One page, newest first; ``next_cursor`` is None on the last page."""
        t = self.table
        stmt = (
            select(t)
            .where(*self._where(filters), keyset_before(t.c.time, t.c.id, cursor))
            .order_by(t.c.time.desc(), t.c.id.desc())
            .limit(limit + 1)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        items = [self._from_row(r, ()) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit and limit > 0 else None
        next_cursor = Cursor(utc(last.time), last.id).encode() if last is not None else None
        return Page(items, next_cursor)

    def count(self, filters: Filters = Filters()) -> int:
        stmt = select(func.count()).select_from(self.table).where(*self._where(filters))
        with self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def counts_by_severity(self, filters: Filters = Filters()) -> dict[Severity, int]:
        t = self.table
        stmt = select(t.c.severity, func.count()).where(*self._where(filters))
        with self._engine.connect() as conn:
            return {Severity(s): int(n) for s, n in conn.execute(stmt.group_by(t.c.severity))}

    def set_status(self, record_id: str, status: str) -> R:
        t = self.table
        with self._engine.begin() as conn:
            result = conn.execute(update(t).where(t.c.id == record_id).values(status=status))
            if result.rowcount == 0:
                raise NotFoundError(f"{self.noun} {record_id!r} not found")
        return self.get(record_id)

    def add_comment(self, record_id: str, author: str, text: str) -> R:
        self.get(record_id)  # NotFoundError before writing
        values = {self.comment_fk: record_id, "author": author, "time": now(), "text": text}
        with self._engine.begin() as conn:
            conn.execute(self.comments.insert().values(**values))
        return self.get(record_id)

    def purge_before(self, cutoff: datetime) -> int:
        """Delete records older than ``cutoff`` (retention). Returns how many went."""
        t, c = self.table, self.comments
        with self._engine.begin() as conn:
            old = select(t.c.id).where(t.c.time < utc(cutoff))
            conn.execute(delete(c).where(c.c[self.comment_fk].in_(old)))
            return int(conn.execute(delete(t).where(t.c.time < utc(cutoff))).rowcount)

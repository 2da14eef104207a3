"""SQLAlchemy table definitions. Alembic migrations in ``migrations/`` must match these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rule: Mapped[str] = mapped_column(String(255))
    severity: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(String(32))
    output: Mapped[str] = mapped_column(Text)
    mitre_tactic: Mapped[str | None] = mapped_column(String(64))
    mitre_technique: Mapped[str | None] = mapped_column(String(32))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    resources: Mapped[list[Any]] = mapped_column(JSON)
    tags: Mapped[list[Any]] = mapped_column(JSON)
    cluster: Mapped[str | None] = mapped_column(String(255))
    namespace: Mapped[str | None] = mapped_column(String(255))
    node: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="new")
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_alerts_time_id", "time", "id"),
        Index("ix_alerts_severity_time", "severity", "time"),
        Index("ix_alerts_rule", "rule"),
        Index("ix_alerts_namespace", "namespace"),
        Index("ix_alerts_cluster", "cluster"),
        Index("ix_alerts_status", "status"),
    )


class AlertCommentRow(Base):
    __tablename__ = "alert_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(255))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    text: Mapped[str] = mapped_column(Text)


class FindingRow(Base):
    __tablename__ = "findings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    check: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[int] = mapped_column(SmallInteger)
    resource_kind: Mapped[str] = mapped_column(String(64))
    resource_name: Mapped[str] = mapped_column(String(512))
    resource_namespace: Mapped[str | None] = mapped_column(String(255))
    resource_uid: Mapped[str | None] = mapped_column(String(255))
    cluster: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    remediation: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_findings_time_id", "time", "id"),
        Index("ix_findings_severity_time", "severity", "time"),
        Index("ix_findings_check", "check"),
        Index("ix_findings_kind", "kind"),
        Index("ix_findings_resource_namespace", "resource_namespace"),
        Index("ix_findings_status", "status"),
    )


class FindingCommentRow(Base):
    __tablename__ = "finding_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("findings.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(255))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    text: Mapped[str] = mapped_column(Text)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class SessionRow(Base):
    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


ALERTS = _table(AlertRow)
ALERT_COMMENTS = _table(AlertCommentRow)
FINDINGS = _table(FindingRow)
FINDING_COMMENTS = _table(FindingCommentRow)
USERS = _table(UserRow)
API_TOKENS = _table(ApiTokenRow)
SESSIONS = _table(SessionRow)

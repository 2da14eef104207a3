"""Alert repository: rows <-> ``core.Alert``, plus the severity histogram for the UI chart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from mamori.core.alertjson import resource_to_dict
from mamori.core.findings import Alert, AlertStatus, Comment, Mitre, ResourceRef
from mamori.core.severity import Severity
from mamori.store._common import utc
from mamori.store.models import ALERT_COMMENTS, ALERTS
from mamori.store.query import Filters
from mamori.store.records import RecordRepository


@dataclass(frozen=True, slots=True)
class SeverityBucket:
    start: datetime
    severity: Severity
    count: int


class AlertRepository(RecordRepository[Alert]):
    table = ALERTS
    comments = ALERT_COMMENTS
    comment_fk = "alert_id"
    noun = "alert"

    def _to_row(self, record: Alert, ingested_at: datetime) -> dict[str, Any]:
        a = record
        return {
            "id": a.id,
            "time": utc(a.time),
            "rule": a.rule,
            "severity": int(a.severity),
            "source": a.source,
            "output": a.output,
            "mitre_tactic": a.mitre.tactic if a.mitre else None,
            "mitre_technique": a.mitre.technique if a.mitre else None,
            "fields": dict(a.fields),
            "resources": [resource_to_dict(r) for r in a.resources],
            "tags": list(a.tags),
            "cluster": a.cluster,
            "namespace": a.namespace,
            "node": a.node,
            "status": a.status.value,
            "simulated": a.simulated,
            "ingested_at": ingested_at,
        }

    def _from_row(self, row: Any, comments: Sequence[Comment]) -> Alert:
        mitre = Mitre(row.mitre_tactic, row.mitre_technique) if row.mitre_tactic else None
        return Alert(
            id=row.id,
            time=utc(row.time),
            rule=row.rule,
            severity=Severity(row.severity),
            source=row.source,
            output=row.output,
            mitre=mitre,
            fields=row.fields or {},
            resources=tuple(ResourceRef(**r) for r in row.resources or ()),
            tags=tuple(row.tags or ()),
            cluster=row.cluster,
            namespace=row.namespace,
            node=row.node,
            status=AlertStatus(row.status),
            comments=tuple(comments),
            simulated=bool(row.simulated),
        )

    def _filter_columns(self) -> dict[str, Any]:
        c = self.table.c
        return {
            "time_col": c.time,
            "severity_col": c.severity,
            "status_col": c.status,
            "namespace_col": c.namespace,
            "cluster_col": c.cluster,
            "text_cols": (c.rule, c.output),
        }

    def _extra_filters(self, filters: Filters) -> list[ColumnElement[bool]]:
        c = self.table.c
        clauses: list[ColumnElement[bool]] = []
        if filters.rule:
            clauses.append(c.rule == filters.rule)
        if filters.simulated is not None:
            clauses.append(c.simulated == filters.simulated)
        return clauses

    def histogram(self, filters: Filters, *, hourly: bool) -> list[SeverityBucket]:
        """Counts per severity per hour (or day) for the UI chart, oldest first."""
        t = self.table
        if self._engine.dialect.name == "postgresql":
            # Truncate in UTC, not in the session's time zone (naive result, read back as UTC).
            utc_time = func.timezone("UTC", t.c.time)
            bucket: Any = func.date_trunc("hour" if hourly else "day", utc_time)
        else:
            fmt = "%Y-%m-%d %H:00:00" if hourly else "%Y-%m-%d 00:00:00"
            bucket = func.strftime(fmt, t.c.time)
        stmt = (
            select(bucket.label("b"), t.c.severity, func.count())
            .where(*self._where(filters))
            .group_by(bucket, t.c.severity)
            .order_by(bucket)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for b, sev, n in rows:
            start = b if isinstance(b, datetime) else datetime.fromisoformat(str(b))
            out.append(SeverityBucket(utc(start), Severity(sev), int(n)))
        return out

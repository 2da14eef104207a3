"""Alert repository: rows <-> ``core.Alert``, plus the severity histogram for the UI chart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import ColumnElement, func, select

from mamori.core.alertjson import resource_to_dict
from mamori.core.findings import Alert, AlertStatus, Comment, Mitre, ResourceRef
from mamori.core.severity import Severity
from mamori.store._common import now, utc
from mamori.store.models import ALERT_COMMENTS, ALERTS
from mamori.store.query import Filters
from mamori.store.records import RecordRepository

# PostgreSQL's bulk path: the rows come from one JSON document, parsed by the server in C.
# Defaults and normalisation are alert_from_input's and _to_row's: source "syscall", output "",
# fields {}, no resources or tags, a resource's unset parts left out (json_strip_nulls: a
# resource is one flat object), status new, not simulated.
_FROM_WIRE = """
INSERT INTO alerts (id, time, rule, severity, source, output, mitre_tactic, mitre_technique,
    fields, resources, tags, cluster, namespace, node, status, simulated, ingested_at)
SELECT x.id, x.time, x.rule, x.severity, coalesce(x.source, 'syscall'), coalesce(x.output, ''),
    x.mitre ->> 'tactic', x.mitre ->> 'technique', coalesce(x.fields, '{}'),
    coalesce(json_strip_nulls(x.resources), '[]'), coalesce(x.tags, '[]'),
    x.cluster, x.namespace, x.node, 'new', coalesce(x.simulated, false), %s
FROM json_to_recordset(%s::json) AS x(id text, time timestamptz, rule text, severity smallint,
    source text, output text, mitre json, fields json, resources json, tags json,
    cluster text, namespace text, node text, simulated boolean)
ON CONFLICT DO NOTHING
RETURNING id
"""


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

    @property
    def bulk_from_wire(self) -> bool:
        """Whether :meth:`insert_wire` is this store's fast path (PostgreSQL)."""
        return self._engine.dialect.name == "postgresql"

    def insert_wire(self, items: list[dict[str, Any]]) -> set[str]:
        """PostgreSQL: store validated alerts in their wire form (``AlertIn``, with ``id`` set
        and ``severity`` as its level), the same rows :meth:`insert` would write for their
        ``alert_from_input`` objects. One statement reads them from one JSON document, which
        spares ~100 us of Python per alert (objects, rows, COPY); idempotent like ``insert``.
        Returns the ids newly stored."""
        if not items:
            return set()
        return self.insert_json(to_json(items).decode())

    def insert_json(self, document: str) -> set[str]:
        """PostgreSQL: :meth:`insert_wire` for alerts already encoded as one JSON array (the
        same wire form). Returns the ids newly stored."""
        with self._engine.begin() as conn:
            driver: Any = conn.connection.driver_connection
            with driver.cursor() as cur:
                cur.execute(_FROM_WIRE, (now(), document))
                return {r[0] for r in cur.fetchall()}

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

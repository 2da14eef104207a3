"""Finding repository: posture and vulnerability results, rows <-> ``core.Finding``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from mamori.core.findings import Comment, Finding, FindingKind, FindingStatus, ResourceRef
from mamori.core.severity import Severity
from mamori.store._common import utc
from mamori.store.models import FINDING_COMMENTS, FINDINGS
from mamori.store.query import Filters
from mamori.store.records import RecordRepository


class FindingRepository(RecordRepository[Finding]):
    table = FINDINGS
    comments = FINDING_COMMENTS
    comment_fk = "finding_id"
    noun = "finding"

    def _to_row(self, record: Finding, ingested_at: datetime) -> dict[str, Any]:
        f = record
        return {
            "id": f.id,
            "time": utc(f.time),
            "kind": f.kind.value,
            "check": f.check,
            "title": f.title,
            "severity": int(f.severity),
            "resource_kind": f.resource.kind,
            "resource_name": f.resource.name,
            "resource_namespace": f.resource.namespace,
            "resource_uid": f.resource.uid,
            "cluster": f.resource.cluster,
            "details": dict(f.details),
            "remediation": f.remediation,
            "status": f.status.value,
            "ingested_at": ingested_at,
        }

    def _from_row(self, row: Any, comments: Sequence[Comment]) -> Finding:
        return Finding(
            id=row.id,
            time=utc(row.time),
            kind=FindingKind(row.kind),
            check=row.check,
            title=row.title,
            severity=Severity(row.severity),
            resource=ResourceRef(
                kind=row.resource_kind,
                name=row.resource_name,
                namespace=row.resource_namespace,
                cluster=row.cluster,
                uid=row.resource_uid,
            ),
            details=row.details or {},
            remediation=row.remediation,
            status=FindingStatus(row.status),
            comments=tuple(comments),
        )

    def _filter_columns(self) -> dict[str, Any]:
        c = self.table.c
        return {
            "time_col": c.time,
            "severity_col": c.severity,
            "status_col": c.status,
            "namespace_col": c.resource_namespace,
            "cluster_col": c.cluster,
            "text_cols": (c.check, c.title, c.resource_name),
        }

    def _extra_filters(self, filters: Filters) -> list[ColumnElement[bool]]:
        c = self.table.c
        clauses: list[ColumnElement[bool]] = []
        if filters.rule:
            clauses.append(c.check == filters.rule)
        if filters.kind:
            clauses.append(c.kind == filters.kind)
        return clauses

    def open_posture(self, limit: int = 20000) -> list[Finding]:
        """Open posture findings (most severe first), for the recommendations page."""
        return self.open_of_kind(FindingKind.POSTURE, limit)

    def open_of_kind(self, kind: FindingKind, limit: int = 20000) -> list[Finding]:
        """Open findings of one kind, most severe first (the UI's grouped pages)."""
        c = self.table.c
        query = (
            select(self.table)
            .where(c.kind == kind.value, c.status == FindingStatus.OPEN.value)
            .order_by(c.severity, c.check, c.resource_namespace, c.resource_name)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._from_row(row, ()) for row in rows]

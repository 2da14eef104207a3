"""Alert and finding endpoints: batch ingest, list, show, triage (status and comments)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mamori.core.errors import NotFoundError, ValidationError
from mamori.core.findings import Alert, Finding
from mamori.server.alertwire import decode_alerts
from mamori.server.auth import require
from mamori.server.ingest import FastPath, ItemError, ingest_batch
from mamori.server.metrics import Metrics
from mamori.server.schemas import (
    AlertIn,
    AlertInFast,
    AlertPatch,
    FindingIn,
    FindingInFast,
    FindingPatch,
    alert_bulk_input,
    alert_from_input,
    alert_out,
    finding_from_input,
    finding_out,
    finish_time,
    parse_severities,
)
from mamori.store.accounts import Principal, Scope
from mamori.store.database import Database
from mamori.store.query import Cursor, Filters
from mamori.store.records import RecordRepository

router = APIRouter(prefix="/api/v1")
_ALERT_FAST = FastPath(AlertInFast, finish_time)
_FINDING_FAST = FastPath(FindingInFast, finish_time)

Reader = Annotated[Principal, Depends(require(Scope.READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Ingester = Annotated[Principal, Depends(require(Scope.INGEST))]
Limit = Annotated[int, Query(ge=1, le=500)]


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _metrics(request: Request) -> Metrics:
    m: Metrics = request.app.state.metrics
    return m


def _bad_request(exc: ValidationError) -> HTTPException:
    return HTTPException(400, str(exc))


def _filters(
    since: datetime | None,
    until: datetime | None,
    severity: list[str],
    status: list[str],
    **rest: Any,
) -> Filters:
    try:
        severities = parse_severities(severity)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    statuses = tuple(s for v in status for s in v.split(",") if s)
    return Filters(since=since, until=until, severities=severities, statuses=statuses, **rest)


def _cursor(cursor: str | None) -> Cursor | None:
    try:
        return Cursor.decode(cursor) if cursor else None
    except ValidationError as exc:
        raise _bad_request(exc) from None


# A whole batch checked and stored in one step when every item is plainly valid: (received,
# ids newly stored); None sends the batch the usual way (ingest_batch, then store).
QuickPath = Callable[[bytes, int], tuple[int, set[str]] | None]


def _ingest(
    request: Request,
    body: bytes,
    key: str,
    model: Any,
    fast: FastPath,
    store: Callable[[list[Any]], set[str]],
    quick: QuickPath | None = None,
) -> JSONResponse:
    metrics = _metrics(request)
    max_items: int = request.app.state.max_items
    done = quick(body, max_items) if quick is not None else None
    errors: list[ItemError] = []
    if done is not None:
        received, inserted = done
        accepted = received
    else:
        try:
            result = ingest_batch(body, key, model, max_items, fast)
        except ValidationError as exc:
            raise _bad_request(exc) from None
        received, accepted, errors = result.received, len(result.valid), result.errors
        inserted = store(result.valid) if result.valid else set()
    metrics.ingested.labels(key).inc(len(inserted))
    metrics.duplicates.labels(key).inc(accepted - len(inserted))
    metrics.rejected.labels(key).inc(len(errors))
    content = {
        "received": received,
        "accepted": accepted,
        "inserted": len(inserted),
        "duplicates": accepted - len(inserted),
        "rejected": len(errors),
        "errors": [{"index": e.index, "errors": e.errors} for e in errors],
    }
    # 422 only when the batch had items and none of them was good.
    status = 422 if received and not accepted else 200
    return JSONResponse(content, status_code=status)


def _get(fetch: Callable[[], Any]) -> Any:
    try:
        return fetch()
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


def _triage(
    repo: RecordRepository[Any],
    record_id: str,
    status: str | None,
    comment: str | None,
    author: str,
) -> Any:
    try:
        if status is not None:
            repo.set_status(record_id, status)
        if comment is not None:
            repo.add_comment(record_id, author, comment)
        return repo.get(record_id)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


# alerts ---------------------------------------------------------------------------------


@router.post("/alerts:batch", summary="Ingest a batch of alerts (idempotent by id)")
async def ingest_alerts(request: Request, _: Ingester) -> JSONResponse:
    body = await request.body()
    alerts = _db(request).alerts

    def store(items: list[AlertIn]) -> set[str]:
        if alerts.bulk_from_wire:  # PostgreSQL reads the rows from one JSON document
            return alerts.insert_wire([alert_bulk_input(a) for a in items])
        return alerts.insert([alert_from_input(a) for a in items])

    def quick(data: bytes, max_items: int) -> tuple[int, set[str]] | None:
        decoded = decode_alerts(data, max_items) if alerts.bulk_from_wire else None
        if decoded is None:
            return None
        count, document = decoded
        return count, alerts.insert_json(document) if count else set()

    return await run_in_threadpool(
        _ingest, request, body, "alerts", AlertIn, _ALERT_FAST, store, quick
    )


@router.get("/alerts", summary="List alerts, newest first")
def list_alerts(
    request: Request,
    _: Reader,
    since: datetime | None = None,
    until: datetime | None = None,
    severity: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    status: Annotated[list[str], Query()] = [],  # noqa: B006
    rule: str | None = None,
    namespace: str | None = None,
    cluster: str | None = None,
    q: str | None = None,
    simulated: bool | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    filters = _filters(
        since,
        until,
        severity,
        status,
        rule=rule,
        namespace=namespace,
        cluster=cluster,
        text=q,
        simulated=simulated,
    )
    page = _db(request).alerts.list(filters, limit=limit, cursor=_cursor(cursor))
    return {"items": [alert_out(a) for a in page.items], "next_cursor": page.next_cursor}


@router.get("/alerts/{alert_id}", summary="One alert with its comments")
def get_alert(request: Request, alert_id: str, _: Reader) -> dict[str, Any]:
    alert: Alert = _get(lambda: _db(request).alerts.get(alert_id))
    return alert_out(alert)


@router.patch("/alerts/{alert_id}", summary="Change an alert's status and/or add a comment")
def patch_alert(request: Request, alert_id: str, patch: AlertPatch, who: Admin) -> dict[str, Any]:
    alert: Alert = _triage(_db(request).alerts, alert_id, patch.status, patch.comment, who.name)
    return alert_out(alert)


# findings -------------------------------------------------------------------------------


@router.post("/findings:batch", summary="Ingest a batch of findings (idempotent by id)")
async def ingest_findings(request: Request, _: Ingester) -> JSONResponse:
    body = await request.body()
    findings = _db(request).findings

    def store(items: list[FindingIn]) -> set[str]:
        return findings.insert([finding_from_input(f) for f in items])

    return await run_in_threadpool(
        _ingest, request, body, "findings", FindingIn, _FINDING_FAST, store
    )


@router.get("/findings", summary="List findings, newest first")
def list_findings(
    request: Request,
    _: Reader,
    since: datetime | None = None,
    until: datetime | None = None,
    severity: Annotated[list[str], Query()] = [],  # noqa: B006
    status: Annotated[list[str], Query()] = [],  # noqa: B006
    kind: str | None = None,
    check: str | None = None,
    namespace: str | None = None,
    cluster: str | None = None,
    q: str | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    filters = _filters(
        since,
        until,
        severity,
        status,
        rule=check,
        kind=kind,
        namespace=namespace,
        cluster=cluster,
        text=q,
    )
    page = _db(request).findings.list(filters, limit=limit, cursor=_cursor(cursor))
    return {"items": [finding_out(f) for f in page.items], "next_cursor": page.next_cursor}


@router.get("/findings/{finding_id}", summary="One finding with its comments")
def get_finding(request: Request, finding_id: str, _: Reader) -> dict[str, Any]:
    finding: Finding = _get(lambda: _db(request).findings.get(finding_id))
    return finding_out(finding)


@router.patch("/findings/{finding_id}", summary="Change a finding's status and/or add a comment")
def patch_finding(
    request: Request, finding_id: str, patch: FindingPatch, who: Admin
) -> dict[str, Any]:
    finding: Finding = _triage(
        _db(request).findings, finding_id, patch.status, patch.comment, who.name
    )
    return finding_out(finding)

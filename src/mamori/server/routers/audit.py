"""The Kubernetes audit webhook backend: ``POST /api/v1/audit/webhook``.

The API server posts ``audit.k8s.io/v1`` EventLists with a bearer token (``ingest`` scope) from
its ``--audit-webhook-config-file`` kubeconfig. The body is journaled before the 200; rules and the
stateful detections run in ``mamori.audit``'s background worker (docs/audit.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from mamori.audit.detection import load_detector
from mamori.audit.events import AuditFormatError
from mamori.audit.pipeline import build_pipeline
from mamori.audit.webhook import WebhookReceiver
from mamori.config import Settings
from mamori.core.findings import Alert
from mamori.server.auth import require
from mamori.server.metrics import Metrics
from mamori.store.accounts import Principal, Scope
from mamori.store.database import Database


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the audit worker (it first replays what the journal holds); stop it at shutdown."""
    settings: Settings = app.state.settings
    db: Database = app.state.db
    metrics: Metrics = app.state.metrics
    detector = load_detector(settings.audit_rules, default_rules=settings.audit_default_rules)
    pipeline = build_pipeline(
        detector,
        stateful=settings.audit_stateful,
        state_file=settings.audit_state,
        learning_days=settings.audit_learning_days,
    )

    def store(alerts: list[Alert]) -> None:
        metrics.audit_alerts.inc(len(db.alerts.insert(alerts)))

    receiver = WebhookReceiver(settings.audit_journal, pipeline.detect_all, store, pipeline.commit)
    metrics.audit_backlog.set_function(lambda: receiver.worker.backlog)
    app.state.audit = receiver
    receiver.start()
    try:
        yield
    finally:
        await asyncio.to_thread(receiver.stop)


router = APIRouter(prefix="/api/v1", lifespan=lifespan)
Ingester = Annotated[Principal, Depends(require(Scope.INGEST))]
Cluster = Annotated[str | None, Query(max_length=63, description="cluster name for the alerts")]


@router.post("/audit/webhook", summary="Kubernetes audit webhook backend (EventList)")
async def audit_webhook(request: Request, _: Ingester, cluster: Cluster = None) -> dict[str, int]:
    body = await request.body()
    receiver: WebhookReceiver = request.app.state.audit
    metrics: Metrics = request.app.state.metrics
    try:
        accepted = await run_in_threadpool(receiver.accept, body, cluster)
    except AuditFormatError as exc:
        metrics.audit_rejected.inc()
        raise HTTPException(400, str(exc)) from None
    metrics.audit_events.inc(accepted)
    return {"accepted": accepted}

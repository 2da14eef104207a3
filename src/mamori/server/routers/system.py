"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from mamori.server.auth import require
from mamori.store import migrate
from mamori.store.accounts import Principal, Scope

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """Liveness: the process answers. Not authenticated."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers and its schema is current. Not authenticated."""
    engine = request.app.state.db.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.current_revision(engine)
        head = migrate.head_revision(engine)
    except Exception as exc:  # any database failure means not ready
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
    if current != head:
        return JSONResponse({"status": "unavailable", "reason": "schema not migrated"}, 503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, _: Annotated[Principal, Depends(require(Scope.READ))]) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False)
def openapi(
    request: Request, _: Annotated[Principal, Depends(require(Scope.READ))]
) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema

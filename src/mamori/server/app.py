"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

import mamori
from mamori.config import Settings
from mamori.server.limits import BodySizeLimit
from mamori.server.metrics import Metrics
from mamori.server.routers import admission, audit, records, system
from mamori.server.schemas import AlertIn, FindingIn
from mamori.server.ui import routes as ui
from mamori.store.database import Database

log = logging.getLogger("mamori.server")
RETENTION_INTERVAL_S = 3600.0


async def _retention_loop(db: Database, days: int) -> None:
    while True:
        try:
            removed = await asyncio.to_thread(db.apply_retention, days)
            if removed:
                log.info("retention: removed %d records older than %d days", removed, days)
        except Exception:
            log.exception("retention run failed; will retry")
        await asyncio.sleep(RETENTION_INTERVAL_S)


def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        problems.append(f"{loc}: {err.get('msg', 'invalid')}")
    return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, 422)


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """Build the server: REST API, web UI, health and metrics over ``db``.

    Without ``db`` the database named by ``settings`` is opened (and migrated) at startup.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = db is None
        app.state.db = db if db is not None else Database.connect(settings.resolved_database_url())
        task = asyncio.create_task(_retention_loop(app.state.db, settings.retention_days))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            if own:
                app.state.db.close()

    app = FastAPI(
        title="mamori",
        version=mamori.__version__,
        description="Self-hosted container security: alerts, findings, ingest.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by routers.system, authenticated
    )
    app.state.settings = settings
    app.state.max_items = settings.max_batch_items
    app.state.posture = admission.posture_context(settings)
    app.state.metrics = Metrics.create()
    if db is not None:
        app.state.db = db
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(system.router)
    app.include_router(records.router)
    app.include_router(audit.router)
    app.include_router(admission.router)
    app.include_router(ui.router)
    ui.mount_static(app)
    ui.install_login_redirect(app)
    _instrument(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    _document_batch_bodies(app)
    return app


def _document_batch_bodies(app: FastAPI) -> None:
    """The batch routes read their raw body (for per-item errors), so FastAPI cannot see its
    schema; add it to the OpenAPI document when the document is first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, key, item in (
                ("/api/v1/alerts:batch", "alerts", AlertIn),
                ("/api/v1/findings:batch", "findings", FindingIn),
            ):
                items = TypeAdapter(list[item]).json_schema(  # type: ignore[valid-type]
                    ref_template="#/components/schemas/{model}"
                )
                schema.setdefault("components", {}).setdefault("schemas", {}).update(
                    items.pop("$defs", {})
                )
                body = {
                    "type": "object",
                    "required": [key],
                    "additionalProperties": False,
                    "properties": {key: items},
                }
                schema["paths"][path]["post"]["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _instrument(app: FastAPI) -> None:
    metrics: Metrics = app.state.metrics

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        except HTTPException as exc:
            status = exc.status_code
            raise
        finally:
            route = request.scope.get("route")
            name = getattr(route, "path", "unmatched")
            metrics.requests.labels(request.method, name, str(status)).inc()
            metrics.latency.labels(name).observe(time.perf_counter() - start)

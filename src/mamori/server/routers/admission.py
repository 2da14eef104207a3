"""``POST /api/v1/admission/validate``: the posture ValidatingAdmissionWebhook.

The API server checks the webhook's TLS certificate (``caBundle``), and mamori checks the API
server: it sends a bearer token with the ``ingest`` scope, configured in the kubeconfig named by
the API server's ``AdmissionConfiguration`` (docs/posture.md). The route answers, counts (metrics
labelled ``dry_run``) and stores nothing. Evaluation is a few milliseconds of CPU, done inline.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from mamori.config import Settings
from mamori.posture.admission import ReviewError, response
from mamori.posture.checks import select
from mamori.posture.config import load_config
from mamori.posture.engine import Context
from mamori.server.auth import require
from mamori.server.metrics import Metrics
from mamori.store.accounts import Principal, Scope

router = APIRouter(prefix="/api/v1")


def posture_context(settings: Settings) -> Context:
    """Built once at start; an invalid posture config stops the server (ConfigError)."""
    from mamori.core.errors import ConfigError
    from mamori.posture.config import ConfigError as PostureConfigError

    try:
        return Context(load_config(settings.posture_config, select(settings.posture_checks)))
    except (PostureConfigError, ValueError) as exc:
        raise ConfigError(f"invalid posture configuration: {exc}") from None


@router.post("/admission/validate", summary="Validating admission webhook (AdmissionReview v1)")
async def validate(
    request: Request, _: Annotated[Principal, Depends(require(Scope.INGEST))]
) -> JSONResponse:
    try:
        review: Any = json.loads(await request.body())
    except ValueError:
        raise HTTPException(400, "body is not JSON") from None
    if not isinstance(review, dict):
        raise HTTPException(400, "expected an AdmissionReview object")
    ctx: Context = request.app.state.posture
    try:
        answer, decision = response(review, ctx)
    except ReviewError as exc:
        raise HTTPException(400, str(exc)) from None
    metrics: Metrics = request.app.state.metrics
    verdict = "allowed" if decision.allowed else "denied"
    metrics.admission.labels(verdict, str(decision.dry_run).lower()).inc()
    return JSONResponse(answer)

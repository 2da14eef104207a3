"""Validating admission: an ``admission.k8s.io/v1`` AdmissionReview in, a response out.

Per check action: ``audit`` (allow, audit annotation), ``warn`` (+ a warning per finding),
``deny`` (``allowed: false``, 403). On UPDATE only findings that are new compared with
``oldObject`` can deny (pod security fields are immutable; legacy objects must stay patchable);
pre-existing ones become warnings. Without ``oldObject``, a Pod UPDATE can only change images.
``pods/ephemeralcontainers`` UPDATEs judge the newly added ephemeral containers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.posture.engine import Context, evaluate
from mamori.posture.model import Manifest, Result, Status, format_path
from mamori.posture.workload import as_list, as_map, get

API_VERSION = "admission.k8s.io/v1"
MAX_WARNINGS = 10
MAX_WARNING_CHARS = 119
MAX_MESSAGE_CHARS = 1000


class ReviewError(ValueError):
    """Not an AdmissionReview mamori can answer (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    denied: list[Result] = field(default_factory=list)
    warned: list[Result] = field(default_factory=list)
    audited: list[Result] = field(default_factory=list)
    new: list[Result] = field(default_factory=list)
    dry_run: bool = False


def identity(r: Result) -> tuple[Any, ...]:
    name = r.container.name if r.container else None
    return (r.check_id, name, format_path(r.field_path), repr(r.value))


def _findings(obj: Mapping[str, Any], request: Mapping[str, Any], ctx: Context) -> list[Result]:
    meta = dict(as_map(obj.get("metadata")))
    if not meta.get("namespace") and request.get("namespace"):
        meta["namespace"] = request["namespace"]
    kind = str(obj.get("kind", ""))
    name = meta.get("name") or request.get("name") or ""
    manifest = Manifest({**obj, "metadata": meta}, f"admission:{kind}/{name}")
    return [r for r in evaluate(manifest, ctx) if isinstance(r, Result) and r.status is Status.FAIL]


def _ephemeral_names(obj: Any) -> set[str]:
    return {str(as_map(c).get("name")) for c in as_list(get(obj, "spec", "ephemeralContainers"))}


def new_findings(request: Mapping[str, Any], found: list[Result], ctx: Context) -> list[Result]:
    """The findings an UPDATE introduces (all of them for CREATE)."""
    if request.get("operation") != "UPDATE":
        return found
    old = request.get("oldObject")
    if request.get("subResource") == "ephemeralcontainers":
        before = _ephemeral_names(old)
        return [
            r
            for r in found
            if r.container
            and r.container.type == "ephemeralContainer"
            and r.container.name not in before
        ]
    if isinstance(old, Mapping):
        seen = {identity(r) for r in _findings(old, request, ctx)}
        return [r for r in found if identity(r) not in seen]
    if as_map(request.get("object")).get("kind") == "Pod":
        return [r for r in found if r.field_path[-1:] == ("image",)]
    return found


def decide(request: Mapping[str, Any], ctx: Context) -> Decision:
    dry_run = request.get("dryRun") is True
    obj = request.get("object")
    if request.get("operation") not in ("CREATE", "UPDATE") or not isinstance(obj, Mapping):
        return Decision(True, dry_run=dry_run)
    found = _findings(obj, request, ctx)
    new = new_findings(request, found, ctx)
    actions = {s.check.id: s.action for s in ctx.config.checks}
    denied = [r for r in new if actions.get(r.check_id) == "deny"]
    warned = [r for r in found if actions.get(r.check_id) in ("warn", "deny") and r not in denied]
    audited = [r for r in found if actions.get(r.check_id) == "audit"]
    return Decision(not denied, denied, warned, audited, new, dry_run)


def _short(r: Result, severity: str) -> str:
    who = f'container "{r.container.name}"' if r.container else r.resource.kind
    text = f"{r.check_id} ({severity}) {who}: {r.message}"
    return text if len(text) <= MAX_WARNING_CHARS else text[: MAX_WARNING_CHARS - 1] + "…"


def _warnings(results: list[Result], severity_of: Mapping[str, str]) -> list[str]:
    lines = [_short(r, severity_of.get(r.check_id, "")) for r in results[:MAX_WARNINGS]]
    if len(results) > MAX_WARNINGS:
        lines.append(f"…and {len(results) - MAX_WARNINGS} more")
    return lines


def response(review: Mapping[str, Any], ctx: Context) -> tuple[dict[str, Any], Decision]:
    """The AdmissionReview answer for ``review`` (raises ``ReviewError`` for bad input)."""
    if review.get("apiVersion") != API_VERSION or review.get("kind") != "AdmissionReview":
        raise ReviewError(f"expected an AdmissionReview of apiVersion {API_VERSION}")
    request = review.get("request")
    if not isinstance(request, Mapping) or not request.get("uid"):
        raise ReviewError("AdmissionReview.request with a uid is required")
    decision = decide(request, ctx)
    severity_of = {s.check.id: s.check.severity.value for s in ctx.config.checks}
    answer: dict[str, Any] = {"uid": request["uid"], "allowed": decision.allowed}
    everything = decision.denied + decision.warned + decision.audited
    if everything:
        ids = sorted({r.check_id for r in everything})
        answer["auditAnnotations"] = {"violations": ", ".join(ids)[:MAX_MESSAGE_CHARS]}
    warnings = _warnings(decision.warned, severity_of)
    if warnings:
        answer["warnings"] = warnings
    if not decision.allowed:
        answer["status"] = {
            "code": 403,
            "reason": "Forbidden",
            "message": _deny_message(decision, severity_of),
        }
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": answer}, decision


def _deny_message(decision: Decision, severity_of: Mapping[str, str]) -> str:
    ids = sorted({r.check_id for r in decision.denied})
    head = f"mamori denied the request: {', '.join(ids)}"
    details = "; ".join(_short(r, severity_of.get(r.check_id, "")) for r in decision.denied[:3])
    return f"{head}. {details}"[:MAX_MESSAGE_CHARS]

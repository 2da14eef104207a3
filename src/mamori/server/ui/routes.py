"""The web UI: server-rendered pages (Jinja2), a session cookie, CSRF-checked forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from mamori.core.errors import AuthError, NotFoundError
from mamori.core.findings import AlertStatus, FindingKind, FindingStatus
from mamori.core.severity import Severity, UiSeverity
from mamori.drift.verdict import EXPLAIN, Verdict
from mamori.server.auth import SESSION_COOKIE, Caller, authorize, check_csrf, identify
from mamori.server.schemas import parse_severities
from mamori.server.ui.chart import build_chart
from mamori.server.ui.recommendations import group
from mamori.server.ui.vulnerabilities import GROUPINGS, group_by, subject
from mamori.store.accounts import Scope
from mamori.store.database import Database
from mamori.store.query import Cursor, Filters

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
CONTEXT_KEYS = (
    (
        "Process",
        (
            "proc.name",
            "proc.exepath",
            "proc.cmdline",
            "proc.pid",
            "proc.pname",
            "proc.cwd",
            "user.name",
            "user.uid",
        ),
    ),
    (
        "Container",
        (
            "container.id",
            "container.name",
            "container.image.repository",
            "container.image.tag",
            "container.image.digest",
        ),
    ),
    ("Kubernetes", ("k8s.ns.name", "k8s.pod.name", "k8s.pod.uid")),
)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


class LoginRequired(Exception):
    pass


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _caller(request: Request, scope: Scope = Scope.READ) -> Caller:
    try:
        caller = identify(request)
    except HTTPException:
        caller = None
    if caller is None or caller.csrf is None:
        raise LoginRequired
    authorize(request, caller, scope)
    return caller


async def _form_caller(request: Request, scope: Scope) -> tuple[Caller, dict[str, str]]:
    caller = _caller(request, scope)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, caller, fields.get("csrf"))
    return caller, fields


def _render(request: Request, name: str, caller: Caller | None, **ctx: Any) -> HTMLResponse:
    ctx.update(
        user=caller.principal.name if caller else None,
        can_triage=bool(caller and Scope.ADMIN in caller.principal.scopes),
        csrf=caller.csrf if caller else None,
        ui_levels=[u.value for u in UiSeverity],
    )
    return templates.TemplateResponse(request, name, ctx)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def install_login_redirect(app: FastAPI) -> None:
    async def handler(request: Request, _: Exception) -> Response:
        return login_redirect(request)

    app.add_exception_handler(LoginRequired, handler)


# login ------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a link send a fresh login elsewhere.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/alerts"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return _render(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    db = _db(request)
    try:
        user_id, _ = await run_in_threadpool(db.accounts.authenticate_user, name, password)
    except AuthError:
        page = _render(request, "login.html", None, next=target, error="Wrong user or password.")
        page.status_code = 401
        return page
    ttl = timedelta(hours=request.app.state.settings.session_ttl_hours)
    sid, _csrf = await run_in_threadpool(db.accounts.create_session, user_id, ttl)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=int(ttl.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await _form_caller(request, Scope.READ)
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        await run_in_threadpool(_db(request).accounts.end_session, sid)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/alerts", status_code=303)


# alerts -----------------------------------------------------------------------------------


# Simulated alerts are shown (marked) unless hidden: a simulation run is visible by default.
SIMULATED_FILTER = {"hide": False, "only": True}


def _page_filters(request: Request) -> tuple[Filters, dict[str, str]]:
    q = request.query_params
    keys = ("severity", "status", "namespace", "rule", "q", "hours", "simulated")
    chosen = {k: q.get(k, "") for k in keys}
    try:
        severities = parse_severities([chosen["severity"]]) if chosen["severity"] else ()
    except ValueError:
        severities = ()
    since = None
    if chosen["hours"].isdigit() and int(chosen["hours"]) > 0:
        since = datetime.now(UTC) - timedelta(hours=int(chosen["hours"]))
    filters = Filters(
        since=since,
        severities=severities,
        statuses=(chosen["status"],) if chosen["status"] else (),
        namespace=chosen["namespace"] or None,
        rule=chosen["rule"] or None,
        text=chosen["q"] or None,
        simulated=SIMULATED_FILTER.get(chosen["simulated"]),
    )
    return filters, chosen


def _cursor(request: Request) -> Cursor | None:
    raw = request.query_params.get("cursor")
    try:
        return Cursor.decode(raw) if raw else None
    except Exception:
        return None


def _next_link(request: Request, next_cursor: str | None) -> str | None:
    if next_cursor is None:
        return None
    params = dict(request.query_params)
    params["cursor"] = next_cursor
    return f"{request.url.path}?{urlencode(params)}"


def _count_links(base: str, chosen: dict[str, str]) -> dict[str, str]:
    """Links for the severity tiles: the current filters with that severity (toggles off)."""
    links = {}
    for level in UiSeverity:
        params = {k: v for k, v in chosen.items() if v}
        if chosen.get("severity") == level.value:
            params.pop("severity", None)
        else:
            params["severity"] = level.value
        links[level.value] = f"{base}?{urlencode(params)}"
    return links


def _ui_counts(by_sev: dict[Severity, int]) -> dict[str, int]:
    counts = {u.value: 0 for u in UiSeverity}
    for sev, n in by_sev.items():
        counts[sev.ui.value] += n
    return counts


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request) -> HTMLResponse:
    caller = _caller(request)
    filters, chosen = _page_filters(request)
    repo = _db(request).alerts
    page = repo.list(filters, limit=PAGE_SIZE, cursor=_cursor(request))
    # Counts and chart ignore the severity filter, so the other levels stay visible.
    unsliced = Filters(**{**_as_dict(filters), "severities": ()})
    hours = int(chosen["hours"]) if chosen["hours"].isdigit() else 0
    hourly = hours <= 72  # all time (0) shows the newest hours; longer windows show days
    chart = build_chart(repo.histogram(unsliced, hourly=hourly), hourly=hourly)
    return _render(
        request,
        "alerts.html",
        caller,
        alerts=page.items,
        next_link=_next_link(request, page.next_cursor),
        counts=_ui_counts(repo.counts_by_severity(unsliced)),
        chart=chart,
        chosen=chosen,
        count_links=_count_links("/alerts", chosen),
        statuses=[s.value for s in AlertStatus],
    )


def _as_dict(filters: Filters) -> dict[str, Any]:
    return {name: getattr(filters, name) for name in Filters.__dataclass_fields__}


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str) -> HTMLResponse:
    caller = _caller(request)
    try:
        alert = _db(request).alerts.get(alert_id)
    except NotFoundError:
        return _not_found(request, caller, f"No alert with id {alert_id}.")
    context = []
    verdict = alert.fields.get("drift.verdict")
    drift = None
    if isinstance(verdict, str) and verdict in Verdict.__members__.values():
        drift = {
            "verdict": verdict,
            "explanation": EXPLAIN[Verdict(verdict)],
            "action": alert.fields.get("drift.action_taken"),
            "rule": alert.fields.get("drift.rule"),
            "relocated_from": alert.fields.get("drift.relocated_from"),
            "sha256": alert.fields.get("proc.sha256"),
        }
    for title, keys in CONTEXT_KEYS:
        rows = [(k, alert.fields[k]) for k in keys if alert.fields.get(k) not in (None, "")]
        if rows:
            context.append((title, rows))
    return _render(
        request,
        "alert.html",
        caller,
        alert=alert,
        context=context,
        drift=drift,
        statuses=[s.value for s in AlertStatus],
    )


def _not_found(request: Request, caller: Caller, message: str) -> HTMLResponse:
    page = _render(request, "not_found.html", caller, message=message)
    page.status_code = 404
    return page


@router.post("/alerts/{alert_id}/triage")
async def triage_alert(request: Request, alert_id: str) -> Response:
    caller, form = await _form_caller(request, Scope.ADMIN)
    repo = _db(request).alerts
    try:
        if form.get("status"):
            status = AlertStatus(form["status"])
            await run_in_threadpool(repo.set_status, alert_id, status)
        if form.get("comment", "").strip():
            await run_in_threadpool(
                repo.add_comment, alert_id, caller.principal.name, form["comment"].strip()
            )
    except (ValueError, NotFoundError) as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


# findings ---------------------------------------------------------------------------------


@router.get("/findings", response_class=HTMLResponse)
def findings_page(request: Request) -> HTMLResponse:
    caller = _caller(request)
    filters, chosen = _page_filters(request)
    kind = request.query_params.get("kind") or None
    filters = Filters(**{**_as_dict(filters), "kind": kind, "rule": None})
    repo = _db(request).findings
    page = repo.list(filters, limit=PAGE_SIZE, cursor=_cursor(request))
    unsliced = Filters(**{**_as_dict(filters), "severities": ()})
    return _render(
        request,
        "findings.html",
        caller,
        findings=page.items,
        next_link=_next_link(request, page.next_cursor),
        counts=_ui_counts(repo.counts_by_severity(unsliced)),
        chosen={**chosen, "kind": kind or ""},
        count_links=_count_links("/findings", {**chosen, "kind": kind or ""}),
        statuses=[s.value for s in FindingStatus],
    )


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(request: Request, finding_id: str) -> HTMLResponse:
    caller = _caller(request)
    try:
        finding = _db(request).findings.get(finding_id)
    except NotFoundError:
        return _not_found(request, caller, f"No finding with id {finding_id}.")
    return _render(
        request,
        "finding.html",
        caller,
        finding=finding,
        statuses=[s.value for s in FindingStatus],
    )


@router.post("/findings/{finding_id}/triage")
async def triage_finding(request: Request, finding_id: str) -> Response:
    caller, form = await _form_caller(request, Scope.ADMIN)
    repo = _db(request).findings
    try:
        if form.get("status"):
            await run_in_threadpool(repo.set_status, finding_id, FindingStatus(form["status"]))
        if form.get("comment", "").strip():
            await run_in_threadpool(
                repo.add_comment, finding_id, caller.principal.name, form["comment"].strip()
            )
    except (ValueError, NotFoundError) as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)


# recommendations --------------------------------------------------------------------------


@router.get("/recommendations", response_class=HTMLResponse)
def recommendations_page(request: Request) -> HTMLResponse:
    caller = _caller(request)
    findings = _db(request).findings.open_posture()
    return _render(request, "recommendations.html", caller, recommendations=group(findings))


# vulnerabilities --------------------------------------------------------------------------


@router.get("/vulnerabilities", response_class=HTMLResponse)
def vulnerabilities_page(request: Request, by: str = "image") -> HTMLResponse:
    caller = _caller(request)
    by = by if by in GROUPINGS else "image"
    findings = _db(request).findings.open_of_kind(FindingKind.VULNERABILITY)
    return _render(
        request,
        "vulnerabilities.html",
        caller,
        by=by,
        groups=group_by(findings, by),
        subject=subject,
    )


DRIFT_STATE = "drift-state.json"


@router.get("/drift/policy", response_class=HTMLResponse)
def drift_policy_page(request: Request) -> HTMLResponse:
    """The drift policy in force on this host's sensor, rules in order with hit counters.

    Read from the state file the sensor writes every few seconds (``mamori up``'s local sensor,
    or ``mamori sensor`` with the same data directory): no table, nothing to migrate.
    """
    caller = _caller(request)
    path = request.app.state.settings.data_dir / DRIFT_STATE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = None
    return _render(request, "drift_policy.html", caller, state=state, path=str(path))

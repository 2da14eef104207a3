"""Request authentication: API tokens (``Authorization: Bearer``) or a UI session cookie.

Unsafe methods on a cookie session need the session's CSRF token (header ``X-CSRF-Token`` or
form field ``csrf``); bearer-token calls are not exposed to CSRF.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from mamori.core.errors import AuthError
from mamori.store.accounts import Principal, Scope
from mamori.store.database import Database

SESSION_COOKIE = "mamori_session"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    csrf: str | None  # set for cookie sessions


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "expected 'Authorization: Bearer TOKEN'")
    return token.strip()


def identify(request: Request) -> Caller | None:
    """The caller, or None when the request carries no credentials."""
    db = _db(request)
    token = _bearer(request)
    try:
        if token is not None:
            return Caller(db.accounts.verify_token(token), None)
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            principal, csrf = db.accounts.session(sid)
            return Caller(principal, csrf)
    except AuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    return None


def check_csrf(request: Request, caller: Caller, sent: str | None) -> None:
    """Unsafe requests on a cookie session must echo the session's CSRF token."""
    if caller.csrf is None or request.method in _SAFE:
        return
    if sent is None or not hmac.compare_digest(sent, caller.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


def authorize(request: Request, caller: Caller | None, scope: Scope) -> Principal:
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if scope not in caller.principal.scopes:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {scope.value!r} scope")
    request.state.principal = caller.principal
    return caller.principal


def require(scope: Scope) -> Callable[[Request], Principal]:
    """A FastAPI dependency for the JSON API: authenticated, holding ``scope``.

    Sync on purpose: FastAPI runs it in the thread pool, so the database look-up does not block
    the event loop.
    """

    def dependency(request: Request) -> Principal:
        caller = identify(request)
        principal = authorize(request, caller, scope)
        assert caller is not None
        check_csrf(request, caller, request.headers.get("x-csrf-token"))
        return principal

    return dependency

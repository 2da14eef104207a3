"""Users (UI logins), API tokens and UI sessions. Secrets are stored only as hashes."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core.errors import AuthError, ConflictError, NotFoundError, ValidationError
from mamori.store._common import now, utc
from mamori.store.models import API_TOKENS, SESSIONS, USERS

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
TOKEN_PREFIX = "mamori"  # noqa: S105 (a label, not a secret)


class Scope(enum.StrEnum):
    INGEST = "ingest"  # producers: sensors, audit webhooks
    READ = "read"  # list and show alerts and findings
    ADMIN = "admin"  # triage (status, comments) and administration


class Role(enum.StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"

    @property
    def scopes(self) -> frozenset[Scope]:
        if self is Role.ADMIN:
            return frozenset({Scope.READ, Scope.ADMIN})
        return frozenset({Scope.READ})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (UI session) or an API token."""

    name: str
    scopes: frozenset[Scope]
    kind: str  # "user" or "token"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    name: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    revoked: bool


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    enc = base64.b64encode
    return f"scrypt${enc(salt).decode()}${enc(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class AccountRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # users ------------------------------------------------------------------------------
    def create_user(self, name: str, password: str, role: Role = Role.ADMIN) -> None:
        if not name.strip():
            raise ValidationError("user name must not be empty")
        if len(password) < 8:
            raise ValidationError("password must have at least 8 characters")
        row = {
            "name": name,
            "password_hash": hash_password(password),
            "role": role.value,
            "created_at": now(),
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(USERS.insert().values(**row))
        except IntegrityError:
            raise ConflictError(f"user {name!r} exists already") from None

    def set_password(self, name: str, password: str) -> None:
        if len(password) < 8:
            raise ValidationError("password must have at least 8 characters")
        t = USERS
        with self._engine.begin() as conn:
            res = conn.execute(
                update(t).where(t.c.name == name).values(password_hash=hash_password(password))
            )
            if res.rowcount == 0:
                raise NotFoundError(f"user {name!r} not found")

    def user_count(self) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(select(USERS.c.id)).all())

    def authenticate_user(self, name: str, password: str) -> tuple[int, Principal]:
        t = USERS
        with self._engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.name == name)).first()
        # Hash even for unknown users so that timing does not reveal which names exist.
        stored = row.password_hash if row is not None else hash_password("x" * 8)
        if not verify_password(password, stored) or row is None:
            raise AuthError("wrong user name or password")
        return row.id, Principal(row.name, Role(row.role).scopes, "user")

    # API tokens -------------------------------------------------------------------------
    def create_token(self, name: str, scopes: set[Scope]) -> tuple[TokenInfo, str]:
        """Create a token; the secret is returned once and only its hash is stored."""
        if not scopes:
            raise ValidationError("a token needs at least one scope")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        created = now()
        ordered = tuple(sorted(scopes))
        row = {
            "id": token_id,
            "name": name,
            "token_hash": _sha256(secret),
            "scopes": [s.value for s in ordered],
            "created_at": created,
            "revoked": False,
        }
        with self._engine.begin() as conn:
            conn.execute(API_TOKENS.insert().values(**row))
        info = TokenInfo(token_id, name, ordered, created, False)
        return info, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def verify_token(self, token: str) -> Principal:
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != TOKEN_PREFIX or not token_id or not secret:
            raise AuthError("malformed API token")
        t = API_TOKENS
        with self._engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == token_id)).first()
        if row is None or row.revoked or not hmac.compare_digest(row.token_hash, _sha256(secret)):
            raise AuthError("invalid API token")
        return Principal(f"token:{row.name}", frozenset(Scope(s) for s in row.scopes), "token")

    def list_tokens(self) -> list[TokenInfo]:
        t = API_TOKENS
        with self._engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.created_at)).all()
        return [
            TokenInfo(r.id, r.name, tuple(Scope(s) for s in r.scopes), utc(r.created_at), r.revoked)
            for r in rows
        ]

    def revoke_token(self, token_id: str) -> None:
        t = API_TOKENS
        with self._engine.begin() as conn:
            if conn.execute(update(t).where(t.c.id == token_id).values(revoked=True)).rowcount == 0:
                raise NotFoundError(f"token {token_id!r} not found")

    # sessions ---------------------------------------------------------------------------
    def create_session(self, user_id: int, ttl: timedelta) -> tuple[str, str]:
        """A new session; returns (session secret for the cookie, CSRF token)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        t = SESSIONS
        with self._engine.begin() as conn:
            conn.execute(delete(t).where(t.c.expires_at < now()))
            conn.execute(
                t.insert().values(
                    id_hash=_sha256(sid), user_id=user_id, csrf_token=csrf, expires_at=now() + ttl
                )
            )
        return sid, csrf

    def session(self, sid: str) -> tuple[Principal, str]:
        """The principal and CSRF token of a live session."""
        s, u = SESSIONS, USERS
        stmt = (
            select(s.c.csrf_token, s.c.expires_at, u.c.name, u.c.role)
            .join(u, u.c.id == s.c.user_id)
            .where(s.c.id_hash == _sha256(sid))
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None or utc(row.expires_at) < now():
            raise AuthError("session expired or unknown")
        return Principal(row.name, Role(row.role).scopes, "user"), row.csrf_token

    def end_session(self, sid: str) -> None:
        t = SESSIONS
        with self._engine.begin() as conn:
            conn.execute(delete(t).where(t.c.id_hash == _sha256(sid)))

"""Users, API tokens and UI sessions on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mamori.core.errors import AuthError, ConflictError, NotFoundError, ValidationError
from mamori.store.accounts import (
    TOKEN_PREFIX,
    Role,
    Scope,
    hash_password,
    verify_password,
)
from mamori.store.database import Database
from mamori.store.models import API_TOKENS, SESSIONS, USERS

PASSWORD = "correct horse battery"


def test_password_hash_verifies_only_the_right_password() -> None:
    stored = hash_password(PASSWORD)
    assert PASSWORD not in stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password("", stored)
    assert hash_password(PASSWORD) != stored  # salted


@pytest.mark.parametrize("stored", ["", "plain", "md5$a$b", "scrypt$only-two"])
def test_verify_password_rejects_malformed_hashes(stored: str) -> None:
    assert not verify_password(PASSWORD, stored)


def test_users_authenticate_with_the_scopes_of_their_role(db: Database) -> None:
    for role in Role:
        db.accounts.create_user(f"user-{role.value}", PASSWORD, role)
        user_id, principal = db.accounts.authenticate_user(f"user-{role.value}", PASSWORD)
        assert isinstance(user_id, int)
        assert principal.name == f"user-{role.value}"
        assert principal.kind == "user"
        assert principal.scopes == role.scopes
        assert (Scope.ADMIN in principal.scopes) is (role is Role.ADMIN)
    with db.engine.connect() as conn:
        stored = conn.execute(select(USERS.c.password_hash)).scalars().all()
    assert len(set(stored)) == len(Role)
    assert not any(PASSWORD in s for s in stored)


WRONG_CREDENTIALS = [
    ("alice", "wrong password"),
    ("alice", ""),
    ("alice", PASSWORD.upper()),
    ("mallory", PASSWORD),
    ("ALICE", PASSWORD),
    ("", ""),
]


def test_wrong_credentials_are_refused_alike(db: Database) -> None:
    db.accounts.create_user("alice", PASSWORD)
    for name, password in WRONG_CREDENTIALS:
        with pytest.raises(AuthError, match="wrong user name or password"):
            db.accounts.authenticate_user(name, password)


@pytest.mark.parametrize(
    ("name", "password", "error"),
    [("", PASSWORD, "name"), ("   ", PASSWORD, "name"), ("bob", "short", "8 characters")],
)
def test_create_user_validates(sqlite_db: Database, name: str, password: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        sqlite_db.accounts.create_user(name, password)
    assert sqlite_db.accounts.user_count() == 0


def test_user_names_are_unique(db: Database) -> None:
    db.accounts.create_user("alice", PASSWORD)
    with pytest.raises(ConflictError, match="exists"):
        db.accounts.create_user("alice", "another password")
    assert db.accounts.user_count() == 1


def test_set_password(db: Database) -> None:
    db.accounts.create_user("alice", PASSWORD)
    db.accounts.set_password("alice", "a new password")
    db.accounts.authenticate_user("alice", "a new password")
    with pytest.raises(AuthError):
        db.accounts.authenticate_user("alice", PASSWORD)
    with pytest.raises(NotFoundError):
        db.accounts.set_password("bob", "a new password")
    with pytest.raises(ValidationError):
        db.accounts.set_password("alice", "short")


SCOPE_SETS = [{Scope.INGEST}, {Scope.READ}, {Scope.READ, Scope.ADMIN}, set(Scope)]


def test_tokens_verify_with_their_scopes_and_only_hashes_are_stored(db: Database) -> None:
    secrets = []
    for n, scopes in enumerate(SCOPE_SETS):
        info, token = db.accounts.create_token(f"node-{n}", scopes)
        assert token.startswith(f"{TOKEN_PREFIX}_{info.id}_")
        assert info.scopes == tuple(sorted(scopes))
        principal = db.accounts.verify_token(token)
        assert principal.scopes == frozenset(scopes)
        assert principal.kind == "token"
        assert f"node-{n}" in principal.name
        secrets.append(token.split("_", 2)[2])
    with db.engine.connect() as conn:
        rows = repr(conn.execute(select(API_TOKENS)).all())
    assert not any(secret in rows for secret in secrets)


def test_token_needs_a_scope(db: Database) -> None:
    with pytest.raises(ValidationError, match="scope"):
        db.accounts.create_token("empty", set())


def test_wrong_tokens_are_refused(db: Database) -> None:
    info, token = db.accounts.create_token("node-1", {Scope.INGEST})
    other_info, other = db.accounts.create_token("node-2", {Scope.INGEST})
    secret = token.split("_", 2)[2]
    bad = [
        "",
        "garbage",
        token[:-1],
        token + "x",
        token.replace(TOKEN_PREFIX, "other", 1),
        f"{TOKEN_PREFIX}_{info.id}_",
        f"{TOKEN_PREFIX}__{secret}",
        f"{TOKEN_PREFIX}_{other_info.id}_{secret}",  # right secret, wrong id
        f"{TOKEN_PREFIX}_ffffffffffff_{secret}",
    ]
    for candidate in bad:
        with pytest.raises(AuthError):
            db.accounts.verify_token(candidate)
    db.accounts.verify_token(other)


def test_revoked_token_is_refused_and_listed_as_revoked(db: Database) -> None:
    info, token = db.accounts.create_token("node-1", {Scope.INGEST})
    keep_info, keep = db.accounts.create_token("node-2", {Scope.READ})
    db.accounts.revoke_token(info.id)
    with pytest.raises(AuthError):
        db.accounts.verify_token(token)
    db.accounts.verify_token(keep)
    listed = {t.id: t for t in db.accounts.list_tokens()}
    assert listed[info.id].revoked
    assert not listed[keep_info.id].revoked
    assert listed[keep_info.id].scopes == (Scope.READ,)
    assert listed[info.id].created_at.tzinfo is not None
    with pytest.raises(NotFoundError):
        db.accounts.revoke_token("nope")


def test_session_gives_the_user_and_its_csrf_token(db: Database) -> None:
    db.accounts.create_user("viewer", PASSWORD, Role.VIEWER)
    user_id, _ = db.accounts.authenticate_user("viewer", PASSWORD)
    sid, csrf = db.accounts.create_session(user_id, timedelta(hours=1))
    sid2, csrf2 = db.accounts.create_session(user_id, timedelta(hours=1))
    assert len({sid, csrf, sid2, csrf2}) == 4
    principal, got_csrf = db.accounts.session(sid)
    assert (principal.name, principal.kind, principal.scopes) == (
        "viewer",
        "user",
        Role.VIEWER.scopes,
    )
    assert got_csrf == csrf
    assert db.accounts.session(sid2)[1] == csrf2
    with db.engine.connect() as conn:
        stored = conn.execute(select(SESSIONS.c.id_hash)).scalars().all()
    assert sid not in stored
    assert sid2 not in stored


def test_expired_unknown_and_ended_sessions_are_refused(db: Database) -> None:
    db.accounts.create_user("alice", PASSWORD)
    user_id, _ = db.accounts.authenticate_user("alice", PASSWORD)
    expired, _ = db.accounts.create_session(user_id, timedelta(seconds=-1))
    with pytest.raises(AuthError):
        db.accounts.session(expired)
    with pytest.raises(AuthError):
        db.accounts.session("not-a-session")
    live, _ = db.accounts.create_session(user_id, timedelta(hours=1))
    db.accounts.session(live)
    db.accounts.end_session(live)
    with pytest.raises(AuthError):
        db.accounts.session(live)
    # Creating a session clears out expired ones.
    with db.engine.connect() as conn:
        assert conn.execute(select(SESSIONS)).all() == []

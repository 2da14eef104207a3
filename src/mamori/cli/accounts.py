"""``mamori token ...`` and ``mamori user ...``: credentials, created on the server's machine."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from mamori.cli.common import console, err_console, open_db, print_json
from mamori.core.errors import ValidationError
from mamori.store.accounts import Role, Scope

token_app = typer.Typer(help="API tokens for sensors, scripts and scrapers.", no_args_is_help=True)
user_app = typer.Typer(help="Users who sign in to the web UI.", no_args_is_help=True)


@token_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="what the token is for, e.g. node-1")],
    scope: Annotated[
        list[Scope] | None, typer.Option("--scope", help="ingest, read or admin; repeatable")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a token. Its secret is printed once; only a hash is stored."""
    db = open_db()
    try:
        info, secret = db.accounts.create_token(name, set(scope or [Scope.INGEST]))
    finally:
        db.close()
    if as_json:
        print_json({"id": info.id, "name": info.name, "scopes": list(info.scopes), "token": secret})
        return
    err_console.print(
        f"token {info.id} ({', '.join(info.scopes)}) created; store it now, it is not shown again:"
    )
    sys.stdout.write(secret + "\n")


@token_app.command("list")
def list_tokens() -> None:
    """List tokens (ids, names, scopes; never secrets)."""
    db = open_db()
    try:
        tokens = db.accounts.list_tokens()
    finally:
        db.close()
    table = Table()
    for col in ("id", "name", "scopes", "created (UTC)", "revoked"):
        table.add_column(col)
    for t in tokens:
        table.add_row(
            t.id,
            t.name,
            ", ".join(t.scopes),
            f"{t.created_at:%Y-%m-%d %H:%M}",
            "yes" if t.revoked else "",
        )
    console.print(table)


@token_app.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="the id from 'token list'")]) -> None:
    """Revoke a token; requests with it get 401 from then on."""
    db = open_db()
    try:
        db.accounts.revoke_token(token_id)
    finally:
        db.close()
    err_console.print(f"token {token_id} revoked")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise ValidationError("no terminal to ask for a password: use --password-stdin")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Again", hide_input=True) != first:
        raise ValidationError("the passwords differ")
    return str(first)


@user_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="user name for the login page")],
    role: Annotated[Role, typer.Option(help="admin triages; viewer only reads")] = Role.ADMIN,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create a web UI user (the first one is usually an admin)."""
    password = _read_password(password_stdin)
    db = open_db()
    try:
        db.accounts.create_user(name, password, role)
    finally:
        db.close()
    err_console.print(f"user {name!r} ({role.value}) created")


@user_app.command("set-password")
def set_password(
    name: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Change a user's password."""
    password = _read_password(password_stdin)
    db = open_db()
    try:
        db.accounts.set_password(name, password)
    finally:
        db.close()
    err_console.print(f"password of {name!r} changed")

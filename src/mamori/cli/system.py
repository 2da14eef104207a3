"""``mamori up``, ``mamori db upgrade``, ``mamori config show``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from mamori.cli.common import console, err_console, open_db, print_json, settings
from mamori.config import Settings
from mamori.core.errors import ValidationError
from mamori.store import migrate
from mamori.store.accounts import Role
from mamori.store.database import Database

if TYPE_CHECKING:
    from mamori.sensor.runtime import Sensor

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Settings.", no_args_is_help=True)


def up(
    host: Annotated[str | None, typer.Option(help="listen address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default 8080)")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="server processes")] = 1,
    sensor: Annotated[
        bool,
        typer.Option(
            help="run a local runtime sensor in-process (root, fanotify and Docker needed)"
        ),
    ] = True,
    drift_policy: Annotated[
        Path | None,
        typer.Option(
            help="DriftPolicy YAML for the local sensor (default: MAMORI_DRIFT_POLICY, else the "
            "shipped policy)"
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="serve HTTPS with this PEM certificate (MAMORI_TLS_CERTFILE)"),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(help="the certificate's PEM private key (MAMORI_TLS_KEYFILE)"),
    ] = None,
) -> None:
    """Run the server and web UI on the embedded defaults (SQLite in the data directory).

    When it can (root, fanotify, a container runtime socket), a local sensor runs alongside and
    stores its alerts directly; the log says whether it is on, and why not.
    """
    s = settings()
    given = (("host", host), ("port", port), ("tls_certfile", tls_cert), ("tls_keyfile", tls_key))
    overrides: dict[str, Any] = {k: v for k, v in given if v is not None}
    if overrides:
        s = s.model_copy(update=overrides)
    if s.tls_certfile is not None and not s.secure_cookies:
        # Served over HTTPS by mamori itself: the session cookie never goes over plain HTTP.
        overrides["secure_cookies"] = True
        s = s.model_copy(update={"secure_cookies": True})
    if drift_policy is not None:
        s = s.model_copy(update={"drift_policy": drift_policy})
    if s.drift_policy is not None and sensor:
        from mamori.cli.sensor import load_policy_or_fail

        load_policy_or_fail(s.drift_policy)  # invalid policy: exit 2 before anything starts
    _check_tls(s)  # before anything starts: a wrong path is exit 2 with its name
    db = open_db(s)
    if db.accounts.user_count() == 0:
        _first_admin(db)
    scheme = "https" if s.tls_certfile else "http"
    err_console.print(
        f"mamori on {scheme}://{s.host}:{s.port}  (database: {s.display_database_url()})"
    )
    local = _local_sensor(s, enabled=sensor)
    if local is not None:
        # uvicorn re-raises SIGTERM after its graceful shutdown; the default action would kill
        # the process before the sensor stops (its tracefs instance would stay behind).
        signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        _serve(s, db, workers, overrides)
    finally:
        if local is not None:
            local[0].stop()
            local[1].close()


def _check_tls(s: Settings) -> None:
    """Both TLS files or neither; each a readable PEM file of the right kind."""
    if (s.tls_certfile is None) != (s.tls_keyfile is None):
        _fail("TLS needs both --tls-cert and --tls-key (MAMORI_TLS_CERTFILE, MAMORI_TLS_KEYFILE)")
    if s.tls_certfile is None or s.tls_keyfile is None:
        return
    import ssl

    for path, what in ((s.tls_certfile, "certificate"), (s.tls_keyfile, "private key")):
        try:
            head = path.read_bytes()[:4096]
        except OSError as exc:
            _fail(f"TLS {what} {path}: {exc.strerror or exc}")
        if b"-----BEGIN " not in head:
            _fail(f"TLS {what} {path}: not a PEM file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            s.tls_certfile, s.tls_keyfile
        )
    except (ssl.SSLError, ValueError) as exc:
        _fail(f"TLS certificate {s.tls_certfile} with key {s.tls_keyfile}: {exc}")


def _fail(message: str) -> None:
    err_console.print(f"error: {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _local_sensor(s: Settings, enabled: bool) -> tuple[Sensor, Database] | None:
    """Start the in-process sensor with its own database handle (the server's may be closed
    for multi-worker runs); one log line either way."""
    if not enabled:
        err_console.print("local sensor off: --no-sensor")
        return None
    from mamori.sensor.local import start_local_sensor

    sensor_db = open_db(s)
    started, status = start_local_sensor(
        sensor_db,
        s.cluster_name,
        drift_state=s.data_dir / "drift-state.json",
        drift_policy=s.drift_policy,
    )
    err_console.print(f"local sensor {status}", highlight=False, soft_wrap=True)
    if started is None:
        sensor_db.close()
        return None
    return started, sensor_db


def _serve(s: Settings, db: Database, workers: int, overrides: dict[str, Any]) -> None:
    import uvicorn

    from mamori.core.gctune import tune_for_long_running
    from mamori.server.app import create_app

    # What both ways of serving share (the listener, logging, TLS).
    common: dict[str, Any] = {
        "host": s.host,
        "port": s.port,
        "log_level": s.log_level,
        "access_log": False,
        "ssl_certfile": _path(s.tls_certfile),
        "ssl_keyfile": _path(s.tls_keyfile),
    }
    if workers > 1:
        # Each worker process builds its own app and database pool from the environment.
        db.close()
        os.environ.update({f"MAMORI_{k.upper()}": str(v) for k, v in overrides.items()})
        uvicorn.run(
            "mamori.server.asgi:app_from_env",
            factory=True,
            workers=workers,
            **common,
        )
        return
    app = create_app(s, db)
    tune_for_long_running()
    try:
        uvicorn.run(app, **common)
    finally:
        db.close()


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _first_admin(db: Database) -> None:
    """Offer to create the first admin when a person is at the terminal; else say how."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        err_console.print(
            "[yellow]No users yet.[/] Create the first admin for the web UI with:\n"
            "  .venv/bin/mamori user create admin"
        )
        return
    err_console.print("[yellow]No users yet.[/] Create the first admin for the web UI.")
    name = typer.prompt("User name", default="admin")
    while True:
        password = typer.prompt("Password (8+ characters)", hide_input=True)
        if typer.prompt("Again", hide_input=True) != password:
            err_console.print("the passwords differ; again")
            continue
        try:
            db.accounts.create_user(name, password, Role.ADMIN)
            break
        except ValidationError as exc:
            err_console.print(str(exc))
    err_console.print(f"admin {name!r} created")


@db_app.command("upgrade")
def upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    s = settings()
    db = Database.connect(s.resolved_database_url(), upgrade=False)  # ConfigError if unreachable
    try:
        before = migrate.current_revision(db.engine)
        db.upgrade()
        after = migrate.current_revision(db.engine)
    finally:
        db.close()
    err_console.print(f"schema {before or '(empty)'} -> {after} ({s.display_database_url()})")


@config_app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the settings in force (secrets masked) and where each comes from."""
    s = settings()
    rows = {
        "data_dir": str(s.data_dir),
        "database_url": s.display_database_url(),
        "host": s.host,
        "port": s.port,
        "retention_days": s.retention_days,
        "max_body_bytes": s.max_body_bytes,
        "max_batch_items": s.max_batch_items,
        "session_ttl_hours": s.session_ttl_hours,
        "secure_cookies": s.secure_cookies,
        "log_level": s.log_level,
        "drift_policy": str(s.drift_policy) if s.drift_policy else "(shipped default)",
    }
    if as_json:
        print_json(rows)
        return
    table = Table()
    table.add_column("setting")
    table.add_column("environment variable")
    table.add_column("value")
    for key, value in rows.items():
        table.add_row(key, f"MAMORI_{key.upper()}", str(value))
    console.print(table)


_ = open_db  # re-exported for tests that patch the store

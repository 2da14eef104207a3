"""The root ``mamori`` command: registers the command groups and renders user errors."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

import mamori
from mamori.cli import accounts, alerts, audit, drift, rules, scan, sensor, system
from mamori.cli.common import err_console
from mamori.core.errors import MamoriError

app = typer.Typer(
    name="mamori",
    help="mamori (守り): self-hosted container security.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("up")(system.up)
app.add_typer(alerts.app, name="alerts")
app.add_typer(accounts.token_app, name="token")
app.add_typer(accounts.user_app, name="user")
app.add_typer(system.db_app, name="db")
app.add_typer(system.config_app, name="config")
app.add_typer(rules.app, name="rules")
app.add_typer(scan.app, name="scan")
app.command("sensor")(sensor.run)
app.add_typer(audit.app, name="audit")
app.add_typer(drift.app, name="drift")


@app.command("version")
def version() -> None:
    """Print mamori's version."""
    sys.stdout.write(mamori.__version__ + "\n")


def main() -> None:
    """Entry point: a user error is one line on stderr and exit status 2, not a traceback."""
    try:
        app()
    except MamoriError as exc:
        # One line, and the message as written: it may hold user text such as "[bold]".
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)

"""The root ``mamori`` command: command groups loaded on use, user errors rendered as one line.

Each group's module is imported only when that group runs, so ``mamori scan manifests`` does not
pay for the server, the store or the rules engine (the whole tree took ~1.5 s to import).
"""

from __future__ import annotations

import sys

import typer

import mamori
from mamori.cli.lazy import lazy_group, load_command
from mamori.core.errors import MamoriError

# name -> (module, attribute: a Typer group or a command function)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("mamori.cli.system", "up"),
    "alerts": ("mamori.cli.alerts", "app"),
    "scan": ("mamori.cli.scan", "app"),
    "sensor": ("mamori.cli.sensor", "run"),
    "sensor-build-bpf": ("mamori.cli.sensor", "build_bpf"),
    "audit": ("mamori.cli.audit", "app"),
    "rules": ("mamori.cli.rules", "app"),
    "token": ("mamori.cli.accounts", "token_app"),
    "user": ("mamori.cli.accounts", "user_app"),
    "db": ("mamori.cli.system", "db_app"),
    "config": ("mamori.cli.system", "config_app"),
    "drift": ("mamori.cli.drift", "app"),
    "vulndb": ("mamori.cli.scan_vulns", "vulndb_app"),
    "simulate": ("mamori.cli.simulate", "run"),
}


def _load(name: str) -> object:
    return load_command(name, *COMMANDS[name])


LazyGroup = lazy_group(COMMANDS)


app = typer.Typer(
    name="mamori",
    cls=LazyGroup,
    help="mamori (守り): self-hosted container security.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root() -> None:
    """mamori (守り): self-hosted container security."""


@app.command("version")
def version() -> None:
    """Print mamori's version."""
    sys.stdout.write(mamori.__version__ + "\n")


def main() -> None:
    """Entry point: a user error is one line on stderr and exit status 2, not a traceback."""
    from mamori.cli import exit as cli_exit

    cli_exit.ENTRY = True
    try:
        app()
    except MamoriError as exc:
        from rich.markup import escape

        from mamori.cli.common import err_console

        # One line, and the message as written: it may hold user text such as "[bold]".
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)

"""``mamori simulate [SCENARIO...]``: play attack scenarios and check the alerts arrive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mamori.cli.common import console, err_console
from mamori.core.errors import ConfigError


def _token(path: Path | None, what: str) -> str:
    if path is None:
        raise ConfigError(f"{what}: --token-file is required")
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from exc
    if not token:
        raise ConfigError(f"{what}: {path} is empty")
    return token


def run(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="scenario names (default: all available)")
    ] = None,
    target: Annotated[str, typer.Option(help="docker (kubernetes: not available yet)")] = "docker",
    server: Annotated[str, typer.Option(help="mamori server URL")] = "http://127.0.0.1:8080",
    token_file: Annotated[
        Path | None, typer.Option(help="token with the read scope (and ingest, unless given)")
    ] = None,
    ingest_token_file: Annotated[
        Path | None, typer.Option(help="token with the ingest scope (audit webhook)")
    ] = None,
    list_only: Annotated[bool, typer.Option("--list", help="list the scenarios and exit")] = False,
) -> None:
    """Run simulation scenarios against a running mamori and its local sensor.

    Each scenario starts a victim container (``--network none``), runs its steps, and waits for
    the alerts it must raise. Exit 0 only when every scenario passes.
    """
    from mamori.simulate.runner import Client, Runner
    from mamori.simulate.scenarios import NOT_YET, SCENARIOS

    if list_only:
        for s in SCENARIOS.values():
            console.print(f"{s.name:<16} {escape(s.description)}", highlight=False, soft_wrap=True)
        for u in NOT_YET:
            console.print(
                f"{u.name:<16} not yet available: {u.reason}", highlight=False, soft_wrap=True
            )
        return
    if target == "kubernetes":
        err_console.print(
            "error: --target kubernetes is not available yet (only --target docker)",
            highlight=False,
        )
        raise typer.Exit(2)
    if target != "docker":
        err_console.print(
            f"error: unknown target {escape(target)!r} (docker)", highlight=False, soft_wrap=True
        )
        raise typer.Exit(2)
    names = scenarios or list(SCENARIOS)
    unavailable = {u.name: u.reason for u in NOT_YET}
    chosen = []
    for name in names:
        if name in SCENARIOS:
            chosen.append(SCENARIOS[name])
        elif name in unavailable:
            err_console.print(
                f"{name}: not yet available ({unavailable[name]})", highlight=False, soft_wrap=True
            )
        else:
            known = ", ".join([*SCENARIOS, *unavailable])
            err_console.print(f"error: unknown scenario {escape(name)!r} ({known})")
            raise typer.Exit(2)
    read = _token(token_file, "alerts")
    ingest = _token(ingest_token_file, "audit webhook") if ingest_token_file else read
    client = Client(server, read, ingest)
    try:
        results = Runner(client, log=lambda m: err_console.print(escape(m))).run(chosen)
    finally:
        client.close()

    table = Table(title="mamori simulate")
    for col in ("scenario", "expected", "raised", "missing", "unexpected", "time to alert"):
        table.add_column(col)
    for r in results:
        status = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
        table.add_row(
            f"{r.scenario} {status}",
            escape("\n".join(r.expected) or "(nothing)"),
            escape("\n".join(r.raised) or "-"),
            escape("\n".join(r.missing) or "-"),
            escape("\n".join(r.unexpected) or "-"),
            "-" if r.time_to_alert_s is None else f"{r.time_to_alert_s:.1f}s",
        )
    console.print(table)
    if not scenarios:
        for u in NOT_YET:
            console.print(
                f"not yet available: {u.name} ({u.reason})", highlight=False, soft_wrap=True
            )
    for r in results:
        if r.error:
            console.print(
                f"{r.scenario}: error: {escape(r.error)}", highlight=False, soft_wrap=True
            )
        for rule in r.missing:
            console.print(
                f"{r.scenario}: missing alert: {escape(rule)}", highlight=False, soft_wrap=True
            )
        for rule in r.unexpected:
            console.print(
                f"{r.scenario}: unexpected alert: {escape(rule)}", highlight=False, soft_wrap=True
            )
    if not all(r.passed for r in results):
        raise typer.Exit(1)

"""``mamori alerts list|show``: read alerts from the local store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from mamori.cli.common import console, open_db, print_json
from mamori.core.errors import ValidationError
from mamori.server.schemas import alert_out, parse_severities
from mamori.store.query import Cursor, Filters

app = typer.Typer(help="Read alerts from the store.", no_args_is_help=True)

COLOURS = {"High": "bold red", "Medium": "dark_orange", "Low": "yellow", "Informational": "blue"}


@app.command("list")
def list_alerts(
    severity: Annotated[
        list[str] | None, typer.Option("--severity", "-s", help="Falco or UI level; repeatable")
    ] = None,
    status: Annotated[list[str] | None, typer.Option(help="new, in_progress, ...")] = None,
    rule: Annotated[str | None, typer.Option(help="exact rule name")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    cluster: Annotated[str | None, typer.Option()] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="free text")] = None,
    since: Annotated[datetime | None, typer.Option(help="ISO time")] = None,
    until: Annotated[datetime | None, typer.Option(help="ISO time")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of a previous page")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """List alerts, newest first."""
    try:
        severities = parse_severities(severity or [])
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    filters = Filters(
        since=since,
        until=until,
        severities=severities,
        statuses=tuple(status or ()),
        rule=rule,
        namespace=namespace,
        cluster=cluster,
        text=query,
    )
    db = open_db()
    try:
        page = db.alerts.list(
            filters, limit=limit, cursor=Cursor.decode(cursor) if cursor else None
        )
    finally:
        db.close()
    if as_json:
        print_json({"items": [alert_out(a) for a in page.items], "next_cursor": page.next_cursor})
        return
    table = Table(title=f"{len(page.items)} alerts")
    for col in ("time (UTC)", "severity", "rule", "namespace", "status", "id"):
        table.add_column(col)
    for a in page.items:
        ui = a.severity.ui.value
        table.add_row(
            a.time.strftime("%Y-%m-%d %H:%M:%S"),
            f"[{COLOURS[ui]}]{ui}[/]",
            a.rule,
            a.namespace or "",
            a.status.value,
            a.id,
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@app.command("show")
def show_alert(
    alert_id: Annotated[str, typer.Argument(help="alert id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one alert with all its fields and comments."""
    db = open_db()
    try:
        alert = db.alerts.get(alert_id)
    finally:
        db.close()
    data = alert_out(alert)
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, title=alert.rule)
    table.add_column(style="bold")
    table.add_column()
    for key in (
        "id",
        "time",
        "severity",
        "ui_severity",
        "status",
        "source",
        "output",
        "cluster",
        "namespace",
        "node",
    ):
        if data.get(key) is not None:
            table.add_row(key, str(data[key]))
    if alert.mitre:
        table.add_row("mitre", f"{alert.mitre.tactic} {alert.mitre.technique or ''}".strip())
    for key, value in sorted(alert.fields.items()):
        table.add_row(key, str(value))
    for c in alert.comments:
        table.add_row("comment", f"{c.author} {c.time:%Y-%m-%d %H:%M}: {c.text}")
    console.print(table)

"""``mamori audit``: replay audit files and tail audit logs through the k8s_audit rules."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori.audit.detection import AuditDetector, audit_alert, falco_line, load_detector
from mamori.audit.events import AuditFormatError, to_event
from mamori.audit.replay import lines_to_events, read_events
from mamori.audit.tail import Line, Tailer, follow
from mamori.cli.common import open_db, settings
from mamori.core.findings import Alert
from mamori.rules.ruleset import Match
from mamori.store.database import Database

app = typer.Typer(help="Kubernetes audit events: replay files, tail logs (docs/audit.md).")

Rules = Annotated[
    list[Path], typer.Option("--rules", help="More k8s_audit rules files (repeatable).")
]
NoDefault = Annotated[
    bool, typer.Option("--no-default-rules", help="Do not load mamori's k8s_audit rules.")
]
Store = Annotated[bool, typer.Option("--store", help="Also write alerts to the database.")]
Cluster = Annotated[str | None, typer.Option("--cluster", help="Cluster name for the alerts.")]
STORE_CHUNK = 1000


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _detector(rules: list[Path], no_default: bool) -> AuditDetector:
    return load_detector(rules, default_rules=not no_default)


def _emit(matches: list[Match], db: Database | None, quiet: bool = False) -> int:
    """Print Falco JSON lines; store alerts. Returns the number of alerts newly stored."""
    if not quiet:
        out = "".join(json.dumps(falco_line(m), sort_keys=True) + "\n" for m in matches)
        sys.stdout.write(out)
        sys.stdout.flush()
    if db is None or not matches:
        return 0
    alerts: list[Alert] = [audit_alert(m) for m in matches]
    return len(db.alerts.insert(alerts))


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="Audit log (JSON lines) or an EventList file.")],
    rules: Rules = [],  # noqa: B006 (typer copies defaults)
    no_default_rules: NoDefault = False,
    store: Store = False,
    cluster: Cluster = None,
) -> None:
    """Run a file of audit events through the rules; print one Falco JSON line per match."""
    detector = _detector(rules, no_default_rules)
    db = open_db() if store else None
    pending: list[Match] = []
    inserted = 0
    try:
        for raw, _where in read_events(file):
            pending += detector.matches(to_event(raw, cluster))
            if len(pending) >= STORE_CHUNK:
                inserted += _emit(pending, db)
                pending = []
    except AuditFormatError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from None
    finally:
        inserted += _emit(pending, db)
    if db is not None:
        typer.echo(f"stored {inserted} new alert(s)", err=True)
        db.close()


@app.command()
def tail(
    file: Annotated[Path, typer.Argument(help="The audit log the API server writes.")],
    state: Annotated[
        Path | None, typer.Option("--state", help="Offset file (default: in the data dir).")
    ] = None,
    rules: Rules = [],  # noqa: B006
    no_default_rules: NoDefault = False,
    store: Store = False,
    cluster: Cluster = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Do not print matches.")] = False,
    batch_lines: Annotated[int, typer.Option("--batch-lines", min=1)] = 1000,
) -> None:
    """Follow an audit log across rotations; resume from the saved offset after a restart."""
    detector = _detector(rules, no_default_rules)
    state = state or settings().data_dir / f"audit-tail-{file.name}.state"
    state.parent.mkdir(parents=True, exist_ok=True)
    db = open_db() if store else None
    stop = _stop_flag()

    def handle(lines: list[Line]) -> None:
        events = lines_to_events(lines, cluster, lambda e: typer.echo(f"warning: {e}", err=True))
        _emit([m for e in events for m in detector.matches(e)], db, quiet)

    try:
        follow(Tailer(file, state, batch_lines=batch_lines), handle, lambda: stop["now"])
    finally:
        if db is not None:
            db.close()


def _stop_flag() -> dict[str, Any]:
    flag = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        flag["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return flag

"""``mamori audit``: replay audit files and tail audit logs through the k8s_audit rules."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori.audit.alerts import falco_alert_line
from mamori.audit.detection import audit_alert, falco_line, load_detector
from mamori.audit.events import AuditFormatError, to_event
from mamori.audit.pipeline import AuditPipeline, build_pipeline
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
NoStateful = Annotated[
    bool,
    typer.Option("--no-stateful", help="Rules only: no exposure, baseline or burst detections."),
]
LearningDays = Annotated[
    float | None,
    typer.Option("--learning-days", min=0.0, help="CP-004/CP-016 learning window (default 7)."),
]
SeedCluster = Annotated[
    bool,
    typer.Option(
        "--seed-cluster",
        help="First list Services, Pods, workloads, Namespaces and ConfigMaps of the cluster "
        "(--kubeconfig/--context, or in-cluster) into the exposure inventory.",
    ),
]
Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="For --seed-cluster.")]
Context = Annotated[str | None, typer.Option("--context", help="For --seed-cluster.")]
STORE_CHUNK = 1000


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _pipeline(
    rules: list[Path],
    no_default: bool,
    no_stateful: bool,
    learning_days: float | None,
    state_file: Path | None,
    seed: tuple[bool, Path | None, str | None, str | None] = (False, None, None, None),
) -> AuditPipeline:
    detector = load_detector(rules, default_rules=not no_default)
    days = learning_days if learning_days is not None else settings().audit_learning_days
    pipeline = build_pipeline(
        detector, stateful=not no_stateful, state_file=state_file, learning_days=days
    )
    wanted, kubeconfig, context, cluster = seed
    if wanted and pipeline.stateful is not None:
        from mamori.audit.seed import seed_from_cluster
        from mamori.posture.sources.cluster import ClusterError, connect

        try:
            counts = seed_from_cluster(pipeline.stateful, connect(kubeconfig, context), cluster)
        except ClusterError as exc:
            raise _fail(str(exc)) from None
        typer.echo("seeded: " + ", ".join(f"{n} {r}" for r, n in counts.items()), err=True)
    return pipeline


def _emit(
    matches: list[Match], extra: list[Alert], db: Database | None, quiet: bool = False
) -> int:
    """Print Falco JSON lines; store alerts. Returns the number of alerts newly stored."""
    if not quiet:
        lines = [falco_line(m) for m in matches] + [falco_alert_line(a) for a in extra]
        sys.stdout.write("".join(json.dumps(x, sort_keys=True) + "\n" for x in lines))
        sys.stdout.flush()
    if db is None or not (matches or extra):
        return 0
    alerts: list[Alert] = [audit_alert(m) for m in matches] + extra
    return len(db.alerts.insert(alerts))


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="Audit log (JSON lines) or an EventList file.")],
    rules: Rules = [],  # noqa: B006 (typer copies defaults)
    no_default_rules: NoDefault = False,
    store: Store = False,
    cluster: Cluster = None,
    no_stateful: NoStateful = False,
    learning_days: LearningDays = None,
    detect_state: Annotated[
        Path | None,
        typer.Option("--detect-state", help="Load and save the stateful detectors' state here."),
    ] = None,
    seed_cluster: SeedCluster = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Run a file of audit events through the rules and the stateful detections; print one
    Falco JSON line per alert."""
    seed = (seed_cluster, kubeconfig, context, cluster)
    pipeline = _pipeline(rules, no_default_rules, no_stateful, learning_days, detect_state, seed)
    db = open_db() if store else None
    pending: list[Match] = []
    extra: list[Alert] = []
    inserted = 0
    try:
        for raw, _where in read_events(file):
            matches, alerts = pipeline.process(to_event(raw, cluster))
            pending += matches
            extra += alerts
            if len(pending) + len(extra) >= STORE_CHUNK:
                inserted += _emit(pending, extra, db)
                pending, extra = [], []
    except AuditFormatError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from None
    finally:
        inserted += _emit(pending, extra, db)
    pipeline.commit()
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
    no_stateful: NoStateful = False,
    learning_days: LearningDays = None,
    seed_cluster: SeedCluster = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Follow an audit log across rotations; resume from the saved offset after a restart.

    The stateful detectors' state is kept beside the offset file (``<state>.detectors.json``)."""
    state = state or settings().data_dir / f"audit-tail-{file.name}.state"
    state.parent.mkdir(parents=True, exist_ok=True)
    detect_state = state.with_name(state.name + ".detectors.json")
    seed = (seed_cluster, kubeconfig, context, cluster)
    pipeline = _pipeline(rules, no_default_rules, no_stateful, learning_days, detect_state, seed)
    db = open_db() if store else None
    stop = _stop_flag()

    def handle(lines: list[Line]) -> None:
        events = lines_to_events(lines, cluster, lambda e: typer.echo(f"warning: {e}", err=True))
        matches: list[Match] = []
        extra: list[Alert] = []
        for event in events:
            m, a = pipeline.process(event)
            matches += m
            extra += a
        _emit(matches, extra, db, quiet)
        pipeline.commit()  # after the alerts are stored, before the offset is

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

"""``mamori scan image|node`` (registered in the ``scan`` group of ``cli/scan.py``) and
``mamori vulndb import|status`` (a group of its own in ``cli/app.py``)."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from mamori.cli.common import console, err_console, open_db, settings
from mamori.core.errors import ConfigError
from mamori.core.findings import Finding, FindingKind, FindingStatus
from mamori.core.severity import Severity
from mamori.vulns.db import KINDS, VulnDB, import_source

if TYPE_CHECKING:
    # Image readers, SBOM writers (cyclonedx) and reports are imported by the commands that
    # use them, so that `mamori scan manifests` does not pay for them at start-up.
    from mamori.vulns.images import OpenOptions
    from mamori.vulns.scan import ScanReport

vulndb_app = typer.Typer(help="The local vulnerability database.", no_args_is_help=True)


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


class SbomFormat(StrEnum):
    CYCLONEDX = "cyclonedx"
    SPDX = "spdx"
    MAMORI = "mamori"


def _paths() -> tuple[Path, Path]:
    data = settings().data_dir
    return data / "cache" / "layers", data / "vulns.db"


def _db_path(given: Path | None) -> Path:
    return given or _paths()[1]


def _run(
    ref: str, node: bool, db_path: Path | None, vex: list[Path], opts: OpenOptions
) -> ScanReport:
    from mamori.vulns.scan import scan
    from mamori.vulns.vex import Vex

    cache, default_db = _paths()
    path = db_path or default_db
    vdb = VulnDB(path) if path.exists() else None
    if vdb is None:
        err_console.print(
            f"[yellow]no vulnerability database at {path}[/]: packages only "
            "(mamori vulndb import ...)"
        )
    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=err_console, transient=True
        ) as bar:
            task = bar.add_task("starting")
            return scan(
                ref,
                cache,
                node=node,
                db=vdb,
                vex=Vex.load(vex) if vex else None,
                options=opts,
                progress=lambda s: bar.update(task, description=s),
            )
    finally:
        if vdb is not None:
            vdb.close()


def _emit(
    report: ScanReport,
    output: Output,
    sbom: SbomFormat | None,
    sbom_out: Path | None,
    fail_on: str | None,
    store: bool,
    server: str | None,
    token: str | None,
) -> None:
    from mamori.vulns.report import as_json, as_sarif, table
    from mamori.vulns.sbom import FORMATS
    from mamori.vulns.scan import findings

    found = findings(report)
    if sbom is not None:
        text = FORMATS[sbom.value](report.inventory, report.subject, report.created)
        if sbom_out:
            sbom_out.write_text(text + "\n")
        else:
            sys.stdout.write(text + "\n")
    if output is Output.JSON:
        sys.stdout.write(as_json(report, found) + "\n")
    elif output is Output.SARIF:
        sys.stdout.write(as_sarif(report, found) + "\n")
    elif sbom is None or sbom_out:
        console.print(table(found))
    for d in report.inventory.diagnostics[:20]:
        err_console.print(f"[yellow]warning:[/] {d}", highlight=False)
    err_console.print(f"{len(report.inventory.packages)} packages, {len(found)} vulnerabilities")
    if store:
        db = open_db()
        try:
            new = db.findings.insert(found)
        finally:
            db.close()
        err_console.print(f"stored {len(new)} new findings")
    _send_and_gate(found, server, token, fail_on)


def _send_and_gate(
    found: list[Finding], server: str | None, token: str | None, fail_on: str | None
) -> None:
    """Post the findings when a server is given; exit 1 when one is at/above ``fail_on``."""
    if server:
        _post(server, token or os.environ.get("MAMORI_TOKEN", ""), found)
    if fail_on:
        threshold = Severity.parse(fail_on)
        if any(f.severity <= threshold for f in found):
            raise typer.Exit(1)


def _post(server: str, token: str, found: list[Finding]) -> None:
    if not token:
        raise ConfigError("--server needs --token (or MAMORI_TOKEN)")
    from mamori.vulns.scan import finding_payload

    url = server.rstrip("/") + "/api/v1/findings:batch"
    items = [finding_payload(f) for f in found]
    with httpx.Client(timeout=60) as client:
        for i in range(0, max(len(items), 1), 500):
            r = client.post(
                url,
                json={"findings": items[i : i + 500]},
                headers={"Authorization": f"Bearer {token}"},
            )
            if r.status_code >= 300:
                raise ConfigError(f"{url}: HTTP {r.status_code}: {r.text[:300]}")
    err_console.print(f"sent {len(items)} findings to {server}")


OutputOpt = Annotated[Output, typer.Option("--format", "-o", help="table, json or sarif")]
SbomOpt = Annotated[SbomFormat | None, typer.Option("--sbom", help="also write an SBOM")]
SbomOut = Annotated[Path | None, typer.Option("--sbom-output", help="SBOM file (default stdout)")]
FailOn = Annotated[str | None, typer.Option("--fail-on", help="exit 1 at this severity or worse")]
Store = Annotated[bool, typer.Option("--store", help="store findings in the local database")]
Server = Annotated[str | None, typer.Option("--server", help="send findings to this server")]
Token = Annotated[str | None, typer.Option("--token", help="ingest token for --server")]
DbOpt = Annotated[Path | None, typer.Option("--db", help="vulnerability DB file")]
VexOpt = Annotated[list[Path], typer.Option("--vex", help="OpenVEX document(s)")]


def image(
    ref: Annotated[str, typer.Argument(help="image reference, archive, OCI layout or rootfs")],
    output: OutputOpt = Output.TABLE,
    sbom: SbomOpt = None,
    sbom_output: SbomOut = None,
    fail_on: FailOn = None,
    store: Store = False,
    server: Server = None,
    token: Token = None,
    db: DbOpt = None,
    vex: VexOpt = [],  # noqa: B006 - typer reads the default
    platform: Annotated[str | None, typer.Option(help="os/arch[/variant]")] = None,
    insecure: Annotated[bool, typer.Option(help="plain HTTP, loopback registries only")] = False,
    username: Annotated[str | None, typer.Option(envvar="MAMORI_REGISTRY_USER")] = None,
    password: Annotated[str | None, typer.Option(envvar="MAMORI_REGISTRY_PASSWORD")] = None,
) -> None:
    """Scan a container image for vulnerable packages (and write its SBOM)."""
    from mamori.vulns.images import OpenOptions
    from mamori.vulns.images.registry import Credentials

    creds = Credentials(username, password or "") if username else None
    opts = OpenOptions(credentials=creds, insecure=insecure, platform=platform)
    report = _run(ref, False, db, vex, opts)
    _emit(report, output, sbom, sbom_output, fail_on, store, server, token)


def node(
    root: Annotated[Path, typer.Argument(help="root of the node's filesystem")] = Path("/"),
    output: OutputOpt = Output.TABLE,
    sbom: SbomOpt = None,
    sbom_output: SbomOut = None,
    fail_on: FailOn = None,
    store: Store = False,
    server: Server = None,
    token: Token = None,
    db: DbOpt = None,
    vex: VexOpt = [],  # noqa: B006
) -> None:
    """Scan this node's (or a mounted root's) installed packages."""
    from mamori.vulns.images import OpenOptions

    report = _run(str(root), True, db, vex, OpenOptions())
    _emit(report, output, sbom, sbom_output, fail_on, store, server, token)


def running(
    output: OutputOpt = Output.TABLE,
    fail_on: FailOn = None,
    store: Store = False,
    server: Server = None,
    token: Token = None,
    db: DbOpt = None,
    vex: VexOpt = [],  # noqa: B006
    docker_socket: Annotated[
        str, typer.Option(help="the Docker engine's API socket")
    ] = "/var/run/docker.sock",
    cluster: Annotated[str | None, typer.Option(help="cluster name on the findings")] = None,
    label: Annotated[
        list[str], typer.Option(help="only containers with this label (KEY or KEY=VALUE)")
    ] = [],  # noqa: B006
) -> None:
    """Scan the images of this node's running containers; findings name each workload."""
    import json
    import socket

    from mamori.sensor.identity.docker import DockerClient
    from mamori.vulns.report import as_json
    from mamori.vulns.running import running_ids, running_workloads, scan_running, stale
    from mamori.vulns.vex import Vex

    cache, default_db = _paths()
    path = db or default_db
    vdb = VulnDB(path) if path.exists() else None
    if vdb is None:
        err_console.print(f"[yellow]no vulnerability database at {path}[/]: packages only")
    node_name = socket.gethostname()
    client = DockerClient(docker_socket, timeout=30)
    try:
        workloads = running_workloads(client, node_name, label)
        alive = running_ids(client) if label else {w.container_id for w in workloads}
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=err_console, transient=True
        ) as bar:
            task = bar.add_task("starting")
            scans = scan_running(
                workloads,
                cache,
                db=vdb,
                vex=Vex.load(vex) if vex else None,
                progress=lambda s: bar.update(task, description=s),
            )
    finally:
        client.close()
        if vdb is not None:
            vdb.close()
    found = [f for s in scans for f in s.findings(cluster)]
    if output is Output.JSON:
        doc = [
            {**json.loads(as_json(s.report, s.findings(cluster))),
             "workloads": [w.as_dict() for w in s.workloads]}
            for s in scans
        ]  # fmt: skip
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif output is Output.SARIF:
        raise ConfigError("scan running writes table or json")
    else:
        t = Table()
        for col in ("workload", "image", "packages", "critical+high", "medium", "low", "fixable"):
            t.add_column(col)
        for s in scans:
            for w in s.workloads:
                mine = [f for f in found if f.resource.uid == w.container_id]
                ui = [f.severity.ui.value for f in mine]
                t.add_row(
                    w.label,
                    w.image,
                    str(len(s.report.inventory.packages)),
                    str(ui.count("High")),
                    str(ui.count("Medium")),
                    str(ui.count("Low")),
                    f"{sum(1 for f in mine if f.remediation)}/{len(mine)}",
                )
        console.print(t)
    err_console.print(
        f"{len(workloads)} running containers, {len(scans)} images, {len(found)} findings"
    )
    if store:
        store_db = open_db()
        try:
            new = store_db.findings.insert(found)
            current = {f.id for f in found}
            gone = stale(
                store_db.findings.open_of_kind(FindingKind.VULNERABILITY),
                current,
                node_name,
                scanned={w.container_id for w in workloads},
                running=alive,
            )
            for fid in gone:
                store_db.findings.set_status(fid, FindingStatus.RESOLVED.value)
        finally:
            store_db.close()
        err_console.print(f"stored {len(new)} new findings, resolved {len(gone)} stale ones")
    _send_and_gate(found, server, token, fail_on)


@vulndb_app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help=f"one of: {', '.join(KINDS)}")],
    path: Annotated[Path, typer.Argument(help="OSV dir/zip/file, Debian JSON, Alpine secdb")],
    name: Annotated[str | None, typer.Option(help="source name (default: the kind)")] = None,
    db: DbOpt = None,
) -> None:
    """Import (replace) one advisory source into the local vulnerability database."""
    vdb = VulnDB(_db_path(db))
    try:
        result = import_source(vdb, kind, path, name)
    finally:
        vdb.close()
    for p in result.problems[:50]:
        err_console.print(f"[yellow]skipped:[/] {p}", highlight=False)
    err_console.print(
        f"{result.source}: {result.imported} advisories, {len(result.problems)} "
        f"problems -> {_db_path(db)}"
    )


@vulndb_app.command("status")
def status(db: DbOpt = None) -> None:
    """Show the database's build date and sources."""
    path = _db_path(db)
    if not path.exists():
        raise ConfigError(f"no vulnerability database at {path} (mamori vulndb import ...)")
    vdb = VulnDB(path)
    try:
        t = Table(title=f"{path} (built {vdb.built_at() or 'never'})")
        for col in ("source", "records", "problems", "imported", "from"):
            t.add_column(col)
        for s in vdb.sources():
            t.add_row(s.name, str(s.records), str(s.problems), s.imported_at, s.origin)
        console.print(t)
    finally:
        vdb.close()

"""``mamori scan manifests|cluster``: run the posture checks, render, store, exit 0/1/2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape

from mamori.cli import scan_vulns
from mamori.cli.common import console, err_console, open_db
from mamori.posture.checks import BY_ID, UnknownCheckError, select
from mamori.posture.config import ConfigError, ScanConfig, load_config
from mamori.posture.findings import finding_payload, findings_of
from mamori.posture.model import Level
from mamori.posture.report import FORMATS, TEXT_RENDERERS
from mamori.posture.report import table as table_format
from mamori.posture.scan import Report, scan_paths

app = typer.Typer(
    help="Scan Kubernetes manifests or a cluster (posture), images or a node (vulnerabilities).",
    no_args_is_help=True,
)
app.command("image")(scan_vulns.image)
app.command("node")(scan_vulns.node)
app.command("running")(scan_vulns.running)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2
FAIL_ON = {"high": Level.HIGH, "medium": Level.MEDIUM, "low": Level.LOW, "none": None}

Checks = Annotated[
    str,
    typer.Option(
        "--checks",
        help="defender, pss-baseline, pss-restricted, all, or check IDs (comma-separated)",
    ),
]
ParamsFile = Annotated[
    Path | None, typer.Option("--params", "--config", help="PostureConfig YAML (mamori.yaml)")
]
Format = Annotated[
    str, typer.Option("--format", "-f", help="table, json, sarif, junit or policyreport")
]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="write the report to FILE")]
FailOn = Annotated[str, typer.Option("--fail-on", help="high, medium, low or none")]
Server = Annotated[
    str | None, typer.Option("--server", help="mamori server URL to send findings to")
]
Token = Annotated[
    str | None, typer.Option("--token", envvar="MAMORI_TOKEN", help="ingest token for --server")
]
Store = Annotated[bool, typer.Option("--store", help="store findings in the local database")]


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(EXIT_INPUT)


def _config(checks: str, params: Path | None, namespace: str | None) -> ScanConfig:
    try:
        return load_config(params, select(checks), namespace=namespace)
    except UnknownCheckError as exc:
        raise _fail(str(exc)) from None
    except ConfigError as exc:
        for d in exc.diagnostics:
            err_console.print(escape(str(d)), highlight=False)
        raise typer.Exit(EXIT_INPUT) from None


def _render(report: Report, fmt: str, output: Path | None) -> None:
    if fmt == "table" and output is None:
        table_format.render(report, console)
        return
    renderer = TEXT_RENDERERS.get(fmt)
    text = renderer(report) if renderer else _table_text(report)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
    for d in report.diagnostics:
        err_console.print(escape(str(d)), highlight=False)


def _table_text(report: Report) -> str:
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    table_format.render(report, Console(file=buf, width=160, color_system=None))
    return buf.getvalue()


def _send(
    report: Report, server: str | None, token: str | None, store: bool, cluster: str | None
) -> None:
    found = findings_of(report.results, cluster=cluster)
    if store:
        db = open_db()
        try:
            inserted = db.findings.insert(found) if found else set()
        finally:
            db.close()
        err_console.print(f"stored {len(inserted)} new findings ({len(found)} sent)")
    if server:
        if not token:
            raise _fail("--server needs --token (or MAMORI_TOKEN)")
        _post(server, token, [finding_payload(f) for f in found])


def _post(server: str, token: str, items: list[dict[str, Any]]) -> None:
    url = server.rstrip("/") + "/api/v1/findings:batch"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for start in range(0, max(len(items), 1), 500):
            r = httpx.post(
                url, json={"findings": items[start : start + 500]}, headers=headers, timeout=30
            )
            if r.status_code >= 400:
                raise _fail(f"server refused the findings: HTTP {r.status_code} {r.text[:200]}")
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {server}: {exc}") from None
    err_console.print(f"sent {len(items)} findings to {server}")


def finish(report: Report, fmt: str, output: Path | None, fail_on: str) -> None:
    _render(report, fmt, output)
    if report.has_input_errors:
        raise typer.Exit(EXIT_INPUT)
    threshold = FAIL_ON[fail_on]
    severity_of = {cid: c.severity for cid, c in BY_ID.items()}
    if report.fails_at(threshold, severity_of):
        raise typer.Exit(EXIT_FINDINGS)


def _validate(fmt: str, fail_on: str) -> None:
    if fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if fail_on not in FAIL_ON:
        raise _fail(f"unknown --fail-on {fail_on!r} (one of {', '.join(FAIL_ON)})")


@app.command("manifests")
def manifests(
    paths: Annotated[list[str], typer.Argument(help="files, directories, or - for stdin")],
    checks: Checks = "defender",
    params: ParamsFile = None,
    fmt: Format = "table",
    output: Output = None,
    fail_on: FailOn = "low",
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="namespace of un-namespaced objects")
    ] = None,
    stdin_name: Annotated[
        str, typer.Option("--stdin-name", help="name of stdin in reports")
    ] = "<stdin>",
    server: Server = None,
    token: Token = None,
    store: Store = False,
) -> None:
    """Scan manifest files (YAML, JSON, Helm/Kustomize output on stdin)."""
    _validate(fmt, fail_on)
    config = _config(checks, params, namespace)
    report = scan_paths(paths, config, stdin_name=stdin_name)
    _send(report, server, token, store, None)
    finish(report, fmt, output, fail_on)


@app.command("cluster")
def cluster(
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, in-cluster"),
    ] = None,
    context: Annotated[str | None, typer.Option("--context")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    checks: Checks = "defender",
    params: ParamsFile = None,
    fmt: Format = "table",
    output: Output = None,
    fail_on: FailOn = "low",
    server: Server = None,
    token: Token = None,
    store: Store = False,
) -> None:
    """Scan the objects of a live cluster (read-only: get/list)."""
    from mamori.posture.sources.cluster import ClusterError, connect, scan_cluster

    _validate(fmt, fail_on)
    config = _config(checks, params, None)
    try:
        api = connect(kubeconfig, context)
        report = scan_cluster(api, config, namespace=namespace)
    except ClusterError as exc:
        raise _fail(str(exc)) from None
    _send(report, server, token, store, api.cluster_name)
    finish(report, fmt, output, fail_on)

"""``mamori scan manifests|cluster``: run the posture checks, render, store, exit 0/1/2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mamori.cli.exit import hard_exit
from mamori.cli.lazy import lazy_group
from mamori.posture.checks import BY_ID, UnknownCheckError, select
from mamori.posture.config import ConfigError, ScanConfig, load_config
from mamori.posture.model import Level
from mamori.posture.report import FORMATS, render_text
from mamori.posture.scan import Report, gc_paused, scan_paths

if TYPE_CHECKING:
    from rich.console import Console

# What a posture scan does not need is imported on use: Rich (only the table), httpx (only
# --server), the vulnerability commands, the store; start-up is a large part of a CI scan.
app = typer.Typer(
    cls=lazy_group(
        {
            "image": ("mamori.cli.scan_vulns", "image"),
            "node": ("mamori.cli.scan_vulns", "node"),
            "running": ("mamori.cli.scan_vulns", "running"),
        }
    ),
    help="Scan Kubernetes manifests or a cluster (posture), images or a node (vulnerabilities).",
    no_args_is_help=True,
)

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
Formats = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        "-f",
        help="table, json, sarif, junit, policyreport or openreports; repeatable, the n-th "
        "--output is the n-th format's file (default: table)",
    ),
]
Outputs = Annotated[
    list[Path] | None,
    typer.Option("--output", "-o", help="write the matching --format to FILE; repeatable"),
]
IncludePassed = Annotated[
    bool, typer.Option("--include-passed", help="also list passed checks (json, sarif, table)")
]
FailOn = Annotated[str, typer.Option("--fail-on", help="high, medium, low or none")]
Server = Annotated[
    str | None, typer.Option("--server", help="mamori server URL to send findings to")
]
Token = Annotated[
    str | None, typer.Option("--token", envvar="MAMORI_TOKEN", help="ingest token for --server")
]
Store = Annotated[bool, typer.Option("--store", help="store findings in the local database")]


def _err() -> Console:
    from mamori.cli.common import err_console

    return err_console


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _fail(message: str) -> typer.Exit:
    _err().print(f"[red]error:[/] {_escape(message)}", highlight=False)
    return typer.Exit(EXIT_INPUT)


def _config(checks: str, params: Path | None, namespace: str | None) -> ScanConfig:
    try:
        return load_config(params, select(checks), namespace=namespace)
    except UnknownCheckError as exc:
        raise _fail(str(exc)) from None
    except ConfigError as exc:
        for d in exc.diagnostics:
            _err().print(_escape(str(d)), highlight=False)
        raise typer.Exit(EXIT_INPUT) from None


Target = tuple[str, Path | None]


def _targets(formats: list[str] | None, outputs: list[Path] | None) -> list[Target]:
    """Pair the n-th ``--format`` with the n-th ``--output``; the rest go to stdout (one only)."""
    fmts, outs = formats or ["table"], outputs or []
    if len(outs) > len(fmts):
        raise _fail("more --output than --format options (pair each file with its format)")
    targets: list[Target] = [(f, outs[i] if i < len(outs) else None) for i, f in enumerate(fmts)]
    if sum(1 for _, out in targets if out is None) > 1:
        raise _fail("only one --format can go to stdout; give the others an --output FILE")
    return targets


def _render(report: Report, targets: list[Target], include_passed: bool) -> None:
    for fmt, output in targets:
        if fmt == "table" and output is None:
            from mamori.cli.common import console
            from mamori.posture.report import table as table_format

            table_format.render(report, console, include_passed=include_passed)
            continue
        if fmt == "table":
            text = _table_text(report, include_passed)
        else:
            text = render_text(fmt, report, include_passed=include_passed)
        if output is None:
            sys.stdout.write(text + "\n")
        else:
            output.write_text(text + "\n", encoding="utf-8")
    if report.diagnostics and not any(f == "table" and out is None for f, out in targets):
        err = _err()
        for d in report.diagnostics:
            err.print(_escape(str(d)), highlight=False)


def _table_text(report: Report, include_passed: bool) -> str:
    from io import StringIO

    from rich.console import Console

    from mamori.posture.report import table as table_format

    buf = StringIO()
    table_format.render(
        report, Console(file=buf, width=160, color_system=None), include_passed=include_passed
    )
    return buf.getvalue()


def _send(
    report: Report, server: str | None, token: str | None, store: bool, cluster: str | None
) -> None:
    if not (store or server):
        return
    from mamori.cli.common import open_db
    from mamori.posture.findings import finding_payload, findings_of

    found = findings_of(report.results, cluster=cluster)
    if store:
        db = open_db()
        try:
            inserted = db.findings.insert(found) if found else set()
        finally:
            db.close()
        _err().print(f"stored {len(inserted)} new findings ({len(found)} sent)")
    if server:
        if not token:
            raise _fail("--server needs --token (or MAMORI_TOKEN)")
        _post(server, token, [finding_payload(f) for f in found])


def _post(server: str, token: str, items: list[dict[str, Any]]) -> None:
    import httpx

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
    _err().print(f"sent {len(items)} findings to {server}")


def finish(report: Report, targets: list[Target], fail_on: str, include_passed: bool) -> None:
    _render(report, targets, include_passed)
    if report.has_input_errors:
        raise typer.Exit(EXIT_INPUT)
    threshold = FAIL_ON[fail_on]
    severity_of = {cid: c.severity for cid, c in BY_ID.items()}
    if report.fails_at(threshold, severity_of):
        raise typer.Exit(EXIT_FINDINGS)


def _validate(formats: list[str] | None, outputs: list[Path] | None, fail_on: str) -> list[Target]:
    for fmt in formats or ():
        if fmt not in FORMATS:
            raise _fail(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if fail_on not in FAIL_ON:
        raise _fail(f"unknown --fail-on {fail_on!r} (one of {', '.join(FAIL_ON)})")
    return _targets(formats, outputs)


@app.command("manifests")
def manifests(
    paths: Annotated[list[str], typer.Argument(help="files, directories, or - for stdin")],
    checks: Checks = "defender",
    params: ParamsFile = None,
    fmt: Formats = None,
    output: Outputs = None,
    fail_on: FailOn = "low",
    include_passed: IncludePassed = False,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="namespace of un-namespaced objects")
    ] = None,
    stdin_name: Annotated[
        str, typer.Option("--stdin-name", help="name of stdin in reports")
    ] = "<stdin>",
    server: Server = None,
    token: Token = None,
    store: Store = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="processes to scan with (0: one per core when there are 50 files or more)",
        ),
    ] = 0,
) -> None:
    """Scan manifest files (YAML, JSON, Helm/Kustomize output on stdin)."""
    targets = _validate(fmt, output, fail_on)
    config = _config(checks, params, namespace)
    with gc_paused():  # rendering, like scanning, allocates without making cycles
        report = scan_paths(paths, config, stdin_name=stdin_name, jobs=jobs or None)
        _send(report, server, token, store, None)
        try:
            finish(report, targets, fail_on, include_passed)
        except typer.Exit as done:
            hard_exit(done.exit_code)
            raise
        hard_exit(EXIT_CLEAN)


@app.command("cluster")
def cluster(
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, in-cluster"),
    ] = None,
    context: Annotated[str | None, typer.Option("--context")] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="scan this namespace only")
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="scan every namespace (the default)")
    ] = False,
    include_owned: Annotated[
        bool,
        typer.Option(
            "--include-owned",
            help="also report objects owned by a scanned object (a Deployment's Pods)",
        ),
    ] = False,
    checks: Checks = "defender",
    params: ParamsFile = None,
    fmt: Formats = None,
    output: Outputs = None,
    fail_on: FailOn = "low",
    include_passed: IncludePassed = False,
    server: Server = None,
    token: Token = None,
    store: Store = False,
) -> None:
    """Scan the objects of a live cluster (read-only: get/list)."""
    from mamori.posture.sources.cluster import ClusterError, connect, scan_cluster

    targets = _validate(fmt, output, fail_on)
    if namespace and all_namespaces:
        raise _fail("--namespace and --all-namespaces exclude each other")
    config = _config(checks, params, None)
    try:
        api = connect(kubeconfig, context)
        report = scan_cluster(api, config, namespace=namespace, include_owned=include_owned)
    except ClusterError as exc:
        raise _fail(str(exc)) from None
    _send(report, server, token, store, api.cluster_name)
    finish(report, targets, fail_on, include_passed)

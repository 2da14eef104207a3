"""``--format table``: findings grouped by resource, then counts."""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mamori.posture.model import Result, Status
from mamori.posture.report.common import check_of
from mamori.posture.scan import Report

COLOURS = {"High": "bold red", "Medium": "dark_orange", "Low": "yellow"}


def render(report: Report, console: Console, *, include_passed: bool = False) -> None:
    wanted = (
        (Status.FAIL, Status.ERROR, Status.PASS) if include_passed else (Status.FAIL, Status.ERROR)
    )
    shown = [r for r in report.results if r.status in wanted]
    grouped: dict[str, list[Result]] = defaultdict(list)
    for r in shown:
        grouped[str(r.resource)].append(r)
    for resource, results in grouped.items():
        table = Table(title=escape(resource), title_justify="left", expand=False)
        for col in ("SEVERITY", "CHECK", "CONTAINER", "MESSAGE", "LOCATION"):
            table.add_column(col)
        for r in sorted(results, key=lambda x: (-check_of(x).severity.rank, x.check_id)):
            sev = check_of(r).severity.value
            table.add_row(
                f"[{COLOURS[sev]}]{sev}[/]" if r.status is not Status.PASS else "[green]pass[/]",
                r.check_id,
                escape(r.container.name if r.container else ""),
                escape(r.message),
                escape(str(r.location)),
            )
        console.print(table)
    for d in report.diagnostics:
        console.print(f"[yellow]{escape(str(d))}[/]", highlight=False)
    by_status = Counter(r.status.value for r in report.results)
    by_sev = Counter(check_of(r).severity.value for r in report.findings)
    console.print(
        f"{len(report.findings)} findings (High {by_sev['High']}, Medium {by_sev['Medium']}, "
        f"Low {by_sev['Low']}); {by_status['pass']} passed, {by_status['skip']} skipped, "
        f"{by_status['error']} errors, {len(report.diagnostics)} input problems",
        highlight=False,
    )

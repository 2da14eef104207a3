"""``--format junit``: a testsuite per input, a testcase per (check, resource)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from mamori.posture.model import Result, Status
from mamori.posture.report.common import check_of
from mamori.posture.scan import Report


def _classname(r: Result) -> str:
    return f"{r.resource.kind}/{r.resource.namespace or '-'}/{r.resource.name}"


def render(report: Report, *, include_passed: bool = True) -> str:
    """Every (check, resource) is a testcase, so passes are always there (as passed cases)."""
    suites = ET.Element("testsuites", name="mamori")
    by_file: dict[str, dict[tuple[str, str], list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in report.results:
        by_file[r.location.file][(r.check_id, _classname(r))].append(r)
    for file, cases in by_file.items():
        suite = ET.SubElement(suites, "testsuite", name=file, tests=str(len(cases)))
        failures = skipped = 0
        for (check_id, classname), results in cases.items():
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{check_id} {check_of(results[0]).title}",
                classname=classname,
            )
            for r in results:
                if r.status is Status.FAIL:
                    failures += 1
                    failure = ET.SubElement(
                        case, "failure", message=r.message, type=check_of(r).severity.value
                    )
                    failure.text = f"{r.location}: {r.message}"
                elif r.status is Status.SKIP:
                    skipped += 1
                    reason = r.exemption.reason if r.exemption else r.message
                    ET.SubElement(case, "skipped", message=reason)
                elif r.status is Status.ERROR:
                    ET.SubElement(case, "error", message=r.message)
        suite.set("failures", str(failures))
        suite.set("skipped", str(skipped))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")

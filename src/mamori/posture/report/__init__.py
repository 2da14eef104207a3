"""Report formats: table (Rich), JSON, SARIF 2.1.0, JUnit XML, PolicyReport, OpenReports.

Each format's module is imported when that format is asked for: a JSON scan does not pay for
Rich, ElementTree or the YAML emitter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mamori.posture.scan import Report

FORMATS = ("table", "json", "sarif", "junit", "policyreport", "openreports")
_MODULES = {
    "json": "jsonfmt",
    "sarif": "sarif",
    "junit": "junit",
    "policyreport": "policyreport",
    "openreports": "openreports",
}


def render_text(fmt: str, report: Report, *, include_passed: bool = False) -> str:
    """``report`` as ``fmt`` (any format but ``table``, which the CLI renders with Rich)."""
    module = importlib.import_module(f"mamori.posture.report.{_MODULES[fmt]}")
    text: str = module.render(report, include_passed=include_passed)
    return text

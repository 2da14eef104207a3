"""Report formats: table (Rich), JSON, SARIF 2.1.0, JUnit XML, PolicyReport."""

from __future__ import annotations

from collections.abc import Callable

from mamori.posture.report import jsonfmt, junit, policyreport, sarif
from mamori.posture.scan import Report

FORMATS = ("table", "json", "sarif", "junit", "policyreport")
TEXT_RENDERERS: dict[str, Callable[[Report], str]] = {
    "json": jsonfmt.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "policyreport": policyreport.render,
}

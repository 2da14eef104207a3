"""``--format openreports``: one ``openreports.io/v1alpha1`` Report per evaluated resource.

OpenReports is the successor of the wg-policy PolicyReport API with the same result shape, so
the reports are PolicyReport's under the new group and kinds (``Report``/``ClusterReport``).
"""

from __future__ import annotations

from mamori.posture.report.policyreport import render_reports
from mamori.posture.scan import Report

API_VERSION = "openreports.io/v1alpha1"


def render(report: Report, *, include_passed: bool = True) -> str:
    return render_reports(report, (API_VERSION, "Report", "ClusterReport"))

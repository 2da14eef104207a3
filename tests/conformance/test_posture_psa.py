"""Pod Security Standards v1.37 against upstream pod-security-admission's own fixtures.

Data: ../shared/conformance/posture/psa/ (read at test time, never copied). ``pass`` fixtures give
no MAM-PSS finding at their level; ``fail`` fixtures give at least one, among them the upstream
check that pod-security-admission reports (``reported_check``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mamori.posture.checks import select
from mamori.posture.config import load_config
from mamori.posture.scan import scan_paths

PSA = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "posture" / "psa"
INDEX: dict[str, Any] = json.loads((PSA / "index.json").read_text())
CASES = INDEX["cases"]


def test_the_index_has_the_documented_counts() -> None:
    assert INDEX["version"] == "v1.37"
    assert len(CASES) == 148


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_fixture(case: dict[str, Any]) -> None:
    config = load_config(None, select(f"pss-{case['level']}"))
    report = scan_paths([str(PSA / case["file"])], config)
    assert report.diagnostics == []
    reported = {r.upstream for r in report.findings}
    if case["expected"] == "pass":
        assert reported == set(), [r.message for r in report.findings]
    else:
        assert case["reported_check"] in reported, (reported, case)

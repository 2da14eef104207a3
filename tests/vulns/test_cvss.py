"""CVSS v3.x base scores against NVD's published scores, and their use in matching: severity
from CVSS when the feed gives none; GIT (commit) ranges reported as unmatchable evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mamori.vulns.catalogers.model import Inventory, Package
from mamori.vulns.cvss import best, parse, rating
from mamori.vulns.db import VulnDB, import_source
from mamori.vulns.matcher import match
from mamori.vulns.report import as_json, as_sarif
from mamori.vulns.sbom.native import Subject
from mamori.vulns.scan import ScanReport, findings

# (vector, NVD base score): CVEs whose NVD pages give these, and the v3.1 specification's
# worked examples (section 3 of the examples document).
NVD = [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),  # CVE-2021-44228 (log4shell)
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),  # CVE-2014-6271 (shellshock)
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),  # CVE-2014-0160 (heartbleed)
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),  # CVE-2016-5195 (dirty cow)
    ("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),  # CVE-2013-1937 (spec example)
    ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),  # CVE-2013-0375 (spec example)
    ("CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1),  # CVE-2014-3566 (POODLE)
    ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),  # CVE-2012-1516 (spec example)
    ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),  # CVE-2012-0384 (spec example)
    ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", 7.4),  # CVE-2014-0224 (spec example)
    ("CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:H/A:N", 6.8),  # CVE-2016-0128 (badlock)
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),  # no impact
]


@pytest.mark.parametrize(("vector", "score"), NVD, ids=[v for v, _ in NVD])
def test_base_scores_equal_nvd(vector: str, score: float) -> None:
    got = parse(vector)
    assert got is not None
    assert got.base_score == score


def test_temporal_metrics_are_ignored_and_ratings() -> None:
    got = parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/E:U/RL:O/RC:C")
    assert got is not None
    assert (got.base_score, got.severity) == (7.5, "high")
    assert [rating(s) for s in (0.0, 0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0, 10.0)] == [
        "none", "low", "low", "medium", "medium", "high", "high", "critical", "critical",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "vector",
    [
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",  # v2: kept as evidence, not scored
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",  # A missing
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # bad value
        "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # repeated metric
        "",
    ],
)
def test_not_scored(vector: str) -> None:
    assert parse(vector) is None


def test_best_prefers_the_highest() -> None:
    got = best(["CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", NVD[1][0], "junk"])
    assert got is not None
    assert got.base_score == 9.8


def _record(vid: str, affected: dict[str, object], **extra: object) -> dict[str, object]:
    return {"schema_version": "1.6.0", "id": vid, "modified": "2024-01-01T00:00:00Z",
            "affected": [affected], **extra}  # fmt: skip


def test_matching_takes_severity_from_cvss_and_reports_git_ranges(tmp_path: Path) -> None:
    eco = {"package": {"ecosystem": "PyPI", "name": "demo"}}
    to_2 = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]
    records = [
        _record(  # no severity word: rated from the vector (9.8 -> critical)
            "GHSA-cvss-only",
            {**eco, "ranges": to_2},
            severity=[{"type": "CVSS_V3", "score": NVD[1][0]}],
        ),
        _record(  # the feed's word wins over the vector
            "GHSA-feed-word",
            {**eco, "ranges": to_2},
            severity=[{"type": "CVSS_V3", "score": NVD[1][0]}],
            database_specific={"severity": "LOW"},
        ),
        _record(  # commits only: cannot be decided offline
            "OSV-git-only",
            {**eco, "ranges": [{"type": "GIT", "repo": "https://example.invalid/demo.git",
                                "events": [{"introduced": "0"}, {"fixed": "abc123"}]}]},
        ),
    ]  # fmt: skip
    osv = tmp_path / "osv"
    osv.mkdir()
    for rec in records:
        (osv / f"{rec['id']}.json").write_text(json.dumps(rec))
    db = VulnDB(tmp_path / "v.db")
    try:
        import_source(db, "osv", osv)
        pkg = Package("demo", "1.0", "python", "pkg:pypi/demo@1.0", ("/app/demo.dist-info",))
        inv = Inventory(None, [pkg])
        result = match(inv, db)
        built = db.built_at()
    finally:
        db.close()
    by_id = {m.id: m for m in result.matches}
    assert set(by_id) == {"GHSA-cvss-only", "GHSA-feed-word"}
    assert (by_id["GHSA-cvss-only"].severity, by_id["GHSA-cvss-only"].severity_from) == (
        "critical",
        "cvss",
    )
    assert (by_id["GHSA-feed-word"].severity, by_id["GHSA-feed-word"].severity_from) == (
        "low",
        "feed",
    )
    assert [u.advisory.id for u in result.unmatchable] == ["OSV-git-only"]

    report = ScanReport(
        Subject("demo", "image"), None, inv, result, built, "2026-11-22T00:00:00+00:00"
    )  # type: ignore[arg-type]
    found = {f.check: f for f in findings(report)}
    assert found["GHSA-cvss-only"].severity.label == "Critical"
    assert found["GHSA-cvss-only"].details["cvss"] == {
        "score": 9.8, "vector": NVD[1][0], "version": "3.1", "rating": "critical",
    }  # fmt: skip
    doc = json.loads(as_json(report, list(found.values())))
    (git,) = doc["unmatchable"]
    assert git["advisory"]["id"] == "OSV-git-only"
    assert git["ranges"][0]["repo"] == "https://example.invalid/demo.git"
    sarif = json.loads(as_sarif(report, list(found.values())))
    scores = {
        r["ruleId"]: r.get("properties", {}).get("security-severity")
        for r in sarif["runs"][0]["results"]
    }
    assert scores == {"GHSA-cvss-only": "9.8", "GHSA-feed-word": "9.8"}

"""``mamori scan image|node`` and ``mamori vulndb`` end to end on the shared alpine archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mamori.cli import scan_vulns
from mamori.cli.app import app as root_app
from tests.vulns.conftest import VULN

ALPINE = str(VULN / "images/trivy/alpine-310.tar.gz")
RECORD = {
    "schema_version": "1.6.0",
    "id": "TEST-2020-0001",
    "modified": "2024-01-01T00:00:00Z",
    "aliases": ["CVE-2020-28928"],
    "database_specific": {"severity": "HIGH"},
    "affected": [
        {
            "package": {"ecosystem": "Alpine:v3.10", "name": "musl"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1.22-r4"}]}
            ],
        }
    ],
}


def scan_app() -> typer.Typer:
    """The lead registers these under posture's ``scan`` group; a stand-in group here."""
    app = typer.Typer()
    app.command("image")(scan_vulns.image)
    app.command("node")(scan_vulns.node)
    return app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAMORI_DATA_DIR", str(tmp_path / "data"))
    osv = tmp_path / "osv"
    osv.mkdir()
    (osv / "TEST-2020-0001.json").write_text(json.dumps(RECORD))
    result = CliRunner().invoke(root_app, ["vulndb", "import", "osv", str(osv)])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_vulndb_status(env: Path) -> None:
    result = CliRunner().invoke(root_app, ["vulndb", "status"])
    assert result.exit_code == 0, result.output
    assert "osv" in result.output


def test_scan_image_json_with_evidence(env: Path) -> None:
    result = CliRunner().invoke(scan_app(), ["image", ALPINE, "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{") :].split("\n14 packages")[0])
    # musl and musl-utils are both built from the musl source package (apk origin)
    assert {f["evidence"]["package"]["name"] for f in doc["findings"]} == {"musl", "musl-utils"}
    finding = doc["findings"][0]
    assert finding["vulnerability"] == "TEST-2020-0001"
    ev = finding["evidence"]
    assert ev["match"]["name"] == "musl"
    assert ev["fixed_version"] == "1.1.22-r4"
    assert ev["match"]["ecosystem"] == "Alpine:v3.10"
    assert ev["db_built_at"]


def test_scan_image_sarif_fail_on_and_store(env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        scan_app(), ["image", ALPINE, "--format", "sarif", "--fail-on", "high", "--store"]
    )
    assert result.exit_code == 1  # a High finding
    sarif = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert sarif["version"] == "2.1.0"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"TEST-2020-0001"}
    from mamori.cli.common import open_db
    from mamori.store.query import Filters

    db = open_db()
    try:
        stored = db.findings.list(Filters(kind="vulnerability"), limit=10)
    finally:
        db.close()
    assert {f.check for f in stored.items} == {"TEST-2020-0001"}


def test_scan_image_sbom_cyclonedx(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "sbom.json"
    result = CliRunner().invoke(
        scan_app(), ["image", ALPINE, "--sbom", "cyclonedx", "--sbom-output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["specVersion"] == "1.6"


def test_scan_node_on_a_rootfs(env: Path) -> None:
    root = VULN / "images/grype/image-alpine-match-coverage"
    result = CliRunner().invoke(scan_app(), ["node", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"packages": 4' in result.stdout

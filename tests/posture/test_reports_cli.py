"""Report formats and the ``mamori scan`` command: outputs, exit codes, storing findings."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mamori.cli.app import app
from mamori.posture.checks import select
from mamori.posture.config import load_config
from mamori.posture.report import jsonfmt, junit, policyreport, sarif
from mamori.posture.scan import Report, scan_paths

DATA = Path(__file__).parent / "data"
UNHEALTHY = str(DATA / "redis-unhealthy.yaml")
HEALTHY = str(DATA / "redis-healthy.yaml")


@pytest.fixture(scope="module")
def report() -> Report:
    return scan_paths([UNHEALTHY], load_config(None, select("defender")))


def test_sarif_regions_and_fingerprints(report: Report) -> None:
    doc = json.loads(sarif.render(report))
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["MAM-K8S-002"]["properties"]["security-severity"] == "8.0"
    lines = Path(UNHEALTHY).read_text().splitlines()
    privileged = next(r for r in run["results"] if r["ruleId"] == "MAM-K8S-015")
    region = privileged["locations"][0]["physicalLocation"]["region"]
    assert lines[region["startLine"] - 1].strip() == "privileged: true"
    assert region["startColumn"] == lines[region["startLine"] - 1].index("privileged") + 1
    prints = [r["partialFingerprints"]["mamori/v1"] for r in run["results"]]
    assert len(set(prints)) == len(prints) == 15


def test_sarif_fingerprint_ignores_the_line(tmp_path: Path) -> None:
    moved = tmp_path / "moved.yaml"
    moved.write_text("\n\n# moved down\n" + Path(UNHEALTHY).read_text())
    config = load_config(None, select("defender"))
    a = json.loads(sarif.render(scan_paths([UNHEALTHY], config)))["runs"][0]["results"]
    b = json.loads(sarif.render(scan_paths([str(moved)], config)))["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in a] == [r["partialFingerprints"] for r in b]
    assert (
        a[0]["locations"][0]["physicalLocation"]["region"]["startLine"] + 3
        == (b[0]["locations"][0]["physicalLocation"]["region"]["startLine"])
    )


def test_json_shape(report: Report) -> None:
    doc = json.loads(jsonfmt.render(report))
    assert doc["summary"]["fail"] == 15
    first = doc["results"][0]
    assert set(first) >= {
        "checkId",
        "severity",
        "result",
        "resource",
        "container",
        "fieldPath",
        "location",
        "remediation",
    }


def test_junit(report: Report) -> None:
    root = ET.fromstring(junit.render(report))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "15"
    classnames = {c.get("classname") for c in suite.iter("testcase")}
    assert classnames == {
        "Deployment/-/redis-unhealthy-deployment",
        "Service/-/redis-unhealthy-service",
    }


def test_policyreport_one_per_resource(report: Report) -> None:
    docs = list(yaml.safe_load_all(policyreport.render(report)))
    assert [d["apiVersion"] for d in docs] == ["wgpolicyk8s.io/v1alpha2"] * 2
    dep = docs[0]
    assert dep["scope"]["kind"] == "Deployment"
    assert dep["summary"]["fail"] == 14
    assert {r["category"] for r in dep["results"]} == {"Data-plane hardening"}


runner = CliRunner()

EXIT = [
    ([HEALTHY], 1),  # MAM-K8S-012 (High)
    ([HEALTHY, "--fail-on", "none"], 0),
    ([HEALTHY, "--checks", "MAM-K8S-015"], 0),
    ([HEALTHY, "--checks", "pss-baseline"], 0),
    ([UNHEALTHY, "--checks", "MAM-K8S-013,MAM-K8S-005", "--fail-on", "high"], 0),
    ([UNHEALTHY, "--checks", "MAM-K8S-005", "--fail-on", "medium"], 1),
    (["/no/such/file.yaml"], 2),
    ([HEALTHY, "--checks", "nonsense"], 2),
    ([HEALTHY, "--format", "xml"], 2),
    ([HEALTHY, "--fail-on", "sometimes"], 2),
]


@pytest.mark.parametrize(("args", "code"), EXIT)
def test_exit_codes(args: list[str], code: int) -> None:
    result = runner.invoke(
        app,
        ["scan", "manifests", *args, "--format", "json"]
        if "--format" not in args
        else ["scan", "manifests", *args],
    )
    assert result.exit_code == code, result.output


def test_input_error_wins_over_findings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    result = runner.invoke(app, ["scan", "manifests", HEALTHY, str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml:2" in result.output or "bad.yaml:1" in result.output


def test_stdin_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "r.sarif"
    result = runner.invoke(
        app,
        [
            "scan",
            "manifests",
            "-",
            "--format",
            "sarif",
            "-o",
            str(out),
            "--stdin-name",
            "chart.yaml",
        ],
        input=Path(UNHEALTHY).read_text(),
    )
    assert result.exit_code == 1
    uri = json.loads(out.read_text())["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert uri["artifactLocation"]["uri"] == "chart.yaml"


def test_table_output() -> None:
    result = runner.invoke(app, ["scan", "manifests", UNHEALTHY])
    assert result.exit_code == 1
    assert "MAM-K8S-015" in result.output
    assert "15 findings" in result.output


def test_store_findings_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_DATABASE_URL", f"sqlite:///{tmp_path / 'm.db'}")
    for _ in range(2):  # idempotent: the second run stores nothing new
        result = runner.invoke(app, ["scan", "manifests", UNHEALTHY, "--store", "--format", "json"])
        assert result.exit_code == 1
    from mamori.store.database import Database

    db = Database.connect(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        assert db.findings.count() == 15
    finally:
        db.close()


def test_json_text_is_the_reference_shape(report: Report) -> None:
    doc = json.loads(jsonfmt.render(report, include_passed=True))
    assert doc["results"] == [jsonfmt.result_json(r) for r in report.results]
    assert doc["summary"]["fail"] == 15
    without_passes = json.loads(jsonfmt.render(report))["results"]
    assert without_passes == [jsonfmt.result_json(r) for r in report.results if r.status != "pass"]


def test_several_formats_in_one_run(tmp_path: Path) -> None:
    sarif_file, junit_file = tmp_path / "r.sarif", tmp_path / "r.xml"
    result = runner.invoke(
        app,
        [
            "scan",
            "manifests",
            UNHEALTHY,
            *("--format", "sarif", "-o", str(sarif_file)),
            *("--format", "junit", "-o", str(junit_file)),
            *("--format", "json"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert len(json.loads(sarif_file.read_text())["runs"][0]["results"]) == 15
    assert ET.fromstring(junit_file.read_text()).find("testsuite") is not None
    assert json.loads(result.stdout)["summary"]["fail"] == 15  # the unpaired format: stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "json", "--format", "sarif"],  # two formats on stdout
        ["--format", "json", "-o", "a.json", "-o", "b.json"],  # an output without a format
        ["--format", "json", "--format", "yaml"],
    ],
)
def test_format_output_pairing_errors(args: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", "manifests", HEALTHY, *args])
    assert result.exit_code == 2


def test_include_passed(tmp_path: Path) -> None:
    base = ["scan", "manifests", HEALTHY, "--checks", "defender", "--format", "json"]
    plain = json.loads(runner.invoke(app, base).stdout)["results"]
    assert "pass" not in {r["result"] for r in plain}
    full = json.loads(runner.invoke(app, [*base, "--include-passed"]).stdout)["results"]
    passed = {r["checkId"] for r in full if r["result"] == "pass"}
    assert "MAM-K8S-015" in passed
    assert "MAM-K8S-012" not in passed
    out = tmp_path / "r.sarif"
    runner.invoke(
        app,
        ["scan", "manifests", HEALTHY, "--format", "sarif", "-o", str(out), "--include-passed"],
    )
    results = json.loads(out.read_text())["runs"][0]["results"]
    kinds = {r.get("kind", "fail") for r in results}
    assert kinds == {"pass", "fail"}
    assert all(r["level"] == "none" for r in results if r.get("kind") == "pass")
    table = runner.invoke(app, ["scan", "manifests", HEALTHY, "--include-passed"])
    assert "pass" in table.output
    assert "MAM-K8S-015" in table.output


def test_openreports_one_report_per_resource() -> None:
    result = runner.invoke(
        app, ["scan", "manifests", UNHEALTHY, "-n", "redis", "--format", "openreports"]
    )
    assert result.exit_code == 1
    docs = list(yaml.safe_load_all(result.stdout))
    assert {(d["apiVersion"], d["kind"]) for d in docs} == {("openreports.io/v1alpha1", "Report")}
    dep = next(d for d in docs if d["scope"]["kind"] == "Deployment")
    assert dep["metadata"]["namespace"] == "redis"
    assert dep["summary"]["fail"] == 14
    assert {r["source"] for r in dep["results"]} == {"mamori"}
    assert {r["result"] for r in dep["results"]} <= {"pass", "fail", "skip", "error"}
    cluster_scoped = runner.invoke(app, ["scan", "manifests", UNHEALTHY, "-f", "openreports"])
    assert {d["kind"] for d in yaml.safe_load_all(cluster_scoped.stdout)} == {"ClusterReport"}

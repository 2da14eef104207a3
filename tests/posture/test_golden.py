"""The two reference Deployments of docs design/posture-checks.md section 8, exactly as tabled."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.posture.checks import select
from mamori.posture.config import CheckConfig, PostureConfig, build
from mamori.posture.model import Result, Status, format_path
from mamori.posture.scan import Report, scan_paths

DATA = Path(__file__).parent / "data"
REGEX = r"^[^/]+\.azurecr\.io/.+$"
T = "spec.template.spec"
C = f"{T}.containers[0]"
DEP, SVC = "Deployment", "Service"


def _scan(sample: str, checks: str = "defender", **kw: str) -> Report:
    config = PostureConfig(
        checks={"MAM-K8S-002": CheckConfig(params={"allowedImagesRegex": REGEX})}, **kw
    )
    return scan_paths([str(DATA / sample)], build(config, select(checks)))


def _table(results: list[Result]) -> set[tuple[str, str, str, str]]:
    return {
        (r.resource.kind, r.check_id, r.status.value, format_path(r.field_path)) for r in results
    }


K8S = [f"MAM-K8S-{n:03d}" for n in range(1, 17)]
HEALTHY = {
    *(
        (DEP, c, "pass", "")
        for c in K8S
        if c not in ("MAM-K8S-005", "MAM-K8S-011", "MAM-K8S-012", "MAM-K8S-013")
    ),
    (DEP, "MAM-K8S-012", "fail", f"{T}.automountServiceAccountToken"),
    (DEP, "MAM-K8S-013", "skip", ""),
    (SVC, "MAM-K8S-005", "pass", ""),
    (SVC, "MAM-K8S-013", "skip", ""),
}
UNHEALTHY = {
    (DEP, "MAM-K8S-001", "fail", f"{C}.resources"),
    (DEP, "MAM-K8S-002", "fail", f"{C}.image"),
    (DEP, "MAM-K8S-003", "fail", f"{C}.securityContext.capabilities.add[0]"),
    (DEP, "MAM-K8S-004", "fail", f"{C}.securityContext.appArmorProfile"),
    (SVC, "MAM-K8S-005", "fail", "spec.ports[0].port"),
    (DEP, "MAM-K8S-006", "fail", f"{T}.hostNetwork"),
    (DEP, "MAM-K8S-006", "fail", f"{C}.ports[0].hostPort"),
    (DEP, "MAM-K8S-007", "fail", f"{T}.volumes[0].hostPath"),
    (DEP, "MAM-K8S-008", "fail", f"{C}.securityContext.allowPrivilegeEscalation"),
    (DEP, "MAM-K8S-009", "fail", f"{T}.hostPID"),
    (DEP, "MAM-K8S-009", "fail", f"{T}.hostIPC"),
    (DEP, "MAM-K8S-010", "fail", f"{C}.securityContext.readOnlyRootFilesystem"),
    (DEP, "MAM-K8S-012", "fail", f"{T}.automountServiceAccountToken"),
    (DEP, "MAM-K8S-013", "skip", ""),
    (SVC, "MAM-K8S-013", "skip", ""),
    (DEP, "MAM-K8S-014", "pass", ""),
    (DEP, "MAM-K8S-015", "fail", f"{C}.securityContext.privileged"),
    (DEP, "MAM-K8S-016", "fail", f"{C}.securityContext.runAsUser"),
}


@pytest.mark.parametrize(
    ("sample", "expected", "findings"),
    [("redis-healthy.yaml", HEALTHY, 1), ("redis-unhealthy.yaml", UNHEALTHY, 15)],
)
def test_defender_results_are_exactly_the_table(
    sample: str, expected: set[tuple[str, str, str, str]], findings: int
) -> None:
    report = _scan(sample)
    assert report.diagnostics == []
    assert _table(report.results) == expected
    assert len(report.findings) == findings


PSS = {
    ("redis-healthy.yaml", "baseline"): set(),
    ("redis-healthy.yaml", "restricted"): {"seccompProfile_restricted", "capabilities_restricted"},
    ("redis-unhealthy.yaml", "baseline"): {
        "hostNamespaces",
        "privileged",
        "capabilities_baseline",
        "hostPathVolumes",
        "hostPorts",
    },
    ("redis-unhealthy.yaml", "restricted"): {
        "hostNamespaces",
        "privileged",
        "hostPorts",
        "restrictedVolumes",
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "runAsUser",
        "seccompProfile_restricted",
        "capabilities_restricted",
    },
}


@pytest.mark.parametrize(("sample", "level"), list(PSS), ids=[f"{s}-{lv}" for s, lv in PSS])
def test_pss_levels_are_exactly_the_table(sample: str, level: str) -> None:
    report = _scan(sample, f"pss-{level}")
    assert {r.upstream for r in report.findings} == PSS[(sample, level)]


def test_unhealthy_pss_baseline_reports_every_host_namespace() -> None:
    report = _scan("redis-unhealthy.yaml", "pss-baseline")
    paths = {format_path(r.field_path) for r in report.findings if r.upstream == "hostNamespaces"}
    assert paths == {f"{T}.hostNetwork", f"{T}.hostPID", f"{T}.hostIPC"}


@pytest.mark.parametrize("sample", ["redis-healthy.yaml", "redis-unhealthy.yaml"])
def test_namespace_default_fails_013_for_both_objects(sample: str) -> None:
    config = PostureConfig(
        checks={"MAM-K8S-002": CheckConfig(params={"allowedImagesRegex": REGEX})}
    )
    report = scan_paths(
        [str(DATA / sample)], build(config, select("MAM-K8S-013"), namespace="default")
    )
    assert [(r.resource.kind, r.status) for r in report.results] == [
        (DEP, Status.FAIL),
        (SVC, Status.FAIL),
    ]


def test_defender_parity_healthy_also_fails_005_013_016() -> None:
    report = _scan("redis-healthy.yaml", profile="defender-parity")
    failed = {r.check_id for r in report.findings}
    assert failed == {"MAM-K8S-005", "MAM-K8S-012", "MAM-K8S-013", "MAM-K8S-016"}


def test_lines_point_at_the_offending_field() -> None:
    report = _scan("redis-unhealthy.yaml")
    lines = (DATA / "redis-unhealthy.yaml").read_text().splitlines()
    for r in report.findings:
        assert r.location.line is not None
        text = lines[r.location.line - 1]
        leaf = r.field_path[-1]
        if leaf in ("appArmorProfile", "automountServiceAccountToken", "resources"):
            continue  # absent: the nearest existing ancestor
        key = "- " if isinstance(leaf, int) else f"{leaf}:"
        assert key in text, (format_path(r.field_path), text)

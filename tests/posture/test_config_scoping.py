"""Config validation (located errors), exclusions, exemption annotations."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mamori.posture.checks import select
from mamori.posture.config import ConfigError, load_config
from mamori.posture.model import Status
from mamori.posture.scan import scan_paths

POD = """apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: %s
  labels: {tier: %s}
  annotations: {%s}
spec:
  containers:
  - {name: app, image: ghcr.io/acme/app:1, securityContext: {privileged: true}}
  - {name: istio-init, image: docker.io/istio/proxy:1, securityContext: {privileged: true}}
"""


def _results(
    tmp_path: Path, config: str, ns: str = "apps", tier: str = "web", ann: str = ""
) -> list[tuple[str, str, str]]:
    (tmp_path / "p.yaml").write_text(POD % (ns, tier, ann))
    cfg_path = tmp_path / "mamori.yaml"
    cfg_path.write_text(config)
    cfg = load_config(cfg_path, select("MAM-K8S-015"))
    report = scan_paths([str(tmp_path / "p.yaml")], cfg)
    return [
        (r.status.value, r.container.name if r.container else "", r.message) for r in report.results
    ]


BAD_CONFIGS = [
    ("checks:\n  MAM-K8S-015:\n    params: {nope: 1}\n", 3, "nope"),
    ("checks:\n  MAM-K8S-999: {}\n", 2, "unknown check"),
    ("exclusions:\n  excludedImages: 5\n", 2, "excludedImages"),
    ("checks:\n  MAM-K8S-001:\n    params:\n      cpuLimit: lots\n", 4, "quantity"),
    ("kind: Other\n", 1, "kind"),
]


@pytest.mark.parametrize(("text", "line", "needle"), BAD_CONFIGS)
def test_config_errors_are_located(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = tmp_path / "mamori.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, select("defender"))
    first = info.value.diagnostics[0]
    assert first.location.line == line
    assert needle in first.message


SCOPING = [
    ("", {}, [("fail", "app"), ("fail", "istio-init")]),
    ("exclusions: {excludedNamespaces: [apps]}", {}, [("skip", "")]),
    ("exclusions: {namespaces: [other]}", {}, [("skip", "")]),
    (
        "checks: {MAM-K8S-015: {excludedImages: ['docker.io/istio/*']}}",
        {},
        [("fail", "app"), ("skip", "istio-init")],
    ),
    (
        "checks: {MAM-K8S-015: {excludedContainers: [app]}}",
        {},
        [("skip", "app"), ("fail", "istio-init")],
    ),
    ("exclusions: {excludeLabelSelector: {matchLabels: {tier: web}}}", {}, [("skip", "")]),
    (
        "exclusions: {labelSelector: {matchExpressions: "
        "[{key: tier, operator: In, values: [db]}]}}",
        {},
        [("skip", "")],
    ),
    ("", {"ns": "kube-system"}, [("skip", "")]),
    (
        "checks: {MAM-K8S-015: {replaceDefaults: true}}",
        {"ns": "kube-system"},
        [("fail", "app"), ("fail", "istio-init")],
    ),
    (
        "",
        {"ann": "skip.mamori.io/MAM-K8S-015.istio-init: 'needs iptables'"},
        [("fail", "app"), ("skip", "istio-init")],
    ),
    (
        "",
        {"ann": "skip.mamori.io/MAM-K8S-015: 'CNI agent'"},
        [("skip", "app"), ("skip", "istio-init")],
    ),
    (
        "",
        {"ann": "skip.mamori.io/MAM-K8S-015: 'old; expires=2001-01-01'"},
        [("fail", "app"), ("fail", "istio-init")],
    ),
    (
        "exclusions: {allowAnnotationExemptions: false}",
        {"ann": "skip.mamori.io/MAM-K8S-015: 'x'"},
        [("fail", "app"), ("fail", "istio-init")],
    ),
]


@pytest.mark.parametrize(("config", "obj", "expected"), SCOPING)
def test_scoping(
    tmp_path: Path, config: str, obj: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    got = _results(tmp_path, config, **obj)
    assert [(s, c) for s, c, _ in got] == expected


def test_expired_exemption_is_marked(tmp_path: Path) -> None:
    got = _results(tmp_path, "", ann="skip.mamori.io/MAM-K8S-015: 'old; expires=2001-01-01'")
    assert all("exemption expired" in m for _, _, m in got)
    assert date(2001, 1, 1) < date.today()


def test_empty_exemption_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(POD % ("apps", "web", "skip.mamori.io/MAM-K8S-015: ''"))
    report = scan_paths([str(tmp_path / "p.yaml")], load_config(None, select("MAM-K8S-015")))
    assert [(d.code, d.location.line) for d in report.diagnostics] == [("PST020", 7)]
    assert {r.status for r in report.results} == {Status.FAIL}

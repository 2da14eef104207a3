"""MAM-K8S checks against gatekeeper-library's own suites for the Defender templates.

Data: ../shared/conformance/posture/gatekeeper/ (read at test time, never copied). Each case's
constraint parameters are mapped to the mamori check's parameters (the table below); the object
(or the AdmissionReview's request, UPDATEs included) is evaluated and the violations counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mamori.posture.admission import decide
from mamori.posture.checks import BY_ID
from mamori.posture.config import CheckConfig, GlobalExclusions, PostureConfig, build
from mamori.posture.engine import Context

GK = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "posture" / "gatekeeper"
)
INDEX: dict[str, Any] = json.loads((GK / "index.json").read_text())
CASES = INDEX["cases"]
Params = dict[str, Any]


def _repos(p: Params) -> Params:
    import re

    return {"allowedImagesRegex": "^(?:" + "|".join(re.escape(r) for r in p["repos"]) + ")"}


def _host_ports(p: Params) -> Params:
    ports = [f"{p['min']}-{p['max']}"] if "min" in p and "max" in p else ["*"]
    return {"allowHostNetwork": bool(p.get("hostNetwork")), "allowedHostPorts": ports}


def _users(p: Params) -> Params:
    return {
        "runAsUser": p.get("runAsUser", {"rule": "RunAsAny"}),
        "runAsGroup": p.get("runAsGroup", {"rule": "RunAsAny"}),
        "supplementalGroups": p.get("supplementalGroups", {"rule": "RunAsAny"}),
        "fsGroup": p.get("fsGroup", {"rule": "RunAsAny"}),
    }


def _copy(*keys: str) -> Callable[[Params], Params]:
    return lambda p: {k: p[k] for k in keys if k in p}


# constraint kind -> (mamori check, parameter mapping); exemptImages become excludedImages.
MAPPING: dict[str, tuple[str, Callable[[Params], Params]]] = {
    "K8sPSPPrivilegedContainer": ("MAM-K8S-015", _copy()),
    "K8sPSPHostNamespace": ("MAM-K8S-009", _copy()),
    "K8sPSPHostNetworkingPorts": ("MAM-K8S-006", _host_ports),
    "K8sPSPHostFilesystem": ("MAM-K8S-007", _copy("allowedHostPaths")),
    "K8sPSPCapabilities": (
        "MAM-K8S-003",
        _copy("allowedCapabilities", "requiredDropCapabilities"),
    ),
    "K8sPSPAllowPrivilegeEscalationContainer": ("MAM-K8S-008", _copy()),
    "K8sPSPReadOnlyRootFilesystem": ("MAM-K8S-010", _copy()),
    "K8sPSPAllowedUsers": ("MAM-K8S-016", _users),
    "K8sPSPAppArmor": ("MAM-K8S-004", _copy("allowedProfiles")),
    "K8sContainerLimits": (
        "MAM-K8S-001",
        lambda p: {"cpuLimit": p.get("cpu", "-1"), "memoryLimit": p.get("memory", "-1")},
    ),
    "K8sAllowedRepos": ("MAM-K8S-002", _repos),
    "K8sHttpsOnly": ("MAM-K8S-011", lambda p: {"requireTls": not p.get("tlsOptional", False)}),
    "K8sBlockNodePort": (
        "MAM-K8S-005",
        lambda p: {"allowedServicePorts": [], "serviceTypes": ["NodePort"]},
    ),
    "K8sPSPAutomountServiceAccountTokenPod": ("MAM-K8S-012", _copy()),
}


def _constraint(case: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((GK / case["constraint_file"]).read_text())
    return data


def _context(case: dict[str, Any]) -> Context:
    check_id, convert = MAPPING[case["constraint_kind"]]
    spec = _constraint(case).get("spec", {})
    params = spec.get("parameters") or {}
    match = spec.get("match") or {}
    own = CheckConfig(
        action="deny",
        params=convert(params),
        excluded_images=params.get("exemptImages", []),
        excluded_namespaces=match.get("excludedNamespaces", []),
        namespaces=match.get("namespaces", []),
        replace_defaults=True,
    )
    config = PostureConfig(
        exclusions=GlobalExclusions(allow_annotation_exemptions=False), checks={check_id: own}
    )
    return Context(build(config, [BY_ID[check_id]]))


def _violations(case: dict[str, Any]) -> int:
    obj = yaml.safe_load((GK / case["object_file"]).read_text())
    if obj.get("kind") == "AdmissionReview":
        request = obj["request"]
    else:
        request = {"operation": "CREATE", "object": obj}
    return len(decide(request, _context(case)).denied)


def test_every_constraint_kind_is_mapped() -> None:
    assert {t["constraint_kind"] for t in INDEX["templates"]} == set(MAPPING)
    assert len(CASES) == 77


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['constraint_name']}/{c['test']}/{c['case']}" for c in CASES]
)
def test_case(case: dict[str, Any]) -> None:
    count = _violations(case)
    expected = case["expected_violations"]
    if expected == "yes":
        assert count >= 1
    else:
        assert count == expected
